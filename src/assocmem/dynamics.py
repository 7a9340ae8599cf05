"""Retrieval dynamics of the modern Hopfield network / dense associative memory.

One update of a batch of states ``x`` (shape ``(B, d)``) against memories ``Xi`` (shape ``(N, d)``):

    x <- (1 - eta) * x + eta * Xi^T sep(beta * sim(Xi, x))

``eta = 1`` is the update of Ramsauer et al. (2020); ``eta < 1`` is a damped (leaky) step. Entries
marked in ``clamp`` are held at their cue values (pattern completion from a partial cue). ``beta`` is a
scalar or one value per state, so a sweep over ``beta`` is a batch dimension, not a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import energy as _energy
from . import separation as _separation
from . import similarity as _similarity


def _beta_column(beta, x: torch.Tensor) -> torch.Tensor:
    """``beta`` as a tensor broadcastable against ``(B, N)`` similarities."""
    b = torch.as_tensor(beta, dtype=x.dtype, device=x.device)
    if b.ndim == 0:
        return b
    if b.shape != x.shape[:1]:
        raise ValueError(f"beta has shape {tuple(b.shape)}; expected a scalar or ({x.shape[0]},)")
    return b[:, None]


def separation_weights(
    Xi: torch.Tensor, x: torch.Tensor, beta, similarity: str = "dot", separation: str = "softmax"
) -> torch.Tensor:
    """Weights ``sep(beta * sim(Xi, x))`` over memories, shape ``(B, N)``."""
    return _separation.get(separation)(_beta_column(beta, x) * _similarity.get(similarity)(Xi, x))


def update(
    Xi: torch.Tensor,
    x: torch.Tensor,
    beta,
    similarity: str = "dot",
    separation: str = "softmax",
    eta: float = 1.0,
) -> torch.Tensor:
    """One (optionally damped) update of every state in ``x``."""
    target = separation_weights(Xi, x, beta, similarity, separation) @ Xi
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


@dataclass
class Retrieval:
    """Result of :func:`retrieve`.

    ``state``: final states ``(B, d)``; ``steps``: updates applied to each state until it converged
    (or the budget); ``converged``: whether the largest entry change fell below ``tol``;
    ``trajectory``: ``(T + 1, B, d)`` states including the cue, when requested;
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
    tol: float = 1e-6,
    clamp: torch.Tensor | None = None,
    return_trajectory: bool = False,
    return_energy: bool = False,
) -> Retrieval:
    """Iterate :func:`update` from ``cue`` until every state converges or ``max_steps`` is reached.

    A state counts as converged once no entry changes by more than ``tol`` in one update; it is then
    frozen, so the result does not depend on what else is in the batch. ``clamp`` (boolean, shape
    ``(B, d)`` or ``(d,)``) marks entries held at their cue value.
    """
    if cue.ndim != 2 or Xi.ndim != 2 or cue.shape[1] != Xi.shape[1]:
        raise ValueError(f"expected Xi (N, d) and cue (B, d); got {tuple(Xi.shape)} and {tuple(cue.shape)}")
    x = cue.clone()
    B = x.shape[0]
    steps = torch.zeros(B, dtype=torch.long, device=x.device)
    done = torch.zeros(B, dtype=torch.bool, device=x.device)
    traj = [x] if return_trajectory else None
    energies = [energy(Xi, x, beta, similarity)] if return_energy else None
    for _ in range(max_steps):
        new = update(Xi, x, beta, similarity, separation, eta)
        if clamp is not None:
            new = torch.where(clamp, cue, new)
        new = torch.where(done[:, None], x, new)
        moved = (new - x).abs().amax(dim=1) > tol
        steps += (~done).long()
        done |= ~moved
        x = new
        if return_trajectory:
            traj.append(x)
        if return_energy:
            energies.append(energy(Xi, x, beta, similarity))
        if bool(done.all()):
            break
    return Retrieval(
        state=x,
        steps=steps,
        converged=done,
        trajectory=torch.stack(traj) if return_trajectory else None,
        energies=torch.stack(energies) if return_energy else None,
    )
