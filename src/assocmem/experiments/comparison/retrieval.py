"""Every memory of the project on one retrieval task (targets ``fig_models_retrieval_vs_stored``,
``fig_models_retrieval_vs_corruption``, ``tab_models_cost``; issue 18).

No paper compares the memories of this project with each other: each reports its model against its own baselines, on
its own data and sizes. The protocol of :mod:`assocmem.benchmark` fixes one task, and every model takes it through an
adapter that calls the core (:data:`assocmem.benchmark.ADAPTERS`): the modern Hopfield network, CDAM at a = 1 and at
its best a, the kernelized model with U-Hop+ (and its untrained map as a control), DrDAM at two feature budgets, the
Gaussian-KDE memory, the entropic register, the predictive-coding network and its autoencoder baseline, and the
nearest-image look-up as a reference.

One run covers the three targets. Its work is a list of **cells** ``<model>-<data set>`` (the shard axis at the paper
scale: one job per cell). For each data set and replicate ``s`` the stored images are the first ``N`` of one seeded
permutation of the training set (area-pooled to ``sizes[data set]`` pixels a side), for every ``N`` of
``n_stored``; the test cues (clean, Gaussian noise at ``noise_levels``, a fraction ``mask_levels`` of pixel positions
masked with the mask known) come from the first ``n_queries`` stored images and are the same at every ``N``; the
validation cues come from other stored images (fresh draws). Every draw is seeded from (seed, data set, replicate,
and where it applies ``N`` and the model) alone, so a cell's rows do not depend on which other cells run. Each model
tunes its key hyper-parameter on the validation cues (the grid in its ``models`` entry: the tuning budget), then
writes the stored set and recalls the test cues with at most ``budget`` iterations; write and recall are timed.

The run table has three kinds of rows (``row``): ``test`` (one per data set, replicate, ``N``, model and cue
condition: fraction retrieved, mean and median output MSE, the cues' own MSE), ``tuning`` (one per grid value: the
validation score) and ``cost`` (one per data set, replicate, ``N`` and model: numbers and bytes stored, write time,
recall time per query, the chosen value). With ``timing: false`` (the test scale) the times are left out (NaN), so that
a rerun, or the run gathered from its shards, gives the same table bit for bit.

Models not in the comparison, with why, are listed in the figure module
(:data:`.retrieval_figure.NOT_INCLUDED`; every caption and JSON carries them).

Run without Snakemake (the shared run, then the other figures from the kept run)::

    python -m assocmem run fig_models_retrieval_vs_stored
    python -m assocmem figure fig_models_retrieval_vs_corruption
    python -m assocmem figure tab_models_cost
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ... import benchmark as bm
from ... import device as _device
from ...data import load_images
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs

NAME = "models_comparison"
RUN = "models_comparison"
PAPER_KEY = "comparison"
PAPER = PAPERS[PAPER_KEY].citation


def datasets_of(params: dict) -> tuple[str, ...]:
    """The data sets named by the cells, in order of first appearance."""
    return tuple(dict.fromkeys(c.split("-", 1)[1] for c in params["cells"]))


TARGET_SPECS = tuple(
    Target(name, PAPERS[PAPER_KEY], NAME, __name__, run=RUN, data=datasets_of, threads=1, runtime=240,
           mem_mb=8000, gpu=True, priority=4, summary=summary, shard_axis="cells")
    for name, summary in (
        ("fig_models_retrieval_vs_stored", "every memory on one task: fraction retrieved vs number stored, per cue"),
        ("fig_models_retrieval_vs_corruption", "every memory on one task: fraction retrieved and error vs cue "
                                               "corruption at fixed N"),
        ("tab_models_cost", "every memory on one task: numbers stored, time per write and per query"),
    )
)
TARGETS = tuple(t.name for t in TARGET_SPECS)
CHANNELS = {"mnist": 1, "fashion_mnist": 1, "cifar10": 3}
DATASET_NOTES = {"mnist": "MNIST (exact)", "fashion_mnist": "Fashion-MNIST (exact)",
                 "cifar10": "CIFAR-10 (the offline JPEG re-encoding, lossy)"}


def model_params(params: dict, model: str) -> dict:
    """The adapter's parameters: its ``models`` entry plus the protocol's ``tol`` and ``cue_block``."""
    return {**params["models"][model], "tol": params["tol"], "cue_block": params["cue_block"]}


def _sizes(params: dict, n_train: int) -> list[int]:
    return sorted({n_train if n == "all" else min(int(n), n_train) for n in params["n_stored"]})


def _value(v) -> float:
    return float("nan") if v is None else float(v)


def run_dataset(images: torch.Tensor, params: dict, dataset: str, models: list[str], *, seed: int,
                device: torch.device, dtype: torch.dtype, bar=None) -> list[dict]:
    """The rows of every model of ``models`` on one data set (training ``images``, uint8): see the module docstring."""
    size, ch = int(params["sizes"][dataset]), CHANNELS[dataset]
    conds = bm.conditions(params["noise_levels"], params["mask_levels"])
    fill = bm.mean_image(images, size)
    sizes = _sizes(params, images.shape[0])
    rows: list[dict] = []
    for s in range(params["seeds"]):
        X_all, _ = bm.stored_images(images, sizes[-1], size, _device.generator(bm.seed_of(seed, dataset, s, "stored")))
        q_max = min(params["n_queries"], sizes[-1] // 2)
        test_all = bm.make_cues(X_all, torch.arange(q_max), conds, fill, ch,
                                _device.generator(bm.seed_of(seed, dataset, s, "test")))
        for N in sizes:
            X = X_all[:N]
            q = min(q_max, N // 2)  # at most half the set: the validation sources are always other images
            test = test_all.take(test_all.source < q)
            val = bm.make_cues(X, bm.validation_sources(N, q), conds, fill, ch,
                               _device.generator(bm.seed_of(seed, dataset, s, N, "validation")))
            cue_mse = ((test.cues - X[test.source]) ** 2).mean(-1)
            Xd = X.to(device, dtype)
            for model in models:
                ad = bm.ADAPTERS[model]
                ev = bm.evaluate(ad, Xd, test, val, model_params(params, model), params["budget"],
                                 bm.seed_of(seed, dataset, s, N, ad.seed_key or model))
                key = dict(dataset=dataset, seed=s, n_stored=N, model=model, tuned=ad.tuned or "",
                           value=_value(ev.value))
                for kind, level in conds:
                    sel = torch.tensor([k == kind for k in test.kind]) & (test.level == level)
                    rows.append({**key, "row": "test", "kind": kind, "level": level, "n_cues": int(sel.sum()),
                                 "fraction_retrieved": float(ev.retrieved[sel].double().mean()),
                                 "mse_mean": float(ev.mse[sel].mean()), "mse_median": float(ev.mse[sel].median()),
                                 "cue_mse": float(cue_mse[sel].mean())})
                for value, frac, mse in ev.tuning.scores:
                    rows.append({**key, "row": "tuning", "grid_value": _value(value),
                                 "fraction_retrieved": frac, "mse_mean": mse, "n_cues": len(val.kind)})
                timed = bool(params["timing"])
                rows.append({**key, "row": "cost", "stored_numbers": ev.stored_numbers,
                             "stored_bytes": ev.stored_bytes, "write_s": ev.write_s if timed else float("nan"),
                             "query_s": ev.recall_s / max(len(test.kind), 1) if timed else float("nan"),
                             "n_cues": len(test.kind),
                             "budget": params["budget"] if ad.iterates else 1,
                             **({"write_loss_start": ev.extras["write_loss"][0],
                                 "write_loss_end": ev.extras["write_loss"][1]} if "write_loss" in ev.extras else {})})
                if bar is not None:
                    bar.update()
    return rows


COLUMNS = ["row", "dataset", "seed", "n_stored", "model", "tuned", "value", "kind", "level", "n_cues",
           "fraction_retrieved", "mse_mean", "mse_median", "cue_mse", "grid_value", "stored_numbers", "stored_bytes",
           "write_s", "query_s", "budget", "write_loss_start", "write_loss_end"]


def run(images: dict[str, torch.Tensor], params: dict, *, seed: int, device: torch.device, dtype: torch.dtype,
        progress: bool = True) -> pd.DataFrame:
    """Every cell of ``params["cells"]`` on the training images of its data set (``images[data set]``): the run
    table (module docstring), rows in cell order."""
    cells = [str(c).split("-", 1) for c in params["cells"]]
    for model, ds in cells:
        if model not in bm.ADAPTERS:
            raise ValueError(f"cell {model}-{ds}: unknown model {model!r}; choose one of {sorted(bm.ADAPTERS)}")
    total = sum(params["seeds"] * len(_sizes(params, images[ds].shape[0])) for _, ds in cells)
    if any(bm.ADAPTERS[m].key.startswith("khm") for m, _ in cells):
        # the first Adam imports torch._dynamo (about 1 s): done here, so that no timed write pays for it
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    bar = tqdm(total=total, desc=NAME, unit="model-N", disable=not progress, mininterval=2)
    rows = []
    for ds in dict.fromkeys(d for _, d in cells):  # one data set at a time: its stored sets and cues drawn once
        rows += run_dataset(images[ds], params, ds, [m for m, d in cells if d == ds], seed=seed, device=device,
                            dtype=dtype, bar=bar)
    bar.close()
    order = {f"{m}-{d}": i for i, (m, d) in enumerate(cells)}
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    cell = table["model"] + "-" + table["dataset"]
    return table.iloc[cell.map(order).argsort(kind="stable")].reset_index(drop=True)  # rows in cell order


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: :func:`run` on the training images of every data set the cells name (``data`` names each
    one's prepared file); extras: the data sets' fidelity notes and the models left out. The figures are in
    :mod:`.retrieval_figure`."""
    tr = begin_target(config, NAME, threads)
    images = {ds: load_images(data[ds])["train_images"] for ds in datasets_of(tr.params)}
    table = run(images, tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(table, {"datasets": {ds: DATASET_NOTES.get(ds, ds) for ds in images}})
