"""Random points on the unit sphere: the one sampler every sphere experiment draws from."""

from __future__ import annotations

import torch


def sample_sphere(shape: tuple[int, ...], generator: torch.Generator, dtype=torch.float32,
                  radius: float = 1.0) -> torch.Tensor:
    """Points uniform on the sphere of ``radius`` in ``R^d`` (``d = shape[-1]``): Gaussian draws divided by their norm.

    One ``torch.randn(shape)`` call on ``generator``, so a caller's later draws do not depend on ``radius``.
    """
    g = torch.randn(shape, generator=generator, dtype=dtype)
    return (g if radius == 1.0 else radius * g) / g.norm(dim=-1, keepdim=True)
