"""Hopfield pooling (Ramsauer et al. 2020, "HopfieldPooling"): attention pooling of a bag of instances by a learned
query, the layer used for multiple-instance learning; pure functions on a parameter dict.

An MLP (2 layers, ReLU) embeds each instance ``x`` to ``z``; keys ``K = z W_K``, values ``V = z W_V``; each of
``heads`` learned queries ``q`` pools the bag's instances by one Hopfield update ``softmax(beta q K^T) V`` (padding
masked out); a linear classifier maps the pooled vectors to one logit per bag. ``E`` independent models are stacked
on a leading axis, so an ensemble (data sets x seeds x variants) trains as one batch.
"""

from __future__ import annotations

import math

import torch

KEY_PARAMS = ("W1", "b1", "W2", "b2", "Wk")  # the key map Phi (embedding MLP and W_K), what U-Hop+ separates


def init_params(E: int, d: int, generator: torch.Generator, *, hidden: int, embedding: int, key_dim: int,
                heads: int) -> dict[str, torch.Tensor]:
    """Parameters of ``E`` models for instances of dimension ``d`` (Kaiming-normal weights, zero biases; values have
    dimension ``key_dim``), drawn from ``generator`` in the order W1, W2, Wk, Wv, q, Wc."""

    def kn(*shape):
        return torch.randn(E, *shape, generator=generator) * math.sqrt(2.0 / shape[0])

    return {"W1": kn(d, hidden), "b1": torch.zeros(E, 1, 1, hidden), "W2": kn(hidden, embedding),
            "b2": torch.zeros(E, 1, 1, embedding), "Wk": kn(embedding, key_dim), "Wv": kn(embedding, key_dim),
            "q": torch.randn(E, heads, key_dim, generator=generator) / math.sqrt(key_dim),
            "Wc": kn(heads * key_dim, 1), "bc": torch.zeros(E, 1)}


def keys_values(p: dict, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys ``(E, B, L, dk)`` and values ``(E, B, L, dv)`` of instances ``X`` ``(E, B, L, d)``."""
    z = torch.relu(torch.relu(X @ p["W1"][:, None] + p["b1"]) @ p["W2"][:, None] + p["b2"])
    return z @ p["Wk"][:, None], z @ p["Wv"][:, None]


def forward(p: dict, X: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Bag logits ``(E, B)`` of instances ``X`` ``(E, B, L, d)`` with validity ``mask`` ``(E, B, L)``: Hopfield
    pooling ``softmax(beta q K^T) V`` per head, then the linear classifier."""
    K, V = keys_values(p, X)
    scores = beta * torch.einsum("ebld,ehd->ebhl", K, p["q"])
    att = torch.softmax(scores.masked_fill(~mask[:, :, None, :], float("-inf")), dim=-1)
    pooled = torch.einsum("ebhl,ebld->ebhd", att, V).flatten(2)  # (E, B, h * dv)
    return (pooled @ p["Wc"])[..., 0] + p["bc"]
