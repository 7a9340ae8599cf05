"""DrDAM's approximation error against the number of stored memories (target ``fig_drdam_error_vs_memories``).

Hoover et al. 2024, Fig. 5 (spec ``drdam.md``): at a fixed number Y of random features, K unique random binary
memories (scaled into the unit box) are written into T one group at a time (the write is exactly additive:
T(K2) = T(K1) + sum of the features of memories K1..K2, so the K grid costs one write of the largest K), and DrDAM
is compared with MrDAM at ``n_queries`` uniform random binary queries: mean absolute error of the energy and mean
L2 norm of the gradient error (the spec's Fig 5 quantities; the elementwise gradient MAE is kept too). One draw of
Omega per D (seeded by D), shared across beta and K. Float64 (the block's ``dtype``), as for Fig 3.

Claim (figure stage): T3, at fixed Y the errors increase with beta, with D and with K.

    python -m assocmem run fig_drdam_error_vs_memories
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
from .common import feature_seed, run_dtype, shard_order, unique_binary, with_beta
from .errors import error_rows, pattern_seed

NAME = "drdam_error_vs_memories"
PAPER_KEY = "drdam"
PAPER = PAPERS[PAPER_KEY].citation
TARGET_SPECS = (
    Target("fig_drdam_error_vs_memories", PAPERS[PAPER_KEY], NAME, __name__, threads=1, runtime=60,
           summary="DrDAM energy and gradient error vs the number K of memories at fixed Y (Fig 5)",
           shard_axis="betas"),
)


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype, progress: bool = True) -> pd.DataFrame:
    """Errors at the random queries for every (D, beta, K); one row each."""
    Ks = sorted(params["n_memories"])
    Y = params["features"]
    rows = []
    bar = tqdm(total=len(params["dims"]) * len(params["betas"]), desc=NAME, unit="(D,beta)", disable=not progress,
               mininterval=2)
    for D in params["dims"]:
        g = _device.generator(pattern_seed(seed, D) + 7)
        mem01 = unique_binary(Ks[-1], D, g)
        queries = {"random": rf.to_unit_box((torch.rand(params["n_queries"], D, generator=g) < 0.5).double())
                   .to(device, dtype)}
        Xi_all = rf.to_unit_box(mem01).to(device, dtype)
        base = rf.Features(params["kind"], Y, D, params["betas"][0], seed=feature_seed(seed, D, Y),
                           block=params["block"])
        omega = list(rf.omega_blocks(base, dtype, device))
        for beta in params["betas"]:
            f = with_beta(base, beta)
            T, done = None, 0
            for K in Ks:
                T = rf.write(f, Xi_all[done:K], T, omega=omega)  # add the memories done..K to T
                done = K
                for r in error_rows(f, T, Xi_all[:K], queries, omega):
                    rows.append({"D": D, "Y": Y, "beta": float(beta), "K": K, **r})
            bar.update()
    bar.close()
    return shard_order(pd.DataFrame(rows), "beta", [float(b) for b in params["betas"]])


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure and the claim are in :mod:`.memories_figure`."""
    tr = begin_target(config, NAME, threads)
    dtype = run_dtype(tr.params, tr.dtype)
    return Runs(run(tr.params, seed=config["seed"], device=tr.device, dtype=dtype), {"dtype": str(dtype)})
