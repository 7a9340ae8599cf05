"""Fits and summary statistics used by claims: the log-linear (exponential-growth) fit, the ROC AUC and the batched
Spearman rank correlation."""

from __future__ import annotations

import numpy as np
import torch


def loglinear_fit(x, y, min_points: int = 2) -> tuple[float, float, float]:
    """Least-squares fit ``ln y = intercept + slope * x``; returns ``(slope, intercept, R^2)``.

    ``y`` must be positive. Degenerate cases, for every caller: fewer than ``min_points`` points (at least 2) give
    ``(nan, nan, nan)``; a constant ``y`` leaves ``R^2`` undefined (0 / 0) and gives ``nan`` for it.
    """
    x, y = np.asarray(x, dtype=float), np.log(np.asarray(y, dtype=float))
    if len(x) < max(min_points, 2):
        return float("nan"), float("nan"), float("nan")
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    r2 = 1.0 - (resid**2).sum() / ((y - y.mean()) ** 2).sum() if np.ptp(y) > 0 else float("nan")
    return float(slope), float(intercept), float(r2)


def auc(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ROC AUC per row (Mann-Whitney, ties count 1/2); ``scores``, ``y`` (labels 0/1): ``(E, B)`` -> ``(E,)``."""
    pos, neg = y > 0.5, y < 0.5
    diff = scores[:, :, None] - scores[:, None, :]  # [e, i, j] = s_i - s_j
    win = (diff > 0).float() + 0.5 * (diff == 0).float()
    pair = (pos[:, :, None] & neg[:, None, :]).float()
    return (win * pair).sum((1, 2)) / pair.sum((1, 2))


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation along the last axis, batched: ``(..., P), (..., P) -> (...)`` (ties broken by order,
    so for continuous values only)."""
    ra, rb = (v.argsort(-1).argsort(-1).to(torch.float64) for v in (a, b))
    ra, rb = ra - ra.mean(-1, keepdim=True), rb - rb.mean(-1, keepdim=True)
    return (ra * rb).sum(-1) / (ra.norm(dim=-1) * rb.norm(dim=-1))
