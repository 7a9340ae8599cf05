"""What the predictive-coding experiments share: the stored sets, the corrupted cues, the error convention, and one
call per memory (PCN, autoencoder, modern Hopfield network) from images to recalled images.

- Stored sets: the first ``N`` images of one seeded permutation of a training split (nested in ``N``); a held-out
  set of ``N`` other images (from the end of the same permutation) is where the MHN's ``beta`` is chosen.
- Cues: ``noise`` adds Gaussian noise of standard deviation ``noise_std`` per pixel (images in [0, 1], not clipped);
  ``mask`` zeroes the bottom half of every image (rows ``H // 2`` and below), the top half is known.
- Error: the per-pixel mean squared error in [0, 1] units (``mse``), over the whole image for noisy cues and over the
  hidden bottom half for masked cues; a memory counts as retrieved when it is below ``threshold`` (0.005).
- The MHN baseline is the core engine (:func:`assocmem.dynamics.retrieve`) on mean-centred, unit-norm images: a noisy
  cue is iterated to convergence; a masked cue (hidden pixels at the mean, i.e. 0 after centring) takes one update,
  whose similarities are then over the visible pixels only (with the known pixels clamped and similarities kept on
  them, that update is already the fixed point). The recalled image is the softmax readout of the stored pixel
  images, ``sum_mu p_mu X_mu``, with the known pixels put back for masked cues.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ... import autoencoder as ae
from ... import corruption, dynamics
from ... import device as _device
from ... import predictive_coding as pc
from ...data import as_patterns

CIFAR_NOTE = ("CIFAR-10 (JPEG re-encoded, lossy) stands in for the paper's Tiny ImageNet / ImageNet")
MNIST_NOTE = "MNIST stands in for the paper's SVHN"
CORRUPTIONS = ("noise", "mask")
IMAGE_SHAPE = (32, 32, 3)  # CIFAR-10


def stored_sets(images: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(stored, held_out, stored_index)``: the first ``n`` images of a permutation drawn from ``seed`` (nested in
    ``n``) and the last ``n`` (flattened, [0, 1], float64 on the CPU); both depend on ``n`` and ``seed`` alone."""
    perm = torch.randperm(images.shape[0], generator=_device.generator(seed))
    idx, held = perm[:n], perm[-n:]
    return as_patterns(images[idx], torch.float64), as_patterns(images[held], torch.float64), idx


def make_cues(X: torch.Tensor, kind: str, image_shape: tuple[int, ...], noise_std: float,
              generator: torch.Generator, fill: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Cues for the images ``X`` ``(B, d)``: ``(cue, known)``; ``known`` is the ``(d,)`` mask of known pixels for
    ``mask`` and ``None`` for ``noise``. The hidden pixels of a masked cue are ``fill`` ``(d,)`` (the stored set's
    mean image: 0 in the centred coordinates every memory here works in), or 0 when ``None``."""
    if kind == "noise":
        return X + noise_std * torch.randn(X.shape, generator=generator, dtype=X.dtype), None
    if kind == "mask":
        cue, known = corruption.mask_lower_half(X, image_shape)
        return (cue if fill is None else torch.where(known, cue, fill.to(cue.dtype))), known
    raise ValueError(f"unknown corruption {kind!r} ({', '.join(CORRUPTIONS)})")


def mse(out: torch.Tensor, X: torch.Tensor, known: torch.Tensor | None) -> torch.Tensor:
    """Per-pixel mean squared error per image: over every pixel, or over the unknown ones when ``known`` is given."""
    sq = (out.double() - X.double()) ** 2
    return sq.mean(-1) if known is None else sq[:, ~known].mean(-1)


def mhn_recall(stored: torch.Tensor, cues: torch.Tensor, known: torch.Tensor | None, beta: float, *,
               max_steps: int, tol: float) -> torch.Tensor:
    """The modern Hopfield network on the stored images (see the module docstring); pixel units in and out."""
    mean = stored.mean(0)
    Xc = stored - mean
    Xi = Xc / Xc.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    c = cues - mean
    if known is not None:
        c = torch.where(known, c, torch.zeros((), dtype=c.dtype, device=c.device))
    c = c / c.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if known is None:
        c = dynamics.retrieve(Xi, c, beta, max_steps=max_steps, tol=tol).state
    p = dynamics.separation_weights(Xi, c, beta)
    out = p @ stored
    return out if known is None else torch.where(known, cues, out)


def choose_beta(held_out: torch.Tensor, kind: str, image_shape, params: dict, generator: torch.Generator,
                device, dtype) -> tuple[float, dict]:
    """The ``beta`` of ``params["mhn_betas"]`` with the lowest mean error on the held-out images' own cues (never
    the test cues); return it and the error per ``beta``."""
    cues, known = make_cues(held_out, kind, image_shape, params["noise_std"], generator, fill=held_out.mean(0))
    X, cues = held_out.to(device, dtype), cues.to(device, dtype)
    known = known.to(device) if known is not None else None
    errs = {}
    for b in params["mhn_betas"]:
        out = mhn_recall(X, cues, known, float(b), max_steps=params["mhn_max_steps"], tol=params["mhn_tol"])
        errs[float(b)] = float(mse(out, X, known).mean())
    best = min(errs, key=lambda b: (errs[b], b))
    return best, errs


def pcn_recall(net: pc.PCN, cues: torch.Tensor, known: torch.Tensor | None, params: dict) -> torch.Tensor:
    """The PCN's recall with the configured inference (noisy: ``outer`` x ``t_noise`` steps; masked: ``t_mask``)."""
    if known is None:
        return pc.recall(net, cues, steps=params["t_noise"], gamma=params["gamma"], outer=params["outer"])[0]
    return pc.recall(net, cues, known, steps=params["t_mask"], gamma=params["gamma"])[0]


def train_pcn(X: torch.Tensor, params: dict, generator: torch.Generator, *, sizes=None, progress=True, desc="PCN"):
    """:func:`assocmem.predictive_coding.train` with the configured settings."""
    return pc.train(X, list(sizes or params["pcn_sizes"]), epochs=params["epochs"], batch=params["batch"],
                    t_train=params["t_train"], gamma=params["gamma"], lr=params["lr"], generator=generator,
                    optimizer=params["optimizer"], init_scale=params["init_scale"], activation=params["activation"],
                    center=params["center"], progress=progress, desc=desc)


def train_ae(X: torch.Tensor, params: dict, generator: torch.Generator, *, progress=True, desc="AE"):
    """:func:`assocmem.autoencoder.train` with the configured settings."""
    return ae.train(X, list(params["ae_sizes"]), epochs=params["ae_epochs"], batch=params["ae_batch"],
                    lr=params["ae_lr"], generator=generator, activation=params["activation"], center=params["center"],
                    progress=progress, desc=desc)


def to_uint8(x: torch.Tensor) -> list:
    """Images in [0, 1] (clipped) as uint8 lists, for the display grids kept in a run's extras."""
    return (x.double().clamp(0, 1) * 255).round().to(torch.uint8).cpu().tolist()


def cifar_fidelity(path: Path | None, config: dict) -> str:
    """What the prepared CIFAR-10 file is: its sidecar's ``fidelity`` when present, else from the config."""
    side = Path(path).with_suffix(".json") if path else None
    if side is not None and side.is_file():
        fid = json.loads(side.read_text()).get("fidelity", "")
        if fid:
            return fid
    return "exact" if config.get("data", {}).get("cifar10_tarball") else "JPEG re-encoding (lossy)"
