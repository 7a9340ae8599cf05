"""Which random-feature map approximates the dense memory best? (target ``fig_drdam_feature_maps``).

Hoover et al. 2024, Fig. 6 (spec ``drdam.md``), on a stand-in for the OpenML "letter" data (20,000 x 16, not
available offline): MNIST training images average-pooled 7x7 -> 4x4 (D = 16), the first ``n_pool`` of them,
min-max scaled per feature over those images and divided by 4 (= sqrt(16)), so every vector lies in the unit box
[0, 1/4]^16 and all distances are <= 1. ``n_memories`` of them are stored and ``n_queries`` others (disjoint) are
queries (a seeded draw). For every Y (a fresh Omega per Y, shared by the four maps and all beta) and beta, each map
(Cos, SinCos, Exp, ExpExp; :mod:`assocmem.random_features`) writes the memories, and its energy and gradient are
compared with MrDAM's at the memories and at the queries: mean absolute error of the energy, raw and after removing
the intercept of the fit E_hat = E + a over the points of the set (our reading of the spec's "after removing the
intercept of a linear fit", so that a constant offset between maps does not count; a free-slope fit is
ill-conditioned here, where E varies little across the points at small beta), and of the gradient elementwise.
Float64 (the block's ``dtype``).

Claim (figure stage): T5, SinCos has the lowest error; the Exp-type maps degrade much faster with beta; all maps
follow 1/sqrt(Y).

    python -m assocmem run fig_drdam_feature_maps
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ... import device as _device
from ... import random_features as rf
from ...data import load_images
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs
from .common import compare, feature_seed, run_dtype, shard_order

NAME = "drdam_feature_maps"
PAPER_KEY = "drdam"
PAPER = PAPERS[PAPER_KEY].citation
POOL = 7  # 28x28 -> 4x4
TARGET_SPECS = (
    Target("fig_drdam_feature_maps", PAPERS[PAPER_KEY], NAME, __name__, data=("mnist",), threads=1, runtime=120,
           summary="energy and gradient error of the Cos, SinCos, Exp and ExpExp maps vs Y and beta (Fig 6)",
           shard_axis="features"),
)


def pooled_features(images: torch.Tensor) -> torch.Tensor:
    """MNIST images ``(N, 28, 28)`` uint8 -> ``(N, 16)`` float64: 7x7 average pools, min-max scaled per feature over
    the ``N`` images, divided by sqrt(16) (into the unit box)."""
    x = torch.nn.functional.avg_pool2d(images.double()[:, None], POOL).flatten(1)
    lo, hi = x.min(0).values, x.max(0).values
    x = (x - lo) / (hi - lo).clamp_min(1e-12)
    return x / x.shape[1] ** 0.5


def offset_mae(E_hat: torch.Tensor, E: torch.Tensor) -> float:
    """Mean |E_hat - a - E| with ``a = mean(E_hat - E)``: the intercept of the least-squares fit E_hat = E + a, so a
    constant offset does not count."""
    d = E_hat - E
    return float((d - d.mean()).abs().mean())


def split_points(n_pool: int, n_memories: int, n_queries: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint indices of the memories and the queries among the first ``n_pool`` images."""
    if n_memories + n_queries > n_pool:
        raise ValueError(f"{n_memories} memories + {n_queries} queries > {n_pool} images")
    perm = torch.randperm(n_pool, generator=g)
    return perm[:n_memories], perm[n_memories:n_memories + n_queries]


def run(images: torch.Tensor, params: dict, *, seed: int, device: torch.device, dtype: torch.dtype,
        progress: bool = True) -> pd.DataFrame:
    """Errors for every (Y, beta, map, point set); one row each."""
    pts = pooled_features(images[:params["n_pool"]])
    mem_idx, q_idx = split_points(pts.shape[0], params["n_memories"], params["n_queries"], _device.generator(seed + 42))
    Xi = pts[mem_idx].to(device, dtype)
    sets = {"memories": Xi, "queries": pts[q_idx].to(device, dtype)}
    D = Xi.shape[1]
    rows = []
    bar = tqdm(total=len(params["features"]) * len(params["betas"]), desc=NAME, unit="(Y,beta)", disable=not progress,
               mininterval=2)
    for Y in params["features"]:
        base = rf.Features("sincos", Y, D, 1.0, seed=feature_seed(seed, D, Y), block=params["block"])
        omega = list(rf.omega_blocks(base, dtype, device))  # Omega and b do not depend on the map or on beta
        for beta in params["betas"]:
            for kind in params["maps"]:
                f = rf.Features(kind, Y, D, float(beta), seed=base.seed, block=base.block)
                T = rf.write(f, Xi, omega=omega)
                for s, x in sets.items():
                    c = {k: v.double() for k, v in compare(f, T, Xi, x, omega).items()}
                    e = (c["E_hat"] - c["E"]).abs()
                    gd = (c["G_hat"] - c["G"])
                    n = x.shape[0]
                    rows.append({"Y": Y, "beta": float(beta), "map": kind, "set": s, "n_points": n,
                                 "energy_mae": offset_mae(c["E_hat"], c["E"]), "energy_mae_raw": float(e.mean()),
                                 "grad_mae": float(gd.abs().mean()),
                                 "grad_se": float(gd.abs().mean(-1).std() / n**0.5),
                                 "clipped": float(c["clipped"].double().mean())})
            bar.update()
    bar.close()
    return shard_order(pd.DataFrame(rows), "Y", params["features"])


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run on the prepared MNIST file (:func:`run`); the figure and the claim are in
    :mod:`.feature_maps_figure`."""
    tr = begin_target(config, NAME, threads)
    dtype = run_dtype(tr.params, tr.dtype)
    images = load_images(data["mnist"])["train_images"]
    raw = run(images, tr.params, seed=config["seed"], device=tr.device, dtype=dtype)
    return Runs(raw, {"dtype": str(dtype)})
