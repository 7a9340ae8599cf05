"""Kernelized Hopfield models (KHM) and U-Hop+ (Hu, Wu & Liu, NeurIPS 2024, arXiv 2410.23126).

Notation of the paper: memories ``Xi = [xi_1 ... xi_M]`` (here rows, shape ``(..., M, d)``), a linear feature map
``Phi(x) = W x + c`` with ``W`` of shape ``(D_Phi, d)``, the kernel ``K(x, y) = <Phi(x), Phi(y)>`` and the retrieval

    T_Phi(x) = sum_mu xi_mu * sep_mu(beta * K(xi_mu, x)),

where ``sep`` is softmax (``alpha = 1``), 1.5-entmax or sparsemax (``alpha = 2``): similarities live in feature
space, the output stays in pattern space. With ``normalize=True`` the features are projected onto the unit sphere
before the kernel (``K = cos`` of the feature angle; the separation loss of U-Hop+ uses these), otherwise the raw
``W x + c`` is used (what the authors' metastable-state scripts do).

U-Hop+ (Alg. 1), stage I: minimize the separation loss ``L = (1/M) log mean_{mu<nu} exp(<phi_mu, phi_nu>/tau)`` of
the normalized features ``phi_mu = Phi(xi_mu)/|Phi(xi_mu)|`` over ``W`` (and ``c``) by Adam or SGD; as ``tau -> 0``
its minimizer is an optimal spherical code (the Tammes problem). Stage II is KHM retrieval with the learned map.

Every function accepts leading batch dimensions (independent memory sets / feature maps), so several draws or
restarts are one tensor program.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import dynamics
from . import separation as _separation
from .sampling import sample_sphere

ALPHA_OF = {"softmax": 1.0, "entmax15": 1.5, "sparsemax": 2.0}


def features(x: torch.Tensor, W: torch.Tensor, c: torch.Tensor | None = None, normalize: bool = False) -> torch.Tensor:
    """``Phi(x) = W x + c`` for rows of ``x`` (``(..., B, d)``, ``W`` ``(..., D, d)``) -> ``(..., B, D)``."""
    f = x @ W.transpose(-1, -2)
    if c is not None:
        f = f + c.unsqueeze(-2)
    if normalize:
        f = f / f.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return f


def feature_map(W: torch.Tensor | None = None, c: torch.Tensor | None = None, normalize: bool = False):
    """``Phi`` as a function for :mod:`assocmem.dynamics` (``phi``): ``W x + c``, optionally projected onto the unit
    sphere; ``W = None`` is the identity map (``None`` when there is nothing to apply)."""
    if W is not None:
        return lambda v: features(v, W, c, normalize)
    if normalize:
        return lambda v: v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return None


def kernel(Xi: torch.Tensor, x: torch.Tensor, W: torch.Tensor | None = None, c: torch.Tensor | None = None,
           normalize: bool = False) -> torch.Tensor:
    """``K(xi_mu, x) = <Phi(x), Phi(xi_mu)>`` of shape ``(..., B, M)``; ``W = None`` is the identity map."""
    return dynamics.similarities(Xi, x, "dot", feature_map(W, c, normalize))


def update(Xi, x, beta, W=None, c=None, separation: str = "softmax", normalize: bool = False) -> torch.Tensor:
    """One KHM retrieval step ``T_Phi(x)`` (output in pattern space): :func:`assocmem.dynamics.update` with
    ``phi = Phi``."""
    return dynamics.update(Xi, x, beta, separation=separation, phi=feature_map(W, c, normalize))


@dataclass
class KHMRetrieval:
    """Final states ``(..., B, d)`` and the final attention vectors ``(..., B, M)`` (``sep`` at the last state)."""

    state: torch.Tensor
    attention: torch.Tensor


def retrieve(Xi, cue, beta, W=None, c=None, *, separation: str = "softmax", normalize: bool = False,
             steps: int = 1, cue_block: int | None = None, progress=None) -> KHMRetrieval:
    """Apply ``T_Phi`` ``steps`` times (a fixed budget, as in the paper's experiments), ``cue_block`` cues at a
    time (``progress(n)`` is told how many finished; :func:`assocmem.dynamics.in_blocks`)."""
    phi = feature_map(W, c, normalize)

    def one(x, sl):
        state = dynamics.retrieve(Xi, x, beta, separation=separation, phi=phi, max_steps=steps, tol=None).state
        return state, dynamics.separation_weights(Xi, state, beta, separation=separation, phi=phi)

    state, attention = dynamics.in_blocks(one, cue, cue_block, progress)
    return KHMRetrieval(state=state, attention=attention)


def energy(Xi, x, beta, W=None, c=None, separation: str = "softmax", normalize: bool = False) -> torch.Tensor:
    """``E_K(x) = 1/2 K(x, x) - Psi*_alpha(beta K(Xi, x)) / beta`` (the lse energy at ``alpha = 1``), ``(..., B)``.

    ``Psi*_alpha`` is :func:`assocmem.separation.conjugate`; its gradient in ``z`` is ``alpha``-entmax, so with
    the identity map the retrieval is the concave-convex step on this energy.
    """
    alpha = ALPHA_OF[separation]
    z = beta * kernel(Xi, x, W, c, normalize)
    if W is None:
        fx = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12) if normalize else x
    else:
        fx = features(x, W, c, normalize)
    return 0.5 * (fx * fx).sum(-1) - _separation.conjugate(z, alpha) / beta


# ----------------------------------------------------------------------------- separation and U-Hop+ stage I


def pairwise_cosines(Xi: torch.Tensor, W: torch.Tensor | None = None, c: torch.Tensor | None = None) -> torch.Tensor:
    """Cosines ``<phi_mu, phi_nu>`` of the normalized features for ``mu < nu``: ``(..., M (M - 1) / 2)``."""
    f = features(Xi, W, c, normalize=True) if W is not None else Xi / Xi.norm(dim=-1, keepdim=True)
    G = f @ f.transpose(-1, -2)
    i, j = torch.triu_indices(G.shape[-1], G.shape[-1], offset=1, device=G.device)
    return G[..., i, j]


def _normalized(Xi, W, c):
    return features(Xi, W, c, normalize=True) if W is not None else Xi / Xi.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _pair_mask(M: int, valid: torch.Tensor | None, device) -> torch.Tensor:
    """Pairs ``mu < nu`` of real memories: ``(M, M)`` or, with ``valid`` ``(..., M)``, ``(..., M, M)``."""
    upper = torch.ones(M, M, dtype=torch.bool, device=device).triu(1)
    if valid is None:
        return upper
    return upper & valid.unsqueeze(-1) & valid.unsqueeze(-2)


def max_cosine(Xi: torch.Tensor, W: torch.Tensor | None = None, c: torch.Tensor | None = None,
               valid: torch.Tensor | None = None) -> torch.Tensor:
    """Largest pairwise cosine of the normalized features, ``(...)``; ``valid`` ``(..., M)`` masks padding rows
    (so memory sets of different sizes can share one padded batch)."""
    f = _normalized(Xi, W, c)
    G = (f @ f.transpose(-1, -2)).masked_fill(~_pair_mask(f.shape[-2], valid, f.device), float("-inf"))
    return G.flatten(-2).amax(-1)


def min_separation(Xi: torch.Tensor, W: torch.Tensor | None = None, c: torch.Tensor | None = None,
                   valid: torch.Tensor | None = None) -> torch.Tensor:
    """``Delta_min = 1 - max_{mu != nu} cos`` of the normalized features, ``(...)``."""
    return 1.0 - max_cosine(Xi, W, c, valid)


def min_angle_deg(Xi: torch.Tensor, W: torch.Tensor | None = None, c: torch.Tensor | None = None,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
    """Smallest pairwise angle of the normalized features in degrees."""
    return torch.rad2deg(torch.arccos(max_cosine(Xi, W, c, valid).clamp(-1.0, 1.0)))


def _pair_lse_block(f: torch.Tensor, start: int, stop: int, tau: float, valid: torch.Tensor | None) -> torch.Tensor:
    """``log sum exp(cos_{mu nu} / tau)`` over the pairs ``mu < nu`` with ``start <= mu < stop``, ``(...)``."""
    M = f.shape[-2]
    z = f[..., start:stop, :] @ f.transpose(-1, -2) / tau  # (..., stop - start, M)
    mask = torch.arange(M, device=f.device) > torch.arange(start, stop, device=f.device)[:, None]
    if valid is not None:
        mask = mask & valid[..., start:stop, None] & valid[..., None, :]
    # a finite fill keeps the gradient finite for a block without pairs (all padding)
    return torch.logsumexp(z.masked_fill(~mask, torch.finfo(z.dtype).min).flatten(-2), -1)


def _pair_lse(f: torch.Tensor, tau: float, valid: torch.Tensor | None, block: int | None) -> torch.Tensor:
    """``log sum_{mu < nu} exp(cos_{mu nu} / tau)`` of normalized features ``f (..., M, D)``, ``(...)``.

    With ``block`` the ``M x M`` cosine matrix is never held whole: rows are taken ``block`` at a time and
    each block is recomputed in the backward pass (activation checkpointing), so memory is
    ``O(block * M)`` instead of ``O(M^2)`` at about 1.5 times the compute.
    """
    M = f.shape[-2]
    if block is None or block >= M - 1:
        return _pair_lse_block(f, 0, M, tau, valid)
    from torch.utils.checkpoint import checkpoint

    parts = [checkpoint(_pair_lse_block, f, s, min(s + block, M - 1), tau, valid, use_reentrant=False)
             for s in range(0, M - 1, block)]  # the last row has no partner nu > mu
    return torch.logsumexp(torch.stack(parts, -1), -1)


def separation_loss(Xi: torch.Tensor, W: torch.Tensor | None, c: torch.Tensor | None, tau: float,
                    variant: str = "mean", valid: torch.Tensor | None = None, block: int | None = None) -> torch.Tensor:
    """U-Hop+ surrogate of the largest pairwise cosine, one value per leading batch index.

    ``mean``: ``(1/M) log mean_{mu<nu} exp(cos_{mu nu} / tau)`` (the main-text loss); ``sum``:
    ``log sum_{mu<nu} exp(cos_{mu nu} / tau)`` (the MIL variant). ``valid`` ``(..., M)`` masks padding rows;
    ``block`` bounds memory for large ``M`` (see :func:`_pair_lse`), with the same value and gradient.
    """
    if variant not in ("mean", "sum"):
        raise ValueError(f"unknown separation-loss variant {variant!r}; choose 'mean' or 'sum'")
    f = _normalized(Xi, W, c)
    lse = _pair_lse(f, tau, valid, block)
    if variant == "sum":
        return lse
    m = torch.as_tensor(float(f.shape[-2]), dtype=f.dtype) if valid is None else valid.sum(-1).to(f.dtype)
    return (lse - torch.log(m * (m - 1) / 2)) / m


def kaiming_normal(shape: tuple[int, ...], generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """Kaiming-normal init of a linear layer's weight ``(..., D_out, d_in)``: N(0, 2 / d_in)."""
    return torch.randn(shape, generator=generator, dtype=dtype) * math.sqrt(2.0 / shape[-1])


@dataclass
class UHopResult:
    """Learned ``W`` (and ``c``, or ``None``), the loss per step ``(steps + 1, ...)`` (last entry after training)."""

    W: torch.Tensor
    c: torch.Tensor | None
    losses: torch.Tensor


def uhop_train(Xi: torch.Tensor, W0: torch.Tensor, c0: torch.Tensor | None = None, *, steps: int, lr: float,
               tau: float, optimizer: str = "adam", variant: str = "mean", batch_size: int | None = None,
               clip: float | None = None, generator: torch.Generator | None = None,
               valid: torch.Tensor | None = None, block: int | None = None) -> UHopResult:
    """U-Hop+ stage I: ``steps`` optimizer steps on :func:`separation_loss`, starting from ``W0`` (and ``c0``).

    Leading dimensions of ``Xi``/``W0`` are independent problems; their losses are summed, which leaves each
    problem's gradient (and its Adam/SGD step) unchanged. ``batch_size`` draws a random subset of memories per step
    (the loss is computed within the mini-batch; one "epoch" is ``ceil(M / batch_size)`` such steps);
    ``clip`` caps the global gradient norm; ``valid`` ``(..., M)`` masks padding rows (full-batch only);
    ``block`` computes the loss ``block`` memories at a time (same result, memory ``O(block * M)``).
    """
    if valid is not None and batch_size is not None:
        raise ValueError("valid (padded memory sets) needs full-batch training")
    W = W0.detach().clone().requires_grad_(True)
    c = c0.detach().clone().requires_grad_(True) if c0 is not None else None
    params = [W] + ([c] if c is not None else [])
    opt = (torch.optim.Adam(params, lr=lr) if optimizer == "adam"
           else torch.optim.SGD(params, lr=lr) if optimizer == "sgd" else None)
    if opt is None:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose 'adam' or 'sgd'")
    M = Xi.shape[-2]
    losses = []
    perm = None
    for s in range(steps):
        if batch_size is not None and batch_size < M:
            if perm is None or (s * batch_size) % M + batch_size > M:
                perm = torch.randperm(M, generator=generator).to(Xi.device)
            start = (s * batch_size) % M
            idx = perm[start:start + batch_size]
            if idx.numel() < 2:
                continue
            batch = Xi[..., idx, :]
        else:
            batch = Xi
        loss = separation_loss(batch, W, c, tau, variant, valid, block)
        losses.append(loss.detach())
        opt.zero_grad()
        loss.sum().backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
    with torch.no_grad():
        final = separation_loss(Xi, W, c, tau, variant, valid, block) if batch_size is None or batch_size >= M else losses[-1]
    losses.append(final.detach())
    return UHopResult(W=W.detach(), c=c.detach() if c is not None else None, losses=torch.stack(losses))


# ----------------------------------------------------------------------------- Prop. 3.1 and the Tammes problem


def code_bounds(M, d: int) -> tuple:
    """Prop. 3.1 bounds on ``Delta_min`` of an optimal ``M``-point code on ``S^{d-1}`` (lower, upper).

    ``1/2 [sqrt(pi) Gamma((d+1)/2) / (M Gamma(d/2 + 1))]^(2/(d-1)) <= Delta_min
    <= 2 [2 sqrt(pi) Gamma((d+1)/2) / (M Gamma(d/2))]^(1/(d-1))``; ``M`` may be an array.
    """
    import numpy as np

    M = np.asarray(M, dtype=float)
    lg = math.lgamma
    lower = 0.5 * np.exp((2.0 / (d - 1)) * (0.5 * math.log(math.pi) + lg((d + 1) / 2) - lg(d / 2 + 1) - np.log(M)))
    upper = 2.0 * np.exp((1.0 / (d - 1)) * (math.log(2 * math.sqrt(math.pi)) + lg((d + 1) / 2) - lg(d / 2)
                                            - np.log(M)))
    return lower, upper


def best_codes(ms: list[int], d: int, *, restarts: int, steps: int, generator: torch.Generator, lr: float = 0.01,
               tau_start: float = 0.05, tau_end: float = 5e-3, dtype=torch.float64) -> list[torch.Tensor]:
    """Numerically found spherical codes of ``M`` points on ``S^{d-1}`` for every ``M`` in ``ms`` (one padded batch).

    Direct optimization of the points (not U-Hop+): Adam on ``tau * log sum_{mu<nu} exp(cos/tau)`` with ``tau``
    annealed geometrically from ``tau_start`` to ``tau_end`` and the points put back on the sphere after every step;
    ``restarts`` random starts each; returns the best code ``(M, d)`` per ``M``. Its minimum angle is a lower
    estimate of the optimal (Tammes) angle.
    """
    m_max = max(ms)
    valid = (torch.arange(m_max)[None, :] < torch.tensor(ms)[:, None])[:, None, :].expand(len(ms), restarts, m_max)
    P = sample_sphere((len(ms), restarts, m_max, d), generator, dtype).requires_grad_(True)
    opt = torch.optim.Adam([P], lr=lr)
    mask = _pair_mask(m_max, valid, P.device)
    for s in range(steps):
        tau = tau_start * (tau_end / tau_start) ** (s / max(steps - 1, 1))
        f = P / P.norm(dim=-1, keepdim=True)
        z = (f @ f.transpose(-1, -2) / tau).masked_fill(~mask, float("-inf"))
        loss = (tau * torch.logsumexp(z.flatten(-2), -1)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            P /= P.norm(dim=-1, keepdim=True)
    with torch.no_grad():
        best = max_cosine(P, valid=valid).argmin(-1)  # (len(ms),)
        return [P[k, int(best[k]), :M].detach().clone() for k, M in enumerate(ms)]


def best_code(M: int, d: int, **kwargs) -> torch.Tensor:
    """:func:`best_codes` for one ``M``."""
    return best_codes([M], d, **kwargs)[0]


def uhop_snapshots(Xi: torch.Tensor, W0: torch.Tensor, checkpoints: list[int], **kwargs) -> dict[int, torch.Tensor]:
    """``W`` after ``N`` U-Hop+ steps for every ``N`` in ``checkpoints`` (``N = 0`` is ``W0``); one training run per
    checkpoint from the same start (deterministic, so these are points of one trajectory); ``kwargs`` go to
    :func:`uhop_train`."""
    return {n: (W0.clone() if n == 0 else uhop_train(Xi, W0, steps=n, **kwargs).W) for n in checkpoints}
