"""Entropic associative memory (EAM): the quantised table register and its three operations.

Hernandez, Morales & Pineda (2024), *Entropic associative memory for real world images* (arXiv 2405.12500); the
model of Morales et al. (PLOS ONE 2022). Objects are feature vectors ``z`` in R^n (from a learned encoder); each is
quantised to one of ``m`` levels per feature and stored as one cell per column of an ``m x n`` table of non-negative
integers, the associative memory register (AMR) ``R`` (rows: levels, columns: features).

- Quantisation (:class:`Quantiser`): ``q_j = round((m - 1) (z_j - lo_j) / (hi_j - lo_j))``, clipped to
  ``{0, ..., m - 1}``; ``lo``, ``hi`` are the minimum and maximum of the filling corpus, per feature (as in the
  authors' released code) or over all features (``per_feature=False``). Cue values outside the filling range are
  clipped to the end levels (the released code marks them undefined instead, which counts as a mismatch).
  Level ``q`` de-quantises to its centre ``lo + q (hi - lo) / (m - 1)`` (``m = 1``: the middle of the range).
- lambda-register (:func:`register`): ``R[q_j, j] += 1`` for every column, saturating at :data:`SATURATION` (1023).
- eta-recognition (:func:`recognise`): cells below ``iota`` times the mean of their column's non-zero cells are set to
  0 (:func:`filtered`); a cue's mismatches are the columns whose cell ``R[q_j, j]`` is then 0; the cue is accepted iff
  ``mismatches <= xi`` and its mean cell weight ``mean_j R[q_j, j]`` (unfiltered register) is at least ``kappa`` times
  the register's mean weight. The register's mean weight is the mean over columns of the mean of each column's
  non-zero cells (the released code's normalisation; the spec leaves "all or non-zero cells" open).
- beta-retrieval (:func:`retrieve`): for every column ``j`` a row ``r`` is drawn with probability proportional to
  ``R[r, j] N(r; q_j, (sigma m)^2)`` (``sigma`` relative to the number of rows, as in the authors' released code);
  the result is a new, constructed level vector. Where the Gaussian weights of a column all underflow, and as
  ``sigma -> 0``, the draw goes to the non-zero cell nearest the cue's level (the cue's own level whenever its cell
  is non-zero); an empty column returns the cue's level.
- Memory entropy (:func:`entropy`): mean over columns of the Shannon entropy (bits) of the normalised column.

Every operation is batched over cues (rows of ``q``), runs on the register's device, and draws its random numbers on
the CPU from a seeded generator (:mod:`assocmem.device`), so that a seed gives the same retrievals on every device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SATURATION = 1023  # cell weights saturate here (spec; Morales et al. 2022)


@dataclass(frozen=True)
class Quantiser:
    """Maps features to levels ``0 .. m - 1`` and levels back to their centres; ``lo``, ``hi``: ``(n,)``."""

    lo: torch.Tensor
    hi: torch.Tensor
    m: int

    @property
    def width(self) -> torch.Tensor:
        """The range ``hi - lo`` (a constant feature gets width 1, so that it maps to level 0)."""
        w = self.hi - self.lo
        return torch.where(w > 0, w, torch.ones_like(w))

    def levels(self, z: torch.Tensor) -> torch.Tensor:
        """Levels ``(..., n)`` (long) of features ``z`` ``(..., n)``; values outside ``[lo, hi]`` clip to the ends."""
        if self.m == 1:
            return torch.zeros(z.shape, dtype=torch.long, device=z.device)
        q = torch.round((self.m - 1) * (z - self.lo.to(z)) / self.width.to(z))
        return q.clamp(0, self.m - 1).long()

    def values(self, q: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Level centres ``(..., n)`` of levels ``q``."""
        lo, w = self.lo.to(q.device, dtype), self.width.to(q.device, dtype)
        if self.m == 1:
            return (lo + w / 2).expand(q.shape).clone()
        return lo + q.to(dtype) * w / (self.m - 1)


def fit_quantiser(z: torch.Tensor, m: int, per_feature: bool = True) -> Quantiser:
    """The quantiser of ``m`` levels whose range is the minimum and maximum of the corpus ``z`` ``(N, n)``: per feature,
    or over all features (``per_feature=False``)."""
    if m < 1:
        raise ValueError(f"m must be >= 1, got {m}")
    if per_feature:
        lo, hi = z.min(0).values, z.max(0).values
    else:
        lo, hi = z.min().expand(z.shape[-1]).clone(), z.max().expand(z.shape[-1]).clone()
    return Quantiser(lo, hi, int(m))


def empty(m: int, n: int, device=None) -> torch.Tensor:
    """An empty register ``(m, n)`` of int64 weights."""
    return torch.zeros(m, n, dtype=torch.long, device=device)


def register(R: torch.Tensor, q: torch.Tensor, saturation: int = SATURATION) -> torch.Tensor:
    """lambda-register every cue (row) of ``q`` ``(B, n)`` in ``R`` ``(m, n)``: add 1 to ``R[q_j, j]`` per cue and
    column, weights saturating at ``saturation``; returns the new register. Adding the counts at once and saturating
    once equals registering the cues one by one (increments are +1)."""
    m, n = R.shape
    if q.numel() == 0:
        return R.clone()
    if q.min() < 0 or q.max() >= m:
        raise ValueError(f"levels must lie in 0..{m - 1}")
    flat = (q.to(R.device) * n + torch.arange(n, device=R.device)).reshape(-1)
    counts = torch.bincount(flat, minlength=m * n).reshape(m, n)
    return (R + counts).clamp(max=saturation)


def column_means(R: torch.Tensor) -> torch.Tensor:
    """Mean of each column's non-zero cells ``(n,)`` (0 for an empty column)."""
    nonzero = (R > 0).sum(0)
    return R.sum(0).to(torch.float64) / nonzero.clamp(min=1)


def filtered(R: torch.Tensor, iota: float) -> torch.Tensor:
    """The register with every cell below ``iota`` times the mean of its column's non-zero cells set to 0."""
    if iota == 0:
        return R
    return torch.where(R.to(torch.float64) < iota * column_means(R), torch.zeros_like(R), R)


def mean_weight(R: torch.Tensor) -> float:
    """The register's mean weight: the mean over columns of the mean of each column's non-zero cells."""
    return float(column_means(R).mean())


def cue_weights(R: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``R[q_j, j]`` for every cue and column: ``(B, n)``."""
    return R.T.gather(1, q.to(R.device).T).T


@dataclass
class Recognition:
    """eta-recognition of a batch of cues: ``accepted`` (bool), ``mismatches`` (int), ``weight`` (mean cue-cell
    weight, float64) and the register's mean weight ``reference``."""

    accepted: torch.Tensor
    mismatches: torch.Tensor
    weight: torch.Tensor
    reference: float


def recognise(R: torch.Tensor, q: torch.Tensor, iota: float = 0.0, kappa: float = 0.0,
              xi: int = 0) -> Recognition:
    """eta-recognition of the cues ``q`` ``(B, n)``: mismatches against the ``iota``-filtered register; accepted iff
    ``mismatches <= xi`` and mean cue weight (unfiltered) ``>= kappa`` times the register's mean weight."""
    mismatches = (cue_weights(filtered(R, iota), q) == 0).sum(-1)
    weight = cue_weights(R, q).to(torch.float64).mean(-1)
    ref = mean_weight(R)
    return Recognition(accepted=(mismatches <= xi) & (weight >= kappa * ref), mismatches=mismatches,
                       weight=weight, reference=ref)


def accept_grid(rec: Recognition, kappas, xis) -> torch.Tensor:
    """Acceptance of the recognised cues for every ``(kappa, xi)``: bool ``(len(kappas), len(xis), B)`` (the same
    rule as :func:`recognise`, evaluated for a grid of thresholds at once)."""
    k = torch.as_tensor(kappas, dtype=torch.float64, device=rec.weight.device)
    x = torch.as_tensor(xis, dtype=torch.long, device=rec.mismatches.device)
    by_weight = rec.weight[None, :] >= k[:, None] * rec.reference
    by_mismatch = rec.mismatches[None, :] <= x[:, None]
    return by_weight[:, None, :] & by_mismatch[None, :, :]


def gaussian_table(m: int, sigma: float, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``G[q, r] = exp(-(r - q)^2 / (2 (sigma m)^2))`` ``(m, m)``: the retrieval's Gaussian factor for a cue at level
    ``q`` (unnormalised; ``sigma = 0`` gives the identity)."""
    r = torch.arange(m, dtype=torch.float64)
    s = float(sigma) * m
    if s == 0:
        return torch.eye(m, dtype=dtype, device=device)
    return torch.exp(-(r[None, :] - r[:, None]) ** 2 / (2.0 * s * s)).to(device, dtype)


def nearest_nonzero(R: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """For every cue and column the non-zero cell nearest the cue's level (the lower one on a tie; the cue's own level
    in an empty column): the limit of beta-retrieval as ``sigma -> 0``. ``(B, n)``."""
    m = R.shape[0]
    rows = torch.arange(m, device=R.device)
    d = (rows[None, None, :] - q.to(R.device)[..., None]).abs()
    d = torch.where((R.T > 0)[None], d, torch.full_like(d, m + 1))
    best = d.argmin(-1)
    return torch.where(d.min(-1).values <= m, best, q.to(R.device))


def retrieve(R: torch.Tensor, q: torch.Tensor, sigma: float, generator: torch.Generator,
             max_elements: int = 1 << 20, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """beta-retrieval of the cues ``q`` ``(B, n)``: per column a row drawn with probability proportional to
    ``R[r, j] N(r; q_j, (sigma m)^2)`` (:func:`gaussian_table`), by inverse CDF; returns the retrieved levels
    ``(B, n)``.

    Where every weight of a column underflows (the Gaussian is far narrower than the distance from the cue's level to
    the column's nearest non-zero cell) the draw is that nearest non-zero cell, the ``sigma -> 0`` limit
    (:func:`nearest_nonzero`); an empty column returns the cue's level. The uniforms are taken at once from
    ``generator`` (CPU) and moved to ``R``'s device; cues are processed ``max_elements / (n m)`` at a time (the result
    does not depend on it)."""
    m, n = R.shape
    B = q.shape[0]
    dev = R.device
    u = torch.rand(B, n, 1, generator=generator, dtype=torch.float64).to(dev, dtype)
    q = q.to(dev)
    G = gaussian_table(m, sigma, dtype, dev)
    RT = R.T.to(dtype)  # (n, m)
    out = torch.empty(B, n, dtype=torch.long, device=dev)
    step = max(1, max_elements // max(1, n * m))
    for a in range(0, B, step):
        qc = q[a:a + step]
        cdf = (G[qc] * RT).cumsum_(-1)  # (b, n, m)
        total = cdf[..., -1:]
        idx = torch.searchsorted(cdf, u[a:a + step] * total, right=True)[..., 0].clamp_(max=m - 1)
        dead = total[..., 0] <= 0
        if bool(dead.any()):
            idx = torch.where(dead, nearest_nonzero(R, qc), idx)
        out[a:a + step] = idx
    return out


def column_entropies(R: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (bits) of every normalised column ``(n,)``; an empty column has entropy 0."""
    p = R.to(torch.float64) / R.sum(0, keepdim=True).clamp(min=1)
    return -(torch.where(p > 0, p * torch.log2(p), torch.zeros_like(p))).sum(0)


def entropy(R: torch.Tensor) -> float:
    """The memory's entropy: mean over columns of :func:`column_entropies` (bits)."""
    return float(column_entropies(R).mean())
