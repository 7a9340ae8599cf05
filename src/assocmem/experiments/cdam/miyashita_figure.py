"""Figure stage of ``fig_cdam_miyashita``: claims, caption and figure from the run table alone (the model run is
described in :mod:`assocmem.experiments.cdam_miyashita`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .antihebbian_range_figure import recall_range
from .miyashita import (ANTI_A, ANTI_MIN_D1, AUTO_MAX_ABS, FAR_FROM, FAR_MAX_ABS, MONKEY_RANGE, NAME, PAPER,
                             PAPER_KEY, RANGE_BOUNDS, RANGE_LEVEL)


def summarize(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (a, h, distance): mean and sd over seeds, mean sd over pairs."""
    g = curves.groupby(["a", "h", "distance"], sort=False)
    return g.agg(corr_mean=("corr", "mean"), corr_sd=("corr", lambda x: float(np.std(x, ddof=0))),
                 corr_sd_pairs=("corr_sd_pairs", "mean"), n_pairs=("n_pairs", "first"),
                 n_seeds=("seed", "nunique")).reset_index()


def _curve(table: pd.DataFrame, a: float) -> pd.DataFrame:
    sub = table[np.isclose(table["a"], a)].sort_values("distance")
    if sub.empty:
        raise ValueError(f"a = {a} is not in the table")
    return sub


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    """Spec E5 claims as checks on the summary table (needs a = 1, -0.5 and -1)."""
    auto = _curve(table, 1.0)
    worst = float(auto.loc[auto["distance"] >= 1, "corr_mean"].abs().max())
    c1 = Claim(
        id="auto_association_no_order_correlation",
        statement="Plain auto-association (a = 1) gives no attractor correlation beyond sequence distance 0",
        paper_value="no correlation beyond d = 0",
        our_value=f"max |corr| over d >= 1: {worst:.3f}",
        tolerance=f"< {AUTO_MAX_ABS}",
        passed=bool(worst < AUTO_MAX_ABS),
    )
    d1, ranges, far = {}, {}, {}
    for a in ANTI_A:
        sub = _curve(table, a)
        d1[a] = float(sub.loc[sub["distance"] == 1, "corr_mean"].iloc[0])
        ranges[a] = recall_range(table, float(sub["a"].iloc[0]), float(sub["h"].iloc[0]), RANGE_LEVEL)
        far[a] = float(sub.loc[sub["distance"] >= FAR_FROM, "corr_mean"].abs().max())
    lo, hi = RANGE_BOUNDS
    c2 = Claim(
        id="anti_hebbian_order_correlation",
        statement=("Anti-Hebbian settings (a = -0.5, -1; a + h = 1) give positive attractor correlation that decays "
                   "over ~5 sequence positions, like the monkeys' neurons"),
        paper_value="positive, decaying over ~5 positions (Miyashita 1988: significant up to ~5)",
        our_value=", ".join(f"a={a:g}: corr(d=1) {d1[a]:+.2f}, range d={ranges[a]}" for a in ANTI_A),
        tolerance=(f"corr(d=1) > {ANTI_MIN_D1} and range (largest d with corr > {RANGE_LEVEL} at all d' <= d) in "
                   f"[{lo}, {hi}]"),
        passed=bool(all(d1[a] > ANTI_MIN_D1 and lo <= ranges[a] <= hi for a in ANTI_A)),
    )
    c3 = Claim(
        id="anti_hebbian_zero_beyond",
        statement="Beyond that range the anti-Hebbian attractors are uncorrelated (~0)",
        paper_value="~0 beyond ~5 positions",
        our_value=", ".join(f"a={a:g}: max |corr| at d >= {FAR_FROM}: {far[a]:.3f}" for a in ANTI_A),
        tolerance=f"< {FAR_MAX_ABS}",
        passed=bool(all(far[a] < FAR_MAX_ABS for a in ANTI_A)),
    )
    a_sorted = sorted(table["a"].unique(), reverse=True)
    all_ranges = [recall_range(table, a, float(_curve(table, a)["h"].iloc[0]), RANGE_LEVEL) for a in a_sorted]
    c4 = Claim(
        id="range_grows_as_a_decreases",
        statement="At fixed a + h = 1, the range of correlated attractors grows as a becomes more negative",
        paper_value="wide hetero-association: range grows as a decreases (spec, derived)",
        our_value=", ".join(f"a={a:g}: {r}" for a, r in zip(a_sorted, all_ranges)),
        tolerance="range non-decreasing as a decreases, and larger at the most negative a than at a = 1",
        passed=bool(all(x <= y for x, y in zip(all_ranges, all_ranges[1:])) and all_ranges[-1] > all_ranges[0]),
    )
    return [c1, c2, c3, c4]


def caption(params: dict, n_stim: int, n: int, scale: str, verdict_text: str, device: str) -> str:
    avals = ", ".join(f"{a:g}" for a in params["a_values"])
    return (
        f"CDAM model of Miyashita (1988) (Burns 2024, ICML; spec E5). Data: the prepared Miyashita stand-in, "
        f"p = {n_stim} i.i.d. U[0,1) patterns of n = {n} units (fixed by the data file) linked along their learned "
        f"order as {'a cycle' if params['cyclic'] else 'a path'}, undirected, M = D^-1/2 A D^-1/2. Scale '{scale}': "
        f"{params['seeds']} seed(s) of the cue noise {params['noise']:g} * (U[0,1) - 1/2), every stimulus cued; "
        f"beta = {params['beta']:g}, eta = {params['eta']:g}, kappa = {params['kappa']:g}, T = {params['steps']} "
        f"steps; a in {{{avals}}}, h = 1 - a. Left: mean attractor correlation vs sequence distance (lines: mean over "
        f"seeds of the per-stimulus-pair mean; error bars: mean sd over pairs). Grey band: the range over which "
        f"Miyashita reported correlated responses (up to ~{MONKEY_RANGE} positions), a shape only: the monkey data "
        f"are not available offline. Right: range (largest distance with correlation > {RANGE_LEVEL}) against a. "
        f"Device: {device}. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, caption_text: str):
    import matplotlib.ticker

    plt, sns = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw=dict(width_ratios=[2, 1]))
    a_vals = sorted(table["a"].unique(), reverse=True)
    palette = sns.color_palette("viridis_r", n_colors=len(a_vals))
    ax.axvspan(0.5, MONKEY_RANGE + 0.5, color="0.85", zorder=0, label=f"Miyashita: correlated up to ~{MONKEY_RANGE}")
    for color, a in zip(palette, a_vals):
        sub = _curve(table, a)
        ax.errorbar(sub["distance"], sub["corr_mean"], yerr=sub["corr_sd_pairs"], color=color, marker="o", ms=3,
                    lw=1.4, elinewidth=0.6, capsize=1.5, label=f"a={a:g}, h={1 - a:g}")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("distance in the learned sequence")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_ylabel("attractor correlation")
    ax.legend(fontsize=7)
    ranges = [recall_range(table, a, float(_curve(table, a)["h"].iloc[0]), RANGE_LEVEL) for a in a_vals]
    ax2.plot(a_vals, ranges, marker="o", color="0.2")
    ax2.axhline(MONKEY_RANGE, color="0.6", ls="--", lw=0.8)
    ax2.set_xlabel("auto-association a (h = 1 - a)")
    ax2.set_ylabel(f"range (corr > {RANGE_LEVEL})")
    ax2.invert_xaxis()
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    """Summary table, claims, caption and figure from the per-seed curves; write ``<out_prefix>.{png,pdf,csv,json}``
    and return the metadata."""
    tr = stages.figure_run(config, NAME, provenance)
    params, n_stim, n = tr.params, runs.extras["n_stimuli"], runs.extras["n_neurons"]
    table = summarize(runs.table)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"],
        caption=lambda v: caption(params, n_stim, n, config["scale"], v, tr.device),
        figure=lambda cap: make_figure(table, cap),
        kappa=params["kappa"],
        data=provenance["data"]["miyashita"],
        n_stimuli=n_stim,
        n_neurons=n,
        substitutions=("random U[0,1) patterns stand in for the fractal stimuli (as in the paper); monkey data not "
                       "available offline, only the reported ~5-position range is drawn"),
    )
