"""Energy landscapes of 2-D kernelized Hopfield models before and after U-Hop+ (target ``fig_energy_landscapes``;
KHM spec, experiment 2; Hu, Wu & Liu, NeurIPS 2024, energy-landscape figure).

Unit-norm memories in ``d = D_Phi = 2``: ``M = 2`` at beta = 1/0.9 and ``M = 4`` at beta = 20 (the paper's seeds 111
and 1111; here derived from the config seed). The energy ``E_K(x) = 1/2 K(x, x) - Psi*_alpha(beta K(Xi, x)) / beta``
(``K(x, y) = <W x, W y>``, raw features; ``Psi*`` is log-sum-exp for softmax and the Tsallis conjugate for
1.5-entmax and sparsemax) on a ``grid x grid`` square, before (``N = 0``; ``W`` = identity, the plain modern Hopfield
model) and after ``N = 1, 2, 5`` U-Hop+ steps (SGD, lr 0.1, tau 1).

"Each memory sits in its own valley" is checked on the grid: from the grid point nearest each memory, steepest
descent over the 8 neighbours runs to a local minimum; the memories have their own valleys when the minima reached
are all different.

Run without Snakemake::

    python -m assocmem.experiments.khm_energy_landscapes run --config config/config.yaml \\
        --out-prefix results/khm/fig_energy_landscapes
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import cli
from .. import device as _device
from .. import kernelized as K
from ..results import Claim, add_caption, begin_target, finish_target, pyplot
from .khm_basins import grid_points, initial_map

NAME = "khm_energy_landscapes"
TARGET = "fig_energy_landscapes"
PAPER_KEY = "khm"
PAPER = ("Hu, Wu & Liu 2024, Provably Optimal Memory Capacity for Modern Hopfield Models: Transformer-Compatible "
         "Dense Associative Memories as Spherical Codes (NeurIPS 2024)")
NAMES = {"softmax": "softmax", "entmax15": "1.5-entmax", "sparsemax": "sparsemax"}


def grid_descent(E: np.ndarray, start: tuple[int, int]) -> tuple[int, int]:
    """Steepest descent over the 8 neighbours on a 2-D array until a local minimum; returns its index."""
    i, j = start
    n0, n1 = E.shape
    while True:
        best = (E[i, j], i, j)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                a, b = i + di, j + dj
                if 0 <= a < n0 and 0 <= b < n1 and E[a, b] < best[0]:
                    best = (E[a, b], a, b)
        if (best[1], best[2]) == (i, j):
            return i, j
        i, j = best[1], best[2]


def own_valleys(E: np.ndarray, ax: np.ndarray, Xi: np.ndarray) -> int:
    """Number of distinct grid minima reached by descent from the grid points nearest the memories."""
    minima = set()
    for x, y in Xi:
        start = (int(np.abs(ax - y).argmin()), int(np.abs(ax - x).argmin()))  # (row = y, column = x)
        minima.add(grid_descent(E, start))
    return len(minima)


def run(params: dict, *, seed: int):
    """Energies ``{(setting, sep, N): (grid, grid)}``, memories per setting, and a tidy table of valley counts."""
    ax, pts = grid_points(params["grid"], params["extent"])
    energies, memories, rows = {}, {}, []
    for k, st in enumerate(params["settings"]):
        g = _device.generator(seed * 1_000_003 + st["memory_seed"])
        Xi = K.sample_sphere((st["n_memories"], 2), g, torch.float64)
        W0 = initial_map(2, params["init"], g)
        snaps = K.uhop_snapshots(Xi, W0, params["uhop_steps"], lr=params["uhop_lr"], tau=params["uhop_tau"],
                                 optimizer="sgd")
        memories[k] = Xi
        for sep in params["separations"]:
            for n in params["uhop_steps"]:
                E = K.energy(Xi, pts, st["beta"], snaps[n], separation=sep).reshape(params["grid"], params["grid"])
                E = E.numpy()
                energies[(k, sep, n)] = E
                rows.append(dict(setting=k, n_memories=st["n_memories"], beta=st["beta"], separation=sep, uhop_steps=n,
                                 valleys=own_valleys(E, ax.numpy(), Xi.numpy()),
                                 min_separation=float(K.min_separation(Xi, snaps[n])),
                                 energy_min=float(E.min()), energy_max=float(E.max())))
    return energies, memories, pd.DataFrame(rows), ax.numpy()


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    last = table["uhop_steps"].max()
    t = table[table["uhop_steps"] == last]
    ok = (t["valleys"] == t["n_memories"])
    t0 = table[table["uhop_steps"] == 0]
    desc = "; ".join(f"M={r.n_memories} {r.separation}: {r.valleys}" for r in t.itertuples())
    desc0 = "; ".join(f"M={r.n_memories} {r.separation}: {r.valleys}" for r in t0.itertuples())
    return [Claim(
        id="each_memory_in_its_own_valley_after_uhop",
        statement=f"After N = {last} U-Hop+ steps each memory sits in its own energy valley",
        paper_value="after N = 5 steps every memory has its own basin in the energy landscape",
        our_value=f"distinct valleys reached from the memories at N = {last}: {desc} (at N = 0: {desc0})",
        tolerance="valleys = M for every setting and separation",
        passed=bool(len(t) > 0 and ok.all()),
    ), Claim(
        id="uhop_splits_merged_valleys",
        statement=f"U-Hop+ steps separate memories that share a valley: never fewer valleys at N = {last} than at "
                  f"N = 0, more in at least one setting",
        paper_value="the landscape gains one valley per memory as N grows",
        our_value=f"valleys at N = 0 -> {last}: " + "; ".join(
            f"M={a.n_memories} {a.separation}: {a.valleys} -> {b.valleys}" for a, b in zip(t0.itertuples(),
                                                                                               t.itertuples())),
        tolerance="valleys(N = last) >= valleys(N = 0) everywhere, > somewhere",
        passed=bool(len(t) > 0 and len(t) == len(t0)
                    and (t["valleys"].to_numpy() >= t0["valleys"].to_numpy()).all()
                    and (t["valleys"].to_numpy() > t0["valleys"].to_numpy()).any()),
    )]


def caption(params: dict, scale: str, verdict_text: str) -> str:
    st = "; ".join(f"M = {s['n_memories']}, beta = {s['beta']:.4g}" for s in params["settings"])
    return (
        f"Energy landscapes E_K(x) = K(x,x)/2 - Psi*(beta K(Xi,x))/beta of 2-D kernelized Hopfield models (Hu, Wu & "
        f"Liu 2024) with unit-norm memories (black dots) ({st}), on a {params['grid']} x {params['grid']} grid; raw "
        f"features W x. Columns: N U-Hop+ steps (SGD, lr {params['uhop_lr']:g}, tau {params['uhop_tau']:g}; W starts "
        f"at "
        f"{params['init']}); rows: setting x separation (softmax = log-sum-exp energy, 1.5-entmax and sparsemax = "
        f"Tsallis conjugates). Darker = lower energy. Scale '{scale}'. Verdict: {verdict_text}."
    )


def make_figure(energies, memories, table, ax_vals, params, caption_text):
    plt, _ = pyplot(theme=False)

    Ns, seps = list(params["uhop_steps"]), params["separations"]
    rows = [(k, sep) for k in range(len(params["settings"])) for sep in seps]
    fig, axes = plt.subplots(len(rows), len(Ns), figsize=(2.2 * len(Ns), 2.1 * len(rows)), squeeze=False)
    for i, (k, sep) in enumerate(rows):
        Xi = memories[k].numpy()
        for j, n in enumerate(Ns):
            a = axes[i, j]
            a.contourf(ax_vals, ax_vals, energies[(k, sep, n)], levels=20, cmap="viridis")
            a.scatter(Xi[:, 0], Xi[:, 1], c="k", s=10)
            v = table[(table["setting"] == k) & (table["separation"] == sep) & (table["uhop_steps"] == n)]
            a.set_title(f"M={len(Xi)} {NAMES.get(sep, sep)}, N={n}: {int(v['valleys'].iloc[0])} valleys", fontsize=7)
            a.set_xticks([])
            a.set_yticks([])
    fig.tight_layout()
    add_caption(fig, caption_text, width=100)
    return fig


def run_target(config: dict, out_prefix: Path, threads: int | None = None) -> dict:
    tr = begin_target(config, NAME, threads)
    params = tr.params
    energies, memories, table, ax_vals = run(params, seed=config["seed"])
    run_wall = time.perf_counter() - tr.started
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v),
        figure=lambda cap: make_figure(energies, memories, table, ax_vals, params, cap),
        device=torch.device("cpu"), dtype=torch.float64, data="synthetic unit-norm 2-D memories",
        retrieval_features="raw W x", substitutions="memory draws from the config seed (the paper: seeds 111, 1111)",
    )


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET, argv=argv)


if __name__ == "__main__":
    main()
