"""One retrieval protocol for every memory of the project (issue 18: the side-by-side comparison no paper gives).

Each paper tests its model on its own data, sizes and cues. This module fixes one task and lets every memory of the
core take it through a small adapter, so that the numbers are comparable:

- **Stored sets.** ``N`` training images (MNIST or CIFAR-10 from the prepared files), area-pooled to ``size x size``
  pixels (``(h, w, c)`` order, pixels in [0, 1]); one seeded permutation per (data set, replicate), the set of size
  ``N`` is its first ``N`` images, so sets are nested in ``N`` (:func:`stored_images`).
- **Cues** (:func:`make_cues`). ``clean`` (the stored image itself), ``noise`` (i.i.d. Gaussian pixel noise of
  standard deviation ``level``, in pixel units) and ``mask`` (a fraction ``level`` of the pixel positions, all
  channels, drawn per cue, replaced by the training set's mean image; the mask is known to the model: ``known`` is
  True on the visible entries). The test cues come from the first ``q = min(n_queries, N / 2)`` stored images, drawn
  once, so a stored image has the same cues at every ``N``; the validation cues come from the next ``q`` stored images
  (:func:`validation_sources`), with draws of their own: never a test cue.
- **Retrieved** (:func:`score`): the stored image nearest (Euclidean, pixel space) to the model's output is the
  cue's source; beside it the output's per-pixel mean squared error against its source (pixels in [0, 1]).
- **One iteration budget** (``budget``): every model that iterates gets at most that many updates.
- **Tuning** (:func:`tune`): each adapter's key hyper-parameter takes the value of its grid with the highest mean
  fraction retrieved over the validation cues of every condition (ties: lower mean MSE, then the earlier grid value);
  the test cues are never seen. The tuning budget is the grid: one recall of the validation set per value.

Adapters (:data:`ADAPTERS`): a pair of plain functions ``write(images, params, generator) -> state`` and
``recall(state, cues, known, budget) -> outputs`` (pixel space in and out), the name of the tuned hyper-parameter and
whether ``write`` depends on it. They call the core's models and restate none of their mathematics:

- ``lookup``: a reference, not a memory model: the stored image nearest to the cue on its known entries
  (:func:`assocmem.similarity.neg_sq_euclidean`); one shot.
- ``mhn``: the modern Hopfield network (Ramsauer et al. 2020) as a Hopfield layer: keys = stored images centred by
  their mean and normalised to unit length, values = the stored images; the state iterates in key space
  (:func:`assocmem.dynamics.retrieve`, known entries clamped) and is read out through the final softmax weights on
  the values. Tuned: ``beta``.
- ``cdam_a1``, ``cdam_best``: CDAM (Burns 2024) with an empty memory graph and the paper's image settings (raw
  pixels, ``eta``, ``kappa``, and ``beta`` given at the paper's ``n = 784`` pixels, ``beta_784``, used as
  ``beta_784 * 784 / d``: the same sharpness per pixel), :func:`assocmem.cdam.run`; a retrieved memory's fixed point is
  ``a xi - kappa xi_bar``, so outputs are decoded by its inverse ``(state + kappa xi_bar) / a``. ``cdam_a1`` keeps
  ``a = 1``; ``cdam_best`` tunes ``a``. CDAM has no clamping: the mask is not used.
- ``khm_uhop``: the kernelized Hopfield model with a U-Hop+ feature map (Hu, Wu & Liu 2024): ``Phi(x) = W x``
  (Kaiming-normal start) trained by :func:`assocmem.kernelized.uhop_train` on the centred stored images, retrieval
  with unit-norm features (cosine kernel) through :func:`assocmem.dynamics.retrieve`, known entries clamped. Tuned:
  ``beta``. ``khm_raw`` is its control: the same start ``W`` (same seed), not trained (no ``uhop_steps``).
- ``drdam_small``, ``drdam_large``: DrDAM (Hoover et al. 2024) at two feature budgets ``features`` (SinCos map,
  images in the unit box), :func:`assocmem.random_features.write` and gradient descent
  (:func:`assocmem.random_features.descend`, step ``alpha``), known entries clamped. Tuned: ``beta``.
- ``kde``: the Gaussian-KDE memory (Schaeffer et al. 2024): mean shift, :func:`assocmem.dynamics.retrieve` with the
  Euclidean similarity, known entries clamped. Tuned: the bandwidth ``sigma``, per pixel (``beta = 1 / (2 sigma^2
  d)``).
- ``eam``: the entropic associative memory (Hernandez et al. 2024): the stored images' PCA features
  (:func:`assocmem.feature_extractors.fit_pca` on the stored set, ``min(columns, N - 1)`` components, standing in for
  the paper's autoencoder as the project's EAM experiment does at its quick scale), quantised to ``rows`` levels over
  the stored set's range and lambda-registered; recall is one beta-retrieval (:func:`assocmem.entropic_am.retrieve`,
  seeded) of the cue's levels, de-quantised and decoded by the PCA. No clamping (the mask is not used). Tuned: the
  retrieval width ``sigma``.
- ``pcn``: the predictive-coding network (Salvatori et al. 2021), :func:`assocmem.predictive_coding.train` (its own
  local learning rule, the project's recipe; at least ``min_updates`` weight steps) on the stored images. Recall
  (:func:`assocmem.predictive_coding.recall`): a masked cue clamps its known pixels and infers the rest for
  ``budget`` steps; a cue with no known pixel (clean or noisy) is clamped, its hidden nodes inferred, and the
  prediction of the sensory layer fed back ``outer`` times, ``budget // outer`` steps each. Tuned: the inference rate
  ``gamma`` of recall (training keeps ``train_gamma``).
- ``ae``: the autoencoder baseline of the same paper, :func:`assocmem.autoencoder.train` (backpropagation, Adam);
  recall iterates the map (:func:`assocmem.autoencoder.recall`), the known pixels put back after every pass. Tuned:
  the number of passes ``iterations`` (at most the budget).

Storage (:func:`stored_numbers`) counts the numbers a memory keeps (``state["memory"]``: the entropic register's PCA
and quantiser ranges included, the networks' weights, biases and offsets), not what it can regenerate from a seed
(DrDAM's random frequencies).

Everything is batched over cues (one recall per grid value, never a loop per query), seeded (:mod:`assocmem.device`
generators keyed by :func:`seed_of`) and runs on the stored images' device and dtype; scoring is float64.
"""

from __future__ import annotations

import dataclasses
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from . import autoencoder as _autoencoder
from . import cdam
from . import device as _device
from . import dynamics
from . import entropic_am
from . import feature_extractors
from . import kernelized
from . import predictive_coding as _pc
from . import random_features as rf
from . import similarity as _similarity

CUE_KINDS = ("clean", "noise", "mask")
KHM_LOSS_BLOCK = 1024  # memories per block of the U-Hop+ loss in _khm_write (exactly unblocked up to 1025)


# ----------------------------------------------------------------------------- data


def seed_of(*keys) -> int:
    """A seed from any keys (numbers, strings), the same in every process (a CRC, not Python's salted hash)."""
    return zlib.crc32("|".join(str(k) for k in keys).encode())


def _pool(x: torch.Tensor, size: int) -> torch.Tensor:
    """float images ``(N, H, W[, C])`` -> ``(N, size * size * C)``, area-pooled, ``(h, w, c)`` order."""
    if x.ndim == 3:
        x = x[..., None]
    if size != x.shape[1]:
        x = torch.nn.functional.interpolate(x.permute(0, 3, 1, 2), size=(size, size), mode="area").permute(0, 2, 3, 1)
    return x.reshape(x.shape[0], -1)


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images ``(N, H, W[, C])`` -> float64 patterns ``(N, size * size * C)`` in [0, 1], ``(h, w, c)`` order,
    area-pooled (``size`` = ``H`` keeps them as they are)."""
    return _pool(images.to(torch.float64) / 255.0, size)


def stored_images(images: torch.Tensor, n_max: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor,
                                                                                                     torch.Tensor]:
    """The first ``n_max`` images of a seeded permutation of ``images`` (uint8), downsampled: ``(n_max, d)`` float64
    and their indices. The stored set of size ``N`` is the first ``N`` rows."""
    idx = torch.randperm(images.shape[0], generator=generator)[:n_max]
    return downsample(images[idx], size), idx


def mean_image(images: torch.Tensor, size: int) -> torch.Tensor:
    """The mean of ``images`` (uint8), downsampled like the stored images: ``(d,)`` float64 (area pooling is linear,
    so this is the mean of the downsampled images)."""
    # chunk sums of <= 4096 uint8 values are exact in float32 (< 2^24); the chunks add up in float64
    total = sum(images[i:i + 4096].to(torch.float32).sum(0).double() for i in range(0, images.shape[0], 4096))
    return _pool((total / (255.0 * images.shape[0]))[None], size)[0]


# ----------------------------------------------------------------------------- cues


@dataclass
class Cues:
    """A batch of cues: ``cues`` ``(B, d)``, ``known`` ``(B, d)`` bool (True: the entry is the source's, exactly and
    declared so; only masked cues have known entries), ``source`` ``(B,)`` the stored position of each cue's image,
    ``kind`` (list of ``B`` names) and ``level`` ``(B,)`` float64."""

    cues: torch.Tensor
    known: torch.Tensor
    source: torch.Tensor
    kind: list[str]
    level: torch.Tensor

    def take(self, rows: torch.Tensor) -> "Cues":
        """The cues of the selected rows (bool mask or indices)."""
        idx = rows.nonzero().flatten() if rows.dtype == torch.bool else rows
        return Cues(self.cues[idx], self.known[idx], self.source[idx], [self.kind[int(i)] for i in idx],
                    self.level[idx])

    def to(self, device, dtype) -> "Cues":
        return dataclasses.replace(self, cues=self.cues.to(device, dtype), known=self.known.to(device))

    def conditions(self) -> list[tuple[str, float]]:
        """The distinct ``(kind, level)`` in order of appearance."""
        seen: dict[tuple[str, float], None] = {}
        for k, lv in zip(self.kind, self.level.tolist()):
            seen.setdefault((k, float(lv)), None)
        return list(seen)


def conditions(noise_levels, mask_levels) -> list[tuple[str, float]]:
    """The cue conditions of the protocol: clean, then every noise and mask level."""
    return [("clean", 0.0)] + [("noise", float(v)) for v in noise_levels] + [("mask", float(v)) for v in mask_levels]


def make_cues(X: torch.Tensor, sources: torch.Tensor, conds: list[tuple[str, float]], fill: torch.Tensor,
              channels: int, generator: torch.Generator) -> Cues:
    """Cues of the stored images ``X[sources]`` (float64, pixels) under every condition of ``conds``, condition-major.

    ``noise``: ``x + level * N(0, 1)`` per entry; ``mask``: ``round(level * P)`` of the ``P = d / channels`` pixel
    positions of each cue (all channels) set to ``fill`` (the mean image) and marked unknown. Drawn on the CPU from
    ``generator`` in the order of ``conds``."""
    src = X[sources]
    q, d = src.shape
    P = d // channels
    parts, known, kinds, levels = [], [], [], []
    for kind, level in conds:
        if kind == "clean":
            parts.append(src.clone())
            known.append(torch.zeros(q, d, dtype=torch.bool))
        elif kind == "noise":
            parts.append(src + level * torch.randn(q, d, generator=generator, dtype=torch.float64))
            known.append(torch.zeros(q, d, dtype=torch.bool))
        elif kind == "mask":
            hidden_n = round(level * P)
            order = torch.rand(q, P, generator=generator).argsort(dim=1)
            hidden = torch.zeros(q, P, dtype=torch.bool).scatter_(1, order[:, :hidden_n], True)
            hidden = hidden.repeat_interleave(channels, dim=1)
            parts.append(torch.where(hidden, fill.expand(q, d), src))
            known.append(~hidden)
        else:
            raise ValueError(f"unknown cue kind {kind!r}; choose one of {CUE_KINDS}")
        kinds += [kind] * q
        levels.append(torch.full((q,), float(level), dtype=torch.float64))
    return Cues(torch.cat(parts), torch.cat(known), sources.repeat(len(conds)), kinds, torch.cat(levels))


def validation_sources(N: int, q: int) -> torch.Tensor:
    """Stored positions of the validation cues: ``q .. 2 q - 1``, disjoint from the test sources ``0 .. q - 1``
    (needs ``2 q <= N``)."""
    if 2 * q > N:
        raise ValueError(f"{q} test and {q} validation sources need N >= {2 * q}, not {N}")
    return q + torch.arange(q)


# ----------------------------------------------------------------------------- scoring


def nearest_stored(X: torch.Tensor, outputs: torch.Tensor, known: torch.Tensor | None = None,
                   block: int = 4096) -> torch.Tensor:
    """Index of the stored image nearest to every output (Euclidean; with ``known``, on the known entries only),
    ``(B,)``; outputs ``block`` at a time."""
    parts = []
    for start in range(0, outputs.shape[0], block):
        o = outputs[start:start + block]
        if known is None:
            parts.append(_similarity.neg_sq_euclidean(X, o).argmax(-1))
        else:
            k = known[start:start + block].to(X.dtype)
            # ||k * (o - x)||^2 = sum k o^2 - 2 (k o) . x + k . x^2
            sq = (k * o * o).sum(-1, keepdim=True) - 2.0 * (k * o) @ X.T + k @ (X * X).T
            parts.append((-sq).argmax(-1))
    return torch.cat(parts)


def score(X: torch.Tensor, outputs: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``retrieved`` (bool ``(B,)``: the stored image nearest to the output is the source) and the output's per-pixel
    MSE against its source ``(B,)``, both computed in float64 on ``X``'s device and returned on the CPU."""
    X64, out64 = X.detach().to(torch.float64), outputs.detach().to(X.device, torch.float64)
    src = source.to(X.device)
    retrieved = nearest_stored(X64, out64) == src
    mse = ((out64 - X64[src]) ** 2).mean(-1)
    return retrieved.cpu(), mse.cpu()


# ----------------------------------------------------------------------------- adapters


State = dict[str, Any]


def _centred_keys(X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mean = X.mean(0)
    C = X - mean
    norms = C.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return mean, C / norms, norms[:, 0]


def _lookup_write(X, params, generator):
    return {"memory": {"images": X}, "params": dict(params)}


def _lookup_recall(state, cues, known, budget):
    X = state["memory"]["images"]
    has = known.any(-1, keepdim=True)
    k = torch.where(has, known, torch.ones_like(known))  # no known entries: compare on all of them
    return X[nearest_stored(X, cues, k)]


def _mhn_write(X, params, generator):
    mean, keys, norms = _centred_keys(X)
    return {"memory": {"keys": keys, "norms": norms, "mean": mean}, "params": dict(params)}


def _mhn_recall(state, cues, known, budget):
    m, p = state["memory"], state["params"]
    c = cues - m["mean"]
    c = c / c.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    res = dynamics.retrieve(m["keys"], c, p["beta"], max_steps=budget, tol=p.get("tol", 1e-6),
                            clamp=known if bool(known.any()) else None, cue_block=p.get("cue_block"))
    w = dynamics.separation_weights(m["keys"], res.state, p["beta"])
    return m["mean"] + (w * m["norms"]) @ m["keys"]  # the softmax read-out on the values (the stored images)


def _empty_graph(N: int, dtype, device) -> torch.Tensor:
    """CDAM's memory graph with no edges, sparse (a dense N x N zero matrix does not fit at N = 60000)."""
    return torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=dtype), (N, N),
                                   check_invariants=True).to(device)


def _cdam_write(X, params, generator):
    return {"memory": {"patterns": X}, "params": dict(params)}


def _cdam_recall(state, cues, known, budget):
    Xi, p = state["memory"]["patterns"], state["params"]
    a = float(p["a"])
    beta = p["beta_784"] * 784 / Xi.shape[1]  # the paper's beta at n = 784 pixels, at the same per-pixel scale
    res = cdam.run(Xi, _empty_graph(Xi.shape[0], Xi.dtype, Xi.device), cues, [a], [0.0], beta, eta=p["eta"],
                   kappa=p["kappa"], steps=budget)
    # a retrieved memory's fixed point is a xi - kappa xi_bar: undo that affine map
    return (res.state[0] + p["kappa"] * Xi.mean(0)) / a


def _khm_write(X, params, generator):
    mean = X.mean(0)
    C = X - mean
    D = int(params["feature_dim"])
    W0 = kernelized.kaiming_normal((D, X.shape[1]), generator, torch.float64).to(X.device, X.dtype)
    # The full-batch loss (khm_raw's reported loss, and full-batch U-Hop+) in blocks of KHM_LOSS_BLOCK memories: the
    # same value, memory O(block M) instead of O(M^2) (60,000 MNIST images: 14 GB for the cosines alone).
    res = kernelized.uhop_train(C, W0, steps=int(params.get("uhop_steps", 0)), lr=params.get("uhop_lr", 0.1),
                                tau=params.get("uhop_tau", 0.1), batch_size=params.get("uhop_batch"),
                                generator=generator, block=KHM_LOSS_BLOCK)
    return {"memory": {"patterns": C, "mean": mean, "W": res.W}, "params": dict(params),
            "write_loss": (float(res.losses[0].sum()), float(res.losses[-1].sum()))}


def _khm_recall(state, cues, known, budget):
    m, p = state["memory"], state["params"]
    phi = kernelized.feature_map(m["W"], None, normalize=True)
    res = dynamics.retrieve(m["patterns"], cues - m["mean"], p["beta"], phi=phi, max_steps=budget,
                            tol=p.get("tol", 1e-6), clamp=known if bool(known.any()) else None,
                            cue_block=p.get("cue_block"))
    return res.state + m["mean"]


def _drdam_write(X, params, generator):
    D = X.shape[1]
    f = rf.Features("sincos", int(params["features"]), D, float(params["beta"]),
                    seed=int(torch.randint(2**31 - 1, (1,), generator=generator)), block=int(params.get("block", 4096)))
    omega = list(rf.omega_blocks(f, X.dtype, X.device))  # regenerable from the seed: held, not counted as stored
    T = rf.write(f, rf.to_unit_box(X), omega=omega)
    return {"memory": {"T": T}, "features": f, "omega": omega, "params": dict(params)}


def _drdam_recall(state, cues, known, budget):
    f, T, omega, p = state["features"], state["memory"]["T"], state["omega"], state["params"]
    D = cues.shape[1]
    x, _ = rf.descend(lambda v: rf.grad(f, T, v, omega=omega), rf.to_unit_box(cues), p["alpha"], budget,
                      clamp=known if bool(known.any()) else None)
    return x * math.sqrt(D)


def _kde_write(X, params, generator):
    return {"memory": {"points": X}, "params": dict(params)}


def _kde_recall(state, cues, known, budget):
    X, p = state["memory"]["points"], state["params"]
    beta = 1.0 / (2.0 * p["sigma"] ** 2 * X.shape[1])
    res = dynamics.retrieve(X, cues, beta, similarity="neg_sq_euclidean", max_steps=budget, tol=p.get("tol", 1e-6),
                            clamp=known if bool(known.any()) else None, cue_block=p.get("cue_block"))
    return res.state


def _eam_write(X, params, generator):
    k = min(int(params["columns"]), X.shape[0] - 1, X.shape[1])
    pca = feature_extractors.fit_pca(X, k, X.dtype)
    z = pca.encode(X)
    quant = entropic_am.fit_quantiser(z, int(params["rows"]))
    R = entropic_am.register(entropic_am.empty(quant.m, k, X.device), quant.levels(z))
    return {"memory": {"register": R, "components": pca.components, "mean": pca.mean, "lo": quant.lo,
                       "hi": quant.hi},
            "pca": pca, "quantiser": quant, "seed": int(torch.randint(2**31 - 1, (1,), generator=generator)),
            "params": dict(params)}


def _eam_recall(state, cues, known, budget):
    pca, quant, p = state["pca"], state["quantiser"], state["params"]
    q = quant.levels(pca.encode(cues))
    r = entropic_am.retrieve(state["memory"]["register"], q, float(p["sigma"]), _device.generator(state["seed"]),
                             dtype=cues.dtype)
    return pca.decode(quant.values(r, cues.dtype)).reshape(cues.shape)


def _pcn_write(X, params, generator):
    batch = int(params["batch"])
    # at least `min_updates` weight steps: a few images in few batches are otherwise barely trained
    epochs = max(int(params["epochs"]), math.ceil(int(params.get("min_updates", 0)) / math.ceil(X.shape[0] / batch)))
    net, trace = _pc.train(X, list(params["sizes"]), epochs=epochs, batch=batch,
                           t_train=int(params["t_train"]), gamma=float(params["train_gamma"]), lr=float(params["lr"]),
                           generator=generator, optimizer=params.get("optimizer", "sgd"),
                           init_scale=float(params.get("init_scale", 0.1)), activation=params.get("activation", "tanh"),
                           center=True, progress=False)
    memory = {f"W{l + 1}": w for l, w in enumerate(net.weights)} | {"offset": net.offset}
    return {"memory": memory, "net": net, "params": dict(params),
            "write_loss": (trace[0]["energy"], trace[-1]["energy"])}


def _pcn_recall(state, cues, known, budget):
    net, p = state["net"], state["params"]
    gamma, outer = float(p["gamma"]), int(p.get("outer", 1))
    out = torch.empty_like(cues)
    partial = known.any(-1)
    if bool(partial.any()):  # a partial cue: the known sensory nodes clamped, the rest inferred for `budget` steps
        out[partial] = _pc.recall(net, cues[partial], known[partial], steps=budget, gamma=gamma)[0]
    if not bool(partial.all()):  # a noisy cue: `outer` rounds of budget // outer steps, each feeding back mu_0
        out[~partial] = _pc.recall(net, cues[~partial], None, steps=max(budget // outer, 1), gamma=gamma,
                                   outer=outer)[0]
    return out


def _ae_write(X, params, generator):
    ae, trace = _autoencoder.train(X, list(params["sizes"]), epochs=int(params["epochs"]), batch=int(params["batch"]),
                                   lr=float(params["lr"]), generator=generator,
                                   activation=params.get("activation", "tanh"), center=True, progress=False)
    memory = {f"W{l + 1}": w for l, w in enumerate(ae.weights)} | {f"b{l + 1}": b for l, b in enumerate(ae.biases)}
    return {"memory": memory | {"offset": ae.offset}, "net": ae, "params": dict(params),
            "write_loss": (trace[0]["mse"], trace[-1]["mse"])}


def _ae_recall(state, cues, known, budget):
    iterations = min(int(state["params"]["iterations"]), budget)
    return _autoencoder.recall(state["net"], cues, known, iterations=iterations)  # all-False rows: no pixel held


@dataclass(frozen=True)
class Adapter:
    """A memory taking the protocol: ``write(images, params, generator) -> state`` and ``recall(state, cues, known,
    budget) -> outputs`` (pixel space, ``(B, d)``); ``tuned``: the key of its tuned hyper-parameter in ``params``
    (whose grid is a list there), None for none; ``rewrite``: whether ``write`` depends on it (else the state is
    written once and the value swapped in); ``model``: the core module(s) it calls; ``iterates``: whether it uses the
    budget."""

    key: str
    label: str
    model: str
    write: Callable[[torch.Tensor, dict, torch.Generator], State]
    recall: Callable[[State, torch.Tensor, torch.Tensor, int], torch.Tensor]
    tuned: str | None
    rewrite: bool
    iterates: bool = True
    reference: bool = False
    seed_key: str = ""  # adapters with the same seed key draw the same random numbers (a model and its control)


ADAPTERS: dict[str, Adapter] = {a.key: a for a in (
    Adapter("lookup", "nearest-image look-up (reference)", "similarity", _lookup_write, _lookup_recall, None, False,
            iterates=False, reference=True),
    Adapter("mhn", "MHN (Ramsauer et al.)", "dynamics", _mhn_write, _mhn_recall, "beta", False),
    Adapter("cdam_a1", "CDAM a = 1 (Burns)", "cdam", _cdam_write, _cdam_recall, None, False),
    Adapter("cdam_best", "CDAM best a (Burns)", "cdam", _cdam_write, _cdam_recall, "a", False),
    Adapter("khm_raw", "KHM, untrained map (control)", "kernelized + dynamics", _khm_write, _khm_recall, "beta",
            False, seed_key="khm"),
    Adapter("khm_uhop", "KHM + U-Hop+ (Hu et al.)", "kernelized + dynamics", _khm_write, _khm_recall, "beta", False,
            seed_key="khm"),
    Adapter("drdam_small", "DrDAM small Y (Hoover et al.)", "random_features", _drdam_write, _drdam_recall, "beta",
            True),
    Adapter("drdam_large", "DrDAM large Y (Hoover et al.)", "random_features", _drdam_write, _drdam_recall, "beta",
            True),
    Adapter("kde", "Gaussian KDE / mean shift (Schaeffer et al.)", "dynamics", _kde_write, _kde_recall, "sigma", False),
    Adapter("eam", "entropic register (Hernandez et al.)", "entropic_am + feature_extractors", _eam_write, _eam_recall,
            "sigma", False, iterates=False),
    Adapter("pcn", "predictive-coding network (Salvatori et al.)", "predictive_coding", _pcn_write, _pcn_recall,
            "gamma", False),
    Adapter("ae", "autoencoder (Salvatori et al.'s baseline)", "autoencoder", _ae_write, _ae_recall, "iterations",
            False),
)}


def grid(adapter: Adapter, params: dict) -> list:
    """The values of the adapter's tuned hyper-parameter (one ``None`` when it has none)."""
    if adapter.tuned is None:
        return [None]
    v = params[adapter.tuned]
    return list(v) if isinstance(v, (list, tuple)) else [v]


def with_value(adapter: Adapter, params: dict, value) -> dict:
    """``params`` with the tuned hyper-parameter set to ``value`` (a single value, not the grid)."""
    if adapter.tuned is None:
        return {k: (v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v) for k, v in params.items()}
    return {**params, adapter.tuned: value}


def stored_numbers(state: State) -> int:
    """Numbers a memory keeps (``state["memory"]``); regenerable draws and settings are not counted."""
    return int(sum(t.numel() for t in state["memory"].values()))


def stored_bytes(state: State) -> int:
    return int(sum(t.numel() * t.element_size() for t in state["memory"].values()))


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, *args):
    _sync(device)
    t0 = time.perf_counter()
    out = fn(*args)
    _sync(device)
    return out, time.perf_counter() - t0


@dataclass
class Tuning:
    """The value chosen; per grid value, the mean validation fraction retrieved and MSE; the state written with the
    chosen value and the seconds that write took."""

    value: Any
    scores: list[tuple[Any, float, float]]
    state: State
    write_s: float


def tune(adapter: Adapter, X: torch.Tensor, val: Cues, params: dict, budget: int,
         generator_seed: int) -> Tuning:
    """Choose the adapter's hyper-parameter on the validation cues ``val`` (every condition, clean included): highest
    mean fraction retrieved, then lowest mean MSE, then the earliest grid value. Every value writes from the same
    seed; an adapter whose write does not depend on the value (``rewrite`` False) writes once."""
    values = grid(adapter, params)
    v = val.to(X.device, X.dtype)
    scores, best, base, base_s = [], None, None, 0.0
    for i, value in enumerate(values):
        p = with_value(adapter, params, value)
        if adapter.rewrite or base is None:
            base, base_s = _timed(adapter.write, X.device, X, p, _device.generator(generator_seed))
        state = {**base, "params": p}
        if len(values) == 1:
            return Tuning(value, [(value, math.nan, math.nan)], state, base_s)
        out = adapter.recall(state, v.cues, v.known, budget)
        ok, mse = score(X, out, v.source)
        scores.append((value, float(ok.double().mean()), float(mse.mean())))
        if best is None or (scores[-1][1], -scores[-1][2]) > (scores[best[0]][1], -scores[best[0]][2]):
            best = (i, state, base_s)
    return Tuning(values[best[0]], scores, best[1], best[2])


@dataclass
class Evaluation:
    """One adapter on one stored set: the chosen value, per-cue ``retrieved`` and ``mse`` on the test cues, the
    storage, the write time (s) and the test recall time (s, all cues), and the tuning scores."""

    value: Any
    retrieved: torch.Tensor
    mse: torch.Tensor
    stored_numbers: int
    stored_bytes: int
    write_s: float
    recall_s: float
    tuning: Tuning
    extras: dict


def evaluate(adapter: Adapter, X: torch.Tensor, test: Cues, val: Cues, params: dict, budget: int,
             generator_seed: int) -> Evaluation:
    """Tune on ``val`` (:func:`tune`), then recall the test cues from the memory written with the chosen value (the
    write and the test recall timed; on CUDA with synchronisation)."""
    tuning = tune(adapter, X, val, params, budget, generator_seed)
    state = tuning.state
    t = test.to(X.device, X.dtype)
    out, recall_s = _timed(adapter.recall, X.device, state, t.cues, t.known, budget)
    ok, mse = score(X, out, test.source)
    extras = {k: v for k, v in state.items() if k == "write_loss"}
    return Evaluation(tuning.value, ok, mse, stored_numbers(state), stored_bytes(state), tuning.write_s, recall_s,
                      tuning, extras)
