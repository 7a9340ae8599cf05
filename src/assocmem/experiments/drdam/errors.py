"""DrDAM's approximation error against the number of random features (target ``fig_drdam_error_vs_features``).

Hoover et al. 2024, *Dense Associative Memory Through the Lens of Random Features*, Fig. 3 (spec ``drdam.md``).
K unique random binary memories in D dimensions, scaled into the unit box ({0, 1/sqrt(D)}, so all distances are
<= 1); three query sets of ``n_queries`` states: the memories themselves, "near" (each memory with 10% of its bits
flipped) and uniform random binary vectors. For every D, Y and beta, DrDAM (the ``kind`` map, default SinCos;
:mod:`assocmem.random_features`) writes the memories into T and is compared with MrDAM (the core's Euclidean
log-sum-exp memory) at every query: mean absolute error of the energy, and of the gradient elementwise (also its
mean L2 norm). Omega is drawn fresh for every (D, Y) (a seed per Y, so shards over Y are independent) and shared
across beta. The "random guess" baseline of the authors' plots, mean |E(xi_mu) - E_hat(random query)| over pairs
(and the same for gradients, elementwise), is kept per (D, Y, beta). Float64 (the block's ``dtype``): errors down
to 1e-4 are measured on energies of order 1.

Claims (figure stage): T1, error proportional to 1/sqrt(Y) (log-log slope in [-0.6, -0.4]); T2, memories < near <
random for beta >= 30, energy and gradient.

    python -m assocmem run fig_drdam_error_vs_features
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ... import device as _device
from ... import random_features as rf
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs
from .common import compare, feature_seed, query_sets, run_dtype, shard_order, unique_binary, with_beta

NAME = "drdam_error_vs_features"
PAPER_KEY = "drdam"
PAPER = PAPERS[PAPER_KEY].citation
TARGET_SPECS = (
    Target("fig_drdam_error_vs_features", PAPERS[PAPER_KEY], NAME, __name__, threads=1, runtime=120,
           summary="DrDAM energy and gradient error vs the number Y of random features (Fig 3)",
           shard_axis="features"),
)


def pattern_seed(seed: int, D: int) -> int:
    """The seed of the memories and query sets in dimension ``D`` (the same in every shard)."""
    return seed * 1_000_003 + D


def error_rows(f: rf.Features, T: torch.Tensor, Xi: torch.Tensor, sets: dict[str, torch.Tensor], omega) -> list[dict]:
    """One row per query set: energy and gradient errors of DrDAM against MrDAM (means over the set's queries, and
    their standard errors), the share of clipped estimates, and the random-guess baselines."""
    names = list(sets)
    X = torch.cat([sets[s] for s in names])
    c = {k: v.double() for k, v in compare(f, T, Xi, X, omega).items()}
    e_err = (c["E_hat"] - c["E"]).abs()
    g_diff = c["G_hat"] - c["G"]
    g_err, g_l2 = g_diff.abs().mean(-1), g_diff.norm(dim=-1)
    idx = dict(zip(names, torch.arange(X.shape[0]).split([sets[s].shape[0] for s in names])))
    mem, rnd = idx.get("memories"), idx.get("random")
    guess = {}
    if mem is not None and rnd is not None:  # the authors' red line: E at the memories vs E_hat at random queries
        guess["guess_energy"] = float((c["E"][mem][:, None] - c["E_hat"][rnd][None]).abs().mean())
        guess["guess_grad"] = float((c["G"][mem][:, None] - c["G_hat"][rnd][None]).abs().mean())
    rows = []
    for s in names:
        i = idx[s]
        n = len(i)
        rows.append({"set": s, "n_queries": n,
                     "energy_mae": float(e_err[i].mean()), "energy_se": float(e_err[i].std() / n**0.5),
                     "grad_mae": float(g_err[i].mean()), "grad_se": float(g_err[i].std() / n**0.5),
                     "grad_l2": float(g_l2[i].mean()), "grad_l2_se": float(g_l2[i].std() / n**0.5),
                     "clipped": float(c["clipped"][i].double().mean()), "energy_true": float(c["E"][i].mean()),
                     **guess})
    return rows


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype, progress: bool = True) -> pd.DataFrame:
    """Errors for every (D, Y, beta, query set); one row each."""
    rows = []
    bar = tqdm(total=len(params["dims"]) * len(params["features"]), desc=NAME, unit="(D,Y)", disable=not progress,
               mininterval=2)
    for D in params["dims"]:
        g = _device.generator(pattern_seed(seed, D))
        mem01 = unique_binary(params["n_memories"], D, g)
        sets = {k: rf.to_unit_box(v).to(device, dtype)
                for k, v in query_sets(mem01, params["n_queries"], params["flip_fraction"], g).items()}
        Xi = rf.to_unit_box(mem01).to(device, dtype)
        for Y in params["features"]:
            base = rf.Features(params["kind"], Y, D, params["betas"][0], seed=feature_seed(seed, D, Y),
                               block=params["block"])
            omega = list(rf.omega_blocks(base, dtype, device))  # one draw per (D, Y), shared across beta
            for beta in params["betas"]:
                f = with_beta(base, beta)
                T = rf.write(f, Xi, omega=omega)
                for r in error_rows(f, T, Xi, sets, omega):
                    rows.append({"D": D, "K": params["n_memories"], "Y": Y, "beta": float(beta), **r})
            bar.update()
    bar.close()
    return shard_order(pd.DataFrame(rows), "Y", params["features"])


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure and the claims are in :mod:`.errors_figure`."""
    tr = begin_target(config, NAME, threads)
    dtype = run_dtype(tr.params, tr.dtype)
    return Runs(run(tr.params, seed=config["seed"], device=tr.device, dtype=dtype), {"dtype": str(dtype)})
