"""DrDAM: the dense associative memory through random features.

B. Hoover, D. H. Chau, H. Strobelt, P. Ram, D. Krotov, *Dense Associative Memory Through the Lens of Random
Features*, NeurIPS 2024 (arXiv 2410.24153). Implemented from the project's spec, not from the authors' code.

Notation (paper -> here): the K memories xi_mu in R^D are the rows of ``Xi`` ``(K, D)`` (the paper's Xi, K x D);
the Q states are the rows of ``x`` ``(Q, D)``; ``beta`` is the inverse temperature; ``Omega`` ``(Y, D)`` holds Y
random frequencies with N(0, 1) entries and ``b`` ``(Y,)`` phases from U[0, 2 pi]. With
``k(x, y) = exp(-(beta/2) ||x - y||^2)`` (the RBF kernel):

    MrDAM  E(x)     = -(1/beta) log sum_mu k(x, xi_mu)                   (K * D numbers; through assocmem.dynamics)
    DrDAM  T        = sum_mu phi(xi_mu)                                   (the "write"; parts * Y numbers)
           S_hat(x) = phi(x)^T T  ~  S(x) = sum_mu k(x, xi_mu)            (phi(x)^T phi(y) is unbiased for k)
           E_hat(x) = -(1/beta) log max(S_hat(x), 1e-5),   NoLog: -(1/beta) S_hat(x)

The four maps, with ``h = sqrt(beta) Omega x + b`` and ``u = sqrt(beta) Omega x`` (no phase):

    cos     phi = sqrt(2/Y) cos h                                                 parts = 1
    sincos  phi = Y^(-1/2) [cos h; sin h]                       (the default)     parts = 2
    exp     phi = Y^(-1/2) exp(u - beta ||x||^2)                                  parts = 1
    expexp  phi = (2Y)^(-1/2) [exp(u - beta ||x||^2); exp(-u - beta ||x||^2)]    parts = 2

``T`` is stored as ``(parts, Y)``; ``T.flatten()`` is the paper's vector (``[T_c; T_s]`` for sincos). Counting
convention: Y is the number of frequencies (rows of Omega), so sincos and expexp store 2Y numbers.

Scaling used in every experiment of the paper: vectors lie in [0, 1/sqrt(D)]^D, so all distances are <= 1
(binary patterns take the values {0, 1/sqrt(D)}; images are divided by max pixel * sqrt(D)): :func:`to_unit_box`.

Omega and b are never held whole. Rows come in blocks of ``block`` rows; block j is drawn in float32 on the CPU by
its own generator seeded from (seed, block, j), then cast to the dtype and device of the inputs. The numbers therefore
depend on (seed, Y, D, block, phases) only: not on the dtype, the device, the query batch or the loop, and memory
is O(parts * Y + block * D). The block size is part of the map: two block sizes are two independent draws (equal
in distribution, not in value). ``omega=list(omega_blocks(...))`` holds them all to skip the regeneration
(O(Y * D) memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from . import dynamics

KINDS = {"cos": 1, "sincos": 2, "exp": 1, "expexp": 2}  # kind -> parts (numbers stored per frequency)
CLIP = 1e-5  # floor of S_hat inside the log (the estimate can be <= 0)

Block = tuple[int, torch.Tensor, torch.Tensor]  # (first row, Omega rows (n, D), b rows (n,))


@dataclass(frozen=True)
class Features:
    """A random feature map: ``kind`` (cos, sincos, exp, expexp), ``Y`` frequencies in dimension ``D`` for inverse
    temperature ``beta``, drawn from ``seed`` in blocks of ``block`` rows; ``phases=False`` sets b = 0."""

    kind: str
    Y: int
    D: int
    beta: float
    seed: int = 0
    block: int = 4096
    phases: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown feature map {self.kind!r}; choose one of {sorted(KINDS)}")
        if min(self.Y, self.D, self.block) < 1 or not self.beta > 0:
            raise ValueError(f"need Y, D, block >= 1 and beta > 0; got {self}")

    @property
    def parts(self) -> int:
        return KINDS[self.kind]

    @property
    def size(self) -> int:
        """Numbers stored in ``T``."""
        return self.parts * self.Y

    @property
    def n_blocks(self) -> int:
        return -(-self.Y // self.block)


def _block_seed(seed: int, block: int, j: int) -> int:
    """A 64-bit seed for block ``j`` of a map with blocks of ``block`` rows, well mixed from (seed, block, j)."""
    return int(np.random.SeedSequence([int(seed), int(block), int(j)]).generate_state(1, np.uint64)[0])


def omega_block(f: Features, j: int, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``j * block`` to ``(j+1) * block`` of ``Omega`` ``(n, D)`` and of ``b`` ``(n,)``, from (seed, block, j)."""
    if not 0 <= j < f.n_blocks:
        raise IndexError(f"block {j} of {f.n_blocks}")
    n = min(f.block, f.Y - j * f.block)
    g = torch.Generator().manual_seed(_block_seed(f.seed, f.block, j))
    om = torch.randn(n, f.D, generator=g)
    b = torch.rand(n, generator=g) * (2 * math.pi) if f.phases else torch.zeros(n)
    return om.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)


def omega_blocks(f: Features, dtype=torch.float64, device=None) -> Iterator[Block]:
    """All blocks in order, as ``(first row, Omega rows, b rows)``."""
    for j in range(f.n_blocks):
        yield (j * f.block, *omega_block(f, j, dtype, device))


# On the CPU a block is computed in row tiles whose (Q, rows) temporaries stay under 16 MiB. Larger ones exceed
# glibc's mmap threshold (32 MiB at most), so each is mapped and page-faulted afresh: at Q = 1500 and 16,384-row
# blocks that kernel time was 40% of a run. Tiling is compute order only; the draw is still by block.
CPU_TILE_BYTES = 16 * 2**20


def _blocks(f: Features, x: torch.Tensor, omega: Iterable[Block] | None) -> Iterator[Block]:
    blocks = omega_blocks(f, x.dtype, x.device) if omega is None else omega
    if x.device.type != "cpu":
        yield from blocks
        return
    rows = max(256, CPU_TILE_BYTES // (max(x.shape[0], 1) * x.element_size()))
    for start, om, b in blocks:
        for i in range(0, om.shape[0], rows):
            yield start + i, om[i:i + rows], b[i:i + rows]


def _phi(f: Features, om: torch.Tensor, b: torch.Tensor, x: torch.Tensor, derivative: bool = False):
    """Features of the rows of ``x`` on one block, as one ``(Q, n)`` tensor per part, and (if asked) their derivative
    in ``u`` as ``(c, d)`` per part: ``d phi_part / du = c * d``, with ``d`` often a part of ``phi`` itself.

    Parts are separate tensors (not stacked) and ``u`` is updated in place, so a block costs one ``(Q, n)`` product
    and one tensor per part; autograd still differentiates through it (only outputs of ``mm`` are modified).
    """
    u = (x @ om.T).mul_(math.sqrt(f.beta))
    if f.kind in ("cos", "sincos"):
        h = u.add_(b)
        if f.kind == "cos":
            w = math.sqrt(2.0 / f.Y)
            return [torch.cos(h).mul_(w)], ([(-w, torch.sin(h))] if derivative else None)
        c, s = torch.cos(h).div_(math.sqrt(f.Y)), torch.sin(h).div_(math.sqrt(f.Y))
        return [c, s], ([(-1.0, s), (1.0, c)] if derivative else None)
    sq = f.beta * (x * x).sum(-1, keepdim=True)
    if f.kind == "exp":
        e = torch.exp(u.sub_(sq + math.log(f.Y) / 2))
        return [e], ([(1.0, e)] if derivative else None)
    shift = sq + math.log(2.0 * f.Y) / 2
    plus, minus = torch.exp(u - shift), torch.exp(u.neg_().sub_(shift))
    return [plus, minus], ([(1.0, plus), (-1.0, minus)] if derivative else None)


def features(f: Features, x: torch.Tensor, omega: Iterable[Block] | None = None) -> torch.Tensor:
    """``phi(x)`` for every row of ``x``, ``(Q, parts, Y)`` (whole: for small Y, tests and autograd)."""
    return torch.cat([torch.stack(_phi(f, om, b, x)[0], 1) for _, om, b in _blocks(f, x, omega)], -1)


def write(f: Features, Xi: torch.Tensor, T: torch.Tensor | None = None, omega: Iterable[Block] | None = None,
          chunk: int = 4096) -> torch.Tensor:
    """``T + sum_mu phi(xi_mu)`` (``T = 0`` if None), ``(parts, Y)``; memories taken ``chunk`` rows at a time.

    Writing is exactly additive: ``write(f, xi_new, write(f, Xi))`` is ``T(Xi u {xi_new})`` up to round-off.
    """
    out = Xi.new_zeros(f.parts, f.Y) if T is None else T.clone()
    for start, om, b in _blocks(f, Xi, omega):
        for lo in range(0, Xi.shape[0], chunk):
            for p, phi in enumerate(_phi(f, om, b, Xi[lo:lo + chunk])[0]):
                out[p, start:start + om.shape[0]] += phi.sum(0)
    return out


def _score(f: Features, T: torch.Tensor, x: torch.Tensor, omega, with_grad: bool):
    """``S_hat(x)`` ``(Q,)`` and, if asked, its gradient ``(Q, D)``, accumulated block by block."""
    S = x.new_zeros(x.shape[0])
    G = torch.zeros_like(x) if with_grad else None
    for start, om, b in _blocks(f, x, omega):
        t = T[:, start:start + om.shape[0]]
        phi, dphi = _phi(f, om, b, x, with_grad)
        for p, part in enumerate(phi):
            S = S + part @ t[p]
        if with_grad:  # sum over parts of (d phi / du) * T, one (Q, n) tensor, then one product with Omega
            w = None
            for p, (c, d) in enumerate(dphi):
                w = d * (c * t[p]) if w is None else w.addcmul_(d, c * t[p])
            G = G + (w @ om).mul_(math.sqrt(f.beta))
    if with_grad and f.kind in ("exp", "expexp"):
        G = G - (2 * f.beta) * x * S[:, None]
    return S, G


def _energy_from(f: Features, S: torch.Tensor, log: bool) -> torch.Tensor:
    return -(torch.log(S.clamp_min(CLIP)) if log else S) / f.beta


def _grad_from(f: Features, S: torch.Tensor, G: torch.Tensor, log: bool) -> torch.Tensor:
    if not log:
        return -G / f.beta
    return torch.where((S > CLIP)[:, None], -G / (f.beta * S.clamp_min(CLIP)[:, None]), torch.zeros_like(G))


def score(f: Features, T: torch.Tensor, x: torch.Tensor, omega: Iterable[Block] | None = None) -> torch.Tensor:
    """``S_hat(x) = phi(x)^T T`` per state, ``(Q,)``: the estimate of ``sum_mu k(x, xi_mu)``."""
    return _score(f, T, x, omega, False)[0]


def energy(f: Features, T: torch.Tensor, x: torch.Tensor, log: bool = True,
           omega: Iterable[Block] | None = None) -> torch.Tensor:
    """DrDAM energy per state, ``(Q,)``: ``-(1/beta) log max(S_hat, 1e-5)``, or ``-(1/beta) S_hat`` if not ``log``."""
    return _energy_from(f, score(f, T, x, omega), log)


def grad(f: Features, T: torch.Tensor, x: torch.Tensor, log: bool = True,
         omega: Iterable[Block] | None = None) -> torch.Tensor:
    """Closed-form gradient of :func:`energy` in ``x``, ``(Q, D)``.

    Derivation: ``d phi / dx = (d phi / du) sqrt(beta) Omega`` (+ ``-2 beta x phi`` for the exp maps, from the
    factor ``exp(-beta ||x||^2)``), so ``grad S_hat = sqrt(beta) Omega^T sum_parts (T * d phi / du)
    - [exp maps] 2 beta x S_hat`` with ``d phi / du`` = cos: ``-sqrt(2/Y) sin h``; sincos: ``Y^(-1/2) [-sin h;
    cos h]`` (the spec's ``g``); exp: ``phi``; expexp: ``[phi_+; -phi_-]``. Then ``grad E_hat = -(1/beta)
    grad S_hat / S_hat`` where ``S_hat > 1e-5`` and 0 where the clip is active (NoLog: ``-(1/beta) grad S_hat``).
    """
    return energy_and_grad(f, T, x, log, omega)[1]


def energy_and_grad(f: Features, T: torch.Tensor, x: torch.Tensor, log: bool = True,
                    omega: Iterable[Block] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`energy` and :func:`grad` from one pass over the blocks (the features are computed once)."""
    S, G = _score(f, T, x, omega, True)
    return _energy_from(f, S, log), _grad_from(f, S, G, log)


def mr_energy(Xi: torch.Tensor, x: torch.Tensor, beta) -> torch.Tensor:
    """MrDAM energy ``-(1/beta) log sum_mu exp(-(beta/2) ||x - xi_mu||^2)``, ``(Q,)``, via the core's KDE energy."""
    return 0.5 * dynamics.energy(Xi, x, beta / 2, similarity="neg_sq_euclidean")


def mr_grad(Xi: torch.Tensor, x: torch.Tensor, beta) -> torch.Tensor:
    """MrDAM gradient ``x - sum_mu softmax_mu(-(beta/2) ||x - xi_mu||^2) xi_mu``, ``(Q, D)``, via the core update."""
    return x - dynamics.update(Xi, x, beta / 2, similarity="neg_sq_euclidean")


def descend(grad_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, alpha: float, steps: int,
            clamp: torch.Tensor | None = None, energy_fn: Callable[[torch.Tensor], torch.Tensor] | None = None):
    """``steps`` fixed steps ``x <- x - alpha * grad_fn(x)`` of every state in ``x`` ``(Q, D)``.

    ``clamp`` (bool, ``(D,)`` or ``(Q, D)``) zeroes the gradient on observed coordinates, which therefore keep their
    start values exactly. Returns the final states and, with ``energy_fn``, the energies ``(steps + 1, Q)`` from the
    start on (else None). Either model: ``grad_fn = lambda x: grad(f, T, x)`` or ``lambda x: mr_grad(Xi, x, beta)``.
    """
    trace = [energy_fn(x)] if energy_fn is not None else None
    for _ in range(steps):
        g = grad_fn(x)
        if clamp is not None:
            g = g.masked_fill(clamp, 0.0)
        x = x - alpha * g
        if trace is not None:
            trace.append(energy_fn(x))
    return x, (torch.stack(trace) if trace is not None else None)


def to_unit_box(x: torch.Tensor, max_value: float = 1.0) -> torch.Tensor:
    """Scale data with entries in [0, max_value] into [0, 1/sqrt(D)]^D (pairwise distances <= 1)."""
    return x / (max_value * math.sqrt(x.shape[-1]))


def binarize(x: torch.Tensor) -> torch.Tensor:
    """Threshold at ``0.5 / sqrt(D)`` (for Hamming comparisons of scaled binary patterns)."""
    return x > 0.5 / math.sqrt(x.shape[-1])
