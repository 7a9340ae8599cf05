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

One run table for all data sets (at the paper scale each data set is a shard of its own, one job each; the figure
gathers them). Run without Snakemake::

    python -m assocmem run fig_mhn_image_retrieval
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ...registry import PAPERS, Target
from ... import corruption, device as _device, dynamics
from ...data import as_patterns, load_images
from ...results import begin_target
from ...stages import Runs

NAME = "mhn_image_retrieval"
TARGET = "fig_mhn_image_retrieval"
PAPER_KEY = "mhn"
PAPER = PAPERS["mhn"].citation
TARGET_SPECS = (
    Target("fig_mhn_image_retrieval", PAPERS["mhn"], NAME, __name__, data=lambda p: tuple(p['datasets']), threads=16,
           summary="retrieval of stored MNIST and CIFAR-10 images from half-masked and noisy cues",
           shard_axis="datasets"),
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


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: :func:`run` on the training images of every configured data set (``data`` names each one's
    prepared file), one table. The figure is in :mod:`.image_retrieval_figure`."""
    tr = begin_target(config, NAME, threads)
    raws = [run(load_images(data[ds])["train_images"], tr.params, dataset=ds, seed=config["seed"], device=tr.device,
                dtype=tr.dtype) for ds in tr.params["datasets"]]
    return Runs(pd.concat(raws, ignore_index=True))
