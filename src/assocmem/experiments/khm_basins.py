"""Basins of attraction of 2-D kernelized Hopfield models before and after U-Hop+ (target ``fig_basins``; KHM
spec, experiment 3; Hu, Wu & Liu, NeurIPS 2024, basin figure).

``M = 5`` unit-norm memories in 2-D (seed 42 in the paper, here derived from the config seed), beta = 20, 5 retrieval
iterations of ``T_Phi(x) = Xi^T sep(beta <W xi_mu, W x>)`` (raw features ``W x``; output in pattern space) from every
point of a ``grid x grid`` square. A grid point belongs to memory ``mu`` when its final state lies within ``tol``
(0.001) of ``xi_mu``; otherwise it is metastable (white). Panels: ``N = 0, 1, 2, 5`` U-Hop+ steps (Adam, lr 0.1,
tau 1) for softmax, 1.5-entmax and sparsemax. ``W`` starts at the identity (``N = 0`` is the plain modern Hopfield
model; ``init: kaiming`` in the config starts from a Kaiming-normal ``W`` instead).

Run without Snakemake::

    python -m assocmem.experiments.khm_basins run --config config/config.yaml --out-prefix results/khm/fig_basins
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

NAME = "khm_basins"
TARGET = "fig_basins"
PAPER_KEY = "khm"
PAPER = ("Hu, Wu & Liu 2024, Provably Optimal Memory Capacity for Modern Hopfield Models: Transformer-Compatible "
         "Dense Associative Memories as Spherical Codes (NeurIPS 2024)")


def initial_map(d: int, init: str, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """``W0`` of shape ``(d, d)``: identity or Kaiming-normal."""
    if init == "identity":
        return torch.eye(d, dtype=dtype)
    return K.kaiming_normal((d, d), generator, dtype)


def grid_points(n: int, extent: float, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Axis values ``(n,)`` and the points ``(n * n, 2)`` (row-major: y varies slowest)."""
    ax = torch.linspace(-extent, extent, n, dtype=dtype)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    return ax, torch.stack([xx.flatten(), yy.flatten()], -1)


def run(params: dict, *, seed: int):
    """Labels ``(len(separations), len(N), draws, grid * grid)`` (memory index, or -1 = metastable), a tidy table
    (one row per separation, N and draw: white share, basin sizes), the memories ``(draws, M, 2)`` and the maps."""
    g = _device.generator(seed * 1_000_003 + params["memory_seed"])
    R, M = params["draws"], params["n_memories"]
    Xi = K.sample_sphere((R, M, 2), g, torch.float64)
    W0 = torch.stack([initial_map(2, params["init"], g) for _ in range(R)])
    snaps = K.uhop_snapshots(Xi, W0, params["uhop_steps"], lr=params["uhop_lr"], tau=params["uhop_tau"],
                             optimizer="adam")
    Ns = list(params["uhop_steps"])
    Ws = torch.stack([snaps[n] for n in Ns])  # (nN, R, 2, 2)
    _, pts = grid_points(params["grid"], params["extent"])
    Xb = Xi.expand(len(Ns), *Xi.shape)
    labels, rows = [], []
    for sep in params["separations"]:
        res = K.retrieve(Xb, pts.expand(len(Ns), R, *pts.shape), params["beta"], Ws, separation=sep,
                         steps=params["steps"])
        dist = (res.state[..., None, :] - Xi[None, :, None]).norm(dim=-1)  # (nN, R, P, M)
        dmin, idx = dist.min(-1)
        lab = torch.where(dmin <= params["tol"], idx, torch.full_like(idx, -1))
        labels.append(lab)
        for b, n in enumerate(Ns):
            for r in range(R):
                rows.append(dict(separation=sep, uhop_steps=n, draw=r,
                                 metastable_share=float((lab[b, r] == -1).double().mean()),
                                 min_separation=float(K.min_separation(Xi[r], Ws[b, r])),
                                 basin_sizes=" ".join(str(int((lab[b, r] == m).sum())) for m in range(M))))
    return torch.stack(labels), pd.DataFrame(rows), Xi, Ws


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean white share over draws per separation and N."""
    return table.groupby(["separation", "uhop_steps"], sort=False)["metastable_share"].agg(
        mean="mean", sem="sem", draws="count").reset_index()


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    """``table``: the per-draw rows of :func:`run`; the claim is on the mean white share over draws."""
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


def run_target(config: dict, out_prefix: Path, threads: int | None = None) -> dict:
    tr = begin_target(config, NAME, threads)
    params = tr.params
    labels, table, Xi, _ = run(params, seed=config["seed"])
    run_wall = time.perf_counter() - tr.started
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v),
        figure=lambda cap: make_figure(labels, table, Xi, params, cap),
        device=torch.device("cpu"), dtype=torch.float64, data="synthetic unit-norm 2-D memories",
        retrieval_features="raw W x", substitutions="memory draw from the config seed (the paper: seed 42)",
    )


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET, argv=argv)


if __name__ == "__main__":
    main()
