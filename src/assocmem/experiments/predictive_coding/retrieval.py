"""Recall of stored images from noisy and half-masked cues: PCN vs autoencoder vs modern Hopfield network (target
``fig_pcn_retrieval``; spec E1, E2 and the memorisation claim).

Salvatori et al. (2021), *Associative Memories via Predictive Coding*. For every ``N`` of ``n_stored`` the first
``N`` images of one seeded permutation of the CIFAR-10 training split (nested in ``N``; CIFAR-10 stands in for Tiny
ImageNet / ImageNet) are memorised by

- a generative PCN (:mod:`assocmem.predictive_coding`; sizes ``[3072, *pcn_sizes]``, trained by inference and local
  weight steps; its energy per epoch is the memorisation trace);
- an autoencoder of matched size (:mod:`assocmem.autoencoder`; ``[3072, *ae_sizes, 3072]``, backprop, MSE), iterated
  ``ae_iterations`` times at recall;
- the modern Hopfield network of the core (:func:`.common.mhn_recall`), its ``beta`` chosen from ``mhn_betas`` on a
  held-out set of ``N`` other images with their own cues.

One trained network of each kind serves both cue types (E1: Gaussian noise of std ``noise_std`` per pixel; E2: the
bottom half hidden, at the stored set's mean image, the top half known). The error of a recall is the per-pixel mean
squared error in [0, 1] units, over the whole image (noise) or the hidden half (mask). Every ``N`` draws from
generators of its own, so the run is sharded over ``n_stored`` at the paper scale.

Run table rows (``kind``): ``recall`` (one per ``N``, corruption, model and stored image: ``mse``), ``trace`` (one per
``N``, model and epoch: the PCN's energy and sensory error, the AE's loss), ``beta`` (held-out error per ``beta``),
``inference`` (per ``N`` and corruption: the PCN's recall energy before and after, and its largest rise between two
inference steps). Extras: example recalls at ``N = claim_n`` (uint8) and the data's fidelity.

Run without Snakemake::

    python -m assocmem run fig_pcn_retrieval --data-dir .
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ... import autoencoder as ae
from ... import device as _device
from ... import predictive_coding as pc
from ...data import load_images
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs
from . import common
from .common import IMAGE_SHAPE, cifar_fidelity

NAME = "pcn_retrieval"
TARGET = "fig_pcn_retrieval"
PAPER_KEY = "predictive_coding"
PAPER = PAPERS[PAPER_KEY].citation
TARGET_SPECS = (
    Target(TARGET, PAPERS[PAPER_KEY], NAME, __name__, data=("cifar10",), threads=1, runtime=240, mem_mb=8000,
           gpu=True, shard_axis="n_stored",
           summary="PCN vs autoencoder vs modern Hopfield network: recall of stored CIFAR-10 images from noisy and "
                   "half-masked cues vs N, and the memorisation energy"),
)
MODELS = ("pcn", "ae", "mhn")


def max_rise(trace: torch.Tensor, steps: int) -> tuple[float, float, float]:
    """From a recall's energy trace ``(k (steps + 1), B)`` (``k`` inferences): the mean energy per cue at the start
    and at the end, and the largest rise of the mean energy between two steps of one inference."""
    t = trace.double().mean(-1).view(-1, steps + 1)
    rise = float((t[:, 1:] - t[:, :-1]).max())
    return float(t[0, 0]), float(t[-1, -1]), rise


def run_n(images: torch.Tensor, N: int, params: dict, *, seed: int, device, dtype, progress: bool = True
          ) -> tuple[list[dict], dict]:
    """Everything at one ``N``: rows and (at ``N == claim_n``) the example recalls."""
    base = seed * 1_000_003 + 7919 * N
    X64, held_out, _ = common.stored_sets(images, N, seed)
    X = X64.to(device, dtype)
    rows, examples = [], {}
    net, ptrace = common.train_pcn(X, params, _device.generator(base + 1), progress=progress,
                                   desc=f"{NAME} PCN N={N}")
    rows += [{"kind": "trace", "N": N, "model": "pcn", **r} for r in ptrace]
    aenet, atrace = common.train_ae(X, params, _device.generator(base + 2), progress=progress,
                                    desc=f"{NAME} AE N={N}")
    rows += [{"kind": "trace", "N": N, "model": "ae", "epoch": r["epoch"], "energy": float("nan"),
              "sensory_mse": r["mse"]} for r in atrace]
    for k, kind in enumerate(common.CORRUPTIONS):
        cue64, known = common.make_cues(X64, kind, IMAGE_SHAPE, params["noise_std"], _device.generator(base + 3 + k),
                                        fill=X64.mean(0))
        beta, errs = common.choose_beta(held_out, kind, IMAGE_SHAPE, params, _device.generator(base + 5 + k),
                                        device, dtype)
        rows += [{"kind": "beta", "N": N, "corruption": kind, "beta": b, "mse": e, "chosen": b == beta}
                 for b, e in errs.items()]
        cue = cue64.to(device, dtype)
        kn = known.to(device) if known is not None else None
        if kn is None:
            out_pcn, tr = pc.recall(net, cue, steps=params["t_noise"], gamma=params["gamma"], outer=params["outer"],
                                    trace=True)
            steps = params["t_noise"]
        else:
            out_pcn, tr = pc.recall(net, cue, kn, steps=params["t_mask"], gamma=params["gamma"], trace=True)
            steps = params["t_mask"]
        f0, f1, rise = max_rise(tr, steps)
        rows.append({"kind": "inference", "N": N, "corruption": kind, "energy_start": f0, "energy_end": f1,
                     "max_rise": rise, "gamma": params["gamma"]})
        outs = {
            "pcn": out_pcn,
            "ae": ae.recall(aenet, cue, kn, params["ae_iterations"]),
            "mhn": common.mhn_recall(X, cue, kn, beta, max_steps=params["mhn_max_steps"], tol=params["mhn_tol"]),
        }
        cue_err = common.mse(cue, X, kn).cpu()
        for model, out in outs.items():
            err = common.mse(out, X, kn).cpu()
            rows += [{"kind": "recall", "N": N, "corruption": kind, "model": model, "image": i, "mse": float(e),
                      "cue_mse": float(c), "beta": beta if model == "mhn" else float("nan")}
                     for i, (e, c) in enumerate(zip(err, cue_err))]
        if N == params["claim_n"]:
            n = min(params["n_examples"], N)
            examples[kind] = {"stored": common.to_uint8(X64[:n]), "cue": common.to_uint8(cue64[:n]),
                              **{m: common.to_uint8(o[:n]) for m, o in outs.items()}}
    return rows, examples


def run(images: torch.Tensor, params: dict, *, seed: int, device, dtype, progress: bool = True
        ) -> tuple[pd.DataFrame, dict]:
    """Every ``N`` of ``params["n_stored"]``: the run table and the example recalls."""
    rows, examples = [], {}
    for N in params["n_stored"]:
        r, ex = run_n(images, N, params, seed=seed, device=device, dtype=dtype, progress=progress)
        rows += r
        examples.update(ex)
    return pd.DataFrame(rows), examples


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure is in :mod:`.retrieval_figure`."""
    tr = begin_target(config, NAME, threads)
    images = load_images(data["cifar10"])["train_images"]
    table, examples = run(images, tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(table, {"examples": examples, "image_shape": list(IMAGE_SHAPE),
                        "cifar10_fidelity": cifar_fidelity(data.get("cifar10"), config)})
