"""Figure stage of ``fig_energy_landscapes``: valleys, claims, caption and figure from the run table alone (the
model run, and what it computes, are described in :mod:`assocmem.experiments.khm_energy_landscapes`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, finish_target
from .energy_landscapes import NAME, NAMES, PAPER, PAPER_KEY


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
        Xi = memories[k]
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


def grids(table: pd.DataFrame, params: dict) -> tuple[dict, np.ndarray]:
    """The energy grids ``{(setting, sep, N): (grid, grid)}`` of the run table (:func:`.energy_table`) and the grid's
    axis values."""
    n = params["grid"]
    energies = {key: t["energy"].to_numpy().reshape(n, n)
                for key, t in table.groupby(["setting", "separation", "uhop_steps"], sort=False)}
    return energies, table["x"].to_numpy()[:n]


def valley_table(energies: dict, memories: list[np.ndarray], min_sep: list[list[float]], ax: np.ndarray,
                 params: dict) -> pd.DataFrame:
    """One row per setting, separation and N: valleys reached from the memories (:func:`own_valleys`),
    ``Delta_min`` of the features, and the energy range on the grid."""
    rows = []
    for k, st in enumerate(params["settings"]):
        for sep in params["separations"]:
            for b, n in enumerate(params["uhop_steps"]):
                E = energies[(k, sep, n)]
                rows.append(dict(setting=k, n_memories=st["n_memories"], beta=st["beta"], separation=sep, uhop_steps=n,
                                 valleys=own_valleys(E, ax, memories[k]), min_separation=min_sep[k][b],
                                 energy_min=float(E.min()), energy_max=float(E.max())))
    return pd.DataFrame(rows)


def write_figure(tr: TargetRun, runs: stages.Runs, out_prefix: Path, run_wall: float | None) -> dict:
    """Claims, caption, figure and metadata from the energy grids and extras of the run; the target's table has one
    row per setting, separation and N (:func:`valley_table`)."""
    params, config = tr.params, tr.config
    energies, ax_vals = grids(runs.table, params)
    memories = [np.array(Xi) for Xi in runs.extras["memories"]]
    table = valley_table(energies, memories, runs.extras["min_separation"], ax_vals, params)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v),
        figure=lambda cap: make_figure(energies, memories, table, ax_vals, params, cap),
        device=runs.extras["device"], dtype=torch.float64, data="synthetic unit-norm 2-D memories",
        retrieval_features="raw W x", substitutions="memory draws from the config seed (the paper: seeds 111, 1111)",
    )


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs, out_prefix, provenance["run_wall_time_s"])
