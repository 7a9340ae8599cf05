"""Energies of dense associative memories.

The log-sum-exp energy of the modern Hopfield network (Ramsauer et al. 2020, eq. 2):

    E(x) = -(1/beta) log sum_mu exp(beta * xi_mu . x) + 1/2 x . x

(the paper adds the constants ``(1/beta) log N + M^2 / 2``, with ``M`` the largest memory norm, to make
``E`` non-negative; they are included here so values match the paper). The softmax update
``x <- Xi^T softmax(beta * Xi x)`` is the concave-convex procedure on this energy and never increases it.
"""

from __future__ import annotations

import math

import torch

from .similarity import neg_sq_euclidean


def lse(beta, z: torch.Tensor) -> torch.Tensor:
    """``(1/beta) log sum exp(beta * z)`` over the last axis, computed stably.

    ``beta`` is a scalar or one value per row of ``z``.
    """
    b = torch.as_tensor(beta, dtype=z.dtype, device=z.device)
    return torch.logsumexp((b[:, None] if b.ndim else b) * z, dim=-1) / b


def lse_energy(Xi: torch.Tensor, x: torch.Tensor, beta) -> torch.Tensor:
    """Log-sum-exp energy of each state in ``x`` (shape ``(B, d)``); returns shape ``(B,)``."""
    b = torch.as_tensor(beta, dtype=x.dtype, device=x.device)
    M2 = (Xi * Xi).sum(-1).max()
    return -lse(b, x @ Xi.T) + 0.5 * (x * x).sum(-1) + math.log(Xi.shape[0]) / b + 0.5 * M2


def kde_energy(Xi: torch.Tensor, x: torch.Tensor, beta) -> torch.Tensor:
    """Negative log Gaussian kernel density ``-(1/beta) log sum_mu exp(-beta ||x - xi_mu||^2)``.

    The softmax update with the negative squared Euclidean similarity is mean shift on this energy.
    """
    return -lse(beta, neg_sq_euclidean(Xi, x))
