"""Figure stage of ``fig_diffusion_exact_score_sampling``: claim, caption and figure from the run table alone (the
run is described in :mod:`.exact_score_sampling`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .exact_score_sampling import NAME, PAPER, PAPER_KEY, TOL

FLOOR = 1e-17  # exact zeros are drawn here on the log axis


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    s = table[table["kind"] == "sample"]
    worst = s.groupby(["K", "sampler"])["distance"].max()
    pre = s.groupby(["K", "sampler"])["distance_before_denoising"].median()
    hits = s.groupby(["K", "sampler"])["index"].nunique()
    value = "; ".join(f"K = {K}, {m}: max {v:.1e} (median {pre[(K, m)]:.1e} before the denoising step; "
                      f"{hits[(K, m)]} of {K} stored points reached)" for (K, m), v in worst.items())
    return [Claim(
        id="exact_score_samples_are_stored_points",
        statement="Reverse VE-SDE (Euler-Maruyama) and probability-flow ODE sampling with the exact empirical score, "
                  "followed by one Tweedie denoising step, end on stored points: pure memorisation",
        paper_value="every sample coincides with a training point to 1e-3 (spec E2)",
        our_value=f"distance of each sample to its nearest stored point: {value}",
        tolerance=f"every sample within {TOL:g} of a stored point, for every K and sampler",
        passed=bool(len(s) > 0 and (s["distance"] < TOL).all()),
    )]


def caption(params: dict, scale: str, verdict_text: str) -> str:
    return (
        f"Sampling with the exact empirical score collapses onto stored points (Hoover et al. 2023, spec E2). "
        f"K = {', '.join(map(str, params['ks']))} equally spaced points on the unit circle (black crosses); "
        f"{params['samples']} samples per sampler from N(0, {params['sigma_max']:g}^2 I), {params['steps']} noise "
        f"levels geometric from sigma_max = {params['sigma_max']:g} to sigma_min = {params['sigma_min']:g}, score "
        f"= (memory update - x) / sigma^2 with beta = 1/(2 sigma^2); Euler-Maruyama of the reverse VE-SDE (EM) and "
        f"the probability-flow ODE, each followed by one Tweedie denoising step. Left panels: "
        f"{params['trajectories']} EM trajectories (colour: log sigma) and every EM end point. Right: distance of "
        f"each sample to its nearest stored point before and after the final denoising step (exact zeros at "
        f"{FLOOR:g}); dashed: the claim's 1e-3. Float64 (set in the block: the score divides by sigma_min^2 = "
        f"{params['sigma_min'] ** 2:g}). Scale '{scale}'. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, params: dict, caption_text: str):
    plt, sns = pyplot()
    ks = sorted(params["ks"])
    fig, axes = plt.subplots(1, len(ks) + 1, figsize=(3.6 * (len(ks) + 1) + 0.6, 3.6))
    points = None
    for ax, K in zip(axes, ks):
        tr = table[(table["kind"] == "trajectory") & (table["K"] == K) & (table["sampler"] == "em")]
        for _, t in tr.groupby("sample"):
            t = t.sort_values("step")
            ax.plot(t["x"], t["y"], color="0.85", lw=0.3, zorder=0)
            points = ax.scatter(t["x"], t["y"], c=np.log10(t["sigma"]), cmap="viridis", s=0.8,
                                vmin=np.log10(params["sigma_min"]), vmax=np.log10(params["sigma_max"]))
        s = table[(table["kind"] == "sample") & (table["K"] == K) & (table["sampler"] == "em")]
        ax.scatter(s["x"], s["y"], s=10, color="tab:orange", alpha=0.5, label=f"{len(s)} EM samples")
        x = table[(table["kind"] == "train") & (table["K"] == K)]
        ax.scatter(x["x"], x["y"], marker="x", color="k", s=40, label="stored points")
        ax.set_aspect("equal")
        ax.set_xlim(-2.2, 2.2)
        ax.set_ylim(-2.2, 2.2)
        ax.set_xlabel("x_1")
        ax.set_ylabel("x_2")
        ax.set_title(f"K = {K}", fontsize=9)
        ax.legend(fontsize=6, loc="lower right")
    if points is not None:
        cax = axes[0].inset_axes([0.05, 0.9, 0.45, 0.035])
        bar = fig.colorbar(points, cax=cax, orientation="horizontal")
        bar.set_label("log10 sigma on the trajectory", fontsize=6)
        bar.ax.tick_params(labelsize=5)
    ax = axes[-1]
    s = table[table["kind"] == "sample"]
    lo = np.log10(FLOOR)
    bins = np.linspace(lo, 0, 50)
    colors = sns.color_palette("colorblind", 4)
    i = 0
    for (K, m), grp in s.groupby(["K", "sampler"]):
        ax.hist(np.log10(grp["distance"].clip(lower=FLOOR)), bins=bins, histtype="step", color=colors[i % 4],
                label=f"K = {K}, {m}, after")
        ax.hist(np.log10(grp["distance_before_denoising"].clip(lower=FLOOR)), bins=bins, histtype="step",
                color=colors[i % 4], ls=":", label=f"K = {K}, {m}, before")
        i += 1
    ax.axvline(np.log10(TOL), color="0.3", ls="--", lw=1)
    ax.set_xlabel("log10 distance to nearest stored point")
    ax.set_ylabel("samples")
    ax.legend(fontsize=5)
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
        caption=lambda v: caption(tr.params, config["scale"], v), figure=lambda cap: make_figure(table, tr.params, cap),
        data="synthetic: equally spaced points on the unit circle", substitutions="none (spec E2)",
    )
