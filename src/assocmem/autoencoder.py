"""An overparameterised autoencoder as an associative memory: the backprop baseline of Salvatori et al. (2021).

A fully connected autoencoder ``x -> h_1 -> ... -> x_hat`` (``sizes`` = ``[d, h_1, ..., d]``, e.g.
``3072 -> 512 -> 256 -> 512 -> 3072``), ``activation`` on every hidden layer, a linear output, biases; trained by
backpropagation (autograd, Adam, mini-batches in a seeded order) to minimise the mean squared reconstruction error of
the stored images, with the images minus an offset (their mean image when ``center=True``) as in
:mod:`assocmem.predictive_coding`. Recall iterates the map: ``x <- AE(x)`` ``iterations`` times from the cue; with a
mask of known pixels those are put back to the cue's values after every pass (a partial cue).

Plain API, as for every memory the project compares: :func:`train` ``(images) -> params``,
:func:`recall` ``(params, cues, mask) -> images``, all in pixel units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .predictive_coding import ACTIVATIONS

Tensor = torch.Tensor


@dataclass
class Autoencoder:
    """Weights ``(d_in, d_out)`` and biases ``(d_out,)`` per layer, the hidden activation and the offset."""

    weights: list[Tensor]
    biases: list[Tensor]
    activation: str = "tanh"
    offset: Tensor | None = None

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]


def init_autoencoder(sizes: list[int], generator: torch.Generator, *, activation: str = "tanh", device=None,
                     dtype=torch.float32) -> Autoencoder:
    """Weights and biases ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` drawn on the CPU from ``generator``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    ws, bs = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / a**0.5
        ws.append(((2 * torch.rand(a, b, generator=generator, dtype=torch.float64) - 1) * bound).to(device, dtype))
        bs.append(((2 * torch.rand(b, generator=generator, dtype=torch.float64) - 1) * bound).to(device, dtype))
    return Autoencoder(ws, bs, activation)


def forward(params: Autoencoder, x: Tensor) -> Tensor:
    """Reconstruction of ``x`` ``(B, d)`` (offset-free units)."""
    f = ACTIVATIONS[params.activation][0]
    n = len(params.weights)
    for i, (w, b) in enumerate(zip(params.weights, params.biases)):
        x = x @ w + b
        if i < n - 1:
            x = f(x)
    return x


def train(images: Tensor, hidden: list[int], *, epochs: int, batch: int, lr: float, generator: torch.Generator,
          activation: str = "tanh", center: bool = True, progress: bool = True, desc: str = "autoencoder"
          ) -> tuple[Autoencoder, list[dict]]:
    """Train an autoencoder ``[d, *hidden, d]`` on ``images`` ``(N, d)`` (pixel units); return it and the trace of the
    mean squared error per pixel, one row per epoch (the mean over that epoch's batches, before each step)."""
    N, d = images.shape
    params = init_autoencoder([d, *hidden, d], generator, activation=activation, device=images.device,
                              dtype=images.dtype)
    params.offset = images.mean(0) if center else None
    X = images - params.offset if center else images
    leaves = [t.requires_grad_() for t in (*params.weights, *params.biases)]
    opt = torch.optim.Adam(leaves, lr=lr)
    trace = []
    for epoch in tqdm(range(1, epochs + 1), desc=desc, unit="epoch", disable=not progress, mininterval=2):
        order = torch.randperm(N, generator=generator).to(images.device)
        total = 0.0
        for start in range(0, N, batch):
            xb = X[order[start:start + batch]]
            loss = ((forward(params, xb) - xb) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * xb.shape[0]
        trace.append({"epoch": epoch, "mse": total / N})
    params.weights = [w.detach() for w in params.weights]
    params.biases = [b.detach() for b in params.biases]
    return params, trace


@torch.no_grad()
def recall(params: Autoencoder, cues: Tensor, mask: Tensor | None = None, iterations: int = 10) -> Tensor:
    """Iterate ``x <- AE(x)`` ``iterations`` times from ``cues`` ``(B, d)`` (pixel units); ``mask`` (``(d,)`` or
    ``(B, d)``, True on the known pixels) puts the known pixels back to the cue after every pass."""
    c = cues - params.offset if params.offset is not None else cues
    x = c
    for _ in range(iterations):
        x = forward(params, x)
        if mask is not None:
            x = torch.where(mask, c, x)
    out = x + params.offset if params.offset is not None else x
    return out if mask is None else torch.where(mask, cues, out)  # the known pixels exactly as cued
