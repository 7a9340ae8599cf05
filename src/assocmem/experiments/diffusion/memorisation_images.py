"""Memorisation to generalisation on images: rho vs the number of training images K (target
``fig_diffusion_memorisation_images``; spec E4).

Hoover et al. (2023), *Memory in Plain Sight*, project experiment E4: the protocol of E3 (:mod:`.memorisation`) on
subsets of MNIST and CIFAR-10 with a small U-Net (:class:`assocmem.score_nets.UNet`), one network per (data set, K).
A network trained on few images memorises them (its samples are near-copies of training images; rho << 1); on many
it generalises (its samples are as close to the training set as unseen test images are; rho about 1).

Protocol, per data set: images scaled to [-1, 1] (MNIST average-pooled to ``image_size`` when that is smaller than
28; ``null`` keeps the native size); the training set of size K is the first K images of one fixed random
permutation of the training split (nested in K); one U-Net per K trained by denoising score matching
(:func:`assocmem.diffusion.train_dsm`; sigma log-uniform on ``[sigma_min, sigma_max]``, Adam, EMA weights for
evaluation); ``samples`` samples by Euler-Maruyama over ``steps`` geometric noise levels and one Tweedie denoising
step; rho = median distance of the samples to their nearest training image / the same for ``n_reference`` test
images (drawn from ``reference_seed``, fixed; nearest neighbours in blocks of ``block`` training images).
``sigma_max`` is about the largest distance between two images (Song & Ermon's rule), so that the prior
``N(0, sigma_max^2 I)`` covers the data. Every (data set, K) draws from generators of its own, so the run is sharded
over K (``ks``) at the paper scale and a shard's rows do not depend on the others.

CIFAR-10 comes from the JPEG mirror (a lossy re-encoding) unless the official tarball is configured; the figure says
so. Claims (project tolerances, those of E3): per data set, rho < 0.1 at the smallest K, rho in [0.5, 2] at the
largest, and rho rising along the K grid (each at least 0.9 times the previous).

Run without Snakemake::

    python -m assocmem run fig_diffusion_memorisation_images --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ...registry import PAPERS, Target
from ... import device as _device
from ... import diffusion
from ...data import load_images
from ...results import begin_target
from ...score_nets import UNet
from ...stages import Runs

NAME = "diffusion_memorisation_images"
TARGET = "fig_diffusion_memorisation_images"
PAPER_KEY = "diffusion"
PAPER = PAPERS["diffusion"].citation
TARGET_SPECS = (
    Target(TARGET, PAPERS["diffusion"], NAME, __name__, data=lambda p: tuple(p["datasets"]), threads=1,
           runtime=240, mem_mb=16000, gpu=True, priority=1, shard_axis="ks",
           summary="memorisation ratio rho vs training-set size K of DSM-trained U-Nets on MNIST and CIFAR-10"),
)
DATASET_CODES = {"mnist": 1, "fashion_mnist": 2, "cifar10": 3}  # seeds keyed by data set and K, not by position
# Spec E4, with the project tolerances of E3.
MEMORISED_RHO = 0.1
GENERALISED_RHO = (0.5, 2.0)
RISE_FACTOR = 0.9


def to_unit_range(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """uint8 images ``(N, H, W)`` or ``(N, H, W, 3)`` -> float ``(N, C, size, size)`` in [-1, 1], average-pooled
    (area interpolation) to ``size`` when given and smaller than the native size."""
    x = images.to(torch.float32) / 255.0
    x = x[:, None] if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if size is not None and size < x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="area")
    return x * 2.0 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images back to uint8 (clipped), for display."""
    return ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def run_dataset(name: str, images: dict, params: dict, *, seed: int, device: torch.device, dtype: torch.dtype,
                progress: bool = True) -> tuple[list[dict], dict]:
    """Every K of one data set: rows (kinds ``metric``, ``loss``, ``distance``) and the display grids."""
    code = DATASET_CODES[name]
    size = params["image_size"]
    perm = torch.randperm(images["train_images"].shape[0], generator=_device.generator(seed * 1_000_003 + code))
    pool = to_unit_range(images["train_images"][perm[:max(params["ks"])]], size)
    ref_pick = torch.randperm(images["test_images"].shape[0],
                              generator=_device.generator(params["reference_seed"] + code))[:params["n_reference"]]
    reference = to_unit_range(images["test_images"][ref_pick], size).flatten(1).to(device, dtype)
    shape = tuple(pool.shape[1:])
    sigmas = diffusion.sigma_schedule(params["sigma_max"], params["sigma_min"], params["steps"])
    rows, grids = [], {}
    for K in params["ks"]:
        base = seed * 1_000_003 + 7919 * K + 10 * code
        X = pool[:K].to(device, dtype)
        net = UNet(_device.generator(base), shape[0], tuple(params["widths"]), n_freqs=params["n_freqs"],
                   fourier_scale=params["fourier_scale"], sigma_min=params["sigma_min"],
                   sigma_max=params["sigma_max"], sigma_data=params["sigma_data"]).to(device, dtype)
        Xc = pool[:K].to(dtype)

        def draw(g: torch.Generator, Xc=Xc, K=K) -> torch.Tensor:
            return Xc[torch.randint(K, (1, params["batch"]), generator=g)]

        ema, log = diffusion.train_dsm(
            net, draw, iterations=params["iterations"], lr=params["lr"], ema_decay=params["ema_decay"],
            sigma_min=params["sigma_min"], sigma_max=params["sigma_max"], generator=_device.generator(base + 1),
            device=device, log_every=params["log_every"], progress=progress, desc=f"{NAME} {name} K={K}")
        with torch.no_grad():
            x, _ = diffusion.sample(ema.score, (1, params["samples"], *shape), sigmas, _device.generator(base + 2),
                                    device=device, dtype=dtype, progress=progress)
        flat, Xf = x[0].flatten(1), X.flatten(1)
        d_s, idx = diffusion.nearest(flat, Xf, params["block"])
        d_r = diffusion.nearest(reference, Xf, params["block"])[0]
        rows.append({"kind": "metric", "dataset": name, "K": K, "rho": d_s.median().item() / d_r.median().item(),
                     "median_nn_samples": d_s.median().item(), "median_nn_reference": d_r.median().item(),
                     "final_loss": log[-1]["loss"]})
        rows += [{"kind": "loss", "dataset": name, "K": K, "iteration": r["iteration"], "loss": r["loss"]}
                 for r in log]
        rows += [{"kind": "distance", "dataset": name, "K": K, "set": "sample", "distance": v} for v in d_s.tolist()]
        rows += [{"kind": "distance", "dataset": name, "K": K, "set": "reference", "distance": v}
                 for v in d_r.tolist()]
        n = min(params["grid"], params["samples"])
        grids[f"{name}/{K}"] = {"shape": list(shape),
                                "samples": to_uint8(x[0, :n]).flatten(1).cpu().tolist(),
                                "nearest": to_uint8(X[idx[:n]]).flatten(1).cpu().tolist(),
                                "distance": d_s[:n].tolist()}
    return rows, grids


def run(images_by_name: dict[str, dict], params: dict, *, seed: int, device: torch.device, dtype: torch.dtype,
        progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Every data set of ``params["datasets"]``: the run table and the display grids (``{"<data set>/<K>": ...}``)."""
    rows, grids = [], {}
    for name in params["datasets"]:
        r, g = run_dataset(name, images_by_name[name], params, seed=seed, device=device, dtype=dtype,
                           progress=progress)
        rows += r
        grids.update(g)
    return pd.DataFrame(rows), grids


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure is in :mod:`.memorisation_images_figure`."""
    tr = begin_target(config, NAME, threads)
    images = {name: load_images(data[name]) for name in tr.params["datasets"]}
    table, grids = run(images, tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(table, {"grids": grids})
