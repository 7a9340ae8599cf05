"""Memory capacity of the Gaussian kernel density estimator / mean shift (target ``fig_kde_capacity``).

Schaeffer et al. (2024), *Bridging Associative Memory and Probabilistic Modeling* (arXiv 2402.10202),
spec E1. The energy ``E(x) = -log sum_i exp(-||x - x_i||^2 / (2 sigma^2))`` (:func:`assocmem.energy.kde_energy`
with ``beta = 1 / (2 sigma^2)``) is descended by mean shift
``x <- sum_i softmax_i(-||x - x_i||^2 / (2 sigma^2)) x_i``, the MHN update with the negative squared
Euclidean similarity (:mod:`assocmem.dynamics` with ``similarity="neg_sq_euclidean"``). For points on a sphere it
equals the dot-product MHN with ``beta = 1 / sigma^2``.

Protocol (spec E1): ``N`` points uniform on the unit sphere ``S^{D-1}``; the first ``min(n_probes, N)`` of them are
probes; ``iterations`` mean-shift steps from each probe; a probe is retrieved when it ends within ``tol`` of where it
started. Capacity ``N*(D, sigma)`` = the largest ``N`` of the log grid at which at least ``min_fraction`` of the
probes (pooled over the ``seeds`` memory sets) are retrieved. Variant (basin check): start from the probe plus noise
of norm ``perturbation`` and ask to end within ``tol`` of the stored probe. Memory sets are nested in ``N`` (the first
``N`` points of one draw per seed and ``D``); at each ``D`` the grid stops once every curve is below half of
``min_fraction`` (larger nested sets only retrieve less). Memory sets, both bandwidths and both start types are one
batch; distances are computed in blocks of ``block`` memories (online log-sum-exp), so ``N`` up to 10^6 fits a GPU.

Claims (project criteria): at the small bandwidth ``log N*`` grows linearly in ``D`` over the uncensored low-``D``
range (slope > 0, R^2 >= 0.9); the large bandwidth lowers ``N*`` by at least 4x at every ``D >= 12``; at the large
bandwidth ``N*`` plateaus over the upper half of the ``D`` range and stays below ``tol * e^{1/sigma^2}``, the
large-``D`` limit at which the kernel mass of the other, near-orthogonal points (each weighing about ``e^{-1/sigma^2}``
relative to the probe) moves the fixed point by ``tol``; the perturbed starts show the same two trends.

Run without Snakemake::

    python -m assocmem run fig_kde_capacity --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ...registry import PAPERS, Target
from ... import device as _device
from ... import dynamics
from ...results import begin_target
from ...sampling import sample_sphere
from ...stages import Runs

NAME = "kde_capacity"
TARGET = "fig_kde_capacity"
PAPER_KEY = "kde"
PAPER = PAPERS["kde"].citation
TARGET_SPECS = (
    Target("fig_kde_capacity", PAPERS["kde"], NAME, __name__, data=(), threads=1,
           summary="capacity of the Gaussian-KDE memory vs dimension", shard_axis="dims"),
)
# Project tolerances (the paper states the trend, not these numbers).
MIN_R2 = 0.9
MIN_DROP = 4.0
DROP_FROM_D = 12
MIN_FIT_POINTS = 3


def retrieval_fraction(Xi: torch.Tensor, starts: torch.Tensor, targets: torch.Tensor, beta, iterations: int,
                       tol: float, block: int | None = None) -> torch.Tensor:
    """Run ``iterations`` mean-shift steps (:func:`assocmem.dynamics.update`, Euclidean similarity, memories in
    blocks of ``block`` with an online log-sum-exp; all at once when ``None``) from ``starts`` ``(S, B, D)`` against
    the memory sets ``Xi`` ``(S, N, D)``, with ``beta`` one value per state ``(B,)``; return a boolean ``(S, B)``:
    ended within ``tol`` (Euclidean) of ``targets`` ``(S, B, D)``."""
    x = starts
    for _ in range(iterations):
        x = dynamics.update(Xi, x, beta, similarity="neg_sq_euclidean", memory_block=block or Xi.shape[-2])
    return (x - targets).norm(dim=-1) < tol


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype, progress: bool = True) -> pd.DataFrame:
    """Fraction of probes retrieved for every ``(D, sigma, start, N)``; one row per point of the grid."""
    sigmas = torch.tensor(params["sigmas"], dtype=dtype)
    n_grid = sorted(params["n_grid"])
    S, P, n_sig = params["seeds"], params["n_probes"], len(params["sigmas"])
    rows = []
    bar = tqdm(total=len(params["dims"]) * len(n_grid), desc=NAME, unit="N", disable=not progress, mininterval=2)
    for D in params["dims"]:
        g = _device.generator(seed * 1_000_003 + D)
        pts = torch.stack([sample_sphere((n_grid[-1], D), g, torch.float64) for _ in range(S)])  # nested in N
        noise = sample_sphere((S, P, D), g, torch.float64, radius=params["perturbation"])
        pts, noise = pts.to(device, dtype), noise.to(device, dtype)
        for N in n_grid:
            p = min(P, N)
            Xi = pts[:, :N]
            probes = Xi[:, :p]
            # batch layout of the states: (sigma, start kind, probe) flattened
            clean = probes[:, None, None].expand(S, n_sig, 1, p, D)
            pert = (probes + noise[:, :p])[:, None, None].expand(S, n_sig, 1, p, D)
            starts = torch.cat([clean, pert], dim=2).reshape(S, n_sig * 2 * p, D)
            targets = probes[:, None, None].expand(S, n_sig, 2, p, D).reshape(S, n_sig * 2 * p, D)
            beta = (1.0 / (2.0 * sigmas**2)).to(device, dtype)[:, None, None].expand(n_sig, 2, p).reshape(-1)
            ok = retrieval_fraction(Xi, starts, targets, beta, params["iterations"], params["tol"],
                                    params.get("block")).reshape(S, n_sig, 2, p).cpu()
            for i, sig in enumerate(params["sigmas"]):
                for j, kind in enumerate(["probe", "perturbed"]):
                    per_set = ok[:, i, j].double().mean(-1)
                    rows.append({"D": D, "sigma": sig, "start": kind, "N": N, "n_probes": p * S,
                                     "fraction_retrieved": float(ok[:, i, j].double().mean()),
                                     "fraction_min_set": float(per_set.min()),
                                     "fraction_max_set": float(per_set.max())})
            bar.update()
            # Larger N only lowers the fraction further (nested sets): stop once every curve is far below threshold.
            if max(r["fraction_retrieved"] for r in rows[-2 * n_sig:]) < params["min_fraction"] / 2:
                bar.update(len(n_grid) - n_grid.index(N) - 1)
                break
    bar.close()
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: the fraction of probes retrieved at every grid point (:func:`run`); the figure is in
    :mod:`.kde_capacity_figure`."""
    tr = begin_target(config, NAME, threads)
    return Runs(run(tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype))
