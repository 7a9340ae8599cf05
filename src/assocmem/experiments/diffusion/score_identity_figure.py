"""Figure stage of ``fig_diffusion_score_identity``: claim, caption and figure from the run table alone (the run is
described in :mod:`.score_identity`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .score_identity import NAME, PAPER, PAPER_KEY, TOL

FLOOR = 1e-18  # exact zeros are drawn here on the log axis


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    worst = table.groupby("sigma")[["diff_update", "diff_blocked"]].max()
    per = "; ".join(f"sigma = {s:g}: {r.diff_update:.1e} (one shot), {r.diff_blocked:.1e} (blocked)"
                    for s, r in worst.iterrows())
    return [Claim(
        id="memory_update_equals_denoised_score_step",
        statement="x + sigma^2 grad log p_sigma(x) (autograd) equals the Euclidean dense-memory update with "
                  "beta = 1/(2 sigma^2), one shot and with stored points in blocks (online log-sum-exp)",
        paper_value="exact identity (spec: max absolute difference < 1e-10 in float64)",
        our_value=f"largest |difference| over {table['query'].nunique()} queries per sigma: {per}",
        tolerance=f"every difference < {TOL:g} (float64)",
        passed=bool((table[["diff_update", "diff_blocked"]].to_numpy() < TOL).all()),
    )]


def caption(params: dict, scale: str, table: pd.DataFrame, verdict_text: str) -> str:
    neff = table.groupby("sigma")["n_effective"].median()
    return (
        f"The empirical score of a Gaussian-smoothed point set is the dense-memory update (Hoover et al. 2023, spec "
        f"E1). K = {params['K']} points uniform on the unit sphere in D = {params['dim']}; for each sigma, "
        f"{params['queries']} queries drawn from p_sigma (a stored point plus sigma * Gaussian noise). Left: largest "
        f"absolute difference, per query, between x + sigma^2 grad log p_sigma(x) (autograd of the log density) and "
        f"the Euclidean memory update with beta = 1/(2 sigma^2), one shot and with the stored points in blocks of "
        f"{params['memory_block']} (online log-sum-exp); exact zeros drawn at {FLOOR:g}. Right: effective number of "
        f"stored points the softmax weighs, 1 / sum w_i^2 (median "
        + ", ".join(f"{v:.1f} at sigma = {s:g}" for s, v in neff.items())
        + f"), so the check covers one-hot and spread weights. Float64 (set in the block: the claim is about the "
        f"identity, float32 rounding alone is ~1e-7). Scale '{scale}'. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, caption_text: str):
    plt, sns = pyplot()
    sigmas = sorted(table["sigma"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    ax = axes[0]
    colors = sns.color_palette("colorblind", 2)
    rng = np.random.default_rng(0)  # horizontal jitter only
    for j, (col, label) in enumerate((("diff_update", "one-shot update"), ("diff_blocked", "blocked update"))):
        for i, s in enumerate(sigmas):
            v = table.loc[table["sigma"] == s, col].clip(lower=FLOOR).to_numpy()
            xs = i + (j - 0.5) * 0.35 + rng.uniform(-0.08, 0.08, len(v))
            ax.scatter(xs, v, s=6, color=colors[j], alpha=0.6, label=label if i == 0 else None)
    ax.axhline(TOL, color="0.3", ls="--", lw=1, label=f"claim: {TOL:g}")
    ax.set_yscale("log")
    ax.set_ylim(FLOOR / 3, 1e-6)
    ax.set_xticks(range(len(sigmas)), [f"{s:g}" for s in sigmas])
    ax.set_xlabel("noise level sigma")
    ax.set_ylabel("max |x + sigma^2 score - update| per query")
    ax.legend(fontsize=7)
    ax = axes[1]
    for i, s in enumerate(sigmas):
        v = table.loc[table["sigma"] == s, "n_effective"].to_numpy()
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=6, color=colors[0], alpha=0.6)
    ax.set_yscale("log")
    ax.set_xticks(range(len(sigmas)), [f"{s:g}" for s in sigmas])
    ax.set_xlabel("noise level sigma")
    ax.set_ylabel("effective stored points 1 / sum w^2")
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    tr = stages.figure_run(config, NAME, provenance)
    table = runs.table
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"], dtype=f"torch.{tr.params['dtype']}",
        caption=lambda v: caption(tr.params, config["scale"], table, v), figure=lambda cap: make_figure(table, cap),
        data="synthetic: points uniform on the unit sphere", substitutions="none (spec E1)",
    )
