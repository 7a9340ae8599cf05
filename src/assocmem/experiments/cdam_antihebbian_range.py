"""Range of recall on a cycle of memories (target ``fig_cdam_antihebbian_range``; CDAM spec E1).

Burns (ICML 2024), *Semantically-correlated memories in a dense associative model*: p memories on an
undirected cycle, the CDAM update ``sigma <- sigma + eta (softmax(beta sigma Xi^T) Q - kappa xi_bar -
sigma)`` with targets ``Q = a Xi + h M Xi`` (rows; ``M`` the symmetrically normalized adjacency). Run
from every memory as a noisy cue, the final states ("attractors") reached from memories ``d`` steps
apart on the graph are correlated when the hetero-association reaches that far. Auto-association
``(a, h) = (1, 0)`` gives uncorrelated attractors; anti-Hebbian settings (``a < 0``) spread further.

Protocol: for each seed, ``p`` i.i.d. U[0,1] patterns of ``n`` units; cues ``xi_mu + noise (U[0,1) -
1/2)``, one noise draw per cue shared by every (a, h) setting (a paired comparison); every setting
runs as one batch (:func:`assocmem.cdam.run`); ``kappa`` as configured (default 1, as the author's
released figures). Read-out: the attractor matrix (Pearson correlation between final states) averaged
over the pairs at each graph distance; mean and sd over seeds of these per-seed means.

Run without Snakemake::

    python -m assocmem.experiments.cdam_antihebbian_range run --config config/config.yaml \\
        --out-prefix results/cdam/fig_cdam_antihebbian_range
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import cli
from .. import cdam
from .. import device as _device
from ..results import Claim, add_caption, begin_target, finish_target, pyplot

NAME = "cdam_antihebbian_range"
TARGET = "fig_cdam_antihebbian_range"
PAPER_KEY = "cdam"
PAPER = "Burns 2024, Semantically-correlated memories in a dense associative model (ICML 2024)"

# Author's released curve values (single unseeded run, read off the released figure; spec E1):
# setting (a, h) -> {graph distance: mean attractor correlation}.
AUTHOR_VALUES: dict[tuple[float, float], dict[int, float]] = {
    (1.0, 0.0): {1: 0.0},
    (0.5, 0.5): {1: 0.65, 2: 0.1},
    (-0.5, 1.5): {1: 0.75, 2: 0.55, 3: 0.3, 4: 0.1},
    (-2.0, 3.0): {1: 0.65, 2: 0.5, 3: 0.45, 4: 0.3, 5: 0.15, 6: 0.0},
}
# Project tolerances (the paper gives curves, not tolerances).
AUTO_MAX_ABS = 0.15  # |corr at d=1| for auto-association
ANTI_MIN_D1 = 0.3  # corr at d=1 for the anti-Hebbian settings
RANGE_LEVEL = 0.2  # range = largest d reached with mean corr > this at every d' <= d
AUTHOR_MAX_MAD = 0.15  # mean |ours - author| over the distances the author's values give, per setting


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype) -> dict:
    """Run every seed; return per-seed attractor curves and the first seed's recorded dynamics.

    Returns ``curves`` (tidy per-seed DataFrame: seed, a, h, distance, corr, corr_sd_pairs, n_pairs),
    ``attractors`` ``(S, p, p)`` and ``correlations`` ``(T + 1, S, p, p)`` (state-memory correlation,
    cue x memory) and ``mean_activity`` ``(T + 1, S)`` (mean over cues) of seed 0.
    """
    p, n = params["p"], params["n"]
    settings = torch.tensor(params["settings"], dtype=torch.float64)
    A = cdam.cycle_graph(p)
    M = cdam.normalized_adjacency(A).to(device, dtype)
    dist = cdam.graph_distance(A)
    rows, first = [], {}
    for s in range(params["seeds"]):
        g = _device.generator(seed * 100_003 + s)
        Xi64 = torch.rand(p, n, generator=g, dtype=torch.float64)
        cues = cdam.noisy_cues(Xi64, params["noise"], g)
        Xi = Xi64.to(device, dtype)
        res = cdam.run(Xi, M, cues.to(device, dtype), settings[:, 0], settings[:, 1], params["beta"],
                       eta=params["eta"], kappa=params["kappa"], steps=params["steps"], record=(s == 0))
        att = cdam.attractor_matrix(res.state).double().cpu()
        mean, sd, count = cdam.correlation_by_distance(att, dist, params["max_distance"])
        for k, (a, h) in enumerate(settings.tolist()):
            for d in range(params["max_distance"] + 1):
                rows.append(dict(seed=s, a=a, h=h, distance=d, corr=mean[k, d].item(),
                                 corr_sd_pairs=sd[k, d].item(), n_pairs=int(count[d])))
        if s == 0:
            first = dict(attractors=att, correlations=res.correlations.double().cpu(),
                         mean_activity=res.mean_activity.double().mean(-1).cpu())
    return dict(curves=pd.DataFrame(rows), **first)


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
    """Largest graph distance d >= 1 such that mean correlation > ``level`` at every distance 1..d (0 if none)."""
    sub = table[(table["a"] == a) & (table["h"] == h) & (table["distance"] >= 1)].sort_values("distance")
    r = 0
    for d, c in zip(sub["distance"], sub["corr_mean"]):
        if c > level:
            r = int(d)
        else:
            break
    return r


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
        f"{params['seeds']} seed(s), every memory used as cue with uniform noise {params['noise']:g} * (U[0,1) - 1/2); "
        f"beta = {params['beta']:g}, eta = {params['eta']:g}, kappa = {params['kappa']:g} (mean term; the author's code "
        f"uses 1), T = {params['steps']} steps; (a, h) in {{{sets}}}. Top: attractor matrices (correlation of the "
        f"final states reached from each cue), seed 0. Middle: state-memory correlation (cue x memory) after {snaps} steps (the paper's t counts from 1) for "
        f"(a, h) = ({params['timecourse_setting'][0]:g}, {params['timecourse_setting'][1]:g}), seed 0. Third row left: "
        f"mean attractor correlation vs graph distance (lines: mean over seeds of the per-seed mean over pairs; "
        f"bands: sd over seeds; thin error bars: mean sd over pairs); crosses: the author's released values "
        f"(single unseeded run). Third row right: mean state activity over time. Bottom: the cycle as a ring, each memory "
        f"coloured by its correlation with the final state of the run cued by memory 0 (circled), seed 0. Device: {device}. "
        f"Verdict: {verdict_text}."
    )


def _setting_label(a: float, h: float) -> str:
    return f"a={a:g}, h={h:g}"


def make_figure(table: pd.DataFrame, first: dict, params: dict, caption_text: str):
    """Attractor matrices, state-memory correlations over time, range curves and mean activity."""
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
        im = ax.imshow(first["attractors"][k].numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(f"attractors, {_setting_label(a, h)}", fontsize=8)
        ax.set_xlabel("cue", fontsize=7)
        ax.set_ylabel("cue" if k == 0 else "", fontsize=7)
        ax.grid(False)
    fig.colorbar(im, cax=fig.add_subplot(gs[0, -1]), label="Pearson r")
    ts = tuple(params["timecourse_setting"])
    kt = settings.index(ts) if ts in settings else 0
    row_axes = []
    for j, t in enumerate(times):
        ax = fig.add_subplot(gs[1, j])
        im2 = ax.imshow(first["correlations"][t, kt].numpy(), vmin=-1, vmax=1, cmap="RdBu_r")
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
    for color, (a, h), k in zip(palette, settings, range(S)):
        ax2.plot(first["mean_activity"][:, k].numpy(), color=color, ls=styles[k % 4], label=_setting_label(a, h))
    ax2.set_title("mean activity (a + h = 1 gives the same curve)", fontsize=8)
    ax2.set_xlabel("step t")
    ax2.set_ylabel("mean state activity")
    _cycle_panels(fig, gs, first["correlations"][-1, :, 0], settings)
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def _cycle_panels(fig, gs, final_corr: torch.Tensor, settings: list[tuple]) -> None:
    """Bottom row: the cycle drawn as a ring, each memory coloured by its correlation with the final
    state of the run cued by memory 0 (seed 0), one ring per (a, h)."""
    p = final_corr.shape[-1]
    angle = 2 * np.pi * np.arange(p) / p
    x, y = np.sin(angle), np.cos(angle)
    for k, (a, h) in enumerate(settings):
        ax = fig.add_subplot(gs[3, k])
        ax.plot(np.append(x, x[0]), np.append(y, y[0]), color="0.7", lw=0.8, zorder=1)
        sc = ax.scatter(x, y, c=final_corr[k].numpy(), cmap="RdBu_r", vmin=-1, vmax=1, s=38, edgecolors="0.3",
                        linewidths=0.4, zorder=2)
        ax.scatter(x[:1], y[:1], s=120, facecolors="none", edgecolors="k", linewidths=1.2, zorder=3)
        ax.set_title(f"final state of cue 0, {_setting_label(a, h)}", fontsize=8)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.colorbar(sc, cax=fig.add_subplot(gs[3, -1]), label="Pearson r with memory")


# ----------------------------------------------------------------------------- entry point


def run_target(config: dict, out_prefix: Path, threads: int | None = None) -> dict:
    """Run the experiment and write ``<out_prefix>.{png,pdf,csv,json}``; return the metadata."""
    tr = begin_target(config, NAME, threads)
    params, dev = tr.params, tr.device
    out = run(params, seed=config["seed"], device=dev, dtype=tr.dtype)
    run_wall = time.perf_counter() - tr.started
    table = summarize(out["curves"])
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v, _device.describe(dev)),
        figure=lambda cap: make_figure(table, out, params, cap),
        kappa=params["kappa"],
        conventions=("memories are rows (p, n); M = D^-1/2 A D^-1/2 (row sums); targets Q[mu] = a xi_mu + "
                     "h sum_nu M[mu, nu] xi_nu (edges followed mu -> nu); softmax of beta * sigma . xi_mu; "
                     "one noise draw per cue shared by all settings"),
        author_values={f"({a:g}, {h:g})": vals for (a, h), vals in AUTHOR_VALUES.items()},
        data="synthetic i.i.d. U[0,1] patterns (as in the paper)",
        substitutions="none",
    )


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET, argv=argv)


if __name__ == "__main__":
    main()
