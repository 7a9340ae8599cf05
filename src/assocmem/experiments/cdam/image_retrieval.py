"""CDAM "non-traditional auto-association" of images (target ``fig_cdam_image_retrieval``; CDAM spec E6).

Burns (ICML 2024): the first ``P`` Fashion-MNIST test images (n = 784, pixels in [0, 1]) stored in a
CDAM with an **empty** memory graph (so ``Q = a Xi`` and ``h`` has no effect), cued from every image
with uniform noise; beta = 1, eta = 0.1, noise = 1, T = 100, kappa = 1. Score: the fraction of
memories ``mu`` for which the run cued by ``mu`` is the run whose final state correlates most with
``mu``. With small ``a`` the attractor is the item on a grey, mean-subtracted background
(``a xi_mu - kappa xi_bar``): lower fidelity but easier to tell apart, so the score rises to ~1.

Patterns are fixed by the data set (the first P test images); seeds vary the cue noise. All ``a``
values run as one batch.

Run without Snakemake::

    python -m assocmem run fig_cdam_image_retrieval
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import cdam
from ... import device as _device
from ...data import as_patterns, load_images
from ...results import begin_target
from ...stages import Runs

NAME = "cdam_image_retrieval"
TARGET = "fig_cdam_image_retrieval"
PAPER_KEY = "cdam"
PAPER = PAPERS["cdam"].citation
TARGET_SPECS = (
    Target("fig_cdam_image_retrieval", PAPERS["cdam"], NAME, __name__, data=lambda p: (p['dataset'],), threads=4,
           summary="E6: Fashion-MNIST identification fraction per a and P"),
)
DATASET_NOTES = {"fashion_mnist": "Fashion-MNIST test set (exact)", "mnist": "MNIST test set (exact)",
                 "cifar10": "CIFAR-10 test set (JPEG re-encoding, lossy)"}
# Author's single unseeded run on Fashion-MNIST (spec E6): a -> {P: score}.
AUTHOR_VALUES = {1.0: {10: 0.8, 20: 0.8, 30: 0.67}, 0.9: {10: 0.9, 20: 0.75, 30: 0.77},
                 0.5: {10: 0.5, 20: 0.15, 30: 0.1}, 0.1: {10: 1.0, 20: 1.0, 30: 1.0}}
# Project tolerances.
SMALL_A_MIN = 0.9  # score of a = 0.1 at every P the author reports
AUTHOR_MAX_MAD = 0.15  # mean |ours - author| over all (a, P) the author reports


def run(images: torch.Tensor, params: dict, *, dataset: str, seed: int, device: torch.device,
        dtype: torch.dtype) -> pd.DataFrame:
    """One row per (seed, P, a): the retrieval score (see the module docstring)."""
    a = torch.tensor(params["a_values"], dtype=torch.float64)
    rows = []
    for P in params["n_stored"]:
        Xi64 = as_patterns(images[:P], torch.float64)
        Xi = Xi64.to(device, dtype)
        M = torch.zeros(P, P, dtype=dtype, device=device)  # empty graph
        for s in range(params["seeds"]):
            g = _device.generator(seed * 100_003 + s)
            cues = cdam.noisy_cues(Xi64, params["noise"], g).to(device, dtype)
            res = cdam.run(Xi, M, cues, a, 1.0 - a, params["beta"], eta=params["eta"], kappa=params["kappa"],
                           steps=params["steps"])
            corr = cdam.pearson(res.state, Xi).double().cpu()  # (S, cue, memory)
            score = (corr.argmax(dim=1) == torch.arange(P)).double().mean(-1)
            own = corr.diagonal(dim1=1, dim2=2).mean(-1)
            for k, ak in enumerate(a.tolist()):
                rows.append(dict(dataset=dataset, seed=s, n_stored=P, a=ak, h=1.0 - ak, score=score[k].item(),
                                 own_correlation=own[k].item()))
    return pd.DataFrame(rows)


def _examples(images: torch.Tensor, params: dict, seed: int, n_ex: int = 5) -> dict:
    """Final states of the first ``n_ex`` cues for each a (seed 0, largest P), for the figure: ``states``
    (a, cue, pixel), ``a`` and the image ``shape``, as lists."""
    P = max(params["n_stored"])
    Xi = as_patterns(images[:P], torch.float64)
    cues = cdam.noisy_cues(Xi, params["noise"], _device.generator(seed * 100_003))
    a = torch.tensor(params["a_values"], dtype=torch.float64)
    res = cdam.run(Xi, torch.zeros(P, P, dtype=torch.float64), cues[:n_ex], a, 1.0 - a, params["beta"],
                   eta=params["eta"], kappa=params["kappa"], steps=params["steps"])
    return dict(states=res.state.tolist(), a=a.tolist(), shape=list(images.shape[1:]))


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: one row per (seed, P, a) (:func:`run`) on the configured data set; extras: the final states
    the figure shows (:func:`_examples`). The figure is in :mod:`.cdam_image_retrieval_figure`."""
    tr = begin_target(config, NAME, threads)
    params = tr.params
    images = load_images(data[params["dataset"]])["test_images"]
    raw = run(images, params, dataset=params["dataset"], seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(raw, {"examples": _examples(images, params, config["seed"])})
