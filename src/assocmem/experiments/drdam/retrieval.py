"""Do DrDAM and MrDAM retrieve the same thing? (target ``fig_drdam_retrieval_agreement``).

Hoover et al. 2024, Fig. 4A (spec ``drdam.md``): the synthetic setting of Fig. 3 (K unique random binary memories
scaled into the unit box; query sets memories, near = 10% of the bits flipped, random), with retrieval. From the
same starts, both models descend their energies with fixed steps ``x <- x - alpha grad E(x)``
(:func:`assocmem.random_features.descend`; DrDAM's closed-form gradient, MrDAM's through the core's Euclidean
update) for ``steps`` steps; the fixed points are binarized at 0.5/sqrt(D) and compared: the fraction of differing
bits (Hamming / D; 0.5 = unrelated). Omega is drawn once per (D, Y) (fresh per Y, as in Fig. 3), shared across
beta and held during the descent (``omega=list(omega_blocks(...))``) rather than regenerated every step. MrDAM's
fixed point does not depend on Y and is computed once per (D, beta). Also kept: each model's Hamming distance from
its fixed point to the nearest memory (0 = it retrieved a stored pattern). All queries of all sets are one batch.

Claim (figure stage): T4, disagreement near 0 at small beta and large Y, rising as beta and D grow and Y shrinks,
random queries first.

    python -m assocmem run fig_drdam_retrieval_agreement
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
from .common import feature_seed, query_sets, run_dtype, shard_order, unique_binary, with_beta
from .errors import pattern_seed

NAME = "drdam_retrieval_agreement"
PAPER_KEY = "drdam"
PAPER = PAPERS[PAPER_KEY].citation
TARGET_SPECS = (
    Target("fig_drdam_retrieval_agreement", PAPERS[PAPER_KEY], NAME, __name__, threads=1, runtime=240, gpu=True,
           summary="bit disagreement of DrDAM and MrDAM fixed points vs beta, Y, D and query set (Fig 4A)",
           shard_axis="features"),
)


def nearest_hamming(bits: torch.Tensor, memory_bits: torch.Tensor) -> torch.Tensor:
    """Fraction of differing bits from each row of ``bits`` ``(Q, D)`` to its nearest row of ``memory_bits``."""
    a, m = bits.double(), memory_bits.double()
    diff = a @ (1 - m).T + (1 - a) @ m.T  # (Q, K) differing bits
    return diff.min(dim=1).values / bits.shape[1]


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype, progress: bool = True) -> pd.DataFrame:
    """Disagreement for every (D, Y, beta, query set); one row each."""
    alpha, steps = params["alpha"], params["steps"]
    rows = []
    bar = tqdm(total=len(params["dims"]) * len(params["features"]) * len(params["betas"]), desc=NAME,
               unit="cell", disable=not progress, mininterval=2)
    for D in params["dims"]:
        g = _device.generator(pattern_seed(seed, D) + 11)
        mem01 = unique_binary(params["n_memories"], D, g)
        sets = query_sets(mem01, params["n_queries"], params["flip_fraction"], g)
        names = list(sets)
        split = [sets[s].shape[0] for s in names]
        x0 = rf.to_unit_box(torch.cat([sets[s] for s in names])).to(device, dtype)
        Xi = rf.to_unit_box(mem01).to(device, dtype)
        mem_bits = rf.binarize(Xi)
        mr = {}
        for beta in params["betas"]:
            x_mr, _ = rf.descend(lambda x, b=float(beta): rf.mr_grad(Xi, x, b), x0, alpha, steps)
            mr[beta] = rf.binarize(x_mr)
        for Y in params["features"]:
            base = rf.Features(params["kind"], Y, D, params["betas"][0], seed=feature_seed(seed, D, Y),
                               block=params["block"])
            omega = list(rf.omega_blocks(base, dtype, device))  # held for the whole descent
            for beta in params["betas"]:
                f = with_beta(base, beta)
                T = rf.write(f, Xi, omega=omega)
                x_dr, _ = rf.descend(lambda x: rf.grad(f, T, x, omega=omega), x0, alpha, steps)
                dr_bits = rf.binarize(x_dr)
                dis = (dr_bits != mr[beta]).double().mean(-1).cpu()
                dr_near = nearest_hamming(dr_bits, mem_bits).cpu()
                mr_near = nearest_hamming(mr[beta], mem_bits).cpu()
                moved = (dr_bits != rf.binarize(x0)).double().mean(-1).cpu()
                for s, i in zip(names, torch.arange(x0.shape[0]).split(split)):
                    n = len(i)
                    rows.append({"D": D, "K": params["n_memories"], "Y": Y, "beta": float(beta), "set": s,
                                 "n_queries": n, "disagreement": float(dis[i].mean()),
                                 "disagreement_se": float(dis[i].std() / n**0.5),
                                 "dr_to_memory": float(dr_near[i].mean()), "mr_to_memory": float(mr_near[i].mean()),
                                 "dr_moved": float(moved[i].mean())})
                bar.update()
    bar.close()
    return shard_order(pd.DataFrame(rows), "Y", params["features"])


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure and the claim are in :mod:`.retrieval_figure`."""
    tr = begin_target(config, NAME, threads)
    dtype = run_dtype(tr.params, tr.dtype)
    return Runs(run(tr.params, seed=config["seed"], device=tr.device, dtype=dtype), {"dtype": str(dtype)})
