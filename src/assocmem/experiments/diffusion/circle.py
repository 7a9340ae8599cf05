"""The 2-D toy data of the diffusion experiments (E2, E3): points on the unit circle, and the held-out reference set
the memorisation ratio is measured against (drawn with a fixed seed and size, independent of the run's seed)."""

from __future__ import annotations

import math

import torch

from ... import device as _device


def on_circle(angles: torch.Tensor) -> torch.Tensor:
    """Points ``(cos a, sin a)`` ``(..., 2)`` of the unit circle."""
    return torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def equally_spaced(K: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """``K`` equally spaced points of the unit circle, rotated by a random phase (spacing ``2 sin(pi / K)``)."""
    phase = 2.0 * math.pi * torch.rand((), generator=generator, dtype=torch.float64)
    return on_circle(phase + 2.0 * math.pi * torch.arange(K, dtype=torch.float64) / K).to(dtype)


def uniform(K: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """``K`` independent points uniform on the unit circle."""
    return on_circle(2.0 * math.pi * torch.rand(K, generator=generator, dtype=torch.float64)).to(dtype)


def reference(size: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    """The held-out reference set: ``size`` points uniform on the circle from ``generator(seed)``."""
    return uniform(size, _device.generator(seed), dtype)
