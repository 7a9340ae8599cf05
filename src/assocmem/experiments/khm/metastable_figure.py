"""Figure stage of ``tab_metastable_states``: claims, caption and figure from the run table alone (the model run,
and what it computes, are described in :mod:`assocmem.experiments.khm_metastable`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, finish_target
from .metastable import CONDITIONS, NAME, PAPER, PAPER_KEY


DATASETS = ("synthetic", "MNIST")


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    claims = []
    for ds in DATASETS:
        t = table[table["dataset"] == ds]
        parts, ok = [], []
        for sep in t["separation"].unique():
            s = t[t["separation"] == sep]
            k1 = {c: float(s[(s["condition"] == c) & (s["k"] == 1)]["share"].sum()) for c in ("MHM", "U-Hop+")}
            up = k1["U-Hop+"] > k1["MHM"]  # share of k = 1 rises, so the share of k >= 2 falls by the same amount
            ok.append(up)
            parts.append(f"{sep}: k=1 {k1['MHM']:.2f} -> {k1['U-Hop+']:.2f}, k>=2 {1 - k1['MHM']:.2f} -> "
                         f"{1 - k1['U-Hop+']:.2f}")
        claims.append(Claim(
            id=f"uhop_moves_mass_to_k1_{ds.lower()}",
            statement=f"{ds}: with U-Hop+ the share of queries ending in a single memory (|p|_0 = 1) rises and the "
                      f"share of metastable mixtures (|p|_0 >= 2) falls",
            paper_value="U-Hop+ moves mass to |p|_0 = 1 (main-text table)",
            our_value="; ".join(parts) if parts else "not run",
            tolerance="k = 1 share strictly larger with U-Hop+ for every separation function",
            passed=bool(ok) and all(ok),
        ))
    return claims


def control_note(table: pd.DataFrame) -> str:
    """The k = 1 share per dataset and separation for the three conditions (MHM / U-Hop+ / U-Hop+ normalized)."""
    t = table[table["k"] == 1].pivot_table(index=["dataset", "separation"], columns="condition", values="share")
    return "; ".join(f"{ds} {sep}: " + " / ".join(f"{t.loc[(ds, sep), c]:.2f}" for c in CONDITIONS if c in t.columns)
                     for ds, sep in t.index)


def caption(params: dict, scale: str, verdict_text: str, note: str = "") -> str:
    s, m = params["synthetic"], params["mnist"]
    return (
        f"Share of queries whose final attention vector mixes k memories (|p|_0 = k; softmax entries > 0.01, exact "
        f"non-zeros for 1.5-entmax and sparsemax; k = 10 pools k >= 10), without (MHM) and with U-Hop+ "
        f"(Hu, Wu & Liu 2024). Synthetic: d = D_Phi = {s['dim']}, M = {s['n_memories']} memories and "
        f"{s['n_queries']} queries uniform on the sphere, {s['trials']} draws pooled; U-Hop+ {s['uhop_steps']} Adam "
        f"steps, lr {s['uhop_lr']:g}, tau {s['uhop_tau']:g}; {s['steps']} iterations, beta {s['beta']:g}. MNIST "
        f"(pixels in [-1,1]): {m['n_memories']} training images stored, {m['n_queries']} test queries, D_Phi = "
        f"{m['feature_dim']}, U-Hop+ {m['epochs']} epoch(s) Adam lr {m['uhop_lr']:g}, batch {m['batch_size']}, tau "
        f"{m['uhop_tau']:g}; {m['steps']} iterations, beta {m['beta']:g}. U-Hop+ retrieves with raw features W x as "
        f"the "
        f"authors' scripts; 'U-Hop+ normalized' (unit-norm features, a control not in the paper) separates the effect "
        f"of the geometry from that of the larger feature norm. Share of k = 1 (MHM / U-Hop+ / U-Hop+ "
        f"normalized): {note}. "
        f"Scale '{scale}'. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, caption_text: str):
    plt, sns = pyplot("white")
    datasets = list(dict.fromkeys(table["dataset"]))
    heights = [table[table["dataset"] == d].groupby(["separation", "condition"]).ngroups for d in datasets]
    fig, axes = plt.subplots(len(datasets), 1, figsize=(8, 0.35 * sum(heights) + 1.2 * len(datasets)),
                             gridspec_kw=dict(height_ratios=heights), squeeze=False)
    for ax, ds in zip(axes[:, 0], datasets):
        t = table[table["dataset"] == ds].copy()
        t["row"] = t["separation"] + " | " + t["condition"]
        order = list(dict.fromkeys(t["row"]))
        mat = t.pivot(index="row", columns="k", values="share").loc[order]
        sns.heatmap(mat, ax=ax, annot=True, fmt=".2f", cmap="viridis", vmin=0, vmax=1, cbar=False,
                    annot_kws=dict(fontsize=7))
        ax.set(title=f"{ds}: share of queries with |p|_0 = k", xlabel="k (memories mixed in the final state)",
               ylabel="")
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    add_caption(fig, caption_text, width=120)
    return fig


def write_figure(tr: TargetRun, table: pd.DataFrame, out_prefix: Path, run_wall: float | None) -> dict:
    """Claims, caption, figure and metadata from the run table (one row per dataset, separation, condition, k; the
    run's map-by-map rows ordered by dataset here)."""
    params, config = tr.params, tr.config
    table = pd.concat([table[table["dataset"] == ds] for ds in DATASETS], ignore_index=True)
    claims = evaluate_claims(table)
    note = control_note(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v, note), figure=lambda cap: make_figure(table, cap),
        dtype=torch.float32,
        data="synthetic spherical patterns; MNIST (offline, exact)", retrieval_features="raw W x (as the authors)",
        control_k1_shares=note,
        substitutions=("synthetic: several draws pooled instead of the single seed-42 draw; MNIST: random subsets of "
                       "memories and queries below the paper scale"),
    )


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs.table, out_prefix,
                        provenance["run_wall_time_s"])
