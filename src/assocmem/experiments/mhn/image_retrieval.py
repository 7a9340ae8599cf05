"""Modern Hopfield retrieval of stored images from corrupted cues (target ``fig_mhn_image_retrieval``).

Ramsauer et al. (2020), *Hopfield Networks is All You Need* (ICLR 2021): with the update
``x <- Xi^T softmax(beta * Xi x)``, stored patterns that are well separated from the others are
retrieved in one update when ``beta`` is large enough, and the ``beta`` needed grows with the number
of stored patterns (their separation condition ``Delta >= 2/(beta N) + (1/beta) log(2 (N-1) N beta M^2)``);
below it the update falls into metastable states that average several memories.

Protocol (a project choice; the paper gives the theory, not this experiment):
- images scaled to [0, 1], centred by the training-set mean image, each normalised to unit norm;
- ``N`` stored images drawn at random (seeded) from the training set; the first ``n_queries`` of them
  are cued;
- cues: the lower half set to 0 (the mean image) with the upper half clamped, or Gaussian noise of
  norm ``noise_level`` (relative to the pattern);
- all betas of the grid run as one batch; a cue counts as retrieved when the final state is within
  ``success_tol`` (relative Euclidean error) of the stored image it came from.

Run without Snakemake (one run per data set, then the figure)::

    python -m assocmem run fig_mhn_image_retrieval
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import cli
from ...registry import PAPERS, Target
from ... import corruption, device as _device, dynamics
from ...data import as_patterns, load_images
from ...files import write_csv, write_json
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import begin_target, finish_target

NAME = "mhn_image_retrieval"
TARGET = "fig_mhn_image_retrieval"
PAPER_KEY = "mhn"
PAPER = PAPERS["mhn"].citation
TARGET_SPECS = (
    Target("fig_mhn_image_retrieval", PAPERS["mhn"], NAME, __name__, data=lambda p: tuple(p['datasets']), threads=16,
           summary="retrieval of stored MNIST and CIFAR-10 images from half-masked and noisy cues", rules="custom"),
)
DATASET_NOTES = {
    "mnist": "MNIST (exact)",
    "fashion_mnist": "Fashion-MNIST (exact)",
    "cifar10": "CIFAR-10 (JPEG re-encoding, lossy)",
}
# Project tolerances: the paper states theorems, not these numbers.
CEILING_SLACK = 0.05
ONE_STEP_MIN_SHARE = 0.9


def to_patterns(images: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """Flatten uint8 images, scale to [0, 1], subtract ``mean`` (flattened) and normalise rows."""
    x = as_patterns(images, torch.float64) - mean
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _retrieve(Xi, cue, beta, known, params, progress=None):
    """Retrieve every cue (rows of ``cue``, one ``beta`` each), ``chunk_size`` cues at a time; return the final
    states, the states after one update and the number of updates."""
    kw = dict(clamp=known, tol=params["tol"], cue_block=params["chunk_size"])
    first = dynamics.retrieve(Xi, cue, beta, max_steps=1, **kw,
                              progress=progress.update if progress is not None and params["max_steps"] == 1 else None)
    if params["max_steps"] == 1:
        return first.state, first.state, first.steps
    rest = dynamics.retrieve(Xi, first.state, beta, max_steps=params["max_steps"] - 1, **kw,
                             progress=progress.update if progress is not None else None)
    return rest.state, first.state, first.steps + rest.steps


def run(
    images: torch.Tensor,
    params: dict,
    *,
    dataset: str,
    seed: int,
    device: torch.device,
    dtype: torch.dtype,
    progress: bool = True,
) -> pd.DataFrame:
    """Run the retrieval grid on training ``images`` (uint8, ``(M, H, W[, C])``).

    Returns one row per (seed, corruption, N, beta) with the fraction retrieved, the fraction
    retrieved after a single update, the fraction whose final state is nearest to the right memory,
    the fraction of cues whose most similar stored image is their own (the ceiling any retrieval by
    similarity can reach), mean and median relative error and the mean number of updates.
    """
    image_shape = tuple(images.shape[1:])
    M = images.shape[0]
    mean = as_patterns(images, torch.float64).mean(0)
    betas = torch.tensor(params["betas"], dtype=torch.float64)
    sizes = [M if n == "all" else min(int(n), M) for n in params["n_stored"]]
    jobs = [(s, N, c) for s in range(params["seeds"]) for N in sizes for c in params["corruptions"]]
    total = sum(min(params["n_queries"], N) * len(betas) for _, N, _ in jobs)
    bar = tqdm(total=total, desc=f"{NAME} {dataset}", unit="cue", disable=not progress, mininterval=2)
    rows = []
    for s, N, kind in jobs:
        g = _device.generator(seed * 100_003 + s)
        idx = torch.randperm(M, generator=g)[:N]
        Xi64 = to_patterns(images[idx], mean)
        q = min(params["n_queries"], N)
        if kind == "mask_half":
            cue64, known = corruption.mask_lower_half(Xi64[:q], image_shape)
        else:
            cue64, known = corruption.gaussian_noise(Xi64[:q], params["noise_level"], g), None
        # Ceiling set by the cue itself: is the stored image most similar to the cue its own?
        cue_nearest = ((cue64 @ Xi64.T).argmax(1) == torch.arange(q)).double().mean().item()
        Xi = Xi64.to(device, dtype)
        nb = len(betas)
        cue = cue64.to(device, dtype).repeat(nb, 1)  # beta-major: rows [k*q:(k+1)*q] use betas[k]
        beta = betas.repeat_interleave(q).to(device, dtype)
        if known is not None:
            known = known.to(device)
        final, one, steps = _retrieve(Xi, cue, beta, known, params, bar)
        target = Xi[:q].repeat(nb, 1)
        err = (final - target).norm(dim=1).view(nb, q).double().cpu()
        err1 = (one - target).norm(dim=1).view(nb, q).double().cpu()
        nearest = torch.cat([(f @ Xi.T).argmax(1) for f in final.split(params["chunk_size"])])
        correct = (nearest.view(nb, q).cpu() == torch.arange(q)).double()
        steps = steps.view(nb, q).double().cpu()
        ok = (err < params["success_tol"]).double()
        ok1 = (err1 < params["success_tol"]).double()
        for k, b in enumerate(params["betas"]):
            rows.append(
                dict(
                    dataset=dataset,
                    seed=s,
                    corruption=kind,
                    n_stored=N,
                    beta=float(b),
                    n_queries=q,
                    fraction_retrieved=ok[k].mean().item(),
                    fraction_retrieved_one_step=ok1[k].mean().item(),
                    fraction_nearest_correct=correct[k].mean().item(),
                    fraction_cue_nearest=cue_nearest,
                    mean_error=err[k].mean().item(),
                    median_error=err[k].median().item(),
                    mean_updates=steps[k].mean().item(),
                )
            )
    bar.close()
    return pd.DataFrame(rows)


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
    palette = sns.color_palette("viridis", n_colors=table["n_stored"].nunique())
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
    axes[0, -1].legend(title="stored", fontsize=7, title_fontsize=7, loc="lower right")
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


# ----------------------------------------------------------------------------- entry points


def run_to_csv(config: dict, dataset: str, data_path: Path, out: Path, threads: int | None = None) -> pd.DataFrame:
    """Load a prepared image set, run the grid, write the raw CSV and its JSON sidecar."""
    tr = begin_target(config, NAME, threads)
    params, dev, dtype = tr.params, tr.device, tr.dtype
    images = load_images(data_path)["train_images"]
    raw = run(images, params, dataset=dataset, seed=config["seed"], device=dev, dtype=dtype)
    wall = time.perf_counter() - tr.started
    write_csv(raw, out)
    write_json(
        dict(dataset=dataset, data=str(data_path), scale=config["scale"], seed=config["seed"], params=params,
             device=_device.describe(dev), dtype=str(dtype), wall_time_s=wall),
        Path(out).with_suffix(".json"),
    )
    return raw


def figure_from_runs(config: dict, runs: list[Path], out_prefix: Path) -> dict:
    """Combine run CSVs into the target's figure, tidy table and metadata; return the metadata."""
    tr = begin_target(config, NAME)
    raw = pd.concat([pd.read_csv(p) for p in runs], ignore_index=True)
    sidecars = [json.loads(Path(p).with_suffix(".json").read_text()) for p in runs]
    params = tr.params
    table = summarize(raw)
    claims = evaluate_claims(table)
    tr.started -= sum(s["wall_time_s"] for s in sidecars)  # the target's wall time includes the runs'
    return finish_target(
        tr,
        out_prefix,
        paper=PAPER,
        paper_key=PAPER_KEY,
        claims=claims,
        table=table,
        caption=lambda v: caption(table, params, config["scale"], v),
        figure=lambda cap: make_figure(table, cap),
        datasets={s["dataset"]: DATASET_NOTES.get(s["dataset"], s["dataset"]) for s in sidecars},
        device=", ".join(sorted({s["device"] for s in sidecars})),
        dtype=", ".join(sorted({s["dtype"] for s in sidecars})),
        run_wall_time_s={s["dataset"]: round(s["wall_time_s"], 2) for s in sidecars},
        substitutions="none; CIFAR-10 pixels are JPEG re-encodings of the originals",
    )


def main(argv: list[str] | None = None) -> None:
    parser = cli.parser(__name__, __doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the retrieval grid on one prepared data set")
    p_run.add_argument("--dataset", required=True, choices=sorted(DATASET_NOTES))
    p_run.add_argument("--data", required=True, type=Path, help="prepared .pt file (python -m assocmem.data)")
    p_run.add_argument("--out", required=True, type=Path, help="raw results CSV")
    p_run.add_argument("--threads", type=int, default=None)
    p_fig = sub.add_parser("figure", help="make the figure, tidy table and metadata from run CSVs")
    p_fig.add_argument("--runs", nargs="+", required=True, type=Path)
    p_fig.add_argument("--out-prefix", required=True, type=Path)
    args = parser.parse_args(argv)
    cfg = cli.load_config(parser, args)
    if args.command == "run":
        run_to_csv(cfg, args.dataset, args.data, args.out, args.threads)
    else:
        cli.print_summary(figure_from_runs(cfg, args.runs, args.out_prefix))


if __name__ == "__main__":
    main()
