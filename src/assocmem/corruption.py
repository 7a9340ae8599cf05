"""Corrupted cues for retrieval experiments.

Patterns are flattened images of shape ``(B, d)`` with ``d = H * W * C`` in row-major ``(H, W, C)``
order. Each function returns the cue and, where some entries are known exactly, a boolean mask of the
known entries (for clamping during retrieval).
"""

from __future__ import annotations

import torch


def mask_lower_half(x: torch.Tensor, image_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the lower half of each image (rows ``H // 2`` and below); return ``(cue, known)``.

    ``known`` has shape ``(d,)`` and is True on the visible upper half.
    """
    H = image_shape[0]
    rows = torch.arange(H, device=x.device).view(H, *([1] * (len(image_shape) - 1)))
    known = (rows < H // 2).expand(*image_shape).reshape(-1)
    return torch.where(known, x, torch.zeros((), dtype=x.dtype, device=x.device)), known


def gaussian_noise(x: torch.Tensor, level: float, generator: torch.Generator) -> torch.Tensor:
    """Add i.i.d. Gaussian noise whose norm is about ``level`` times each pattern's norm.

    Drawn on the CPU from ``generator`` (device-independent), then moved to ``x``'s device.
    """
    d = x.shape[1]
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(x.device, x.dtype)
    return x + noise * (level * x.norm(dim=1, keepdim=True) / d**0.5)


def uniform_noise(x: torch.Tensor, amplitude: float, generator: torch.Generator) -> torch.Tensor:
    """Add ``amplitude * (U[0, 1) - 1/2)`` to every entry (the CDAM cue noise)."""
    noise = torch.rand(x.shape, generator=generator, dtype=torch.float64).to(x.device, x.dtype)
    return x + amplitude * (noise - 0.5)
