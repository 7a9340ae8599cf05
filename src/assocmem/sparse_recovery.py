"""Associative memory as sparse recovery (Mazumdar and Rawat, NeurIPS 2015).

Stored vectors lie in a ``k``-dimensional subspace of ``R^n``: ``M = {u G}``, ``G`` of shape ``(k, n)``, ``u`` from a
finite alphabet ``{-Q, ..., Q}^k`` (so ``|M|`` can be ``(2Q + 1)^k``). Learning finds ``m = n - k`` constraints
``B`` (shape ``(m, n)``) with ``B x = 0`` for every stored ``x``: the last ``m`` right-singular vectors of the data
matrix. The network has ``n`` variable and ``m`` constraint neurons, whatever ``|M|`` is.

Recall of ``y = x + e`` with ``||e||_0 <= r``: the constraint neurons compute the syndrome ``s = B y = B e``; the
error is estimated by basis pursuit ``e_hat = argmin ||e||_1 s.t. B e = s`` and ``x_hat = y - e_hat``. Solvers here
(batched over queries, pure torch, no LP library): :func:`basis_pursuit` (ADMM, to a stated tolerance),
:func:`ista` (iterative soft thresholding on ``1/2 ||B e - s||^2 + lam ||e||_1``, the neurally plausible decoder)
and :func:`debias` (least squares on the detected support).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def subspace_generator(n: int, k: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """``G`` of shape ``(k, n)`` with i.i.d. standard Gaussian entries."""
    return torch.randn(k, n, generator=generator, dtype=dtype)


def stored_vectors(G: torch.Tensor, count: int, Q: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` stored vectors ``u G`` with ``u`` uniform on ``{-Q, ..., Q}^k``; returns ``(X, U)``."""
    U = torch.randint(-Q, Q + 1, (count, G.shape[0]), generator=generator).to(G.dtype)
    return U @ G, U


def learn_constraints(X: torch.Tensor, m: int, *, gram: bool = False) -> tuple[torch.Tensor, int]:
    """Constraint matrix ``B`` ``(m, n)`` with orthonormal rows spanning the complement of the data's row space.

    ``B`` is the last ``m`` right-singular vectors of ``X`` (``(count, n)``); with ``gram=True`` the eigenvectors of
    ``X^T X`` with the ``m`` smallest eigenvalues (the same subspace; cheaper when ``count >> n``). Also returns
    the numerical rank of ``X``; it must equal ``n - m`` or ``B`` contains spurious constraints.
    """
    n = X.shape[1]
    eps = torch.finfo(X.dtype).eps
    if gram:
        evals, evecs = torch.linalg.eigh(X.T @ X)
        B = evecs[:, :m].T.contiguous()
        rank = int((evals > evals.max() * max(X.shape) * eps).sum())  # eigenvalues are squared singular values
    else:
        _, sv, Vh = torch.linalg.svd(X, full_matrices=True)
        B = Vh[n - m:].contiguous()
        rank = int((sv > sv.max() * max(X.shape) * eps).sum())
    return B, rank


def random_errors(count: int, n: int, r: int, low: float, high: float, generator: torch.Generator,
                  dtype=torch.float64) -> torch.Tensor:
    """``count`` error vectors with ``r`` random positions each, magnitude ``U(low, high)``, random sign."""
    idx = torch.rand(count, n, generator=generator).argsort(dim=1)[:, :r]
    mag = low + (high - low) * torch.rand(count, r, generator=generator, dtype=dtype)
    sign = torch.randint(0, 2, (count, r), generator=generator).to(dtype) * 2 - 1
    e = torch.zeros(count, n, dtype=dtype)
    e.scatter_(1, idx, mag * sign)
    return e


def soft_threshold(v: torch.Tensor, t) -> torch.Tensor:
    """``sign(v) max(|v| - t, 0)``, the proximal map of ``t ||.||_1``."""
    return torch.sign(v) * (v.abs() - t).clamp_min(0.0)


@dataclass
class Solution:
    """A batch of estimates ``e`` ``(Q, n)``, the iterations used and whether each query met the tolerance."""

    e: torch.Tensor
    iterations: int
    converged: torch.Tensor


def basis_pursuit(B: torch.Tensor, s: torch.Tensor, *, rho: float = 1.0, max_iter: int = 5000, tol: float = 1e-7,
                  check_every: int = 25) -> Solution:
    """``argmin ||e||_1 s.t. B e = s`` for every row of ``s`` ``(Q, m)``, by ADMM (Boyd et al. 2011, sec. 6.2).

    Iterates ``a = P(z - w)`` (projection onto ``{B e = s}``), ``z = soft(a + w, 1/rho)``, ``w += a - z``; stops when
    every query's primal residual ``||a - z||_inf`` and dual residual ``rho ||z - z_prev||_inf`` are below
    ``tol * max(1, ||s||_inf)``. Returns ``z`` projected onto the constraint set (so ``B e = s`` holds exactly).
    """
    Bp = torch.linalg.pinv(B)  # (n, m)
    s = s.to(B.dtype)

    def project(v, rhs):
        return v - (v @ B.T - rhs) @ Bp.T

    z_all = project(torch.zeros(s.shape[0], B.shape[1], dtype=B.dtype, device=B.device), s)
    w_all = torch.zeros_like(z_all)
    scale_all = s.abs().amax(dim=1).clamp_min(1.0)
    done = torch.zeros(s.shape[0], dtype=torch.bool, device=B.device)
    active = torch.arange(s.shape[0], device=B.device)  # queries still iterating; converged ones are frozen
    z, w, rhs, scale = z_all, w_all, s, scale_all
    it = 0
    for it in range(1, max_iter + 1):
        a = project(z - w, rhs)
        z_prev = z
        z = soft_threshold(a + w, 1.0 / rho)
        w = w + a - z
        if it % check_every == 0 or it == max_iter:
            primal = (a - z).abs().amax(dim=1)
            dual = rho * (z - z_prev).abs().amax(dim=1)
            ok = (primal < tol * scale) & (dual < tol * scale)
            z_all[active], w_all[active] = z, w
            done[active[ok]] = True
            if bool(ok.all()):
                break
            keep = ~ok
            active, z, w, rhs, scale = active[keep], z[keep], w[keep], rhs[keep], scale[keep]
    return Solution(e=project(z_all, s), iterations=it, converged=done)


def ista(B: torch.Tensor, s: torch.Tensor, *, lam: float, iterations: int, step: float | None = None) -> Solution:
    """Iterative soft thresholding ``e <- soft(e - t B^T (B e - s), t lam)`` from ``e = 0``, a fixed number of steps.

    ``t = 1 / ||B||_2^2`` unless given. No debiasing: the fixed point is the lasso solution, shrunk by about ``lam``.
    """
    t = step if step is not None else 1.0 / float(torch.linalg.matrix_norm(B, ord=2)) ** 2
    s = s.to(B.dtype)
    e = torch.zeros(s.shape[0], B.shape[1], dtype=B.dtype, device=B.device)
    target = s @ B  # B^T s, as rows
    BtB = B.T @ B if B.shape[0] >= B.shape[1] else None
    for _ in range(iterations):
        grad = e @ BtB - target if BtB is not None else (e @ B.T) @ B - target
        e = soft_threshold(e - t * grad, t * lam)
    return Solution(e=e, iterations=iterations, converged=torch.ones(s.shape[0], dtype=torch.bool, device=B.device))


def debias(B: torch.Tensor, s: torch.Tensor, e: torch.Tensor, support_tol: float) -> torch.Tensor:
    """Least squares on the support of ``e``: ``e_S = argmin ||B_S e_S - s||``, zero elsewhere.

    The support is ``|e| > support_tol``; the minimum-norm solution is taken when the support exceeds ``m``.
    """
    mask = (e.abs() > support_tol).to(B.dtype)  # (Q, n)
    Bs = B[None] * mask[:, None, :]  # (Q, m, n), off-support columns zeroed
    return (torch.linalg.pinv(Bs) @ s.to(B.dtype)[..., None])[..., 0] * mask


def recall_success(x_hat: torch.Tensor, x: torch.Tensor, rel_tol: float) -> torch.Tensor:
    """``||x_hat - x||_inf < rel_tol * ||x||_inf`` per row (judged on the recovered vector, not the syndrome)."""
    return (x_hat - x).abs().amax(dim=1) < rel_tol * x.abs().amax(dim=1)
