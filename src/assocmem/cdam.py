"""Correlated Dense Associative Memory (CDAM; Burns, ICML 2024) as pure, batched tensor functions.

Conventions (see ``shared/papers/cdam.md`` (beside the repository)):

- **Memories are rows.** ``Xi`` has shape ``(p, n)``: row ``mu`` is memory ``xi_mu``. The paper
  stores them as the columns of an ``n x p`` matrix; ours is its transpose, matching the rest of
  ``assocmem`` (``dynamics``, ``similarity``). Likewise the hetero-associative targets ``Q`` are the
  rows of a ``(p, n)`` matrix (the paper's ``n x p`` ``Q`` transposed), and states are rows ``(B, n)``.
- **Memory graph.** ``A[mu, nu]`` is the weight of the edge ``mu -> nu``. Undirected graphs and the
  directed cycle use ``M = D^-1/2 A D^-1/2`` (:func:`normalized_adjacency`, ``D`` = row sums); the
  automaton uses the raw ``A``.
- **Targets.** ``Q[mu] = a * xi_mu + h * sum_nu M[mu, nu] xi_nu`` -- the memory plus its graph
  successors (edges followed forwards; in the paper's column form ``Q = a Xi + h Xi M^T``). ``a`` is
  the auto-association strength, ``h`` the hetero-association strength; anti-Hebbian = ``a < 0``.
- **Update.** ``sigma <- sigma + eta * (softmax(beta * sigma Xi^T) Q - kappa * xi_bar - sigma)``
  with ``xi_bar`` the mean memory. ``kappa`` defaults to 1: the paper's text writes ``1/n`` but all the
  author's released figures were made with 1, and with ``kappa = 1`` the target has mean activity ~0
  exactly when ``a + h * rowsum(M) = 1`` (why sweeps hold ``a + h = 1``).
- **ICLR special case.** The earlier single-weight form is ``a = b``, ``h = 1 - b``, no leak
  (``eta = 1``, the state is replaced) and no mean term (``kappa = 0``): :func:`iclr_step`.
- **Batched settings.** :func:`run` takes ``a``, ``h`` and ``beta`` as 1-d tensors of ``S`` settings
  and runs every (setting, cue) pair as one batch of ``S * C`` states, setting-major; there is no
  Python loop over settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import corruption
from . import dynamics


# ----------------------------------------------------------------------------- graphs


def cycle_graph(p: int, directed: bool = False, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Adjacency ``(p, p)`` of the cycle ``0 -> 1 -> ... -> p-1 -> 0`` (both directions unless ``directed``)."""
    if p < 3:
        raise ValueError(f"a cycle needs at least 3 nodes; got p={p}")
    idx = torch.arange(p)
    A = torch.zeros(p, p, dtype=dtype)
    A[idx, (idx + 1) % p] = 1.0
    if not directed:
        A[(idx + 1) % p, idx] = 1.0
    return A


def normalized_adjacency(A: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` with ``D`` the row sums; rows (and columns) of zero-degree nodes stay 0."""
    d = A.sum(dim=-1)
    inv = torch.where(d > 0, d.clamp_min(torch.finfo(A.dtype).tiny).rsqrt(), torch.zeros_like(d))
    return inv[..., :, None] * A * inv[..., None, :]


def graph_distance(A: torch.Tensor) -> torch.Tensor:
    """Hop distance ``(p, p)`` of the undirected graph underlying ``A`` (BFS); ``-1`` where unreachable."""
    p = A.shape[0]
    adj = ((A != 0) | (A.T != 0)).to(torch.float32)
    dist = torch.full((p, p), -1, dtype=torch.long)
    reached = torch.eye(p, dtype=torch.bool)
    dist[reached] = 0
    frontier = reached.clone()
    d = 0
    while bool(frontier.any()):
        d += 1
        nxt = ((frontier.to(torch.float32) @ adj) > 0) & ~reached
        dist[nxt] = d
        reached |= nxt
        frontier = nxt
    return dist


# ----------------------------------------------------------------------------- model


def hetero_targets(Xi: torch.Tensor, M: torch.Tensor, a, h) -> torch.Tensor:
    """Targets ``Q`` with rows ``a * xi_mu + h * sum_nu M[mu, nu] xi_nu``.

    ``a`` and ``h`` are scalars (result ``(p, n)``) or 1-d tensors of ``S`` settings (result
    ``(S, p, n)``).
    """
    a = torch.as_tensor(a, dtype=Xi.dtype, device=Xi.device)
    h = torch.as_tensor(h, dtype=Xi.dtype, device=Xi.device)
    MXi = M.to(Xi.dtype) @ Xi
    if a.ndim == 0 and h.ndim == 0:
        return a * Xi + h * MXi
    return a.reshape(-1, 1, 1) * Xi + h.reshape(-1, 1, 1) * MXi


def step(sigma: torch.Tensor, Xi: torch.Tensor, Q: torch.Tensor, beta, eta: float = 0.1, kappa: float = 1.0,
         xi_bar: torch.Tensor | None = None) -> torch.Tensor:
    """One CDAM update of states ``sigma`` ``(B, n)``.

    ``Q`` is ``(p, n)`` (shared) or ``(B, p, n)`` (one target set per state); ``beta`` is a scalar or
    ``(B,)``. ``xi_bar`` defaults to the mean memory. The softmax is :func:`dynamics.separation_weights`
    (dot similarity, numerically stable softmax).
    """
    w = dynamics.separation_weights(Xi, sigma, beta)  # (B, p)
    target = w @ Q if Q.ndim == 2 else torch.einsum("bp,bpn->bn", w, Q)
    if xi_bar is None:
        xi_bar = Xi.mean(dim=0)
    return sigma + eta * (target - kappa * xi_bar - sigma)


def iclr_step(sigma: torch.Tensor, Xi: torch.Tensor, M: torch.Tensor, b: float, beta) -> torch.Tensor:
    """The ICLR-2024 form: ``sigma <- softmax(beta * sigma Xi^T) Q`` with ``a = b``, ``h = 1 - b``.

    No leak (``eta = 1``: the state is replaced) and no mean term (``kappa = 0``).
    """
    return step(sigma, Xi, hetero_targets(Xi, M, b, 1.0 - b), beta, eta=1.0, kappa=0.0)


def pearson(states: torch.Tensor, Xi: torch.Tensor) -> torch.Tensor:
    """Pearson correlation across neurons of every state ``(..., n)`` with every memory ``(p, n)``: ``(..., p)``."""
    s = states - states.mean(dim=-1, keepdim=True)
    x = Xi - Xi.mean(dim=-1, keepdim=True)
    s = s / s.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return s @ x.T


def attractor_matrix(final_states: torch.Tensor) -> torch.Tensor:
    """``(..., p, p)`` Pearson correlation between the final states ``(..., p, n)`` reached from each cue."""
    s = final_states - final_states.mean(dim=-1, keepdim=True)
    s = s / s.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return s @ s.transpose(-1, -2)


def noisy_cues(Xi: torch.Tensor, noise: float, generator: torch.Generator, cue_index=None) -> torch.Tensor:
    """``sigma(0) = xi_cue + noise * (U[0,1) - 1/2)`` for every memory (or those in ``cue_index``)."""
    cues = Xi if cue_index is None else Xi[cue_index]
    return corruption.uniform_noise(cues, noise, generator) if noise else cues.clone()


@dataclass
class Run:
    """Result of :func:`run`.

    ``state``: final states ``(S, C, n)`` (setting-major); ``correlations``: ``(T + 1, S, C, p)``
    Pearson correlation of the state with every memory after each step (index 0 = the cue), when
    requested; ``mean_activity``: ``(T + 1, S, C)`` mean over neurons of the state, when requested.
    """

    state: torch.Tensor
    correlations: torch.Tensor | None = None
    mean_activity: torch.Tensor | None = None


def run(Xi: torch.Tensor, M: torch.Tensor, cues: torch.Tensor, a, h, beta, *, eta: float = 0.1,
        kappa: float = 1.0, steps: int = 100, record: bool = False) -> Run:
    """Iterate :func:`step` ``steps`` times from ``cues`` ``(C, n)`` for every setting ``(a[s], h[s], beta[s])``.

    ``a``, ``h`` and ``beta`` are scalars or 1-d of a common length ``S`` (scalars broadcast). The
    ``S * C`` states form one batch; targets are not materialised per setting: the update uses
    ``softmax(.) Q = a * (w Xi) + h * (w M Xi)``, which equals :func:`step` with
    :func:`hetero_targets` exactly up to rounding.
    """
    dt, dev = Xi.dtype, Xi.device
    a, h, beta = (torch.as_tensor(v, dtype=dt, device=dev).reshape(-1) for v in (a, h, beta))
    S = max(a.numel(), h.numel(), beta.numel())
    a, h, beta = (v.expand(S) if v.numel() == 1 else v for v in (a, h, beta))
    if not (a.numel() == h.numel() == beta.numel() == S):
        raise ValueError("a, h and beta must be scalars or 1-d of the same length")
    C, n = cues.shape
    MXi = M.to(dt).to(dev) @ Xi
    xi_bar = Xi.mean(dim=0)
    a_rows, h_rows = a.repeat_interleave(C)[:, None], h.repeat_interleave(C)[:, None]
    beta_rows = beta.repeat_interleave(C)
    sigma = cues.to(dt).to(dev).repeat(S, 1)  # rows [s*C:(s+1)*C] use setting s
    corr = [pearson(sigma, Xi)] if record else None
    mean = [sigma.mean(-1)] if record else None
    for _ in range(steps):
        w = dynamics.separation_weights(Xi, sigma, beta_rows)
        target = a_rows * (w @ Xi) + h_rows * (w @ MXi)
        sigma = sigma + eta * (target - kappa * xi_bar - sigma)
        if record:
            corr.append(pearson(sigma, Xi))
            mean.append(sigma.mean(-1))
    return Run(
        state=sigma.view(S, C, n),
        correlations=torch.stack(corr).view(steps + 1, S, C, -1) if record else None,
        mean_activity=torch.stack(mean).view(steps + 1, S, C) if record else None,
    )


def correlation_by_distance(attractors: torch.Tensor, dist: torch.Tensor, max_distance: int):
    """Mean, sd and count of off-diagonal attractor correlations at each graph distance ``0..max_distance``.

    ``attractors`` is ``(..., p, p)``; returns three tensors ``(..., max_distance + 1)``. Distance 0 is
    the diagonal (always 1). Distances with no pair give NaN.
    """
    means, sds, counts = [], [], []
    for d in range(max_distance + 1):
        mask = dist == d
        vals = attractors[..., mask]
        counts.append(int(mask.sum()))
        means.append(vals.mean(-1) if vals.shape[-1] else torch.full(vals.shape[:-1], float("nan")))
        sds.append(vals.std(-1, unbiased=False) if vals.shape[-1] else torch.full(vals.shape[:-1], float("nan")))
    return torch.stack(means, -1), torch.stack(sds, -1), torch.tensor(counts)
