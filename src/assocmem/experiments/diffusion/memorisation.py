"""Memorisation to generalisation on the 2-D circle toy (target ``fig_diffusion_memorisation``; spec E3).

Hoover et al. (2023), *Memory in Plain Sight*, project experiment E3 (after the tutorial's reproduction of the toy of
Pham et al. 2025): a score network trained by denoising score matching on few points memorises them (its samples
collapse onto the stored points, which act as attractors, as with the exact empirical score); trained on many it
generalises (samples spread over the circle the points were drawn from).

Protocol: training sets of ``K`` points drawn uniformly on the unit circle (one per ``K``); one score network per set,
the spec's MLP (:class:`assocmem.score_nets.StackedMLP`: ``layers`` x ``hidden`` SiLU, Fourier embedding of the
noise level, output divided by sigma), the three trained side by side as one batched job
(:func:`assocmem.diffusion.train_dsm`: loss ``|| sigma s(x_0 + sigma eps, sigma) + eps ||^2``, sigma log-uniform on
``[sigma_min, sigma_max]``, Adam, ``batch`` points per model and step, EMA of the weights with the usual warm-up,
evaluated with the EMA weights); ``samples`` samples per model by Euler-Maruyama on the reverse VE-SDE over
``steps`` geometric noise levels, then one Tweedie denoising step (:func:`assocmem.diffusion.sample`). For
comparison, the same sampler with the exact empirical score of each training set (what a perfectly trained network
would do). Metrics (:mod:`assocmem.diffusion`): the memorisation ratio ``rho`` = median distance of the samples to
their nearest training point / the same for a held-out reference set of ``n_reference`` points uniform on the circle
(drawn from ``reference_seed``, fixed); the fraction of samples within ``circle_tol`` of the circle.

Also reported, not claimed (added after the first runs, to read a failed K = 1000 ratio): ``rho_projected``, rho of
the samples projected radially onto the circle, which separates where samples lie along the circle from how far off
it they are.

Claims (spec, project tolerances): rho < 0.1 for K = 2 and K = 9; rho in [0.5, 2] for K = 1000, with >= 90% of its
samples within 0.1 of the circle. Quick scale: ``iterations`` = 10,000 per model (spec: 50,000) and 500 samples
(spec: 1000); the spec's reduction, stated in the caption.

Run without Snakemake::

    python -m assocmem run fig_diffusion_memorisation --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import device as _device
from ... import diffusion
from ...results import begin_target
from ...score_nets import StackedMLP
from ...stages import Runs
from . import circle

NAME = "diffusion_memorisation"
TARGET = "fig_diffusion_memorisation"
PAPER_KEY = "diffusion"
PAPER = PAPERS["diffusion"].citation
TARGET_SPECS = (
    Target(TARGET, PAPERS["diffusion"], NAME, __name__, data=(), threads=1, runtime=30,
           summary="2-D circle toy: memorisation ratio and fraction on the circle of DSM-trained MLPs, K = 2, 9, 1000"),
)
# Spec E3 (project tolerances).
MEMORISED_RHO = 0.1
GENERALISED_RHO = (0.5, 2.0)
MIN_ON_CIRCLE = 0.9


def _metrics(samples: torch.Tensor, X: torch.Tensor, reference: torch.Tensor, tol: float) -> dict[str, float]:
    """rho, its two medians, the fraction on the circle, the median distance from the circle, and (a diagnostic,
    not a claim) rho of the samples projected radially onto the circle: where the samples lie along the circle,
    whatever their radial error."""
    m = diffusion.memorisation_ratio(samples, X, reference)
    along = samples.to(torch.float64) / samples.to(torch.float64).norm(dim=-1, keepdim=True)
    radius = samples.to(torch.float64).norm(dim=-1)
    return {**m, "on_circle_fraction": diffusion.near_sphere_fraction(samples, 1.0, tol),
            "median_radial_error": float((radius - 1.0).abs().median()),
            "rho_projected": diffusion.memorisation_ratio(along, X, reference)["rho"]}


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype, progress: bool = True) -> pd.DataFrame:
    """Rows of kind ``metric`` (per K and sampler ``network``/``exact``: rho, both medians, fraction on the circle,
    the same before the denoising step), ``sample``, ``train`` (points) and ``loss`` (training loss per logged
    interval)."""
    ks = list(params["ks"])
    train = [circle.uniform(K, _device.generator(seed * 1_000_003 + K)) for K in ks]
    reference = circle.reference(params["n_reference"], params["reference_seed"])
    net = StackedMLP([_device.generator(seed * 1_000_003 + 7919 * K + 1) for K in ks], 2, hidden=params["hidden"],
                     layers=params["layers"], n_freqs=params["n_freqs"], fourier_scale=params["fourier_scale"],
                     sigma_min=params["sigma_min"], sigma_max=params["sigma_max"]).to(device, dtype)
    stored = [X.to(dtype) for X in train]
    B = params["batch"]

    def draw(g: torch.Generator) -> torch.Tensor:
        return torch.stack([X[torch.randint(len(X), (B,), generator=g)] for X in stored])

    ema, log = diffusion.train_dsm(
        net, draw, iterations=params["iterations"], lr=params["lr"], ema_decay=params["ema_decay"],
        sigma_min=params["sigma_min"], sigma_max=params["sigma_max"], generator=_device.generator(seed * 1_000_003 + 2),
        device=device, log_every=params["log_every"], progress=progress, desc=NAME)
    sigmas = diffusion.sigma_schedule(params["sigma_max"], params["sigma_min"], params["steps"])
    last = params["steps"] - 1
    S = params["samples"]
    with torch.no_grad():
        x, kept = diffusion.sample(ema.score, (len(ks), S, 2), sigmas, _device.generator(seed * 1_000_003 + 3),
                                   device=device, dtype=dtype, keep=(last,), progress=progress)
        ends = {("network", K): (x[i].cpu(), kept[last][i].cpu()) for i, K in enumerate(ks)}
        if params["exact_score"]:
            for i, K in enumerate(ks):
                Xd = stored[i].to(device)
                xe, ke = diffusion.sample(lambda z, s: diffusion.empirical_score(Xd, z, s), (S, 2), sigmas,
                                          _device.generator(seed * 1_000_003 + 4 + K), device=device, dtype=dtype,
                                          keep=(last,), progress=progress)
                ends[("exact", K)] = (xe.cpu(), ke[last].cpu())
    rows = []
    for i, K in enumerate(ks):
        rows += [{"kind": "train", "K": K, "x": a, "y": b} for a, b in train[i].tolist()]
        rows += [{"kind": "loss", "K": K, "iteration": r["iteration"], "loss": r["loss"]}
                 for r in log if r["model"] == i]
    for (sampler, K), (end, pre) in ends.items():
        X = train[ks.index(K)]
        m = _metrics(end, X, reference, params["circle_tol"])
        before = _metrics(pre, X, reference, params["circle_tol"])
        rows.append({"kind": "metric", "K": K, "sampler": sampler, **m,
                     "rho_before_denoising": before["rho"],
                     "on_circle_before_denoising": before["on_circle_fraction"]})
        rows += [{"kind": "sample", "K": K, "sampler": sampler, "x": a, "y": b} for a, b in end.tolist()]
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure is in :mod:`.memorisation_figure`."""
    tr = begin_target(config, NAME, threads)
    return Runs(run(tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype))
