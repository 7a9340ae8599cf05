"""Image completion by DrDAM and MrDAM on CIFAR-10 (target ``fig_drdam_image_completion``).

Hoover et al. 2024, Figs. 1, 2 and 4B (spec ``drdam.md``), on CIFAR-10 training images (the offline mirror is a
JPEG re-encoding of CIFAR-10, lossy; Figs 1 and 2 used TinyImageNet, not available offline) resized to
``size`` x ``size`` x 3 (Figs 1/2) and ``grid_size`` x ``grid_size`` x 3 (Fig 4B) (area averaging down, bilinear
up), flattened in (h, w, c) order and divided by 255 * sqrt(D) (into the unit box). Both models descend from the
same query with fixed steps ``alpha``, the visible part clamped (:func:`assocmem.random_features.descend`):

- Fig 1: ``fig1_images`` random images stored (K = that number); each is also a query that keeps only the first
  ``fig1_keep`` of the flattened vector (the top rows), the rest zeroed; ``beta``, ``fig1_features`` random
  frequencies, ``fig1_steps`` steps; both models' energy traces (DrDAM's own energy along its own path, MrDAM's along
  its path).
- Fig 2: ``fig2_images`` images stored (a stand-in for the authors' hand-picked "diverse" set: the same number drawn
  from every class), each queried with the first ``fig2_keep`` kept; ``fig2_features`` frequencies, ``fig2_steps``.
- Fig 4B: ``grid_images`` random images stored; the query is image number ``grid_query`` with the second half of the
  vector (the bottom half of the image) zeroed and the top half clamped; phases b = 0
  (``Features(phases=False)``); for every beta of ``grid_betas`` and Y of ``grid_features``, DrDAM descends
  ``grid_steps_dr`` steps and MrDAM ``grid_steps_mr``. Omega is drawn once per Y, shared across beta.

Omega is held during every descent (``omega=list(omega_blocks(...))``), not regenerated each step. Counting
convention: Y is the number of random frequencies (rows of Omega); the SinCos map stores T with 2Y numbers, against
K * D numbers for MrDAM.

The run table has one row per image shown (``pixels``: the (h, w, c) image in [0, 1], as float32) and one row per
step of each energy trace. Figs 1/2 run where ``beta`` is among ``grid_betas`` (at paper scale the run is sharded
over ``grid_betas``, and the shard of ``beta`` runs them). Claims (figure stage): T6 (traces overlap; DrDAM's
completions match MrDAM's: MSE(DrDAM, MrDAM) << MSE(query, MrDAM)) and T7 (at small beta a modest Y reproduces
MrDAM, at large beta only the largest Y comes close).

    python -m assocmem run fig_drdam_image_completion
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ... import device as _device
from ... import random_features as rf
from ...data import load_images
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs
from .common import feature_seed, run_dtype, shard_order, with_beta

NAME = "drdam_image_completion"
PAPER_KEY = "drdam"
PAPER = PAPERS[PAPER_KEY].citation
TARGET_SPECS = (
    Target("fig_drdam_image_completion", PAPERS[PAPER_KEY], NAME, __name__, data=("cifar10",), threads=1,
           runtime=120, mem_mb=8000, gpu=True,
           summary="CIFAR-10 completions and energy traces of DrDAM and MrDAM; the beta x Y grid (Figs 1, 2, 4B)",
           shard_axis="grid_betas"),
)
# The run table's columns; shard_beta: the beta of the grid shard a row belongs to (Figs 1/2 and the grid's query:
# the shard of ``beta``).
COLUMNS = ["part", "role", "image", "source", "beta", "Y", "shard_beta", "step", "energy", "mse_to_mrdam",
           "query_to_mrdam", "height", "width", "channels", "pixels"]


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images ``(N, H, W, 3)`` -> float64 ``(N, size, size, 3)`` in [0, 255] (area averaging when shrinking,
    bilinear when growing)."""
    x = images.permute(0, 3, 1, 2).double()
    if size != x.shape[-1]:
        mode = "area" if size < x.shape[-1] else "bilinear"
        x = torch.nn.functional.interpolate(x, size=(size, size), mode=mode,
                                            **({} if mode == "area" else {"align_corners": False}))
    return x.permute(0, 2, 3, 1).clamp(0, 255)


def per_class(labels: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` indices, as evenly spread over the classes as ``n`` allows (a seeded draw within each class)."""
    classes = labels.unique()
    perm = torch.randperm(labels.shape[0], generator=g)
    out = []
    for j in range(n):
        c = classes[j % len(classes)]
        cands = perm[labels[perm] == c]
        out.append(cands[j // len(classes)])
    return torch.stack(out)


def complete(f: rf.Features, Xi: torch.Tensor, query: torch.Tensor, clamp: torch.Tensor, alpha: float,
             steps_dr: int, steps_mr: int, omega, traces: bool = False) -> dict:
    """Both models from the same ``query`` ``(Q, D)`` with the ``clamp``ed coordinates fixed: fixed points
    ``dr``, ``mr`` and, with ``traces``, the energies along the way ``(steps + 1, Q)``."""
    T = rf.write(f, Xi, omega=omega)
    dr, e_dr = rf.descend(lambda x: rf.grad(f, T, x, omega=omega), query, alpha, steps_dr, clamp=clamp,
                          energy_fn=(lambda x: rf.energy(f, T, x, omega=omega)) if traces else None)
    mr, e_mr = rf.descend(lambda x: rf.mr_grad(Xi, x, f.beta), query, alpha, steps_mr, clamp=clamp,
                          energy_fn=(lambda x: rf.mr_energy(Xi, x, f.beta)) if traces else None)
    return {"dr": dr, "mr": mr, "e_dr": e_dr, "e_mr": e_mr}


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared pixel difference per row (pixels in [0, 1]): for unit-box vectors (pixel / sqrt(D)) it is the
    squared Euclidean distance."""
    return ((a - b) ** 2).sum(-1).double()


def image_rows(part: str, shape: tuple, images: dict[str, torch.Tensor], source: torch.Tensor, *,
               reference: tuple[torch.Tensor, torch.Tensor] | None = None, **keys) -> list[dict]:
    """One row per (role, image): the image as (h, w, c) pixels in [0, 1] (float32) and the index of its source
    image. With ``reference = (query, MrDAM fixed point)``, DrDAM rows also get ``mse_to_mrdam`` and
    ``query_to_mrdam`` (the MSE of the query from the MrDAM fixed point: the scale of a completion)."""
    rows = []
    for role, x in images.items():
        D = x.shape[1]
        for i in range(x.shape[0]):
            row = {"part": part, "role": role, "image": i, "source": int(source[i]), **keys,
                   "height": shape[0], "width": shape[1], "channels": shape[2],
                   "pixels": (x[i] * math.sqrt(D)).float().cpu().numpy()}
            if reference is not None and role == "drdam":
                query, mr = reference
                row["mse_to_mrdam"] = float(mse(x[i], mr[i]))
                row["query_to_mrdam"] = float(mse(query[i], mr[i]))
            rows.append(row)
    return rows


def run(train_images: torch.Tensor, train_labels: torch.Tensor, params: dict, *, seed: int, device: torch.device,
        dtype: torch.dtype, progress: bool = True) -> pd.DataFrame:
    """Figs 1 and 2 (when ``beta`` is in ``grid_betas``) and the grid of Fig 4B; rows as in the module docstring."""
    alpha = params["alpha"]

    def patterns(idx, size):
        return rf.to_unit_box(resize(train_images[idx], size).flatten(1), 255.0).to(device, dtype)

    rows = []
    figs12 = params["beta"] in params["grid_betas"]
    bar = tqdm(total=2 * figs12 + len(params["grid_betas"]) * len(params["grid_features"]), desc=NAME, unit="run",
               disable=not progress, mininterval=2)
    N = train_images.shape[0]
    for part in (("fig1", "fig2") if figs12 else ()):
        k, keep, Y, steps = (params[f"{part}_{p}"] for p in ("images", "keep", "features", "steps"))
        shape = (params["size"], params["size"], 3)
        g = _device.generator(seed * 1_000_003 + (42 if part == "fig1" else 2))
        idx = torch.randperm(N, generator=g)[:k] if part == "fig1" else per_class(train_labels, k, g)
        Xi = patterns(idx, params["size"])
        D = Xi.shape[1]
        clamp = torch.arange(D, device=device) < round(keep * D)
        query = Xi * clamp
        f = rf.Features("sincos", Y, D, params["beta"], seed=feature_seed(seed, 1 if part == "fig1" else 2, Y),
                        block=params["block"])
        omega = list(rf.omega_blocks(f, dtype, device))
        out = complete(f, Xi, query, clamp, alpha, steps, steps, omega, traces=part == "fig1")
        omega = None  # free it before the next draw
        rows += image_rows(part, shape, {"memory": Xi, "query": query, "drdam": out["dr"], "mrdam": out["mr"]}, idx,
                           reference=(query, out["mr"]), beta=float(params["beta"]), Y=Y,
                           shard_beta=float(params["beta"]))
        if out["e_dr"] is not None:
            for model in ("drdam", "mrdam"):
                e = out["e_dr" if model == "drdam" else "e_mr"].double().cpu()
                for i in range(e.shape[1]):
                    rows += [{"part": "fig1_trace", "role": model, "image": i, "source": int(idx[i]),
                              "beta": float(params["beta"]), "Y": Y, "shard_beta": float(params["beta"]), "step": t,
                              "energy": float(v)}
                             for t, v in enumerate(e[:, i])]
        bar.update()
    # Fig 4B: one query, the beta x Y grid
    g = _device.generator(seed * 1_000_003 + 56)
    idx = torch.randperm(N, generator=g)[:params["grid_images"]]
    Xi = patterns(idx, params["grid_size"])
    shape = (params["grid_size"], params["grid_size"], 3)
    D = Xi.shape[1]
    clamp = torch.arange(D, device=device) < D // 2
    q = params["grid_query"]
    query, src = (Xi[q] * clamp)[None], idx[q:q + 1]
    if figs12:  # the grid's stored image and query, once (in the shard of beta)
        rows += image_rows("grid", shape, {"memory": Xi[q:q + 1], "query": query}, src,
                           shard_beta=float(params["beta"]))
    mr = {}
    for beta in params["grid_betas"]:
        mr[beta], _ = rf.descend(lambda x, b=float(beta): rf.mr_grad(Xi, x, b), query, alpha, params["grid_steps_mr"],
                                 clamp=clamp)
        rows += image_rows("grid", shape, {"mrdam": mr[beta]}, src, beta=float(beta), shard_beta=float(beta))
    for Y in params["grid_features"]:
        base = rf.Features("sincos", Y, D, 1.0, seed=feature_seed(seed, 4, Y), block=params["block"], phases=False)
        omega = list(rf.omega_blocks(base, dtype, device))  # one draw per Y, shared across beta, held
        for beta in params["grid_betas"]:
            f = with_beta(base, beta)
            T = rf.write(f, Xi, omega=omega)
            dr, _ = rf.descend(lambda x: rf.grad(f, T, x, omega=omega), query, alpha, params["grid_steps_dr"],
                               clamp=clamp)
            rows += image_rows("grid", shape, {"drdam": dr}, src, reference=(query, mr[beta]), beta=float(beta), Y=Y,
                               shard_beta=float(beta))
            bar.update()
        omega = None  # free it before the next draw
    bar.close()
    table = pd.DataFrame(rows).reindex(columns=COLUMNS).astype(
        {c: "float64" for c in COLUMNS if c not in ("part", "role", "image", "source", "pixels")})
    return shard_order(table, "shard_beta", [float(b) for b in params["grid_betas"]])


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run on the prepared CIFAR-10 file (:func:`run`); the figure and the claims are in
    :mod:`.images_figure`."""
    tr = begin_target(config, NAME, threads)
    dtype = run_dtype(tr.params, tr.dtype)
    data_ = load_images(data["cifar10"])
    raw = run(data_["train_images"], data_["train_labels"], tr.params, seed=config["seed"], device=tr.device,
              dtype=dtype)
    return Runs(raw, {"dtype": str(dtype)})
