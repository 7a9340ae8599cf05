"""Figure stage of ``fig_dense_noise_recall``: claims, caption and figure from the run table alone (the model run,
and what it computes, are described in :mod:`assocmem.experiments.noise_dense`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, finish_target
from .dense import MIN_GAIN, NAME, PAPER, PAPER_KEY


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Fraction retrieved and its standard error per (beta, corruption, T), pooled over the seeds."""
    t = raw.groupby(["beta", "corruption", "temperature"]).agg(retrieved=("retrieved", "mean"),
                                                                n_cues=("n_cues", "sum")).reset_index()
    t["se"] = np.sqrt(t["retrieved"] * (1 - t["retrieved"]) / t["n_cues"])
    return t


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    cs = sorted(table["corruption"].unique())
    high = cs[len(cs) // 2:]
    best, helped = None, False
    for (b, c), s in table[table["corruption"].isin(high)].groupby(["beta", "corruption"]):
        base = s[s["temperature"] == 0]
        if base.empty:
            continue
        b0 = base.iloc[0]
        for r in s[s["temperature"] > 0].itertuples():
            gain = r.retrieved - b0["retrieved"]
            need = max(MIN_GAIN, 2 * float(np.hypot(r.se, b0["se"])))
            helped |= bool(gain >= need)
            if best is None or gain > best[0]:
                best = (gain, need, b, c, r.temperature, b0["retrieved"], r.retrieved)
    if best is None:
        return [Claim(id="update_noise_raises_retrieval", statement="needs T = 0 and T > 0", our_value="missing",
                      tolerance="-", passed=False)]
    gain, need, b, c, T, r0, r1 = best
    return [Claim(
        id="update_noise_raises_retrieval",
        statement="Noise in the update (finite temperature) raises the fraction retrieved at high cue corruption "
                  "(a question; criterion fixed before looking)",
        paper_value="Karbasi et al. find internal noise helps their constraint network; untested for dense memories",
        our_value=f"largest gain over T = 0 at corruption >= {high[0]:g}: {gain:+.3f} (beta = {b:g}, corruption = "
                  f"{c:g}, T = {T:g}: {r1:.3f} vs {r0:.3f})",
        tolerance=f"a gain of at least max({MIN_GAIN}, 2 SE) for some beta and T > 0",
        passed=helped,
    )]


def caption(params: dict, scale: str, claims: list[Claim]) -> str:
    c = claims[0]
    answer = "YES, noise helped" if c.passed else "NO, noise did not help"
    return (f"Noise in a dense associative memory (beyond Karbasi et al. 2013). {params['n_stored']} random +-1 "
            f"patterns of d = {params['d']} units, softmax update h = Xi^T softmax(beta Xi x) (core), binary state: "
            f"sign(h) at T = 0, Glauber sampling P(+1) = sigmoid(2h/T) at T > 0; {params['noisy_steps']} steps at T "
            f"then {params['final_steps']} at T = 0. Cues: a stored pattern with a fraction of units flipped; "
            f"retrieved = exact match; the same cues serve every beta and T (paired). {params['cues']} cues x "
            f"{params['seeds']} seed(s) per point, scale '{scale}'. "
            f"Criterion fixed before looking: noise helps if some T > 0 beats T = 0 by at least max({MIN_GAIN}, "
            f"2 SE) at a corruption in the upper half of the grid for some beta. Answer: {answer} ({c.our_value}).")


def make_figure(table: pd.DataFrame, cap: str):
    plt, sns = pyplot()
    betas = sorted(table["beta"].unique())
    fig, axes = plt.subplots(1, len(betas), figsize=(max(10.5, 3.8 * len(betas)), 3.4), sharey=True, squeeze=False)
    temps = sorted(table["temperature"].unique())
    colors = dict(zip(temps, sns.color_palette("rocket_r", len(temps))))
    for ax, b in zip(axes[0], betas):
        for T in temps:
            s = table[(table["beta"] == b) & (table["temperature"] == T)].sort_values("corruption")
            ax.errorbar(s["corruption"], s["retrieved"], yerr=s["se"], marker="o", color=colors[T], label=f"T = {T:g}",
                        capsize=2)
        ax.set_title(f"beta = {b:g}")
        ax.set_xlabel("fraction of cue units flipped")
    axes[0, 0].set_ylabel("fraction retrieved")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    add_caption(fig, cap)
    return fig


def write_figure(tr: TargetRun, runs: stages.Runs, out_prefix: Path, run_wall: float | None) -> dict:
    """Claims, caption, figure and metadata from the run table (per seed) and the dtype the run used."""
    params, config = tr.params, tr.config
    table = summarize(runs.table)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], claims) + (
            f" Verdict: {v} (for this question 'reproduced' means yes, 'not reproduced' means no)."),
        figure=lambda cap: make_figure(table, cap),
        dtype=runs.extras["dtype"], data="synthetic random +-1 patterns",
        substitutions="none (a question beyond the paper)",
    )


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs, out_prefix, provenance["run_wall_time_s"])
