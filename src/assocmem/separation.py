"""Separation functions ``sep(z)`` over the memory axis (the last axis).

A separation function turns the scaled similarities ``z = beta * sim`` of shape ``(B, N)`` into
non-negative weights over memories. Softmax gives the modern Hopfield network; sparser maps
(sparsemax, 1.5-entmax) and polynomial kernels of Krotov & Hopfield plug in here under new names.
"""

from __future__ import annotations

from typing import Callable

import torch

Separation = Callable[[torch.Tensor], torch.Tensor]


def softmax(z: torch.Tensor) -> torch.Tensor:
    """Numerically stable softmax over the last axis."""
    return torch.softmax(z, dim=-1)


SEPARATIONS: dict[str, Separation] = {"softmax": softmax}


def get(name: str) -> Separation:
    """Look a separation function up by its config name."""
    try:
        return SEPARATIONS[name]
    except KeyError:
        raise ValueError(f"unknown separation {name!r}; choose one of {sorted(SEPARATIONS)}") from None
