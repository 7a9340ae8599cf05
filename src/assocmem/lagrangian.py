"""The Krotov-Hopfield (2021) two-layer Lagrangian model: feature neurons ``v`` and hidden neurons ``h``.

Weights ``xi`` ``(..., K, N_v)``, input ``I`` ``(..., N_v)``; Lagrangians ``L_v``, ``L_h`` with activations
``g = grad L_v`` and ``f = grad L_h`` (both separable here, so their Hessians ``H_v``, ``H_h`` are diagonal):

- dynamics ``tau_v dv/dt = xi^T f(h) - v + I``, ``tau_h dh/dt = xi g(v) - h`` (:func:`rhs`, :func:`euler`);
- energy ``E = [(v - I)^T g - L_v] + [h^T f - L_h] - f^T xi g`` (:func:`energy`), with
  ``dE/dt = -tau_v vdot^T H_v vdot - tau_h hdot^T H_h hdot`` (:func:`energy_rate`);
- the project's Lyapunov candidate ``V = E + (c/2) ||h - xi g(v)||^2`` (:func:`lyapunov`), which has no flat region
  along dead units and obeys ``dV/dt <= -tau_h hdot^T H_h hdot - (c tau_h / 2) ||hdot||^2`` (:func:`lyapunov_bound`)
  for ``0 < c <= 2 tau_v / (tau_h ||xi||_2^2 sup H_v)`` (:func:`c_max`);
- the Jacobian of the right-hand side at a state, in closed form (:func:`jacobian`).

A hidden unit is *dead* where ``h < 0`` for ``L_h = 1/2 sum ReLU(h)^2``: every term of ``E`` that contains it
vanishes, so ``E`` is flat along it (Fanaskov & Oseledets 2025). The convention at ``h = 0`` is ``f = 0`` and
``H_h = 0`` (the one-sided derivative from the dead side); everything is meant for float64. All functions are pure,
batched over leading dimensions (starts and networks broadcast against each other) and device-agnostic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from tqdm.auto import tqdm

Tensor = torch.Tensor


@dataclass(frozen=True)
class Lagrangian:
    """A separable Lagrangian ``L(x) = sum_i ell(x_i)``: its value, gradient (the activation), the diagonal of its
    Hessian, and ``sup`` of that diagonal (used by :func:`c_max`)."""

    name: str
    value: Callable[[Tensor], Tensor]  # (..., n) -> (...)
    activation: Callable[[Tensor], Tensor]  # (..., n) -> (..., n)
    hessian: Callable[[Tensor], Tensor]  # (..., n) -> (..., n), the diagonal
    sup_hessian: float


def _log_cosh(x: Tensor) -> Tensor:
    a = x.abs()
    return (a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)).sum(-1)


LAGRANGIANS: dict[str, Lagrangian] = {
    "logcosh": Lagrangian("logcosh", _log_cosh, torch.tanh, lambda x: 1.0 - torch.tanh(x) ** 2, 1.0),
    "relu2": Lagrangian("relu2", lambda x: 0.5 * (torch.relu(x) ** 2).sum(-1), torch.relu,
                        lambda x: (x > 0).to(x.dtype), 1.0),
}


@dataclass(frozen=True)
class Model:
    """One (batch of) network(s): ``xi`` ``(..., K, N_v)``, ``I`` ``(..., N_v)``, time constants and Lagrangians."""

    xi: Tensor
    I: Tensor
    tau_v: float = 1.0
    tau_h: float = 1.0
    feature: str = "logcosh"
    hidden: str = "relu2"

    @property
    def Lv(self) -> Lagrangian:
        return LAGRANGIANS[self.feature]

    @property
    def Lh(self) -> Lagrangian:
        return LAGRANGIANS[self.hidden]


def _xi_g(xi: Tensor, g: Tensor) -> Tensor:
    return torch.einsum("...kn,...n->...k", xi, g)


def _xiT_f(xi: Tensor, f: Tensor) -> Tensor:
    return torch.einsum("...kn,...k->...n", xi, f)


def rhs(m: Model, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """``(dv/dt, dh/dt)`` at ``(v, h)``."""
    vdot = (_xiT_f(m.xi, m.Lh.activation(h)) - v + m.I) / m.tau_v
    hdot = (_xi_g(m.xi, m.Lv.activation(v)) - h) / m.tau_h
    return vdot, hdot


def residual(m: Model, v: Tensor, h: Tensor) -> Tensor:
    """The fixed-point residual ``||(dv/dt, dh/dt)||_2`` per state."""
    vdot, hdot = rhs(m, v, h)
    return torch.sqrt((vdot**2).sum(-1) + (hdot**2).sum(-1))


def euler(m: Model, v: Tensor, h: Tensor, dt: float, steps: int, record_every: int | None = None,
          progress: bool = False, desc: str = "euler") -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """``steps`` explicit Euler steps of size ``dt`` from ``(v, h)`` (any batch shape broadcasting with the model).
    Returns the final ``(v, h)`` and, with ``record_every``, the states at steps ``0, record_every, ...`` (and the last
    step) stacked along a new leading axis (else ``None``)."""
    traj_v, traj_h = ([v], [h]) if record_every else (None, None)
    for k in tqdm(range(1, steps + 1), desc=desc, unit="step", disable=not progress, mininterval=2, leave=False):
        vdot, hdot = rhs(m, v, h)
        v, h = v + dt * vdot, h + dt * hdot
        if record_every and (k % record_every == 0 or k == steps):
            traj_v.append(v)
            traj_h.append(h)
    if record_every:
        return v, h, torch.stack(traj_v), torch.stack(traj_h)
    return v, h, None, None


def recorded_steps(steps: int, record_every: int) -> list[int]:
    """The step numbers :func:`euler` records with ``record_every``."""
    ks = list(range(0, steps + 1, record_every))
    return ks if ks[-1] == steps else ks + [steps]


def energy(m: Model, v: Tensor, h: Tensor) -> Tensor:
    """``E = [(v - I)^T g - L_v] + [h^T f - L_h] - f^T xi g`` per state."""
    g, f = m.Lv.activation(v), m.Lh.activation(h)
    return (((v - m.I) * g).sum(-1) - m.Lv.value(v) + (h * f).sum(-1) - m.Lh.value(h)
            - (f * _xi_g(m.xi, g)).sum(-1))


def energy_rate(m: Model, v: Tensor, h: Tensor) -> Tensor:
    """``dE/dt = -tau_v vdot^T H_v vdot - tau_h hdot^T H_h hdot`` along the flow, per state (``<= 0``)."""
    vdot, hdot = rhs(m, v, h)
    return -m.tau_v * (m.Lv.hessian(v) * vdot**2).sum(-1) - m.tau_h * (m.Lh.hessian(h) * hdot**2).sum(-1)


def spectral_norm(xi: Tensor) -> Tensor:
    """``||xi||_2`` (largest singular value) per network."""
    return torch.linalg.matrix_norm(xi, ord=2)


def c_max(m: Model) -> Tensor:
    """The admissible maximum ``2 tau_v / (tau_h ||xi||_2^2 sup H_v)`` of ``c`` in :func:`lyapunov`."""
    return 2.0 * m.tau_v / (m.tau_h * spectral_norm(m.xi) ** 2 * m.Lv.sup_hessian)


def hidden_gap(m: Model, v: Tensor, h: Tensor) -> Tensor:
    """``h - xi g(v)`` (``= -tau_h dh/dt``), ``(..., K)``."""
    return h - _xi_g(m.xi, m.Lv.activation(v))


def lyapunov(m: Model, v: Tensor, h: Tensor, c) -> Tensor:
    """``V = E + (c/2) ||h - xi g(v)||^2`` per state."""
    r = hidden_gap(m, v, h)
    return energy(m, v, h) + 0.5 * c * (r**2).sum(-1)


def lyapunov_rate(m: Model, v: Tensor, h: Tensor, c) -> Tensor:
    """``dV/dt`` along the flow in closed form: ``dE/dt + c (h - xi g)^T (hdot - xi H_v vdot)``."""
    vdot, hdot = rhs(m, v, h)
    r = h - _xi_g(m.xi, m.Lv.activation(v))
    return energy_rate(m, v, h) + c * (r * (hdot - _xi_g(m.xi, m.Lv.hessian(v) * vdot))).sum(-1)


def lyapunov_bound(m: Model, v: Tensor, h: Tensor, c) -> Tensor:
    """The derived upper bound ``-tau_h hdot^T H_h hdot - (c tau_h / 2) ||hdot||^2`` on ``dV/dt``."""
    _, hdot = rhs(m, v, h)
    return -m.tau_h * (m.Lh.hessian(h) * hdot**2).sum(-1) - 0.5 * c * m.tau_h * (hdot**2).sum(-1)


def jacobian(m: Model, v: Tensor, h: Tensor) -> Tensor:
    """The Jacobian of ``(dv/dt, dh/dt)`` with respect to the state ``(v, h)`` (in that order), ``(..., N_v + K,
    N_v + K)``: ``[[-1/tau_v, xi^T H_h / tau_v], [xi H_v / tau_h, -1/tau_h]]``."""
    nv, k = v.shape[-1], h.shape[-1]
    batch = torch.broadcast_shapes(v.shape[:-1], h.shape[:-1], m.xi.shape[:-2])
    xi = m.xi.expand(*batch, k, nv)
    top = torch.cat([-torch.eye(nv, dtype=v.dtype, device=v.device).expand(*batch, nv, nv),
                     xi.transpose(-1, -2) * m.Lh.hessian(h).expand(*batch, k)[..., None, :]], -1) / m.tau_v
    bottom = torch.cat([xi * m.Lv.hessian(v).expand(*batch, nv)[..., None, :],
                        -torch.eye(k, dtype=v.dtype, device=v.device).expand(*batch, k, k)], -1) / m.tau_h
    return torch.cat([top, bottom], -2)


def dead_units(h: Tensor) -> Tensor:
    """Boolean mask of dead hidden units (``h <= 0``: ``f = 0`` and ``H_h = 0`` there)."""
    return h <= 0


def live_block(J: Tensor, nv: int, dead: Tensor) -> Tensor:
    """The Jacobian ``J`` of one state restricted to ``v`` and the live hidden units (``dead`` is a ``(K,)`` mask)."""
    keep = torch.cat([torch.ones(nv, dtype=torch.bool, device=J.device), ~dead])
    return J[keep][:, keep]
