"""Sampling with the exact empirical score collapses onto stored points (target
``fig_diffusion_exact_score_sampling``; spec E2).

Hoover et al. (2023), *Memory in Plain Sight*: the score of the Gaussian-smoothed training set is the dense-memory
update (:func:`assocmem.diffusion.empirical_score`), so a diffusion model that knew it exactly would only reproduce
its training points. Protocol: ``K`` equally spaced points on the unit circle (random phase; spacing
``2 sin(pi/K)`` >> ``sigma_min``); ``samples`` samples from ``N(0, sigma_max^2 I)`` integrated down a geometric schedule
of ``steps`` noise levels from ``sigma_max`` to ``sigma_min`` by Euler-Maruyama (reverse VE-SDE) and by the
probability-flow ODE, each followed by one Tweedie denoising step (the posterior mean at ``sigma_min``,
:func:`assocmem.diffusion.sample`). Float64 (the block's ``dtype``): at ``sigma_min = 0.01`` the score is the update's
displacement divided by 1e-4, and the claim asks for 1e-3.

Claim (spec): after the final denoising step every sample coincides with a training point to 1e-3 (both samplers,
every K).

Run without Snakemake::

    python -m assocmem run fig_diffusion_exact_score_sampling --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import device as _device
from ... import diffusion
from ...results import begin_target
from ...stages import Runs
from . import circle

NAME = "diffusion_exact_score_sampling"
TARGET = "fig_diffusion_exact_score_sampling"
PAPER_KEY = "diffusion"
PAPER = PAPERS["diffusion"].citation
TARGET_SPECS = (
    Target(TARGET, PAPERS["diffusion"], NAME, __name__, data=(), threads=1, runtime=10,
           summary="reverse VE-SDE and probability-flow ODE with the exact empirical score on the circle"),
)
TOL = 1e-3  # spec E2


def run(params: dict, *, seed: int, device: torch.device, progress: bool = True) -> pd.DataFrame:
    """Rows of kind ``train`` (the stored points), ``sample`` (every sample: its end point, its distance to the
    nearest stored point before and after the denoising step, that point's index) and ``trajectory`` (the first
    ``trajectories`` samples at every step) for every ``(K, sampler)``."""
    dtype = _device.resolve_dtype(params["dtype"])
    sigmas = diffusion.sigma_schedule(params["sigma_max"], params["sigma_min"], params["steps"])
    last = params["steps"] - 1
    rows = []
    for K in params["ks"]:
        X = circle.equally_spaced(K, _device.generator(seed * 1_000_003 + K)).to(device, dtype)
        rows += [{"kind": "train", "K": K, "x": float(a), "y": float(b), "index": i}
                 for i, (a, b) in enumerate(X.cpu().tolist())]
        for m, method in enumerate(params["samplers"]):
            g = _device.generator(seed * 1_000_003 + 100 * K + m)
            keep = range(last + 1) if params["trajectories"] else (last,)
            x, kept = diffusion.sample(lambda z, s: diffusion.empirical_score(X, z, s), (params["samples"], 2),
                                       sigmas, g, method=method, device=device, dtype=dtype, keep=keep,
                                       progress=progress)
            d, idx = diffusion.nearest(x, X)
            d_pre = diffusion.nearest(kept[last], X)[0]
            for j, ((a, b), dj, dpj, ij) in enumerate(zip(x.cpu().tolist(), d.tolist(), d_pre.tolist(),
                                                        idx.tolist())):
                rows.append({"kind": "sample", "K": K, "sampler": method, "sample": j, "x": a, "y": b,
                             "distance": dj, "distance_before_denoising": dpj, "index": ij})
            for i in sorted(kept) if params["trajectories"] else ():
                for j, (a, b) in enumerate(kept[i][:params["trajectories"]].cpu().tolist()):
                    rows.append({"kind": "trajectory", "K": K, "sampler": method, "sample": j, "step": i,
                                 "sigma": float(sigmas[i]), "x": a, "y": b})
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure is in :mod:`.exact_score_sampling_figure`."""
    tr = begin_target(config, NAME, threads)
    return Runs(run(tr.params, seed=config["seed"], device=tr.device))
