"""Figure stage of ``fig_basins``: claims, caption and figure from the run table alone (the model run, and what it
computes, are described in :mod:`assocmem.experiments.khm_basins`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, finish_target
from .basins import NAME, PAPER, PAPER_KEY, draw_table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean white share over draws per separation and N."""
    return table.groupby(["separation", "uhop_steps"], sort=False)["metastable_share"].agg(
        mean="mean", sem="sem", draws="count").reset_index()


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    """``table``: the per-draw rows (:func:`.draw_table`); the claim is on the mean white share over draws."""
    summ = summarize(table)
    parts, ok = [], []
    for sep, t in summ.groupby("separation", sort=False):
        t = t.sort_values("uhop_steps")
        w = t["mean"].to_numpy()
        mono = bool(np.all(np.diff(w) <= 1e-12) and w[-1] < w[0])
        ok.append(mono)
        parts.append(f"{sep}: " + " -> ".join(f"{x:.3f}" for x in w))
    n_draws = int(summ["draws"].max()) if len(summ) else 0
    return [Claim(
        id="metastable_area_shrinks_with_uhop_steps",
        statement="The metastable (white) area shrinks monotonically from N = 0 to N = 5 U-Hop+ steps",
        paper_value="basins grow and the metastable region shrinks as N grows (basin figure)",
        our_value=f"mean white share over {n_draws} draws at N = "
                  + ", ".join(map(str, sorted(summ["uhop_steps"].unique()))) + ": " + "; ".join(parts),
        tolerance="mean non-increasing in N and strictly smaller at the last N than at N = 0, for every separation",
        passed=bool(ok) and all(ok),
    )]


def caption(params: dict, scale: str, verdict_text: str) -> str:
    return (
        f"Basins of attraction of a 2-D kernelized Hopfield model (Hu, Wu & Liu 2024): {params['n_memories']} "
        f"unit-norm "
        f"memories (black dots), beta = {params['beta']:g}, {params['steps']} iterations of T_Phi with raw features "
        f"W x from each point of a {params['grid']} x {params['grid']} grid on [-{params['extent']:g}, "
        f"{params['extent']:g}]^2; colour = the memory reached within {params['tol']:g}, white = metastable. Columns: "
        f"N U-Hop+ steps (Adam, lr {params['uhop_lr']:g}, tau {params['uhop_tau']:g}; W starts at "
        f"{params['init']}); rows: softmax, 1.5-entmax, sparsemax. Panels show draw 0 of {params['draws']} memory "
        f"draws; the claim uses the mean white share over the draws. Scale '{scale}'. Verdict: {verdict_text}."
    )


def make_figure(labels, table, Xi, params, caption_text):
    from matplotlib.colors import ListedColormap

    plt, _ = pyplot(theme=False)

    seps, Ns = params["separations"], list(params["uhop_steps"])
    n, e = params["grid"], params["extent"]
    M = Xi.shape[1]
    colors = ["white"] + [plt.get_cmap("tab10")(i) for i in range(M)]
    cmap = ListedColormap(colors)
    fig, axes = plt.subplots(len(seps), len(Ns), figsize=(2.3 * len(Ns), 2.3 * len(seps)), squeeze=False)
    names = {"softmax": "softmax", "entmax15": "1.5-entmax", "sparsemax": "sparsemax"}
    for i, sep in enumerate(seps):
        for j, N in enumerate(Ns):
            ax = axes[i, j]
            img = (labels[i, j, 0] + 1).reshape(n, n).numpy()
            ax.imshow(img, origin="lower", extent=(-e, e, -e, e), cmap=cmap, vmin=0, vmax=M,
                      interpolation="nearest")
            ax.scatter(Xi[0, :, 0], Xi[0, :, 1], c="k", s=12)
            t = table[(table["separation"] == sep) & (table["uhop_steps"] == N)]
            w, wm = t[t["draw"] == 0]["metastable_share"].iloc[0], t["metastable_share"].mean()
            ax.set_title(f"{names.get(sep, sep)}, N = {N}\nwhite {w:.2f} (mean of draws {wm:.2f})", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    add_caption(fig, caption_text, width=110)
    return fig


def labels_of(table: pd.DataFrame, params: dict) -> torch.Tensor:
    """The labels ``(len(separations), len(N), draws, grid * grid)`` of the run table (:func:`.label_table`)."""
    shape = (len(params["separations"]), len(params["uhop_steps"]), params["draws"], params["grid"] ** 2)
    return torch.tensor(table["label"].to_numpy()).reshape(shape)


def write_figure(tr: TargetRun, runs: stages.Runs, out_prefix: Path, run_wall: float | None) -> dict:
    """Claims, caption, figure and metadata from the labels and extras of the run; the target's table has one row
    per separation, N and draw (:func:`.draw_table`)."""
    params, config = tr.params, tr.config
    labels = labels_of(runs.table, params)
    Xi = np.array(runs.extras["memories"])
    table = draw_table(labels, params, runs.extras["min_separation"], Xi.shape[1])
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v),
        figure=lambda cap: make_figure(labels, table, Xi, params, cap),
        device=runs.extras["device"], dtype=torch.float64, data="synthetic unit-norm 2-D memories",
        retrieval_features="raw W x", substitutions="memory draw from the config seed (the paper: seed 42)",
    )


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs, out_prefix, provenance["run_wall_time_s"])
