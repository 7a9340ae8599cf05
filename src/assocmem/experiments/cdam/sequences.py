"""CDAM temporal sequences on a directed cycle (target ``fig_cdam_sequences``; CDAM spec E4).

Burns (ICML 2024) stored the frames of two 50-frame video clips (source unknown; 2,000 sampled
pixel-channels per frame in [0, 1]) as memories on a **directed cycle** (frame ``mu -> mu + 1``, the
last frame back to the first; ``M = D^-1/2 A D^-1/2 = A``) and ran the ICML update with
``beta = 0.6``, ``eta = 0.2`` (also ``beta = 1``, ``eta = 0.1``), ``kappa = 1``, ``T = 100``, for
``(a, h)`` in {(-1, 3), (-1.5, 3), (-2, 3), (-2, 3.5)}. The author's released result: (-1, 3) gets
stuck in the middle of the clip, (-1.5, 3) advances with stalls and skips, **(-2, 3) advances cleanly
one frame at a time and wraps around**, and auto-association never leaves the cue.

**Substitution** (the paper's videos are not available): two clips generated here, seeded, from our
data (:func:`moving_mnist_clip`, :func:`drifting_texture_clip`): two MNIST test digits moving on
closed elliptical paths over a 64 x 64 black canvas (a moving-MNIST clip), and a smooth random
RGB texture drifting diagonally by exactly one period over the clip (so the clip loops); 2,000
pixel-channels sampled per frame (:func:`sample_pixels`).

Every frame is cued (noise ``* (U[0,1) - 1/2)``); the read-out is the argmax over frames of the
Pearson correlation of the state with each frame, every step. From its trace: frames advanced (net
forward displacement on the cycle), the fraction of argmax changes that are exactly one frame forward
("clean"), backward moves, and wrap-arounds (frame p-1 to frame 0). Frames advanced is mapped over an
``(a, h)`` grid (all settings and cues in one batch).

Distractor test (the ICLR-era robustness check; protocol is a project choice): every
``distract_every`` steps the state is pulled towards an off-sequence frame,
``sigma <- (1 - g) sigma + g xi_d``, with ``xi_d`` drawn (seeded) at an offset of p/4 .. 3p/4 frames
from the current argmax; score = fraction of argmax changes outside the injection steps that are
correct successors (+1), against ``a`` at fixed ``h``.

Run without Snakemake::

    python -m assocmem run fig_cdam_sequences --config config/config.yaml
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import cdam, graphs
from ... import device as _device
from ...data.images import as_patterns, load_images
from ...results import begin_target
from ...stages import Runs

NAME = "cdam_sequences"
TARGET = "fig_cdam_sequences"
PAPER_KEY = "cdam"
PAPER = PAPERS["cdam"].citation
TARGET_SPECS = (
    Target("fig_cdam_sequences", PAPERS["cdam"], NAME, __name__, data=('mnist',), threads=4,
           summary="E4: sequence recall on a directed cycle of clips"),
)
CLIPS = ("moving_mnist", "drifting_texture")
# Project tolerances.
AUTO_MIN_STAY = 0.99  # auto-association: fraction of (cue, step) pairs whose argmax is the cue
CLEAN_MIN = 0.9  # (-2, 3): fraction of argmax changes that are +1
ADVANCE_MIN = 3.0  # (-2, 3): mean frames advanced in T steps
DISTRACT_MIN = 0.8  # (-2, 3) with distractors: fraction of non-injection changes that are +1


# ----------------------------------------------------------------------------- clips (data preparation)


def moving_mnist_clip(digits: torch.Tensor, n_frames: int, canvas: int, generator: torch.Generator) -> torch.Tensor:
    """Frames ``(n_frames, canvas, canvas)`` in [0, 1] of the ``digits`` ``(k, 28, 28)`` moving on closed paths.

    Digit ``i`` follows an ellipse (random centre offset, radii, phase and direction drawn from
    ``generator``) once per clip, so the clip loops and no two frames coincide; overlaps take the
    pixel-wise maximum (as in moving MNIST).
    """
    k, hgt, wid = digits.shape
    digits = digits.to(torch.float64)
    if digits.max() > 1:
        digits = digits / 255.0
    frames = torch.zeros(n_frames, canvas, canvas, dtype=torch.float64)
    free = canvas - hgt
    u = torch.rand(k, 5, generator=generator, dtype=torch.float64).tolist()
    for i in range(k):
        ry, rx = (0.25 + 0.2 * u[i][0]) * free, (0.25 + 0.2 * u[i][1]) * free
        phase, direction = 2 * math.pi * u[i][2], 1.0 if u[i][3] < 0.5 else -1.0
        for t in range(n_frames):
            ang = phase + direction * 2 * math.pi * t / n_frames
            y = round(free / 2 + ry * math.sin(ang))
            x = round(free / 2 + rx * math.cos(ang))
            frames[t, y : y + hgt, x : x + wid] = torch.maximum(frames[t, y : y + hgt, x : x + wid], digits[i])
    return frames


def drifting_texture_clip(
    n_frames: int, size: int, channels: int, generator: torch.Generator, cutoff: float = 4.0
) -> torch.Tensor:
    """Frames ``(n_frames, channels, size, size)`` in [0, 1] of a smooth periodic random texture drifting diagonally.

    The texture is Gaussian white noise low-passed in Fourier space (envelope ``exp(-|k|^2 / (2 cutoff^2))``,
    ``k`` in cycles per image); frame ``t`` is the texture shifted by ``size * t / n_frames`` pixels along
    both axes (an exact sub-pixel Fourier shift), so the clip drifts one period and loops.
    """
    noise = torch.randn(channels, size, size, generator=generator, dtype=torch.float64)
    spec = torch.fft.fft2(noise)
    k = torch.fft.fftfreq(size, d=1.0 / size, dtype=torch.float64)
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    spec = spec * torch.exp(-(kx**2 + ky**2) / (2 * cutoff**2))
    shift = size * torch.arange(n_frames, dtype=torch.float64) / n_frames  # pixels, along y and x
    phase = torch.exp(-2j * math.pi * (ky + kx)[None] * shift[:, None, None] / size)  # (T, size, size)
    frames = torch.fft.ifft2(spec[None] * phase[:, None]).real
    lo, hi = frames.min(), frames.max()
    return (frames - lo) / (hi - lo)


def sample_pixels(frames: torch.Tensor, n_pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Patterns ``(T, n_pixels)``: the same ``n_pixels`` pixel-channels (drawn without replacement) of every frame."""
    flat = frames.reshape(frames.shape[0], -1)
    if n_pixels > flat.shape[1]:
        raise ValueError(f"cannot sample {n_pixels} of {flat.shape[1]} pixel-channels")
    idx = torch.randperm(flat.shape[1], generator=generator)[:n_pixels]
    return flat[:, idx]


def make_clips(images: torch.Tensor, params: dict, seed: int) -> dict[str, torch.Tensor]:
    """The two stand-in clips as float64 patterns ``(n_frames, n_pixels)`` in [0, 1], from ``images`` (MNIST test)."""
    gen = _device.generator(seed * 1_000_003 + 17)
    pick = torch.randperm(images.shape[0], generator=gen)[: params["n_digits"]]
    digits = as_patterns(images[pick], torch.float64).reshape(-1, *images.shape[1:])
    mm = moving_mnist_clip(digits, params["n_frames"], params["canvas"], gen)
    tex = drifting_texture_clip(params["n_frames"], params["canvas"], 3, gen, params["texture_cutoff"])
    return {
        "moving_mnist": sample_pixels(mm, params["n_pixels"], gen),
        "drifting_texture": sample_pixels(tex, params["n_pixels"], gen),
    }


# ----------------------------------------------------------------------------- dynamics and scores


def winner_trace(Xi, M, cues, a, h, beta, *, eta, kappa: float, steps: int, distract_every: int = 0,
                 distract_gain: float = 0.0, generator: torch.Generator | None = None):
    """The frame most correlated with the state after every step, ``(T + 1, S, C)`` (index 0 = the cue), from
    :func:`assocmem.cdam.run` (settings x cues in one batch), and ``injected`` ``(T + 1,)``: the steps after which
    a distractor was applied. With ``distract_every = k > 0``, after every ``k``-th step but the last each state is
    pushed to ``(1 - g) sigma + g xi_d``, ``xi_d`` at a random offset of ``p/4 .. 3p/4`` frames from its argmax."""
    p = Xi.shape[0]
    injected = torch.zeros(steps + 1, dtype=torch.bool)
    lo, hi = p // 4, max(p // 4 + 1, (3 * p) // 4 + 1)

    def distract(t: int, corr: torch.Tensor):
        if not distract_every or t % distract_every or t >= steps:
            return None
        off = torch.randint(lo, hi, (corr.shape[0],), generator=generator).to(corr.device)
        injected[t] = True
        return (corr.argmax(-1) + off) % p, distract_gain

    r = cdam.run(Xi, M, cues, a, h, beta, eta=eta, kappa=kappa, steps=steps, keep_state=False,
                 method="coefficients", record_winners=True, perturb=distract)
    return r.winners.cpu(), injected


def trace_scores(
    argmax: torch.Tensor, p: int, injected: torch.Tensor | None = None, cue: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """Scores of argmax traces ``(T + 1, ...)`` on a ``p``-cycle, each ``(...)``.

    ``advanced``: net forward displacement (steps mapped to ``(-p/2, p/2]``); ``changes``: argmax changes
    (injection steps excluded when ``injected`` is given); ``clean``: changes of exactly +1;
    ``backward``: changes with negative displacement; ``wraps``: moves from frame ``p - 1`` to 0;
    ``stay``: fraction of steps ``t >= 1`` whose argmax is the cued frame ``cue`` (broadcast against
    ``(...)``; default: the argmax at step 0); ``captured`` (with ``injected``): fraction of injections
    after which the argmax jumped at least ``max(2, p // 8)`` frames (the distractor took the state over).
    """
    d = (argmax[1:] - argmax[:-1]) % p
    d = torch.where(d > p // 2, d - p, d)
    count = torch.ones_like(d, dtype=torch.bool)
    if injected is not None:
        count = ~injected[1:].reshape(-1, *([1] * (d.ndim - 1))).expand_as(d)
    moved = (d != 0) & count
    n_injected = 0 if injected is None else int(injected[1:].sum())
    return {
        "advanced": d.sum(0).double(),
        "changes": moved.sum(0).double(),
        "clean": ((d == 1) & count).sum(0).double(),
        "backward": ((d < 0) & count).sum(0).double(),
        "wraps": ((argmax[:-1] == p - 1) & (argmax[1:] == 0)).sum(0).double(),
        "stay": (argmax[1:] == (argmax[:1] if cue is None else cue)).double().mean(0),
        "captured": ((d.abs() >= max(2, p // 8)) & ~count).sum(0).double() / max(1, n_injected),
    }


def _named(params: dict) -> tuple[torch.Tensor, torch.Tensor]:
    ah = torch.tensor(params["ah_settings"], dtype=torch.float64)
    return ah[:, 0], ah[:, 1]


def run(clips: dict, params: dict, *, seed: int, device: torch.device, dtype: torch.dtype):
    """Rows: named settings (both beta/eta pairs), the (a, h) grid, and the distractor sweep; plus example traces."""
    p = params["n_frames"]
    M = graphs.normalized_adjacency(graphs.cycle_graph(p, directed=True)).to(device, dtype)
    a_n, h_n = _named(params)
    ga, gh = torch.meshgrid(
        torch.tensor(params["grid_a"], dtype=torch.float64),
        torch.tensor(params["grid_h"], dtype=torch.float64),
        indexing="ij",
    )
    ga, gh = ga.reshape(-1), gh.reshape(-1)
    da = torch.tensor(params["distract_a"], dtype=torch.float64)
    n_named, pairs = a_n.numel(), params["beta_eta"]
    a_all = torch.cat([a_n] * len(pairs) + [ga])
    h_all = torch.cat([h_n] * len(pairs) + [gh])
    beta_all = torch.tensor([b for b, _ in pairs for _ in range(n_named)] + [pairs[0][0]] * ga.numel())
    eta_all = torch.tensor([e for _, e in pairs for _ in range(n_named)] + [pairs[0][1]] * ga.numel())
    kinds = ["named"] * (n_named * len(pairs)) + ["grid"] * ga.numel()
    rows, traces = [], {}
    for ci, (clip, X) in enumerate(clips.items()):
        Xi = X.to(device, dtype)
        for s in range(params["seeds"]):
            gen = _device.generator(seed * 100_003 + 7_919 * ci + s)
            cues = cdam.noisy_cues(X, params["noise"], gen).to(device, dtype)
            base = {"clip": clip, "seed": s}
            # The named settings at every (beta, eta) pair and the grid (first pair) form one batch.
            arg, _ = winner_trace(
                Xi, M, cues, a_all, h_all, beta_all, eta=eta_all, kappa=params["kappa"], steps=params["steps"]
            )
            sc = trace_scores(arg, p, cue=torch.arange(p))
            for j in range(a_all.numel()):
                rows.append(
                    dict(
                        base,
                        kind=kinds[j],
                        beta=float(beta_all[j]),
                        eta=float(eta_all[j]),
                        a=float(a_all[j]),
                        h=float(h_all[j]),
                        **{m: float(v[j].mean()) for m, v in sc.items()},
                        clean_frac=float(sc["clean"][j].sum() / sc["changes"][j].sum().clamp_min(1)),
                    )
                )
            if s == 0:
                for k, (beta, eta) in enumerate(params["beta_eta"]):
                    traces[(clip, beta, eta)] = arg[:, k * n_named : (k + 1) * n_named]
            beta, eta = params["beta_eta"][0]
            arg, inj = winner_trace(
                Xi,
                M,
                cues,
                da,
                params["distract_h"],
                beta,
                eta=eta,
                kappa=params["kappa"],
                steps=params["steps"],
                distract_every=params["distract_every"],
                distract_gain=params["distract_gain"],
                generator=gen,
            )
            sc = trace_scores(arg, p, inj, cue=torch.arange(p))
            for j in range(da.numel()):
                rows.append(
                    dict(
                        base,
                        kind="distractor",
                        beta=beta,
                        eta=eta,
                        a=float(da[j]),
                        h=float(params["distract_h"]),
                        **{m: float(v[j].mean()) for m, v in sc.items()},
                        clean_frac=float(sc["clean"][j].sum() / sc["changes"][j].sum().clamp_min(1)),
                    )
                )
    return pd.DataFrame(rows), traces


METRICS = ("advanced", "changes", "clean", "backward", "wraps", "stay", "captured", "clean_frac")  # a run row's scores


# ----------------------------------------------------------------------------- run stage


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run on clips made from the prepared MNIST file ``data["mnist"]``: one row per (clip, seed, setting)
    (:func:`run`); extras ``cue0_traces``: per clip, seed 0's argmax frame at every step for the cue at frame 0, one
    list per named setting at the first (beta, eta). The figure is in :mod:`.cdam_sequences_figure`."""
    tr = begin_target(config, NAME, threads)
    params = tr.params
    clips = make_clips(load_images(data["mnist"])["test_images"], params, config["seed"])
    raw, traces = run(clips, params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    beta0, eta0 = params["beta_eta"][0]
    return Runs(raw, {"cue0_traces": {c: traces[(c, beta0, eta0)][:, :, 0].T.tolist() for c in clips}})
