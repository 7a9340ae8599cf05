"""DIA, one attention module shared by the blocks of a stage, against per-block SE and no attention (targets
``fig_dia_attention_correlation`` and ``fig_dia_accuracy_vs_parameters``).

Huang, Liang, Liang & Lin (2024), *A Generic Shared Attention Mechanism for Various Backbone Neural Networks*
(extending DIANet, AAAI 2020), spec experiments E1 and E2; the model is :mod:`assocmem.dia`.

One run trains every **cell** ``<backbone>-<variant>-<seed>`` of the config's ``cells`` list (the shard axis at the
paper scale, one job per cell): the backbone named in ``backbones`` (depth, ``basic`` or ``bottleneck`` blocks,
width), with ``none``, per-block ``se``, ``dia`` or ``dia_reset`` attention, on ``n_train`` CIFAR-10 training
images (a fixed random subset; all when ``null``) for ``epochs`` epochs, and tests it on ``n_test`` test images (a
fixed random subset). A seed index ``s`` fixes the backbone's initial weights, the attention modules' and the
training draws (order, crops, flips) through generators of its own, so the variants of one seed start from the same
backbone and see the same batches: the comparison is paired.

Recorded per cell: test accuracy, attention and total parameter counts, the training log, and for attention
variants the within-stage correlation matrices of the per-block attention vectors on the first ``n_correlation``
test images in eval mode (:func:`assocmem.dia.within_stage_correlation`: for each image the Pearson correlation
across channels, averaged over images) and each block's mean gate and its spread across channels; both also for the
untrained network (``when = initial``; BatchNorm on batch statistics), the baseline that training moves away from. Beside them the run counts the attention parameters of SE and DIA for
``count_blocks`` blocks per stage of every backbone (no training), for the parameter-vs-depth panel.

E1 (:mod:`.shared_attention_figure`): the SE attention vectors of a stage's blocks correlate (mean off-diagonal
correlation >= 0.5; the paper reports up to 0.85). E2: DIA's mean accuracy is at least SE's - 0.5 points, DIA has
fewer attention parameters than SE, and DIA beats no attention; differences within the seed noise are "not
resolved" and fail, never pass.

CIFAR-10 (the offline JPEG mirror, lossy, unless the official tarball is configured) stands in for the paper's
CIFAR-100; every caption says so.

Run without Snakemake (the shared run, then the other figure from the kept run)::

    python -m assocmem run fig_dia_accuracy_vs_parameters
    python -m assocmem figure fig_dia_attention_correlation
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from ... import device as _device
from ... import dia
from ...data import load_images
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs

NAME = "dia_shared_attention"
RUN = "dia_variants"
PAPER_KEY = "dia"
PAPER = PAPERS["dia"].citation
TARGET_SPECS = tuple(
    Target(name, PAPERS["dia"], NAME, __name__, run=RUN, data=("cifar10",), threads=1, runtime=600, mem_mb=8000,
           gpu=True, priority=1, summary=summary, shard_axis="cells")
    for name, summary in (
        ("fig_dia_attention_correlation",
         "E1: within-stage correlation matrices of per-block attention vectors, SE vs DIA"),
        ("fig_dia_accuracy_vs_parameters",
         "E2: test accuracy vs attention parameters, no attention vs per-block SE vs DIA, several seeds"),
    )
)
TARGETS = tuple(t.name for t in TARGET_SPECS)
# Spec tolerances.
MIN_CORRELATION = 0.5  # E1: mean within-stage correlation of SE attention vectors
SE_MARGIN = 0.5  # E2: DIA's accuracy >= SE's - 0.5 points
CONFIDENCE = 0.95  # a difference is resolved when its two-sided 95% t-interval (pooled seed-to-seed sd) clears the bound


def parse_cell(cell: str) -> tuple[str, str, int]:
    """``"<backbone>-<variant>-<seed>"`` -> ``(backbone, variant, seed)``."""
    parts = str(cell).split("-")
    if len(parts) != 3 or parts[1] not in dia.VARIANTS or not parts[2].isdigit():
        raise ValueError(f"cell {cell!r} is not '<backbone>-<variant>-<seed>' with a variant in {dia.VARIANTS}")
    return parts[0], parts[1], int(parts[2])


def subsets(n_train_all: int, n_test_all: int, params: dict, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed random training and test subsets (indices), the same for every cell."""
    g = _device.generator(seed * 1_000_003 + 1)
    tr = torch.randperm(n_train_all, generator=g)[: params["n_train"] or n_train_all]
    te = torch.randperm(n_test_all, generator=g)[: params["n_test"] or n_test_all]
    return tr, te


def parameter_counts(params: dict) -> list[dict]:
    """Attention parameters of SE and DIA for every backbone at ``count_blocks`` blocks per stage (models built, not
    trained)."""
    rows = []
    for name, bb in params["backbones"].items():
        per = 6 if bb["block"] == "basic" else 9
        for n in params["count_blocks"]:
            for variant in ("se", "dia"):
                m = dia.ResNet(variant, depth=per * n + 2, width=bb["width"], block=bb["block"],
                               reduction=params["reduction"], se_reduction=params["se_reduction"])
                rows.append({"kind": "count", "backbone": name, "blocks_per_stage": n, "depth": per * n + 2,
                             "variant": variant, "attention_parameters": dia.attention_parameters(m)})
    return rows


def run_cell(cell: str, data: dict, params: dict, *, seed: int, device: torch.device, dtype: torch.dtype,
             progress: bool = True) -> list[dict]:
    """Train and test one cell; its rows (``kind`` ``accuracy``, ``log``, ``correlation``)."""
    backbone, variant, s = parse_cell(cell)
    if backbone not in params["backbones"]:
        raise ValueError(f"cell {cell!r}: backbone {backbone!r} not in backbones {list(params['backbones'])}")
    bb = params["backbones"][backbone]
    cell_params = {**params, **bb}
    out = dia.fit_and_test(variant, *data["train"], *data["test"], cell_params, seed=seed * 1_000_003 + 7919 * s,
                           device=device, dtype=dtype, record=params["n_correlation"], progress=progress)
    key = {"backbone": backbone, "depth": bb["depth"], "block": bb["block"], "width": bb["width"], "variant": variant,
           "seed": s}
    rows = [{"kind": "accuracy", **key, "accuracy": out["accuracy"], "attention_parameters": out["attention_parameters"],
             "parameters": out["parameters"], "train_loss": out["log"][-1]["train_loss"],
             "train_accuracy": out["log"][-1]["train_accuracy"]}]
    rows += [{"kind": "log", **key, **r} for r in out["log"]]
    for when in ("trained", "initial"):
        for k, stage in enumerate(out["vectors" if when == "trained" else "initial_vectors"] or []):
            r = dia.within_stage_correlation(stage)
            n = r.shape[0]
            rows += [{"kind": "correlation", **key, "when": when, "stage": k + 1, "i": i + 1, "j": j + 1,
                      "r": float(r[i, j])} for i in range(n) for j in range(n)]
            # how far the gates are from a constant: mean gate, and its spread across channels (mean over images)
            rows += [{"kind": "gate", **key, "when": when, "stage": k + 1, "i": t + 1, "gate_mean": float(a.mean()),
                      "gate_channel_sd": float(a.std(dim=-1).mean())} for t, a in enumerate(stage)]
    return rows


def run(images: dict, params: dict, *, seed: int, device: torch.device, dtype: torch.dtype,
        progress: bool = True) -> pd.DataFrame:
    """Every cell of ``params["cells"]`` and the parameter counts: the run table."""
    cells = [str(c) for c in params["cells"]]
    for c in cells:
        parse_cell(c)
    tr, te = subsets(images["train_images"].shape[0], images["test_images"].shape[0], params, seed)
    x_train, mean, std = dia.to_tensor(images["train_images"][tr])
    x_test, _, _ = dia.to_tensor(images["test_images"][te], mean, std)
    data = {"train": (x_train, images["train_labels"][tr]), "test": (x_test, images["test_labels"][te])}
    rows = parameter_counts(params)
    for cell in cells:
        rows += run_cell(cell, data, params, seed=seed, device=device, dtype=dtype, progress=progress)
    return pd.DataFrame(rows)


def cifar_fidelity(path: Path | None, config: dict) -> str:
    """What the prepared CIFAR-10 file is: its sidecar's ``fidelity`` when present, else from the config."""
    side = Path(path).with_suffix(".json") if path else None
    if side is not None and side.is_file():
        fid = json.loads(side.read_text()).get("fidelity", "")
        if fid:
            return fid
    if config.get("data", {}).get("cifar10_tarball"):
        return "exact"
    return "JPEG re-encoding (lossy)"


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run shared by both targets (:func:`run`); the figures are in :mod:`.shared_attention_figure`."""
    tr = begin_target(config, NAME, threads)
    images = load_images(data["cifar10"])
    table = run(images, tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    # the parameter counts (no training) are the same in every shard: kept as extras, so shards gather exactly
    counts = table[table["kind"] == "count"].dropna(axis=1, how="all")
    return Runs(table[table["kind"] != "count"].reset_index(drop=True),
                {"cifar10_fidelity": cifar_fidelity(data.get("cifar10"), config),
                 "counts": json.loads(counts.to_json(orient="records"))})
