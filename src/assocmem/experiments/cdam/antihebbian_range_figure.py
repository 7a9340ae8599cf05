"""Figure stage of ``fig_cdam_antihebbian_range``: claims, caption and figure from the run table and seed 0's
dynamics alone (the model run is described in :mod:`assocmem.experiments.cdam_antihebbian_range`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import cdam, stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .antihebbian_range import (ANTI_MIN_D1, AUTHOR_MAX_MAD, AUTHOR_VALUES, AUTO_MAX_ABS, NAME, PAPER,
                                     PAPER_KEY, RANGE_LEVEL)


def summarize(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (a, h, distance): mean and sd over seeds of the per-seed mean correlation, plus the
    mean within-seed sd over pairs and the author's released value where given."""
    g = curves.groupby(["a", "h", "distance"], sort=False)
    table = g.agg(corr_mean=("corr", "mean"), corr_sd=("corr", lambda x: float(np.std(x, ddof=0))),
                  corr_sd_pairs=("corr_sd_pairs", "mean"), n_pairs=("n_pairs", "first"),
                  n_seeds=("seed", "nunique")).reset_index()
    table["author_value"] = [AUTHOR_VALUES.get((a, h), {}).get(int(d), np.nan)
                             for a, h, d in zip(table["a"], table["h"], table["distance"])]
    return table


def recall_range(table: pd.DataFrame, a: float, h: float, level: float = RANGE_LEVEL) -> int:
    """The range of recall (:func:`assocmem.cdam.recall_range`) of setting ``(a, h)`` in the summary table."""
    sub = table[(table["a"] == a) & (table["h"] == h)].sort_values("distance")
    if list(sub["distance"]) != list(range(len(sub))):
        raise ValueError(f"({a}, {h}): distances {list(sub['distance'])} are not 0, 1, 2, ...")
    return cdam.recall_range(sub["corr_mean"].to_numpy(), level)


def _corr(table: pd.DataFrame, a: float, h: float, d: int) -> float:
    sub = table[(table["a"] == a) & (table["h"] == h) & (table["distance"] == d)]
    if sub.empty:
        raise ValueError(f"setting (a, h) = ({a}, {h}) at distance {d} is not in the table")
    return float(sub["corr_mean"].iloc[0])


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    """The paper's claims (spec E1) as checks on the summary table."""
    auto = _corr(table, 1.0, 0.0, 1)
    c1 = Claim(
        id="auto_association_uncorrelated",
        statement="Auto-association (a, h) = (1, 0): attractors of neighbouring memories are uncorrelated",
        paper_value="~0 at graph distance 1",
        our_value=f"{auto:+.3f} at d=1",
        tolerance=f"|corr(d=1)| < {AUTO_MAX_ABS}",
        passed=bool(abs(auto) < AUTO_MAX_ABS),
    )
    anti = {s: _corr(table, *s, 1) for s in [(-0.5, 1.5), (-2.0, 3.0)]}
    c2 = Claim(
        id="anti_hebbian_correlated_neighbours",
        statement="Anti-Hebbian settings (-0.5, 1.5) and (-2, 3): attractors of neighbours are positively correlated",
        paper_value="~0.75 and ~0.65 at d=1",
        our_value=", ".join(f"({a:g}, {h:g}): {v:+.3f}" for (a, h), v in anti.items()),
        tolerance=f"corr(d=1) > {ANTI_MIN_D1} for both",
        passed=bool(min(anti.values()) > ANTI_MIN_D1),
    )
    ranges = {s: recall_range(table, *s) for s in [(0.5, 0.5), (-0.5, 1.5), (-2.0, 3.0)]}
    c3 = Claim(
        id="anti_hebbian_wider_range",
        statement="The anti-Hebbian setting (-2, 3) spreads recall further along the cycle than (0.5, 0.5)",
        paper_value="corr > 0.2 up to d=1 for (0.5, 0.5), d=3 for (-0.5, 1.5), d=4 for (-2, 3)",
        our_value=", ".join(f"({a:g}, {h:g}): d={r}" for (a, h), r in ranges.items()),
        tolerance=f"range (largest d with mean corr > {RANGE_LEVEL} at all d' <= d) of (-2, 3) > that of (0.5, 0.5)",
        passed=bool(ranges[(-2.0, 3.0)] > ranges[(0.5, 0.5)]),
    )
    mads = {}
    for (a, h), vals in AUTHOR_VALUES.items():
        try:
            mads[(a, h)] = float(np.mean([abs(_corr(table, a, h, d) - v) for d, v in vals.items()]))
        except ValueError:
            continue
    c4 = Claim(
        id="matches_author_curves",
        statement="Mean attractor correlation vs graph distance matches the author's released curves",
        paper_value="; ".join(f"({a:g}, {h:g}): " + "/".join(f"{v:g}" for v in vals.values()) + f" at d=1..{max(vals)}"
                              for (a, h), vals in AUTHOR_VALUES.items()),
        our_value="mean |ours - author|: " + ", ".join(f"({a:g}, {h:g}) {m:.3f}" for (a, h), m in mads.items()),
        tolerance=f"mean abs difference < {AUTHOR_MAX_MAD} for every setting (author: single unseeded run)",
        passed=bool(len(mads) == len(AUTHOR_VALUES) and max(mads.values()) < AUTHOR_MAX_MAD),
    )
    return [c1, c2, c3, c4]


def caption(params: dict, scale: str, verdict_text: str, device: str) -> str:
    sets = ", ".join(f"({a:g}, {h:g})" for a, h in params["settings"])
    snaps = ", ".join(str(t) for t in params["snapshot_steps"])
    return (
        f"CDAM range of recall (Burns 2024, ICML; spec E1). Data: p = {params['p']} i.i.d. U[0,1] random patterns "
        f"of n = {params['n']} units on an undirected cycle, M = D^-1/2 A D^-1/2. Scale '{scale}': "
        f"{params['seeds']} seed(s), every memory used as cue with uniform noise {params['noise']:g} * "
        f"(U[0,1) - 1/2); beta = {params['beta']:g}, eta = {params['eta']:g}, kappa = {params['kappa']:g} (mean "
        f"term; the author's code uses 1), T = {params['steps']} steps; (a, h) in {{{sets}}}. Top: attractor "
        f"matrices (correlation of the final states reached from each cue), seed 0. Middle: state-memory "
        f"correlation (cue x memory) after {snaps} steps (the paper's t counts from 1) for (a, h) = "
        f"({params['timecourse_setting'][0]:g}, {params['timecourse_setting'][1]:g}), seed 0. Third row left: "
        f"mean attractor correlation vs graph distance (lines: mean over seeds of the per-seed mean over pairs; "
        f"bands: sd over seeds; thin error bars: mean sd over pairs); crosses: the author's released values "
        f"(single unseeded run). Third row right: mean state activity over time. Bottom: the cycle as a ring, each "
        f"memory coloured by its correlation with the final state of the run cued by memory 0 (circled), seed 0. "
        f"Device: {device}. Verdict: {verdict_text}."
    )


def _setting_label(a: float, h: float) -> str:
    return f"a={a:g}, h={h:g}"


def make_figure(table: pd.DataFrame, first: dict, params: dict, caption_text: str):
    """Attractor matrices, state-memory correlations over time, range curves and mean activity (``first``: seed
    0's dynamics, :func:`assocmem.experiments.antihebbian_range.figure_extras`)."""
    plt, sns = pyplot()
    settings = [tuple(s) for s in params["settings"]]
    S = len(settings)
    times = [t for t in params["snapshot_steps"] if t <= params["steps"]]
    ncol = max(S, len(times))
    fig = plt.figure(figsize=(2.6 * ncol + 0.6, 11.2))
    gs = fig.add_gridspec(4, ncol + 1, height_ratios=[1, 1, 1.25, 1], width_ratios=[1] * ncol + [0.07])
    palette = sns.color_palette("colorblind", n_colors=S)
    for k, (a, h) in enumerate(settings):
        ax = fig.add_subplot(gs[0, k])
        im = ax.imshow(np.asarray(first["attractors"][k]), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(f"attractors, {_setting_label(a, h)}", fontsize=8)
        ax.set_xlabel("cue", fontsize=7)
        ax.set_ylabel("cue" if k == 0 else "", fontsize=7)
        ax.grid(False)
    fig.colorbar(im, cax=fig.add_subplot(gs[0, -1]), label="Pearson r")
    row_axes = []
    for j, t in enumerate(times):
        ax = fig.add_subplot(gs[1, j])
        im2 = ax.imshow(np.asarray(first["snapshots"][str(t)]), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(f"state-memory r, step {t}", fontsize=8)
        ax.set_xlabel("memory", fontsize=7)
        ax.set_ylabel("cue" if j == 0 else "", fontsize=7)
        ax.grid(False)
        row_axes.append(ax)
    if row_axes:
        fig.colorbar(im2, cax=fig.add_subplot(gs[1, -1]), label="Pearson r")
    half = max(ncol // 2 + (ncol % 2), 1)
    ax = fig.add_subplot(gs[2, :half])
    for color, (a, h) in zip(palette, settings):
        sub = table[(table["a"] == a) & (table["h"] == h)].sort_values("distance")
        x, y = sub["distance"].to_numpy(), sub["corr_mean"].to_numpy()
        ax.errorbar(x, y, yerr=sub["corr_sd_pairs"], color=color, lw=1.4, marker="o", ms=3, elinewidth=0.6,
                    capsize=1.5, label=_setting_label(a, h))
        ax.fill_between(x, y - sub["corr_sd"], y + sub["corr_sd"], color=color, alpha=0.2, lw=0)
        ref = AUTHOR_VALUES.get((a, h), {})
        if ref:
            ax.scatter(list(ref), list(ref.values()), marker="x", s=36, color=color, zorder=5)
    ax.scatter([], [], marker="x", color="0.3", label="author (released)")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("graph distance between cues")
    ax.set_ylabel("attractor correlation")
    ax.set_xticks(range(params["max_distance"] + 1))
    ax.legend(fontsize=7, loc="upper right")
    ax2 = fig.add_subplot(gs[2, half:ncol])
    styles = ["-", "--", "-.", ":"]
    activity = np.asarray(first["mean_activity"])
    for color, (a, h), k in zip(palette, settings, range(S)):
        ax2.plot(activity[:, k], color=color, ls=styles[k % 4], label=_setting_label(a, h))
    ax2.set_title("mean activity (a + h = 1 gives the same curve)", fontsize=8)
    ax2.set_xlabel("step t")
    ax2.set_ylabel("mean state activity")
    _cycle_panels(fig, gs, np.asarray(first["final_cue0"]), settings)
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def _cycle_panels(fig, gs, final_corr: np.ndarray, settings: list[tuple]) -> None:
    """Bottom row: the cycle drawn as a ring, each memory coloured by its correlation with the final
    state of the run cued by memory 0 (seed 0), one ring per (a, h)."""
    p = final_corr.shape[-1]
    angle = 2 * np.pi * np.arange(p) / p
    x, y = np.sin(angle), np.cos(angle)
    for k, (a, h) in enumerate(settings):
        ax = fig.add_subplot(gs[3, k])
        ax.plot(np.append(x, x[0]), np.append(y, y[0]), color="0.7", lw=0.8, zorder=1)
        sc = ax.scatter(x, y, c=final_corr[k], cmap="RdBu_r", vmin=-1, vmax=1, s=38, edgecolors="0.3",
                        linewidths=0.4, zorder=2)
        ax.scatter(x[:1], y[:1], s=120, facecolors="none", edgecolors="k", linewidths=1.2, zorder=3)
        ax.set_title(f"final state of cue 0, {_setting_label(a, h)}", fontsize=8)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.colorbar(sc, cax=fig.add_subplot(gs[3, -1]), label="Pearson r with memory")


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    """Summary table, claims, caption and figure from the per-seed curves and seed 0's dynamics; write
    ``<out_prefix>.{png,pdf,csv,json}`` and return the metadata."""
    tr = stages.figure_run(config, NAME, provenance)
    params = tr.params
    table = summarize(runs.table)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"],
        caption=lambda v: caption(params, config["scale"], v, tr.device),
        figure=lambda cap: make_figure(table, runs.extras, params, cap),
        kappa=params["kappa"],
        conventions=("memories are rows (p, n); M = D^-1/2 A D^-1/2 (row sums); targets Q[mu] = a xi_mu + "
                     "h sum_nu M[mu, nu] xi_nu (edges followed mu -> nu); softmax of beta * sigma . xi_mu; "
                     "one noise draw per cue shared by all settings"),
        author_values={f"({a:g}, {h:g})": vals for (a, h), vals in AUTHOR_VALUES.items()},
        data="synthetic i.i.d. U[0,1] patterns (as in the paper)",
        substitutions="none",
    )
