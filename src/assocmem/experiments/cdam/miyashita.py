"""Miyashita's temporal-order correlations in CDAM (target ``fig_cdam_miyashita``; CDAM spec E5).

Miyashita (Nature 1988) trained monkeys on 97 fractal pictures always shown in one fixed order;
temporal-cortex neurons then responded similarly to pictures that were near in that order (up to
about 5 positions apart) although the pictures themselves were unrelated. Burns (ICML 2024) models
this with CDAM: ``p`` random U[0,1] patterns linked along the learned sequence (undirected, normalized
``M``), E1 settings (beta = 1, eta = 0.1, noise = 1, T = 100, kappa = 1), auto-association ``a`` swept
with ``a + h = 1``; the read-out is the attractor correlation against sequence distance.

Stimuli: the prepared set ``resources/data/miyashita.pt`` (97 patterns, seeded; see
:mod:`assocmem.data.miyashita`). Patterns are fixed by the data file; seeds vary the cue noise. The
sequence is a cycle or a path (``cyclic``; a project choice). The monkeys' values are not available
offline: the figure only marks the "correlated up to ~5 positions" range, as a shape, not data.

Run without Snakemake::

    python -m assocmem run fig_cdam_miyashita --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import cdam
from ... import device as _device
from ... import graphs as _graphs
from ...data import load_tensors, sequence_distance
from ...results import begin_target
from ...stages import Runs

NAME = "cdam_miyashita"
TARGET = "fig_cdam_miyashita"
PAPER_KEY = "cdam"
PAPER = PAPERS["cdam"].citation
TARGET_SPECS = (
    Target("fig_cdam_miyashita", PAPERS["cdam"], NAME, __name__, data=('miyashita',), threads=4,
           summary="E5: Miyashita paradigm, attractor correlation vs sequence distance"),
)
MONKEY_RANGE = 5  # Miyashita 1988: responses correlated up to about 5 positions apart (shape only)
# Project tolerances.
AUTO_MAX_ABS = 0.15  # |mean corr| at every d >= 1 for a = 1
ANTI_MIN_D1 = 0.3  # corr at d = 1 for the anti-Hebbian settings
RANGE_LEVEL = 0.2  # range = largest d with mean corr > this at every d' <= d
RANGE_BOUNDS = (3, 7)  # "decaying over ~5 positions": the range of a = -0.5 and a = -1 lies in this interval
FAR_FROM = 8  # "~0 beyond": |mean corr| < FAR_MAX_ABS at every d >= FAR_FROM
FAR_MAX_ABS = 0.15
ANTI_A = (-0.5, -1.0)


def run(patterns: torch.Tensor, position: torch.Tensor, params: dict, *, seed: int, device: torch.device,
        dtype: torch.dtype) -> pd.DataFrame:
    """Per-seed mean attractor correlation at each sequence distance for every ``a`` (``h = 1 - a``)."""
    D = sequence_distance(position, params["cyclic"])
    A = (D == 1).to(torch.float64)
    M = _graphs.normalized_adjacency(A).to(device, dtype)
    a = torch.tensor(params["a_values"], dtype=torch.float64)
    h = 1.0 - a
    Xi = patterns.to(device, dtype)
    max_d = min(params["max_distance"], int(D.max()))
    rows = []
    for s in range(params["seeds"]):
        g = _device.generator(seed * 100_003 + s)
        cues = cdam.noisy_cues(patterns.to(torch.float64), params["noise"], g).to(device, dtype)
        res = cdam.run(Xi, M, cues, a, h, params["beta"], eta=params["eta"], kappa=params["kappa"],
                       steps=params["steps"])
        att = cdam.attractor_matrix(res.state).double().cpu()
        mean, sd, count = cdam.correlation_by_distance(att, D, max_d)
        for k, (ak, hk) in enumerate(zip(a.tolist(), h.tolist())):
            for d in range(max_d + 1):
                rows.append(dict(seed=s, a=ak, h=hk, distance=d, corr=mean[k, d].item(),
                                 corr_sd_pairs=sd[k, d].item(), n_pairs=int(count[d])))
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run on the prepared stimuli ``data["miyashita"]``: the per-seed curves (:func:`run`) and, in the
    extras, the number of stimuli and of units; the figure is in :mod:`.cdam_miyashita_figure`."""
    tr = begin_target(config, NAME, threads)
    stimuli = load_tensors(data["miyashita"])
    patterns, position = stimuli["patterns"], stimuli["position"]
    curves = run(patterns, position, tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(curves, dict(n_stimuli=int(patterns.shape[0]), n_neurons=int(patterns.shape[1])))
