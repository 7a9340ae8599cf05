"""Figure stage of ``fig_mhn_image_retrieval``: the summary table, claims, caption and figure from the run table
alone (the model run, and what it computes, are described in :mod:`assocmem.experiments.mhn.image_retrieval`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .image_retrieval import CEILING_SLACK, DATASET_NOTES, NAME, ONE_STEP_MIN_SHARE, PAPER, PAPER_KEY


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Tidy table of the figure: one row per plotted point (mean and sd over seeds)."""
    keys = ["dataset", "corruption", "n_stored", "beta"]
    metrics = ["fraction_retrieved", "fraction_retrieved_one_step", "fraction_nearest_correct",
               "fraction_cue_nearest", "mean_error", "mean_updates"]
    grouped = raw.groupby(keys, sort=True)
    table = grouped[metrics].mean()
    sd = grouped[["fraction_retrieved", "mean_error"]].std(ddof=0).fillna(0.0).add_suffix("_sd")
    n = grouped.agg(n_seeds=("seed", "nunique"), n_queries=("n_queries", "first"))
    return pd.concat([table, sd, n], axis=1).reset_index()


def beta_half(betas: np.ndarray, fractions: np.ndarray, level: float = 0.5) -> float:
    """Smallest beta at which the fraction retrieved reaches ``level``, interpolated in log beta.

    ``betas[0]`` if already reached there; ``inf`` if never reached on the grid.
    """
    order = np.argsort(betas)
    b, f = np.asarray(betas, float)[order], np.asarray(fractions, float)[order]
    if f[0] >= level:
        return float(b[0])
    for i in range(1, len(b)):
        if f[i] >= level:
            t = (level - f[i - 1]) / (f[i] - f[i - 1])
            return float(math.exp(math.log(b[i - 1]) + t * (math.log(b[i]) - math.log(b[i - 1]))))
    return math.inf


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    """The paper's claims as checks on the summary table."""
    bmax = table["beta"].max()
    top = table[table["beta"] == bmax].assign(gap=lambda t: t["fraction_retrieved"] - t["fraction_cue_nearest"])
    worst = top.loc[top["gap"].idxmin()]
    c1 = Claim(
        id="large_beta_retrieval",
        statement=(f"At the largest beta ({bmax:g}) the update retrieves the stored image nearest to the cue: "
                   "every cue whose most similar stored image is its own is retrieved"),
        paper_value="large beta retrieves the pattern the query is closest to (Thm 3/4)",
        our_value=(f"smallest (retrieved - ceiling) = {worst['gap']:+.3f} ({worst['dataset']}, {worst['corruption']}, "
                   f"N={worst['n_stored']}); ceilings {top['fraction_cue_nearest'].min():.3f}-"
                   f"{top['fraction_cue_nearest'].max():.3f}"),
        tolerance=f"fraction retrieved >= ceiling - {CEILING_SLACK} for every data set, cue and N",
        passed=bool(top["gap"].min() >= -CEILING_SLACK),
    )
    parts, ok = [], True
    for (ds, kind), grp in table.groupby(["dataset", "corruption"]):
        by_n = {}
        for n, g in grp.groupby("n_stored"):
            by_n[n] = beta_half(g["beta"].to_numpy(), g["fraction_retrieved"].to_numpy())
        lo, hi = by_n[min(by_n)], by_n[max(by_n)]
        ok &= bool(hi > lo)
        parts.append(f"{ds}/{kind}: {lo:.3g} (N={min(by_n)}) -> {hi:.3g} (N={max(by_n)})")
    c2 = Claim(
        id="beta_needed_grows_with_n",
        statement="The beta needed to retrieve half the cues grows with the number of stored images",
        paper_value="required beta grows with N (separation condition, Thm 3/4)",
        our_value="; ".join(parts),
        tolerance="beta_50 at the largest N > beta_50 at the smallest N, for every dataset and cue",
        passed=ok,
    )
    share = top["fraction_retrieved_one_step"].sum() / max(top["fraction_retrieved"].sum(), 1e-12)
    c3 = Claim(
        id="one_update",
        statement="At the largest beta, retrieval happens in one update",
        paper_value="retrieval after one update, exponentially small error (Thm 4)",
        our_value=f"{share:.3f} of retrieved cues were within tolerance after one update",
        tolerance=f"share >= {ONE_STEP_MIN_SHARE}",
        passed=bool(share >= ONE_STEP_MIN_SHARE),
    )
    return [c1, c2, c3]


def caption(table: pd.DataFrame, params: dict, scale: str, verdict_text: str) -> str:
    datasets = ", ".join(DATASET_NOTES.get(d, d) for d in table["dataset"].unique())
    sizes = ", ".join(str(n) for n in sorted(table["n_stored"].unique()))
    return (
        f"Modern Hopfield retrieval (Ramsauer et al. 2020) of stored images from corrupted cues. Data: "
        f"{datasets}; images centred by the training mean and normalised to unit norm. Scale '{scale}': "
        f"N = {sizes} stored training images, {params['n_queries']} cues per setting (capped at N), "
        f"{params['seeds']} seed(s); softmax update, dot-product similarity, up to {params['max_steps']} "
        f"updates. Cues: lower half set to the mean image with the upper half clamped ('mask_half'), or "
        f"Gaussian noise of relative norm {params['noise_level']} ('gaussian'). Retrieved = final relative "
        f"error < {params['success_tol']}. Dashed: the ceiling, the fraction of cues whose most similar stored "
        f"image is their own (half-masked CIFAR-10 cues are often closer to another image). Lines: mean over "
        f"seeds (bands: sd). Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, caption_text: str):
    """Fraction retrieved (top) and mean error (bottom) against beta, one line per N."""
    plt, sns = pyplot()
    panels = list(table.groupby(["dataset", "corruption"], sort=True).groups)
    fig, axes = plt.subplots(2, len(panels), figsize=(3.2 * len(panels), 5.6), sharex=True, squeeze=False)
    # Colours by rank of N within a data set ("all" differs between data sets: a legend for each one then).
    sizes = table.groupby("dataset")["n_stored"].unique().map(sorted)
    palette = sns.color_palette("viridis", n_colors=max(len(v) for v in sizes))
    legend_at = ({max(j for j, (d, _) in enumerate(panels) if d == ds) for ds in sizes.index}
                 if len({tuple(v) for v in sizes}) > 1 else {len(panels) - 1})
    for j, (ds, kind) in enumerate(panels):
        sub = table[(table["dataset"] == ds) & (table["corruption"] == kind)]
        for i, (metric, label) in enumerate([("fraction_retrieved", "fraction retrieved"),
                                             ("mean_error", "mean relative error")]):
            ax = axes[i, j]
            for color, (n, g) in zip(palette, sub.groupby("n_stored")):
                ax.plot(g["beta"], g[metric], marker="o", ms=3, color=color, label=f"N={n}")
                ax.fill_between(g["beta"], g[metric] - g[f"{metric}_sd"], g[metric] + g[f"{metric}_sd"],
                                color=color, alpha=0.15, lw=0)
                if i == 0:
                    ax.plot(g["beta"], g["fraction_cue_nearest"], ls="--", lw=0.8, color=color)
            ax.set_xscale("log")
            ax.set_ylabel(label if j == 0 else "")
            if i == 0:
                ax.set_title(f"{DATASET_NOTES.get(ds, ds).split(' (')[0]}, {kind}")
                ax.set_ylim(-0.03, 1.03)
            else:
                ax.set_xlabel(r"inverse temperature $\beta$")
    for j in legend_at:
        axes[0, j].legend(title="stored", fontsize=7, title_fontsize=7, loc="lower right")
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    """Summary, claims, caption, figure and metadata from the run table (one row per data set, seed, cue, N and
    beta; every configured data set, from one run or gathered from its shards)."""
    tr = stages.figure_run(config, NAME, provenance)
    params = tr.params
    table = summarize(runs.table)
    claims = evaluate_claims(table)
    return finish_target(
        tr,
        out_prefix,
        paper=PAPER,
        paper_key=PAPER_KEY,
        claims=claims,
        table=table,
        caption=lambda v: caption(table, params, config["scale"], v),
        figure=lambda cap: make_figure(table, cap),
        run_wall_s=provenance["run_wall_time_s"],
        datasets={d: DATASET_NOTES.get(d, d) for d in params["datasets"]},
        substitutions="none; CIFAR-10 pixels are JPEG re-encodings of the originals",
    )
