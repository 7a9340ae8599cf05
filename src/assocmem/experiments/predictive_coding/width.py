"""Fraction of stored images retrieved vs N for PCNs of several widths (target ``fig_pcn_width``; spec E3).

Salvatori et al. (2021). For every width ``d`` of ``widths`` and every ``N`` of ``n_stored``, a PCN
``[3072, d, latent]`` (:mod:`assocmem.predictive_coding`, trained as in :mod:`.retrieval`) memorises the first ``N``
images of the seeded CIFAR-10 permutation of :func:`.common.stored_sets` (CIFAR-10 stands in for Tiny ImageNet) and
recalls them from noisy and from half-masked cues (the protocol and error convention of :mod:`.retrieval`). The
expected trend (spec, unverified against the paper): the fraction retrieved falls with ``N`` and rises with ``d``.
Every ``(d, N)`` draws from generators of its own, so the run is sharded over ``widths`` at the paper scale.

Run table rows (``kind``): ``recall`` (one per width, ``N``, corruption and stored image: ``mse``) and ``trace``
(one per width, ``N`` and epoch: the PCN's energy and sensory error).

Run without Snakemake::

    python -m assocmem run fig_pcn_width --data-dir .
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ... import device as _device
from ...data import load_images
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs
from . import common
from .common import IMAGE_SHAPE, cifar_fidelity

NAME = "pcn_width"
TARGET = "fig_pcn_width"
PAPER_KEY = "predictive_coding"
PAPER = PAPERS[PAPER_KEY].citation
TARGET_SPECS = (
    Target(TARGET, PAPERS[PAPER_KEY], NAME, __name__, data=("cifar10",), threads=1, runtime=480, mem_mb=8000,
           gpu=True, shard_axis="widths",
           summary="PCN retrieval of stored CIFAR-10 images vs N for several hidden-layer widths"),
)


def run_cell(images: torch.Tensor, d: int, N: int, params: dict, *, seed: int, device, dtype,
             progress: bool = True) -> list[dict]:
    """One PCN of width ``d`` on ``N`` stored images: its trace and its recalls from both cue types."""
    base = seed * 1_000_003 + 7919 * N + 104_729 * d
    X64, _, _ = common.stored_sets(images, N, seed)
    X = X64.to(device, dtype)
    net, trace = common.train_pcn(X, params, _device.generator(base + 1), sizes=[d, params["latent"]],
                                  progress=progress, desc=f"{NAME} d={d} N={N}")
    rows = [{"kind": "trace", "width": d, "N": N, **r} for r in trace]
    for k, kind in enumerate(common.CORRUPTIONS):
        cue64, known = common.make_cues(X64, kind, IMAGE_SHAPE, params["noise_std"], _device.generator(base + 3 + k),
                                        fill=X64.mean(0))
        cue = cue64.to(device, dtype)
        kn = known.to(device) if known is not None else None
        out = common.pcn_recall(net, cue, kn, params)
        err = common.mse(out, X, kn).cpu()
        rows += [{"kind": "recall", "width": d, "N": N, "corruption": kind, "image": i, "mse": float(e)}
                 for i, e in enumerate(err)]
    return rows


def run(images: torch.Tensor, params: dict, *, seed: int, device, dtype, progress: bool = True) -> pd.DataFrame:
    """Every ``(width, N)`` of the grid: one table."""
    rows = []
    for d in params["widths"]:
        for N in params["n_stored"]:
            rows += run_cell(images, d, N, params, seed=seed, device=device, dtype=dtype, progress=progress)
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure is in :mod:`.width_figure`."""
    tr = begin_target(config, NAME, threads)
    images = load_images(data["cifar10"])["train_images"]
    table = run(images, tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(table, {"cifar10_fidelity": cifar_fidelity(data.get("cifar10"), config)})

