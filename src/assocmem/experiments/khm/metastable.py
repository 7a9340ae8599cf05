"""Metastable states of dense and sparse modern Hopfield models with and without U-Hop+
(target ``tab_metastable_states``; KHM spec, experiment 1; Hu, Wu & Liu, NeurIPS 2024, main-text table).

For each query the retrieval runs a fixed number of steps and the final attention vector ``p`` is inspected: the
query ends in a state mixing ``k = |p|_0`` memories (for softmax entries ``> 0.01`` count, for 1.5-entmax and
sparsemax the exact non-zeros). The table gives the share of queries per ``k = 1..10`` (``k >= 10`` pooled in 10).

- Synthetic: ``d = D_Phi = 5``; ``M = 10`` memories and 10 queries uniform on ``S^4``; U-Hop+ stage I: 20 Adam steps,
  lr 1, tau 0.1 (Kaiming-normal init); retrieval 20 iterations at beta = 1; softmax, 1.5-entmax, sparsemax.
  ``trials`` independent draws (the paper uses one draw, seed 42) are pooled.
- MNIST: memories = training images scaled to [-1, 1], queries = test images (subsets at the quick scale);
  ``D_Phi = 200``; U-Hop+ one epoch of Adam, lr 0.1, mini-batches of 16 (loss within the batch), tau 0.1;
  retrieval 5 iterations at beta = 0.1, softmax.

Conditions: "MHM" (no feature map: the plain modern Hopfield model), "U-Hop+" (KHM with the learned ``W``, raw
features ``W x`` in the kernel, as the authors' scripts do), and, as a control not in the paper, "U-Hop+ normalized"
(the same ``W`` with unit-norm features, i.e. the geometry the loss optimizes, without the change of scale).

The block's ``separations`` (the shard axis) names the maps a run does; each part runs those of them its own
``separations`` lists. Nothing random is drawn after the memories, queries and ``W``, so a shard (one map) repeats the
draws and the training and gives exactly the unsharded rows of its map.

Run without Snakemake::

    python -m assocmem run tab_metastable_states --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ...registry import PAPERS, Target
from ... import device as _device
from ... import kernelized as K
from ...sampling import sample_sphere
from ...data import load_images
from ...results import begin_target
from ...stages import Runs

NAME = "khm_metastable"
TARGET = "tab_metastable_states"
PAPER_KEY = "khm"
PAPER = PAPERS["khm"].citation
TARGET_SPECS = (
    Target("tab_metastable_states", PAPERS["khm"], NAME, __name__, threads=1, shard_axis="separations",
           data=lambda p: ("mnist",) if _maps(p, "mnist")["separations"] else (),
           summary="share of queries ending in a k-memory mixture"),
)
CONDITIONS = ["MHM", "U-Hop+", "U-Hop+ normalized"]
KMAX = 10


def support_size(p: torch.Tensor, separation: str, threshold: float = 0.01) -> torch.Tensor:
    """``|p|_0``: entries above ``threshold`` for softmax, exact non-zeros for the sparse maps.

    A softmax vector with no entry above ``threshold`` mixes at least ``1/threshold`` memories; it counts as ``M``.
    """
    if separation != "softmax":
        return (p > 0).sum(-1)
    k = (p > threshold).sum(-1)
    return torch.where(k == 0, torch.full_like(k, p.shape[-1]), k)


def _shares(k: torch.Tensor) -> np.ndarray:
    k = k.flatten().clamp(max=KMAX)
    return np.array([(k == j).float().mean().item() for j in range(1, KMAX + 1)])


def _rows(dataset, separation, condition, k, extra=None):
    return [dict(dataset=dataset, separation=separation, condition=condition, k=j + 1, share=float(s),
                 n_queries=int(k.numel()), **(extra or {})) for j, s in enumerate(_shares(k))]


def run_synthetic(params: dict, *, seed: int) -> pd.DataFrame:
    """All trials as one batch: memories ``(R, M, d)``, queries ``(R, Q, d)``, one learned ``W`` per trial."""
    g = _device.generator(seed * 1_000_033 + 42)
    R, M, Q, d = params["trials"], params["n_memories"], params["n_queries"], params["dim"]
    Xi = sample_sphere((R, M, d), g)
    x = sample_sphere((R, Q, d), g)
    W0 = K.kaiming_normal((R, params["feature_dim"], d), g)
    W = K.uhop_train(Xi, W0, steps=params["uhop_steps"], lr=params["uhop_lr"], tau=params["uhop_tau"]).W
    rows = []
    for sep in params["separations"]:
        for cond in CONDITIONS:
            Wc, norm = (None, False) if cond == "MHM" else (W, cond.endswith("normalized"))
            res = K.retrieve(Xi, x, params["beta"], Wc, separation=sep, normalize=norm, steps=params["steps"])
            rows += _rows("synthetic", sep, cond, support_size(res.attention, sep))
    return pd.DataFrame(rows)


def run_mnist(params: dict, data_path: Path, *, seed: int, device=torch.device("cpu")) -> pd.DataFrame:
    data = load_images(data_path)
    g = _device.generator(seed * 1_000_033 + 7)
    mi = torch.randperm(data["train_images"].shape[0], generator=g)[: params["n_memories"]]
    qi = torch.randperm(data["test_images"].shape[0], generator=g)[: params["n_queries"]]
    Xi = (data["train_images"][mi].reshape(len(mi), -1).float() / 127.5 - 1.0).to(device)
    x = (data["test_images"][qi].reshape(len(qi), -1).float() / 127.5 - 1.0).to(device)
    W0 = K.kaiming_normal((params["feature_dim"], Xi.shape[1]), g).to(device)
    steps = -(-Xi.shape[0] // params["batch_size"]) * params["epochs"]
    res = K.uhop_train(Xi, W0, steps=steps, lr=params["uhop_lr"], tau=params["uhop_tau"],
                       batch_size=params["batch_size"], generator=g)
    rows = []
    bar = tqdm(total=len(params["separations"]) * len(CONDITIONS) * x.shape[0], desc=f"{NAME} MNIST retrieval",
               unit="query", mininterval=2)
    for sep in params["separations"]:
        for cond in CONDITIONS:
            Wc, norm = (None, False) if cond == "MHM" else (res.W, cond.endswith("normalized"))
            r = K.retrieve(Xi, x, params["beta"], Wc, separation=sep, normalize=norm, steps=params["steps"],
                           cue_block=params["query_block"], progress=bar.update)
            rows += _rows("MNIST", sep, cond, support_size(r.attention, sep).cpu())
    bar.close()
    return pd.DataFrame(rows)


def _maps(params: dict, part: str) -> dict:
    """The block of ``part`` with its separation maps cut to those of the run's ``separations``, in that order."""
    block = params[part]
    return {**block, "separations": [s for s in params["separations"] if s in block["separations"]]}


def run(params: dict, data_path: Path | None, *, seed: int, device=torch.device("cpu")) -> pd.DataFrame:
    """One row per (dataset, separation, condition, k), map by map in ``separations`` order (synthetic, then MNIST
    rows), so that the shards' tables concatenated are this table; the figure orders them by dataset."""
    synthetic, mnist = _maps(params, "synthetic"), _maps(params, "mnist")
    parts = [run_synthetic(synthetic, seed=seed)] if synthetic["separations"] else []
    if mnist["separations"]:
        parts.append(run_mnist(mnist, data_path, seed=seed, device=device))
    table = pd.concat(parts, ignore_index=True)
    order = np.argsort(table["separation"].map(params["separations"].index).to_numpy(), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: the share table (:func:`run`); the figure is in :mod:`.khm_metastable_figure`."""
    tr = begin_target(config, NAME, threads)
    return Runs(run(tr.params, data.get("mnist"), seed=config["seed"], device=tr.device))
