"""Sequential learning of permuted-MNIST tasks in the Krotov-Hopfield dense associative memory (targets
``fig_dam_sequential_accuracy``, ``fig_dam_forgetting_vs_vertex``, ``fig_dam_memories``).

McAlister, Robins & Szymanski (2025), *Sequential Learning in the Dense Associative Memory* (arXiv 2409.15729). The
model, its training rule and the continual-learning methods live in :mod:`assocmem.krotov_hopfield`; this module
builds the tasks and runs the grid.

Tasks: one random subset of ``train_items`` training and ``test_items`` test images (shared by all tasks, as the
paper scale uses all of MNIST for every task), binarised at ``threshold`` on [0, 1]-scaled intensities to +-1;
task 1 is the identity, task ``t > 1`` a fixed random pixel permutation. The grid is a list of ``cells``, strings
``"n=<vertex>,method=<method>,seed=<replicate>"``: one model run each (``ewc`` trains one model per
``ewc_lambdas`` entry side by side), and at the paper scale one shard each. Items, permutations and the initial
memories depend on the replicate seed (and the config's ``seed``) only, so every method and vertex of a replicate
sees the same tasks, the same initial memories and the same item order.

Temperature: ``T_n = temperature_scale * (n / 2)^temperature_power`` with dot products divided by ``N = 794``
(:func:`assocmem.krotov_hopfield.scale_of`). The constants were chosen from a single-task scan on held-out
*training* items before any sequential run (the project's choice; the author's constant ``T = 1.1`` does not train
under this rescaling, whose relation to the author's own normalisation is unknown).

Besides the accuracies (every task after every task, and per-epoch training loss and accuracy), the run records for
the cells of ``memory_method`` (every method trains task 1 alike): the memories after task 1 (``shown_memories`` of
them, for the pictures), the project's prototype proxy (:func:`prototype_proxy`: how much the memory that answers
a task-1 training item looks like it; also for the initial memories), and the energy-difference identity of the
tanh argument checked in float64 on the trained memories.

Run without Snakemake (the shared run, then each figure)::

    python -m assocmem run fig_dam_sequential_accuracy
    python -m assocmem figure fig_dam_memories
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ... import device as _device
from ... import krotov_hopfield as kh
from ...data import load_images
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs

NAME = "dam_sequential"
PAPER_KEY = "sequential_learning"
PAPER = PAPERS["sequential_learning"].citation
RUN = "dam_sequential"
TARGET_SPECS = tuple(
    Target(name, PAPERS["sequential_learning"], NAME, __name__, run=RUN, data=("mnist",), threads=1,
           summary=summary, shard_axis="cells", runtime=240, priority=1)
    for name, summary in (
        ("fig_dam_sequential_accuracy", "accuracy on every seen permuted-MNIST task after each task, per method and n"),
        ("fig_dam_forgetting_vs_vertex", "mean final accuracy and forgetting vs interaction vertex n, per method"),
        ("fig_dam_memories", "learned memories' pixel parts at small and large n: feature-like vs prototype-like"),
    )
)
TARGETS = tuple(t.name for t in TARGET_SPECS)
CELL = re.compile(r"^n=(\d+),method=([a-z]+),seed=(\d+)$")
IDENTITY_ITEMS = 20  # test items of the float64 energy-difference check


def parse_cell(cell: str) -> dict:
    """``"n=10,method=gem,seed=1"`` -> ``{"n": 10, "method": "gem", "seed": 1}``."""
    m = CELL.match(cell)
    if m is None or m.group(2) not in kh.METHODS:
        raise ValueError(f"{NAME}: bad cell {cell!r}; expected 'n=<int>,method=<one of {sorted(kh.METHODS)}>,"
                         f"seed=<int>'")
    return {"n": int(m.group(1)), "method": m.group(2), "seed": int(m.group(3))}


def temperature(params: dict, n: int) -> float:
    """``T_n = temperature_scale * (n / 2)^temperature_power``."""
    return float(params["temperature_scale"] * (n / 2) ** params["temperature_power"])


def make_tasks(images: dict, params: dict, seed: int, device, dtype) -> list[kh.Task]:
    """The permuted-MNIST tasks of one replicate: items and permutations from ``seed``; task 1 unpermuted."""
    g = _device.generator(seed * 1_000_003 + 5)
    tr = torch.randperm(images["train_images"].shape[0], generator=g)[:params["train_items"]]
    te = torch.randperm(images["test_images"].shape[0], generator=g)[:params["test_items"]]
    x_tr = kh.binarise(images["train_images"][tr], params["threshold"], dtype)
    x_te = kh.binarise(images["test_images"][te], params["threshold"], dtype)
    y_tr, y_te = images["train_labels"][tr].long(), images["test_labels"][te].long()
    tasks = []
    for t in range(params["tasks"]):
        perm = torch.arange(x_tr.shape[1]) if t == 0 else torch.randperm(x_tr.shape[1], generator=g)
        tasks.append(kh.Task(x_tr[:, perm].to(device), y_tr.to(device), x_te[:, perm].to(device), y_te.to(device)))
    return tasks


def settings(params: dict, n: int) -> kh.Settings:
    return kh.Settings(
        n=n, memories=params["memories"], temperature=temperature(params, n), loss_power=params["loss_power"],
        batch=params["batch"], epochs=params["epochs"], lr=params["lr"], lr_decay=params["lr_decay"],
        momentum=params["momentum"], init=tuple(params["init"]), buffer_fraction=params["buffer_fraction"],
        ewc_lambdas=tuple(float(v) for v in params["ewc_lambdas"]), ref_items=params["ref_items"],
        gem_iterations=params["gem_iterations"], normalise=params["normalise"])


def prototype_proxy(xi: torch.Tensor, pixels: torch.Tensor, temp: float,
                    block: int = 1000) -> tuple[float, torch.Tensor]:
    """The project's prototype proxy of memories ``xi`` ``(K, P + C)`` on items ``pixels`` ``(B, P)``: the mean over
    items of the Pearson correlation between the item and the pixel part of its winning memory (the largest
    ``u-``, i.e. the largest ``F_n`` term with every class unit off); near 1 when the memory that answers an item
    looks like it (prototypes), low for feature-like memories. Also every item's winning memory."""
    n_pix = pixels.shape[-1]
    mem = xi[:, :n_pix] - xi[:, :n_pix].mean(-1, keepdim=True)
    mem = mem / mem.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    corr, winners = [], []
    for i in range(0, pixels.shape[0], block):
        x = pixels[i:i + block]
        win = kh.preactivations(xi[None], x, temp)[0][0].argmax(-1)
        xc = x - x.mean(-1, keepdim=True)
        xc = xc / xc.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        corr.append((mem[win] * xc).sum(-1))
        winners.append(win)
    return float(torch.cat(corr).double().mean()), torch.cat(winners)


def identity_error(xi: torch.Tensor, pixels: torch.Tensor, n: int, temp: float) -> float:
    """Largest relative difference, in float64, between the tanh argument of :func:`kh.class_scores` and
    ``s^n (E(sigma^(alpha-)) - E(sigma^(alpha+)))`` computed from the energy on full states, over items and classes."""
    xi, pixels = xi.double(), pixels.double()
    s = kh.scale_of(xi.shape[-1], temp)
    h = kh.class_scores(xi[None], pixels, n, temp)[0]
    ref = torch.stack([kh.energy(xi, kh.full_states(pixels, a, -1.0), n) - kh.energy(xi, kh.full_states(pixels, a, 1.0), n)
                       for a in range(kh.N_CLASSES)], dim=-1) * s**n
    return float(((h - ref).abs() / ref.abs().clamp(min=1e-300).max()).max())


def run(params: dict, images: dict, *, seed: int, device, dtype, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Every cell of ``params["cells"]``: the records of :func:`assocmem.krotov_hopfield.train_tasks` as rows
    (``kind`` test / epoch), plus ``memory_proxy`` and ``identity`` rows and the shown memories in the extras."""
    cells = [parse_cell(c) for c in params["cells"]]
    rows: list[dict] = []
    memories: dict[str, list] = {}
    tasks_by_seed: dict[int, list[kh.Task]] = {}
    bar = tqdm(cells, desc=NAME, unit="cell", disable=not progress)
    for cell in bar:
        n, method, rep = cell["n"], cell["method"], cell["seed"]
        base = seed * 1000 + rep
        if rep not in tasks_by_seed:
            tasks_by_seed[rep] = make_tasks(images, params, base, device, dtype)
        tasks = tasks_by_seed[rep]
        cfg = settings(params, n)
        keep = method == params["memory_method"]
        after_task1: dict = {}

        def on_task_end(ti: int, xi: torch.Tensor) -> None:
            if ti == 0 and keep:
                after_task1["xi"] = xi[0].detach().clone()

        xi, records = kh.train_tasks(tasks, method, cfg, seed=base, on_task_end=on_task_end, progress=progress,
                                     desc=f"n={n} {method} seed={rep}")
        lambdas = list(cfg.ewc_lambdas) if method == "ewc" else [float("nan")]
        for r in records:
            rows.append({"n": n, "method": method, "lam": lambdas[r.pop("model")], "seed": rep,
                         "temperature": cfg.temperature, **r})
        if keep:
            trained = after_task1["xi"]
            init = kh.init_memories(1, cfg.memories, trained.shape[-1], *cfg.init, seed=kh.memory_seed(base),
                                    dtype=dtype, device=device)[0]
            n_pix = tasks[0].train_x.shape[-1]
            items = tasks[0].train_x[:params["proxy_items"]]
            for stage, x in (("initial", init), ("after task 1", trained)):
                proxy, winners = prototype_proxy(x, items, cfg.temperature)
                rows.append({"n": n, "method": method, "lam": float("nan"), "seed": rep, "kind": "memory_proxy",
                             "stage": stage, "proxy": proxy, "winners": int(winners.unique().numel()),
                             "temperature": cfg.temperature})
            wins = torch.bincount(winners.cpu(), minlength=cfg.memories)  # of the trained memories (last stage)
            order = sorted(range(cfg.memories), key=lambda k: (-int(wins[k]), k))[:params["shown_memories"]]
            rows.append({"n": n, "method": method, "lam": float("nan"), "seed": rep, "kind": "identity",
                         "identity_rel_error": identity_error(trained, tasks[0].test_x[:IDENTITY_ITEMS], n,
                                                              cfg.temperature),
                         "temperature": cfg.temperature})
            shown = trained[order].double().cpu()
            memories[f"n={n},seed={rep}"] = {
                "n": n, "seed": rep, "index": order, "wins": [int(wins[k]) for k in order],
                "pixels": [[round(float(v), 3) for v in row] for row in shown[:, :n_pix]],
                "classes": [[round(float(v), 3) for v in row] for row in shown[:, n_pix:]]}
    bar.close()
    return pd.DataFrame(rows), {"memories": memories}


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run shared by the three targets (:func:`run`); the figures are in :mod:`.sequential_figure`."""
    tr = begin_target(config, NAME, threads)
    table, extras = run(tr.params, load_images(data["mnist"]), seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(table, extras)
