"""Similarity functions ``sim(Xi, x)`` between states and memories.

Each takes memories ``Xi`` of shape ``(..., N, d)`` and states ``x`` of shape ``(..., B, d)`` and returns
``(..., B, N)``: entry ``[..., b, mu]`` is the similarity of state ``b`` to memory ``mu``.
"""

from __future__ import annotations

from typing import Callable

import torch

Similarity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def dot(Xi: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Dot product ``x . xi_mu`` (the classical and modern Hopfield similarity)."""
    return x @ Xi.mT


def neg_sq_euclidean(Xi: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Negative squared Euclidean distance ``-||x - xi_mu||^2``.

    With softmax separation this makes the update one step of Gaussian mean-shift
    (the kernel-density view of Schaeffer et al. 2024).
    """
    sq = (x * x).sum(-1, keepdim=True) - 2.0 * (x @ Xi.mT) + (Xi * Xi).sum(-1).unsqueeze(-2)
    return -sq.clamp_min(0.0)


SIMILARITIES: dict[str, Similarity] = {"dot": dot, "neg_sq_euclidean": neg_sq_euclidean}


def get(name: str) -> Similarity:
    """Look a similarity up by its config name."""
    try:
        return SIMILARITIES[name]
    except KeyError:
        raise ValueError(f"unknown similarity {name!r}; choose one of {sorted(SIMILARITIES)}") from None
