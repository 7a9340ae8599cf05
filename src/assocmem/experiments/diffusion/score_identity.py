"""The empirical score is the dense-memory update (target ``fig_diffusion_score_identity``; spec E1).

Hoover et al. (2023), *Memory in Plain Sight*, key identity: for stored points ``X`` and
``p_sigma = (1/K) sum_i N(x_i, sigma^2 I)``, ``x + sigma^2 grad log p_sigma(x)`` equals the Euclidean dense
associative memory update with ``beta = 1 / (2 sigma^2)`` (logits ``-beta ||x - x_i||^2``; the spec writes it as
``softmax(-||x - x_i||^2 / (2 sigma^2))``, i.e. ``beta_spec = 1 / sigma^2`` on ``-||.||^2 / 2``).

Protocol: ``K`` points uniform on the unit sphere of ``R^dim`` (pairwise distances about sqrt(2), so the softmax
spreads over many points at the largest sigma and is one-hot at the smallest); ``queries`` query points drawn from
``p_sigma`` itself (a random stored point plus ``sigma`` times Gaussian noise) for each sigma. Left: ``sigma^2`` times
the autograd score of ``log p_sigma`` (:func:`assocmem.diffusion.autograd_score`, through the core's KDE energy),
plus ``x``; right: :func:`assocmem.dynamics.update` in one shot and with stored points in blocks (online
log-sum-exp, ``memory_block``). The run is in float64 (the block's ``dtype``): the claim (< 1e-10) is about the
identity, not about float32 rounding, which alone is about 1e-7.

Claim (spec): max absolute difference < 1e-10 in float64, for both forms of the update.

Run without Snakemake::

    python -m assocmem run fig_diffusion_score_identity --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import device as _device
from ... import diffusion, dynamics
from ...results import begin_target
from ...sampling import sample_sphere
from ...stages import Runs

NAME = "diffusion_score_identity"
TARGET = "fig_diffusion_score_identity"
PAPER_KEY = "diffusion"
PAPER = PAPERS["diffusion"].citation
TARGET_SPECS = (
    Target(TARGET, PAPERS["diffusion"], NAME, __name__, data=(), threads=1, runtime=5,
           summary="autograd score of the smoothed point set vs the Euclidean memory update (float64)"),
)
TOL = 1e-10  # spec E1


def run(params: dict, *, seed: int, device: torch.device) -> pd.DataFrame:
    """One row per (sigma, query): the largest absolute difference between ``x + sigma^2 * autograd score`` and the
    one-shot and blocked memory updates, the relative score difference, and the effective number of stored points
    the softmax weighs (``1 / sum w^2``)."""
    dtype = _device.resolve_dtype(params["dtype"])
    g = _device.generator(seed * 1_000_003 + 1)
    X = sample_sphere((params["K"], params["dim"]), g, torch.float64).to(device, dtype)
    rows = []
    for sigma in params["sigmas"]:
        pick = torch.randint(params["K"], (params["queries"],), generator=g)
        noise = torch.randn(params["queries"], params["dim"], generator=g, dtype=torch.float64)
        x = X[pick] + sigma * noise.to(device, dtype)
        beta = diffusion.beta_of_sigma(sigma)
        ref = x + sigma**2 * diffusion.autograd_score(X, x, sigma)
        one = dynamics.update(X, x, beta, similarity="neg_sq_euclidean")
        blocked = dynamics.update(X, x, beta, similarity="neg_sq_euclidean", memory_block=params["memory_block"])
        s_auto = diffusion.autograd_score(X, x, sigma)
        s_mem = diffusion.empirical_score(X, x, sigma)
        w = dynamics.separation_weights(X, x, beta, similarity="neg_sq_euclidean")
        out = {
            "diff_update": (ref - one).abs().amax(-1),
            "diff_blocked": (ref - blocked).abs().amax(-1),
            "score_rel_diff": (s_auto - s_mem).norm(dim=-1) / s_auto.norm(dim=-1),
            "n_effective": 1.0 / (w**2).sum(-1),
            "score_norm": s_auto.norm(dim=-1),
        }
        out = {k: v.cpu().tolist() for k, v in out.items()}
        for q in range(params["queries"]):
            rows.append({"sigma": sigma, "query": q, **{k: v[q] for k, v in out.items()}})
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure is in :mod:`.score_identity_figure`."""
    tr = begin_target(config, NAME, threads)
    return Runs(run(tr.params, seed=config["seed"], device=tr.device))
