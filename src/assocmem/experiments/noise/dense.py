"""Does noise in the update help a dense associative memory? (target ``fig_dense_noise_recall``; beyond
Karbasi et al. 2013, *Noise-Enhanced Associative Memories*).

A question, not a claim of any paper. ``n_stored`` random binary (+-1) patterns of ``d`` units are stored in
the softmax dense associative memory of :mod:`assocmem.dynamics` (``h = Xi^T softmax(beta Xi x)``, the core
update). Cues: a stored pattern with a fraction ``corruption`` of its units flipped; the same cues (nested flip sets)
for every beta and ``T``, so comparisons between temperatures are paired. Update of a binary
state: at temperature ``T = 0`` ``x <- sign(h)``; at ``T > 0`` every unit is sampled,
``P(x_i = +1) = 1 / (1 + exp(-2 h_i / T))`` (Glauber / finite-temperature update). ``noisy_steps`` updates
at ``T``, then ``final_steps`` noiseless updates read the state out (the same total for every ``T``). A cue
is retrieved when the final state equals the stored pattern it came from. All cues, corruptions,
temperatures and betas are one batch.

Criterion, fixed before looking at the data: noise helps if, for some beta and some corruption level in
the upper half of the grid, some ``T > 0`` retrieves a fraction larger than ``T = 0`` by at least
``max(0.05, 2 standard errors of the difference)``. The claim's ``passed`` is the answer (``not
reproduced`` = noise did not help).

Run without Snakemake::

    python -m assocmem run fig_dense_noise_recall --config config/config.yaml
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
from ...stages import Runs

NAME = "noise_dense"
TARGET = "fig_dense_noise_recall"
PAPER_KEY = "noise"
PAPER = f"beyond {PAPERS['noise'].citation}: noise in a dense associative memory"
TARGET_SPECS = (
    Target("fig_dense_noise_recall", PAPERS["noise"], NAME, __name__, data=(), threads=2,
           summary="beyond the paper: does a stochastic update help a dense memory?"),
)
MIN_GAIN = 0.05
STATE_BLOCK = 4096


def noisy_update(Xi: torch.Tensor, x: torch.Tensor, beta: torch.Tensor, temperature: torch.Tensor,
                 generator: torch.Generator) -> torch.Tensor:
    """One binary update: ``sign(h)`` where ``T = 0``, Glauber sampling at ``T > 0``; ``h`` from the core update,
    ``STATE_BLOCK`` states at a time (rows are independent; at the paper scale, 90,000 states against 20,000
    memories, one block would be a 7.2 GB weight matrix, and blocks halve the time of a step on the CPU)."""
    h = dynamics.in_blocks(lambda xs, sl: dynamics.update(Xi, xs, beta[sl]), x, STATE_BLOCK)
    det = torch.where(h >= 0, 1.0, -1.0).to(x.dtype)
    T = temperature[:, None]
    p = torch.sigmoid(2 * h / T.clamp_min(1e-12))
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64).to(x.device, x.dtype)
    sampled = torch.where(u < p, 1.0, -1.0).to(x.dtype)
    return torch.where(T > 0, sampled, det)


def run(params: dict, *, seed: int, device=None, dtype=torch.float32, progress: bool = True) -> pd.DataFrame:
    device = torch.device("cpu") if device is None else device
    rows = []
    grid = [(b, c, t) for b in params["betas"] for c in params["corruptions"] for t in params["temperatures"]]
    B = params["cues"]
    bar = tqdm(total=params["seeds"] * (params["noisy_steps"] + params["final_steps"]), desc=NAME, unit="step",
               disable=not progress, mininterval=2)
    for s in range(params["seeds"]):
        g = _device.generator(seed * 7_919 + s)
        Xi = (torch.randint(0, 2, (params["n_stored"], params["d"]), generator=g) * 2 - 1).to(device, dtype)
        # The same B cues (targets and flip draws) for every beta and T: paired comparisons.
        cs = params["corruptions"]
        target0 = torch.randint(0, params["n_stored"], (B,), generator=g)
        draw = torch.rand(B, params["d"], generator=g, dtype=torch.float64)
        flips = {c: draw < c for c in cs}
        target = target0.repeat(len(grid))
        beta = torch.tensor([b for b, _, _ in grid], dtype=dtype).repeat_interleave(B).to(device)
        temp = torch.tensor([t for _, _, t in grid], dtype=dtype).repeat_interleave(B).to(device)
        flip = torch.cat([flips[c] for _, c, _ in grid]).to(device)
        x = torch.where(flip, -Xi[target.to(device)], Xi[target.to(device)])
        for _ in range(params["noisy_steps"]):
            x = noisy_update(Xi, x, beta, temp, g)
            bar.update()
        zero = torch.zeros_like(temp)
        for _ in range(params["final_steps"]):
            x = noisy_update(Xi, x, beta, zero, g)
            bar.update()
        ok = (x == Xi[target.to(device)]).all(1).cpu().numpy()
        for i, (b, c, t) in enumerate(grid):
            rows.append(dict(seed=s, beta=b, corruption=c, temperature=t, retrieved=ok[i * B:(i + 1) * B].mean(),
                             n_cues=B))
    bar.close()
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: one row per (seed, beta, corruption, T) (:func:`run`) and the dtype it ran in (float32 when
    bfloat16 is configured); the figure is in :mod:`.noise_dense_figure`."""
    tr = begin_target(config, NAME, threads)
    dtype = torch.float32 if tr.dtype == torch.bfloat16 else tr.dtype
    return Runs(run(tr.params, seed=config["seed"], device=tr.device, dtype=dtype), {"dtype": str(dtype)})
