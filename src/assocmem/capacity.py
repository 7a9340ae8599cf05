"""Measured storage capacity: the largest number of memories ``M`` that a retrieval map stores.

For a memory-set generator ``make(M, R, generator) -> (R, M, d)`` (``R`` independent draws) and a retrieval map
``retrieve(Xi, cues, beta, steps) -> final states`` (batched: ``Xi`` ``(R, M, d)``, cues ``(R, B, d)``), a memory
``xi_mu`` counts as *stored* when the state reached from its cue after ``steps`` updates lies within ``tol``
(Euclidean) of ``xi_mu``. The cue is ``xi_mu`` itself (``cue_distance = 0``: "every memory is a fixed point within
``tol``") or ``xi_mu + r u`` with ``u`` a random unit vector (``cue_distance = r``; optionally put back on the unit
sphere). A size ``M`` *passes* when the share of stored memories over all ``R`` draws is at least ``success``
(``1.0``: every memory of every draw). :func:`capacity` finds the largest passing ``M`` by doubling from ``m_min``
until a failure (or ``m_max``), then bisection; this assumes passing is monotone in ``M``, which holds on average
and is what the bisection reports (every size tested is kept in ``CapacityResult.tested``).

Example::

    from assocmem import capacity, kernelized
    make = capacity.sphere_generator(d=8)
    res = capacity.capacity(make, capacity.dense_retriever("softmax"), beta=20.0, steps=1, tol=1e-2, draws=4)
    res.m_star
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

import torch

from . import device as _device
from . import dynamics as _dynamics
from . import kernelized as _k
from .sampling import sample_sphere

MemoryGenerator = Callable[[int, int, torch.Generator], torch.Tensor]
Retriever = Callable[[torch.Tensor, torch.Tensor, float, int], torch.Tensor]


def sphere_generator(d: int, dtype=torch.float32, device: torch.device | str = "cpu") -> MemoryGenerator:
    """Memory sets of ``M`` points uniform on ``S^{d-1}``, ``R`` draws: ``(R, M, d)``."""

    def make(M: int, R: int, generator: torch.Generator) -> torch.Tensor:
        return sample_sphere((R, M, d), generator, dtype).to(device)

    return make


def dense_retriever(separation: str = "softmax", normalize: bool = False, cue_block: int | None = None) -> Retriever:
    """The modern Hopfield map ``x <- Xi^T sep(beta Xi x)`` (identity features), ``steps`` times, on
    ``cue_block`` cues at a time."""

    def retrieve(Xi, cues, beta, steps):
        return _dynamics.retrieve(Xi, cues, beta, separation=separation, phi=_k.feature_map(normalize=normalize),
                                  max_steps=steps, tol=None, cue_block=cue_block).state

    return retrieve


def kernel_retriever(feature_map: Callable[[torch.Tensor], tuple], separation: str = "softmax",
                     normalize: bool = True, cue_block: int | None = None) -> Retriever:
    """KHM retrieval with a feature map built per memory set: ``feature_map(Xi) -> (W, c)`` (batched).

    ``feature_map`` may train (U-Hop+ stage I) or draw a random ``W``; stage II then retrieves with it,
    ``cue_block`` cues at a time.
    """

    def retrieve(Xi, cues, beta, steps):
        W, c = feature_map(Xi)
        return _dynamics.retrieve(Xi, cues, beta, separation=separation, phi=_k.feature_map(W, c, normalize),
                                  max_steps=steps, tol=None, cue_block=cue_block).state

    return retrieve


def make_cues(Xi: torch.Tensor, cue_distance: float, generator: torch.Generator, on_sphere: bool = False):
    """Cues ``xi_mu + r u`` (``u`` random unit vectors) for every memory, ``(R, M, d)``."""
    if cue_distance == 0:
        return Xi.clone()
    u = sample_sphere(tuple(Xi.shape), generator, Xi.dtype).to(Xi.device)
    cues = Xi + cue_distance * u
    return cues / cues.norm(dim=-1, keepdim=True) if on_sphere else cues


@torch.no_grad()
def stored(Xi: torch.Tensor, retrieve: Retriever, *, beta: float, steps: int, tol: float, cue_distance: float = 0.0,
           generator: torch.Generator | None = None, on_sphere: bool = False) -> torch.Tensor:
    """Boolean ``(R, M)``: memory ``mu`` of draw ``r`` is retrieved within ``tol`` from its cue."""
    cues = make_cues(Xi, cue_distance, generator or _device.generator(0), on_sphere)
    with torch.enable_grad():  # a retriever may train a feature map (U-Hop+ stage I)
        out = retrieve(Xi, cues, beta, steps)
    return (out.detach() - Xi).norm(dim=-1) <= tol


def stored_share(ok: torch.Tensor) -> float:
    """Share of ``True`` in ``ok``, exactly (``ok.float().mean()`` on CUDA multiplies by a rounded ``1 / n``, so an
    all-``True`` set of some sizes gave 0.99999994 and failed a ``success = 1`` test)."""
    return int(ok.sum()) / ok.numel()


@dataclass
class CapacityResult:
    """``m_star``: largest passing size found (0 when even ``m_min`` fails; ``m_max`` may mean "at least");
    ``tested``: ``{M: share of memories stored}`` for every size tested; ``capped``: ``m_max`` passed."""

    m_star: int
    tested: dict[int, float] = field(default_factory=dict)
    capped: bool = False


def capacity(make: MemoryGenerator, retrieve: Retriever, *, beta: float, steps: int = 1, tol: float = 1e-2,
             cue_distance: float = 0.0, draws: int = 8, m_min: int = 2, m_max: int = 4096, success: float = 1.0,
             seed: int = 0, on_sphere: bool = False, m_start: int | None = None, growth: float = 2.0,
             resolution: float = 0.0, progress: bool = True,
             desc: str = "capacity") -> CapacityResult:
    """Largest ``M`` in ``[m_min, m_max]`` whose ``draws`` random memory sets pass (see the module docstring).

    Every size ``M`` uses its own generator seeded from ``(seed, M)``, so a size's outcome does not depend on the
    search path. ``m_start`` (e.g. the capacity found at a smaller dimension) is tested first: doubling starts from
    it when it passes, bisection between ``m_min`` and it when it fails. Progress (one tick per size tested) goes to
    stderr via tqdm. Sizes grow by ``growth`` until one fails; bisection stops once ``hi - lo <= resolution * lo``
    (``resolution = 0``: exact), so ``m_star`` is then within that relative resolution below the true boundary.
    """
    from tqdm import tqdm

    tested: dict[int, float] = {}
    bar = tqdm(desc=desc, unit="M", file=sys.stderr, disable=not progress, leave=False)

    def passes(M: int) -> bool:
        if M not in tested:
            g = _device.generator(seed * 1_000_003 + M)
            Xi = make(M, draws, g)
            ok = stored(Xi, retrieve, beta=beta, steps=steps, tol=tol, cue_distance=cue_distance, generator=g,
                        on_sphere=on_sphere)
            tested[M] = stored_share(ok)
            bar.update(1)
            bar.set_postfix(M=M, stored=f"{tested[M]:.3f}")
        return tested[M] >= success

    try:
        lo, hi = m_min, None
        if m_start is not None and m_start > m_min:
            m_start = min(m_start, m_max)
            if passes(m_start):
                lo = m_start
            else:
                hi = m_start
        if hi is not None or lo == m_min:
            if not passes(m_min):
                return CapacityResult(0, tested)
        while hi is None:
            nxt = min(max(lo + 1, int(growth * lo)), m_max)
            if nxt == lo:
                return CapacityResult(lo, tested, capped=True)
            if passes(nxt):
                lo = nxt
            else:
                hi = nxt
        while hi - lo > max(1, int(resolution * lo)):
            mid = (lo + hi) // 2
            if passes(mid):
                lo = mid
            else:
                hi = mid
        return CapacityResult(lo, tested)
    finally:
        bar.close()
