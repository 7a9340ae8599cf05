"""The one update/retrieve engine of the modern Hopfield network / dense associative memory.

One update of a batch of states ``x`` (shape ``(..., B, d)``) against memories ``Xi`` (shape ``(..., N, d)``;
leading dimensions are independent memory sets):

    x <- (1 - eta) * x + eta * Xi^T sep(beta * sim(phi(Xi), phi(x)))

``sim`` is the dot product or the negative squared Euclidean distance (:mod:`assocmem.similarity`), ``sep`` a
separation function (:mod:`assocmem.separation`), ``phi`` an optional feature map applied to states and memories
alike (the kernelized Hopfield model's ``Phi``; the output stays in pattern space). ``eta = 1`` is the update of
Ramsauer et al. (2020); ``eta < 1`` is a damped (leaky) step. With the Euclidean similarity and softmax the update
is one step of Gaussian mean shift (the kernel-density view). ``beta`` is a scalar, one value per state ``(B,)``,
or any tensor broadcastable against the ``(..., B, N)`` similarities, so a sweep over ``beta`` is a batch dimension.

Every model and experiment that applies this update calls it here:

- :func:`update` with ``memory_block``: softmax weights over memory blocks with an online log-sum-exp, so the
  ``(..., B, N)`` weights are never formed at once (memory ``O(B * block)``);
- :func:`retrieve`: iterate to convergence (``tol``) or for a fixed budget (``tol=None``), with entries held at
  their cue values (``clamp``) and ``cue_block`` cues at a time (:func:`in_blocks`);
- :mod:`assocmem.kernelized` (KHM, U-Hop+), :mod:`assocmem.capacity`, :mod:`assocmem.cdam` and the experiments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import energy as _energy
from . import separation as _separation
from . import similarity as _similarity

FeatureMap = Callable[[torch.Tensor], torch.Tensor]


def _beta_column(beta, x: torch.Tensor) -> torch.Tensor:
    """``beta`` as a tensor broadcastable against the ``(..., B, N)`` similarities: a scalar stays a scalar, one
    value per state ``(B,)`` becomes a column, a tensor of two or more dimensions is taken as broadcastable."""
    b = torch.as_tensor(beta, dtype=x.dtype, device=x.device)
    if b.ndim == 0 or b.ndim >= 2:
        return b
    if b.shape != x.shape[-2:-1]:
        raise ValueError(f"beta has shape {tuple(b.shape)}; expected a scalar or ({x.shape[-2]},)")
    return b[:, None]


def similarities(Xi: torch.Tensor, x: torch.Tensor, similarity: str = "dot", phi: FeatureMap | None = None):
    """``sim(phi(Xi), phi(x))`` of every state to every memory, ``(..., B, N)``."""
    if phi is not None:
        x, Xi = phi(x), phi(Xi)
    return _similarity.get(similarity)(Xi, x)


def separation_weights(Xi: torch.Tensor, x: torch.Tensor, beta, similarity: str = "dot",
                       separation: str = "softmax", phi: FeatureMap | None = None) -> torch.Tensor:
    """Weights ``sep(beta * sim(phi(Xi), phi(x)))`` over memories, shape ``(..., B, N)``."""
    return _separation.get(separation)(_beta_column(beta, x) * similarities(Xi, x, similarity, phi))


def _blocked_softmax_readout(Xi, x, beta, similarity, phi, block: int) -> torch.Tensor:
    """``softmax(beta * sim) @ Xi`` over ``block`` memories at a time with an online log-sum-exp: per block, the
    running maximum ``m``, normaliser ``s`` and weighted sum ``v`` are rescaled to the new maximum."""
    b = _beta_column(beta, x)
    fx = phi(x) if phi is not None else x
    m = s = v = None
    for start in range(0, Xi.shape[-2], block):
        Xb = Xi[..., start:start + block, :]
        logits = b * _similarity.get(similarity)(phi(Xb) if phi is not None else Xb, fx)
        mb = logits.amax(-1, keepdim=True)
        if m is None:
            m = mb
            w = torch.exp(logits - m)
            s, v = w.sum(-1, keepdim=True), w @ Xb
        else:
            m_new = torch.maximum(m, mb)
            scale = torch.exp(m - m_new)
            w = torch.exp(logits - m_new)
            s = s * scale + w.sum(-1, keepdim=True)
            v = v * scale + w @ Xb
            m = m_new
    return v / s


def update(Xi: torch.Tensor, x: torch.Tensor, beta, similarity: str = "dot", separation: str = "softmax",
           eta: float = 1.0, phi: FeatureMap | None = None, memory_block: int | None = None) -> torch.Tensor:
    """One (optionally damped) update of every state in ``x``.

    ``memory_block`` (softmax only): form the weights ``memory_block`` memories at a time with an online
    log-sum-exp (equal to the one-shot softmax up to rounding; the rounding is that of the blocked form even with
    one block).
    """
    if memory_block is not None:
        if separation != "softmax":
            raise ValueError(f"memory_block needs the softmax separation, not {separation!r}")
        target = _blocked_softmax_readout(Xi, x, beta, similarity, phi, int(memory_block))
    else:
        target = separation_weights(Xi, x, beta, similarity, separation, phi) @ Xi
    return target if eta == 1.0 else x + eta * (target - x)


def energy(Xi: torch.Tensor, x: torch.Tensor, beta, similarity: str = "dot") -> torch.Tensor:
    """Energy whose descent the softmax update performs, per state (shape ``(B,)``).

    ``dot``: the log-sum-exp energy of Ramsauer et al.; ``neg_sq_euclidean``: the negative
    log Gaussian kernel density ``-(1/beta) log sum_mu exp(-beta ||x - xi_mu||^2)`` (mean shift).
    """
    if similarity == "dot":
        return _energy.lse_energy(Xi, x, beta)
    if similarity == "neg_sq_euclidean":
        return _energy.kde_energy(Xi, x, beta)
    raise ValueError(f"no energy is defined for similarity {similarity!r}")


def in_blocks(fn: Callable, x: torch.Tensor, block: int | None, progress: Callable[[int], None] | None = None):
    """``fn(x[..., sl, :], sl)`` for slices ``sl`` of ``block`` states (axis ``-2`` of ``x``) at a time; results
    concatenated along the state axis (a tuple of results: each one; a result with one axis fewer than ``x``, such
    as a per-state count, along its last axis). ``fn`` cuts its own per-state arguments with ``sl``.

    ``progress(n)`` is told how many states each block finished. Rows are independent, so the result does not
    depend on ``block`` beyond rounding, and is bitwise the same for the same ``block``.
    """
    B = x.shape[-2]
    step = B if block is None or block >= B else int(block)
    parts = []
    for start in range(0, B, step):
        sl = slice(start, start + step)
        parts.append(fn(x[..., sl, :], sl))
        if progress is not None:
            progress(min(step, B - start))
    if len(parts) == 1:
        return parts[0]

    def cat(ts):
        return torch.cat(ts, dim=-2 if ts[0].ndim == x.ndim else -1)

    return tuple(cat(list(p)) for p in zip(*parts)) if isinstance(parts[0], tuple) else cat(parts)


def _rows_separable(Xi, x, beta, clamp) -> bool:
    """Whether a batch can be updated row by row with its converged rows left out: one memory set ``(N, d)``,
    states ``(B, d)``, ``beta`` a scalar or one per state, ``clamp`` ``(d,)`` or ``(B, d)``."""
    b = torch.as_tensor(beta)
    return (Xi.ndim == 2 and x.ndim == 2 and (b.ndim == 0 or b.shape == x.shape[:1])
            and (clamp is None or clamp.ndim == 1 or clamp.shape == x.shape))


def _update_active(Xi, x, cue, beta, clamp, done, steps, tol, step):
    """One update of the states not yet converged (``~done``) only, ``step(states, their beta)``; the others are
    frozen anyway, so leaving them out changes nothing but the work (and the rounding of the rows computed, as
    the matrix products see fewer rows). ``done`` and ``steps`` are updated in place; returns the new states."""
    act = (~done).nonzero().squeeze(1)
    b = torch.as_tensor(beta)
    xa = x[act]
    new = step(xa, b.to(x.device)[act] if b.ndim == 1 else beta)
    if clamp is not None:
        new = torch.where(clamp[act] if clamp.ndim == 2 else clamp, cue[act], new)
    moved = (new - xa).abs().amax(dim=-1) > tol
    steps[act] += 1
    done[act] = ~moved
    return x.index_copy(0, act, new)


@dataclass
class Retrieval:
    """Result of :func:`retrieve`.

    ``state``: final states ``(..., B, d)``; ``steps``: updates applied to each state until it converged
    (or the budget); ``converged``: whether the largest entry change fell below ``tol`` (``tol=None``: all False);
    ``trajectory``: ``(T + 1, ..., B, d)`` states including the cue, when requested;
    ``energies``: ``(T + 1, B)``, when requested.
    """

    state: torch.Tensor
    steps: torch.Tensor
    converged: torch.Tensor
    trajectory: torch.Tensor | None = None
    energies: torch.Tensor | None = None


def retrieve(
    Xi: torch.Tensor,
    cue: torch.Tensor,
    beta,
    *,
    similarity: str = "dot",
    separation: str = "softmax",
    eta: float = 1.0,
    max_steps: int = 100,
    tol: float | None = 1e-6,
    clamp: torch.Tensor | None = None,
    phi: FeatureMap | None = None,
    memory_block: int | None = None,
    cue_block: int | None = None,
    progress: Callable[[int], None] | None = None,
    return_trajectory: bool = False,
    return_energy: bool = False,
) -> Retrieval:
    """Iterate :func:`update` from ``cue`` until every state converges or ``max_steps`` is reached.

    A state counts as converged once no entry changes by more than ``tol`` in one update; it is then frozen, so
    the result does not depend on what else is in the batch (beyond rounding: once some states have converged,
    a batch of one memory set is updated without them, which saves their work). ``tol=None``: a fixed budget of
    ``max_steps`` updates, no convergence test (the KHM experiments). ``clamp`` (boolean, ``(B, d)`` or ``(d,)``)
    marks entries held at their cue value. ``cue_block``: ``cue_block`` cues at a time (see :func:`in_blocks`;
    ``progress`` is told how many cues each block finished); not with trajectories or energies.
    """
    if cue.ndim < 2 or Xi.ndim < 2 or cue.shape[-1] != Xi.shape[-1]:
        raise ValueError(f"expected Xi (..., N, d) and cue (..., B, d); got {tuple(Xi.shape)} and {tuple(cue.shape)}")
    kw = dict(similarity=similarity, separation=separation, eta=eta, max_steps=max_steps, tol=tol, phi=phi,
              memory_block=memory_block)
    if cue_block is not None or progress is not None:
        if return_trajectory or return_energy:
            raise ValueError("cue_block and progress cannot be combined with return_trajectory or return_energy")

        per_state_beta = isinstance(beta, torch.Tensor) and beta.ndim == 1

        def one(c, sl):
            m = clamp[..., sl, :] if clamp is not None and clamp.ndim >= 2 else clamp
            r = retrieve(Xi, c, beta[sl] if per_state_beta else beta, clamp=m, **kw)
            return r.state, r.steps, r.converged

        state, steps, converged = in_blocks(one, cue, cue_block, progress)
        return Retrieval(state=state, steps=steps, converged=converged)
    x = cue.clone()
    steps = torch.zeros(cue.shape[:-1], dtype=torch.long, device=x.device)
    done = torch.zeros(cue.shape[:-1], dtype=torch.bool, device=x.device)
    traj = [x] if return_trajectory else None
    energies = [energy(Xi, x, beta, similarity)] if return_energy else None
    by_row = tol is not None and _rows_separable(Xi, x, beta, clamp)
    for _ in range(max_steps):
        if by_row and bool(done.any()):
            x = _update_active(Xi, x, cue, beta, clamp, done, steps, tol,
                               lambda xa, ba: update(Xi, xa, ba, similarity, separation, eta, phi, memory_block))
        else:
            new = update(Xi, x, beta, similarity, separation, eta, phi, memory_block)
            if clamp is not None:
                new = torch.where(clamp, cue, new)
            if tol is None:
                steps += 1
            else:
                new = torch.where(done[..., None], x, new)
                moved = (new - x).abs().amax(dim=-1) > tol
                steps += (~done).long()
                done |= ~moved
            x = new
        if return_trajectory:
            traj.append(x)
        if return_energy:
            energies.append(energy(Xi, x, beta, similarity))
        if tol is not None and bool(done.all()):
            break
    return Retrieval(
        state=x,
        steps=steps,
        converged=done,
        trajectory=torch.stack(traj) if return_trajectory else None,
        energies=torch.stack(energies) if return_energy else None,
    )
