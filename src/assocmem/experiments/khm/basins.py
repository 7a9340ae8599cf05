"""Basins of attraction of 2-D kernelized Hopfield models before and after U-Hop+ (target ``fig_basins``; KHM
spec, experiment 3; Hu, Wu & Liu, NeurIPS 2024, basin figure).

``M = 5`` unit-norm memories in 2-D (seed 42 in the paper, here derived from the config seed), beta = 20, 5 retrieval
iterations of ``T_Phi(x) = Xi^T sep(beta <W xi_mu, W x>)`` (raw features ``W x``; output in pattern space) from every
point of a ``grid x grid`` square. A grid point belongs to memory ``mu`` when its final state lies within ``tol``
(0.001) of ``xi_mu``; otherwise it is metastable (white). Panels: ``N = 0, 1, 2, 5`` U-Hop+ steps (Adam, lr 0.1,
tau 1) for softmax, 1.5-entmax and sparsemax. ``W`` starts at the identity (``N = 0`` is the plain modern Hopfield
model; ``init: kaiming`` in the config starts from a Kaiming-normal ``W`` instead).

Run without Snakemake::

    python -m assocmem run fig_basins --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import device as _device
from ... import kernelized as K
from ...sampling import sample_sphere
from ...results import begin_target
from ...stages import Runs

NAME = "khm_basins"
TARGET = "fig_basins"
PAPER_KEY = "khm"
PAPER = PAPERS["khm"].citation
TARGET_SPECS = (
    Target("fig_basins", PAPERS["khm"], NAME, __name__, data=(), threads=1,
           summary="basins of attraction after N U-Hop+ steps"),
)


def initial_map(d: int, init: str, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """``W0`` of shape ``(d, d)``: identity or Kaiming-normal."""
    if init == "identity":
        return torch.eye(d, dtype=dtype)
    return K.kaiming_normal((d, d), generator, dtype)


def grid_points(n: int, extent: float, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Axis values ``(n,)`` and the points ``(n * n, 2)`` (row-major: y varies slowest)."""
    ax = torch.linspace(-extent, extent, n, dtype=dtype)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return ax, torch.stack([xx.flatten(), yy.flatten()], -1)


def run(params: dict, *, seed: int):
    """Labels ``(len(separations), len(N), draws, grid * grid)`` (memory index, or -1 = metastable), a tidy table
    (one row per separation, N and draw, :func:`draw_table`), the memories ``(draws, M, 2)`` and the maps."""
    g = _device.generator(seed * 1_000_003 + params["memory_seed"])
    R, M = params["draws"], params["n_memories"]
    Xi = sample_sphere((R, M, 2), g, torch.float64)
    W0 = torch.stack([initial_map(2, params["init"], g) for _ in range(R)])
    snaps = K.uhop_snapshots(Xi, W0, params["uhop_steps"], lr=params["uhop_lr"], tau=params["uhop_tau"],
                             optimizer="adam")
    Ns = list(params["uhop_steps"])
    Ws = torch.stack([snaps[n] for n in Ns])  # (nN, R, 2, 2)
    _, pts = grid_points(params["grid"], params["extent"])
    Xb = Xi.expand(len(Ns), *Xi.shape)
    labels = []
    for sep in params["separations"]:
        res = K.retrieve(Xb, pts.expand(len(Ns), R, *pts.shape), params["beta"], Ws, separation=sep,
                         steps=params["steps"])
        dist = (res.state[..., None, :] - Xi[None, :, None]).norm(dim=-1)  # (nN, R, P, M)
        dmin, idx = dist.min(-1)
        labels.append(torch.where(dmin <= params["tol"], idx, torch.full_like(idx, -1)))
    labels = torch.stack(labels)
    return labels, draw_table(labels, params, min_separations(Xi, Ws), M), Xi, Ws


def min_separations(Xi: torch.Tensor, Ws: torch.Tensor) -> list[list[float]]:
    """``Delta_min`` of the features ``W xi_mu`` per N and draw (``Xi (R, M, 2)``, ``Ws (nN, R, 2, 2)``)."""
    return [[float(K.min_separation(Xi[r], W[r])) for r in range(len(Xi))] for W in Ws]


def draw_table(labels: torch.Tensor, params: dict, min_sep: list[list[float]], M: int) -> pd.DataFrame:
    """One row per separation, N and draw: white (metastable) share, ``Delta_min`` of the features and basin sizes,
    from the labels ``(len(separations), len(N), draws, grid * grid)``."""
    rows = []
    for i, sep in enumerate(params["separations"]):
        for b, n in enumerate(params["uhop_steps"]):
            for r, lab in enumerate(labels[i, b]):
                rows.append(dict(separation=sep, uhop_steps=n, draw=r,
                                 metastable_share=float((lab == -1).double().mean()), min_separation=min_sep[b][r],
                                 basin_sizes=" ".join(str(int((lab == m).sum())) for m in range(M))))
    return pd.DataFrame(rows)


def label_table(labels: torch.Tensor, params: dict) -> pd.DataFrame:
    """The labels as a tidy table: one row per separation, N, draw and grid point ``(x, y)``, in the order of
    ``labels`` (grid row-major, y slowest); ``label`` = the memory reached, -1 = metastable."""
    S, nN, R, P = labels.shape
    _, pts = grid_points(params["grid"], params["extent"])
    return pd.DataFrame(dict(separation=np.repeat(params["separations"], nN * R * P),
                             uhop_steps=np.tile(np.repeat(params["uhop_steps"], R * P), S),
                             draw=np.tile(np.repeat(np.arange(R), P), S * nN),
                             x=np.tile(pts[:, 0].numpy(), S * nN * R), y=np.tile(pts[:, 1].numpy(), S * nN * R),
                             label=labels.flatten().numpy()))


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: the basin labels of every grid point (:func:`label_table`); extras: the memories
    ``(draws, M, 2)``, ``Delta_min`` of the features per N and draw, and the device it ran on (the CPU, whatever the
    config says). The figure is in :mod:`.khm_basins_figure`."""
    tr = begin_target(config, NAME, threads)
    labels, _, Xi, Ws = run(tr.params, seed=config["seed"])
    return Runs(label_table(labels, tr.params), {"memories": Xi.tolist(), "min_separation": min_separations(Xi, Ws),
                                                 "device": _device.describe(torch.device("cpu"))})
