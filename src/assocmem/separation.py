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


def sparsemax(z: torch.Tensor) -> torch.Tensor:
    """Sparsemax (Martins & Astudillo 2016; 2-entmax): the Euclidean projection of ``z`` onto the simplex.

    Exact sort-based algorithm: with ``z`` sorted in decreasing order, the support size is the largest
    ``k`` with ``1 + k z_(k) > sum_{j<=k} z_(j)`` and the threshold is ``tau = (sum_{j<=k} z_(j) - 1) / k``;
    ``p = max(z - tau, 0)``.
    """
    z = z - z.amax(dim=-1, keepdim=True)
    zs, _ = torch.sort(z, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
    cs = zs.cumsum(-1)
    support = ((1.0 + k * zs) > cs).sum(-1, keepdim=True)
    tau = (cs.gather(-1, support - 1) - 1.0) / support.to(z.dtype)
    return (z - tau).clamp_min(0.0)


def entmax15(z: torch.Tensor) -> torch.Tensor:
    """1.5-entmax (Peters, Niculae & Martins 2019): ``argmax_p <p, z> + H_1.5(p)`` over the simplex.

    ``H_alpha(p) = (1 - sum p^alpha) / (alpha (alpha - 1))`` is the Tsallis entropy; the solution is
    ``p = [z/2 - tau]_+^2``. Exact sort-based algorithm: for each candidate support size ``k`` (sorted
    ``u = z/2``), ``tau_k = mean_k - sqrt(max(0, (1 - k (meansq_k - mean_k^2)) / k))``; the support is the
    number of ``k`` with ``tau_k <= u_(k)`` and ``tau`` is ``tau`` at that size.
    """
    u = (z - z.amax(dim=-1, keepdim=True)) / 2.0
    us, _ = torch.sort(u, dim=-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
    mean = us.cumsum(-1) / k
    meansq = (us * us).cumsum(-1) / k
    delta = ((1.0 - k * (meansq - mean * mean)) / k).clamp_min(0.0)
    tau = mean - delta.sqrt()
    support = (tau <= us).sum(-1, keepdim=True).clamp_min(1)
    tau_star = tau.gather(-1, support - 1)
    return (u - tau_star).clamp_min(0.0) ** 2


def entmax_bisect(z: torch.Tensor, alpha: float, n_iter: int = 60) -> torch.Tensor:
    """alpha-entmax for any ``alpha > 1`` by bisection on the threshold (a reference for the exact maps).

    ``p_i = [(alpha - 1) z_i - tau]_+^(1 / (alpha - 1))`` with ``tau`` such that ``sum p = 1``; the result is
    renormalized to sum to one exactly.
    """
    if alpha <= 1.0:
        raise ValueError("entmax_bisect needs alpha > 1 (alpha = 1 is softmax)")
    x = (alpha - 1.0) * (z - z.amax(dim=-1, keepdim=True))
    lo = torch.full_like(x[..., :1], -1.0)  # the largest entry alone gives sum >= 1 at tau = -1
    hi = torch.zeros_like(lo)  # tau = max gives sum 0
    power = 1.0 / (alpha - 1.0)
    for _ in range(n_iter):
        mid = (lo + hi) / 2.0
        total = (x - mid).clamp_min(0.0).pow(power).sum(-1, keepdim=True)
        lo = torch.where(total >= 1.0, mid, lo)
        hi = torch.where(total >= 1.0, hi, mid)
    p = (x - lo).clamp_min(0.0).pow(power)
    return p / p.sum(-1, keepdim=True)


def tsallis_entropy(p: torch.Tensor, alpha: float) -> torch.Tensor:
    """Tsallis entropy ``H_alpha(p) = (1 - sum p^alpha) / (alpha (alpha - 1))``; Shannon entropy at ``alpha = 1``."""
    if alpha == 1.0:
        return -torch.special.xlogy(p, p).sum(-1)
    return (1.0 - p.pow(alpha).sum(-1)) / (alpha * (alpha - 1.0))


def conjugate(z: torch.Tensor, alpha: float) -> torch.Tensor:
    """``Psi*_alpha(z) = <p*, z> + H_alpha(p*)``, ``p* = alpha-entmax(z)``: the convex function whose gradient is
    ``p*`` (``logsumexp`` at ``alpha = 1``). The sparse modern Hopfield energy is
    ``E(x) = 1/2 |x|^2 - Psi*_alpha(beta s(x)) / beta``.
    """
    if alpha == 1.0:
        return torch.logsumexp(z, dim=-1)
    p = ENTMAX_BY_ALPHA[alpha](z) if alpha in ENTMAX_BY_ALPHA else entmax_bisect(z, alpha)
    return (p * z).sum(-1) + tsallis_entropy(p, alpha)


ENTMAX_BY_ALPHA: dict[float, Separation] = {1.0: softmax, 1.5: entmax15, 2.0: sparsemax}

SEPARATIONS: dict[str, Separation] = {"softmax": softmax}
SEPARATIONS["entmax15"] = entmax15
SEPARATIONS["sparsemax"] = sparsemax


def get(name: str) -> Separation:
    """Look a separation function up by its config name."""
    try:
        return SEPARATIONS[name]
    except KeyError:
        raise ValueError(f"unknown separation {name!r}; choose one of {sorted(SEPARATIONS)}") from None
