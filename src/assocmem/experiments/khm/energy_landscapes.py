"""Energy landscapes of 2-D kernelized Hopfield models before and after U-Hop+ (target ``fig_energy_landscapes``;
KHM spec, experiment 2; Hu, Wu & Liu, NeurIPS 2024, energy-landscape figure).

Unit-norm memories in ``d = D_Phi = 2``: ``M = 2`` at beta = 1/0.9 and ``M = 4`` at beta = 20 (the paper's seeds 111
and 1111; here derived from the config seed). The energy ``E_K(x) = 1/2 K(x, x) - Psi*_alpha(beta K(Xi, x)) / beta``
(``K(x, y) = <W x, W y>``, raw features; ``Psi*`` is log-sum-exp for softmax and the Tsallis conjugate for
1.5-entmax and sparsemax) on a ``grid x grid`` square, before (``N = 0``; ``W`` = identity, the plain modern Hopfield
model) and after ``N = 1, 2, 5`` U-Hop+ steps (SGD, lr 0.1, tau 1).

"Each memory sits in its own valley" is checked on the grid: from the grid point nearest each memory, steepest
descent over the 8 neighbours runs to a local minimum; the memories have their own valleys when the minima reached
are all different.

Run without Snakemake::

    python -m assocmem run fig_energy_landscapes --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import device as _device
from ... import kernelized as K
from ...sampling import sample_sphere
from ...results import begin_target
from ...stages import Runs
from .basins import grid_points, initial_map

NAME = "khm_energy_landscapes"
TARGET = "fig_energy_landscapes"
PAPER_KEY = "khm"
PAPER = PAPERS["khm"].citation
TARGET_SPECS = (
    Target("fig_energy_landscapes", PAPERS["khm"], NAME, __name__, data=(), threads=1,
           summary="2-D energy contours after N U-Hop+ steps"),
)
NAMES = {"softmax": "softmax", "entmax15": "1.5-entmax", "sparsemax": "sparsemax"}


def run(params: dict, *, seed: int):
    """Energies ``{(setting, sep, N): (grid, grid)}``, memories per setting, and ``Delta_min`` of the features
    ``W xi_mu`` per setting and N."""
    _, pts = grid_points(params["grid"], params["extent"])
    energies, memories, min_sep = {}, [], []
    for k, st in enumerate(params["settings"]):
        g = _device.generator(seed * 1_000_003 + st["memory_seed"])
        Xi = sample_sphere((st["n_memories"], 2), g, torch.float64)
        W0 = initial_map(2, params["init"], g)
        snaps = K.uhop_snapshots(Xi, W0, params["uhop_steps"], lr=params["uhop_lr"], tau=params["uhop_tau"],
                                 optimizer="sgd")
        memories.append(Xi)
        for sep in params["separations"]:
            for n in params["uhop_steps"]:
                E = K.energy(Xi, pts, st["beta"], snaps[n], separation=sep).reshape(params["grid"], params["grid"])
                energies[(k, sep, n)] = E.numpy()
        min_sep.append([float(K.min_separation(Xi, snaps[n])) for n in params["uhop_steps"]])
    return energies, memories, min_sep


def energy_table(energies: dict, params: dict) -> pd.DataFrame:
    """The energy grids as a tidy table: one row per setting, separation, N and grid point ``(x, y)`` (grid
    row-major, y slowest)."""
    _, pts = grid_points(params["grid"], params["extent"])
    x, y = pts[:, 0].numpy(), pts[:, 1].numpy()
    return pd.concat([pd.DataFrame(dict(setting=k, n_memories=params["settings"][k]["n_memories"],
                                        beta=params["settings"][k]["beta"], separation=sep, uhop_steps=n, x=x, y=y,
                                        energy=E.ravel()))
                      for (k, sep, n), E in energies.items()], ignore_index=True)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: the energy of every grid point (:func:`energy_table`); extras: the memories per setting
    ``(M, 2)``, ``Delta_min`` of the features per setting and N, and the device it ran on (the CPU, whatever the
    config says). The figure is in :mod:`.khm_energy_landscapes_figure`."""
    tr = begin_target(config, NAME, threads)
    energies, memories, min_sep = run(tr.params, seed=config["seed"])
    return Runs(energy_table(energies, tr.params), {"memories": [Xi.tolist() for Xi in memories],
                                                    "min_separation": min_sep,
                                                    "device": _device.describe(torch.device("cpu"))})
