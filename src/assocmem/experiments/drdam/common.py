"""Pieces shared by the DrDAM experiments (spec ``drdam.md``): synthetic binary patterns and the three query sets,
the comparison of DrDAM with MrDAM at a batch of states, seeds per random-feature draw, and the dtype of a run.

The model itself (feature maps, write, energy, closed-form gradient, descent, MrDAM through the core's Euclidean
update) lives in :mod:`assocmem.random_features`; nothing here restates its formulas.
"""

from __future__ import annotations

import dataclasses

import torch

from ... import device as _device
from ... import random_features as rf

QUERY_SETS = ("memories", "near", "random")  # the spec's three query sets, easiest first


def run_dtype(params: dict, default: torch.dtype) -> torch.dtype:
    """The dtype of an experiment: its block's ``dtype`` when set (the error measurements need float64, as errors of
    1e-3 are measured on energies of order 1), else the global one."""
    return _device.resolve_dtype(params["dtype"]) if params.get("dtype") else default


def feature_seed(seed: int, *keys: int) -> int:
    """The seed of one random-feature draw, from the base seed and the keys that name the draw (e.g. D and Y: a
    fresh Omega per Y, so shards over Y do not depend on each other)."""
    out = int(seed)
    for k in keys:
        out = out * 1_000_003 + int(k)
    return out


def unique_binary(K: int, D: int, g: torch.Generator) -> torch.Tensor:
    """``K`` distinct uniform random binary patterns ``(K, D)`` in {0, 1} (float64), in draw order."""
    if D < 64 and K > 2**D:
        raise ValueError(f"only {2**D} distinct binary patterns in D = {D}; asked for {K}")
    out = torch.empty(0, D, dtype=torch.float64)
    while out.shape[0] < K:
        new = (torch.rand(K - out.shape[0], D, generator=g) < 0.5).double()
        both = torch.cat([out, new])
        _, inverse = torch.unique(both, dim=0, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1,), both.shape[0], dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(both.shape[0]), reduce="amin")
        out = both[first.sort().values]
    return out[:K]


def flip_bits(X: torch.Tensor, n_flip: int, g: torch.Generator) -> torch.Tensor:
    """``X`` (0/1 rows) with exactly ``n_flip`` bits of each row flipped, at positions drawn per row."""
    pos = torch.rand(X.shape, generator=g).argsort(dim=1)[:, :n_flip]
    mask = torch.zeros(X.shape, dtype=torch.bool).scatter_(1, pos, True)
    return torch.where(mask, 1.0 - X, X)


def query_sets(memories: torch.Tensor, n: int, flip_fraction: float, g: torch.Generator) -> dict[str, torch.Tensor]:
    """The spec's three query sets of ``n`` binary states each (0/1, float64): the first ``n`` memories; the same
    memories with ``round(flip_fraction * D)`` bits flipped ("near"); ``n`` uniform random binary vectors."""
    D = memories.shape[1]
    n = min(n, memories.shape[0])
    return {"memories": memories[:n].clone(),
            "near": flip_bits(memories[:n], round(flip_fraction * D), g),
            "random": (torch.rand(n, D, generator=g) < 0.5).double()}


def with_beta(f: rf.Features, beta: float) -> rf.Features:
    """The same draw of Omega and b (same seed, Y, D, block) at another inverse temperature."""
    return dataclasses.replace(f, beta=float(beta))


def compare(f: rf.Features, T: torch.Tensor, Xi: torch.Tensor, x: torch.Tensor, omega=None) -> dict[str, torch.Tensor]:
    """DrDAM (``f``, ``T``) and MrDAM (memories ``Xi``) at the states ``x`` ``(Q, D)``: energies ``E_hat``, ``E``
    ``(Q,)`` and gradients ``G_hat``, ``G`` ``(Q, D)``, and ``clipped`` (``S_hat`` at the clip: ``E_hat`` =
    ``-log(1e-5) / beta``)."""
    E_hat, G_hat = rf.energy_and_grad(f, T, x, omega=omega)
    return {"E_hat": E_hat, "E": rf.mr_energy(Xi, x, f.beta), "G_hat": G_hat, "G": rf.mr_grad(Xi, x, f.beta),
            "clipped": E_hat >= -torch.log(torch.tensor(rf.CLIP, dtype=E_hat.dtype)) / f.beta * (1 - 1e-9)}


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y on log x (nan with fewer than two points or a non-positive value)."""
    import numpy as np

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or (y <= 0).any() or (x <= 0).any():
        return float("nan")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def rising(x, y, se=None, n_se: float = 2.0) -> bool:
    """Whether ``y`` rises with ``x``: larger at the largest ``x`` than at the smallest, and no step between
    neighbouring ``x`` falls by more than ``n_se`` combined standard errors ``se`` (exact values: no fall at all)."""
    import numpy as np

    x, y = np.asarray(x, float), np.asarray(y, float)
    se = np.zeros_like(y) if se is None else np.asarray(se, float)
    order = np.argsort(x)
    y, se = y[order], se[order]
    if len(y) < 2 or not y[-1] > y[0]:
        return False
    allowed = n_se * np.hypot(se[1:], se[:-1])
    return bool((y[:-1] - y[1:] <= allowed).all())


def log_x_ticks(ax, values) -> None:
    """A log x axis with one labelled tick per value of the grid (``2k``, ``16k``, ``500k``) and no minor labels."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

    values = sorted(set(float(v) for v in values))
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(values))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{v / 1000:g}k" if v >= 1000 else f"{v:g}" for v in values]))
    ax.xaxis.set_minor_formatter(NullFormatter())


def shard_order(table, column: str, values):
    """``table`` stably sorted by the position of ``column`` in ``values`` (the shard axis, in config order): the run
    table of a whole run then equals its shards' tables concatenated in shard order."""
    pos = {v: i for i, v in enumerate(values)}
    return table.sort_values(column, key=lambda s: s.map(pos), kind="stable", ignore_index=True)


def why_failed(claims, why: dict[str, str]) -> str:
    """Our explanation of every failed claim that has one in ``why`` (claim id -> text), as caption sentences."""
    out = [f"{c.id} fails: {why[c.id]}" for c in claims if not c.passed and c.id in why]
    return (" " + " ".join(out)) if out else ""


def finish_figure(config: dict, name: str, runs, provenance: dict, out_prefix, *, paper: str, paper_key: str,
                  claims: list, table, caption, figure, data: str, substitutions: str) -> dict:
    """The figure stage every DrDAM target shares: :func:`assocmem.results.finish_target` with the run's dtype and
    ``caption(params, scale, dtype, claims, verdict)``; ``figure(caption_text)`` draws."""
    from ... import stages
    from ...results import finish_target

    tr = stages.figure_run(config, name, provenance)
    dtype = runs.extras.get("dtype", tr.dtype)
    return finish_target(
        tr, out_prefix, paper=paper, paper_key=paper_key, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"], dtype=dtype,
        caption=lambda v: caption(tr.params, tr.config["scale"], dtype, claims, v), figure=figure, data=data,
        substitutions=substitutions)
