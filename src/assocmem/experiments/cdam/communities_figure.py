"""Figure stage of ``fig_cdam_communities``: claims, caption and figure from the run table and the karate example
alone (the model run is described in :mod:`assocmem.experiments.cdam_communities`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .communities import KARATE_MIN_ARI, NAME, PAPER, PAPER_KEY, TUTTE_MIN_ARI


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (graph, a): mean and sd over seeds of the cluster count and of the ARI."""
    g = raw.groupby(["graph", "a"], sort=True)
    return g.agg(h=("h", "first"), n_nodes=("n_nodes", "first"), k=("k", "first"),
                 n_clusters=("n_clusters", "mean"), n_clusters_sd=("n_clusters", lambda x: float(np.std(x))),
                 ari=("ari", "mean"), ari_sd=("ari", lambda x: float(np.std(x))),
                 n_seeds=("seed", "nunique")).reset_index()


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    parts, ok = [], True
    for name, sub in table.groupby("graph"):
        sub = sub.sort_values("a", ascending=False)
        n = sub["n_clusters"].to_numpy()
        ok &= bool(np.all(np.diff(n) <= 1e-9) and n[-1] < n[0])
        parts.append(f"{name}: " + " -> ".join(f"{v:.1f}" for v in n))
    c1 = Claim(
        id="coarser_communities_as_a_decreases",
        statement="More negative a merges attractors into fewer, larger communities (fine to coarse)",
        paper_value="fine-to-coarse communities as a decreases",
        our_value="clusters at the correlation threshold, a from high to low: " + "; ".join(parts),
        tolerance="mean number of clusters non-increasing as a decreases, and fewer at the lowest a than at the "
                  "highest",
        passed=bool(ok),
    )
    k = table[(table["graph"] == "karate") & (table["a"] <= -0.5)]
    best = k.loc[k["ari"].idxmax()] if not k.empty else None
    top = table[(table["graph"] == "karate") & (table["a"] == table["a"].max())]["ari"]
    c2 = Claim(
        id="karate_factions",
        statement="Karate club attractors cut into 2 clusters recover the two factions at anti-Hebbian a",
        paper_value="2 clusters match the factions",
        our_value=(f"best ARI {best['ari']:.2f} at a={best['a']:g}; a=1: {float(top.iloc[0]):.2f}"
                   if best is not None else "no a <= -0.5 in the sweep"),
        tolerance=f"ARI >= {KARATE_MIN_ARI} for some a <= -0.5",
        passed=bool(best is not None and best["ari"] >= KARATE_MIN_ARI),
    )
    t = table[table["graph"] == "tutte"].sort_values("a")
    low = t.iloc[0]
    c3 = Claim(
        id="tutte_fragments",
        statement="Tutte graph attractors cut into 3 clusters recover its 3 fragments at strongly negative a",
        paper_value="3 fragments at strongly negative a",
        our_value=f"ARI {low['ari']:.2f} at a={low['a']:g} (a=1: {t.iloc[-1]['ari']:.2f}); centre node not scored",
        tolerance=f"ARI >= {TUTTE_MIN_ARI} at the most negative a",
        passed=bool(low["ari"] >= TUTTE_MIN_ARI),
    )
    return [c1, c2, c3]


def caption(params: dict, scale: str, verdict_text: str, device: str) -> str:
    avals = ", ".join(f"{a:g}" for a in params["a_values"])
    return (
        f"CDAM multi-scale communities (Burns 2024, ICML; spec E3). Memory graphs: Zachary's karate club (34 nodes) "
        f"and the Tutte graph (46 nodes, three 15-node fragments joined at a centre), from networkx; undirected, "
        f"M = D^-1/2 A D^-1/2; one U[0,1] random pattern of n = {params['n']} units per node. Scale '{scale}': "
        f"{params['seeds']} seed(s); every node cued with noise {params['noise']:g} * (U[0,1) - 1/2); beta = "
        f"{params['beta']:g}, eta = {params['eta']:g}, kappa = {params['kappa']:g}, T = {params['steps']}; a in "
        f"{{{avals}}} (unverified against the paper), h = 1 - a. Attractors clustered by average linkage on 1 - corr "
        f"(project choice). Left: clusters when the tree is cut at correlation {params['corr_threshold']:g}. Middle: "
        f"adjusted Rand index of the 2-cluster cut vs the karate factions and of the 3-cluster cut vs the Tutte "
        f"fragments (centre not scored); mean +- sd over seeds. Right: karate attractor matrix at the most negative a, "
        f"nodes ordered by faction (seed 0). Device: {device}. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, example: dict, caption_text: str):
    """Clusters and ARI against a, and the karate attractor matrix at the most negative a (``example``: the run's
    extras, ``karate_attractors`` and ``karate_truth``)."""
    plt, sns = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    colors = dict(zip(["karate", "tutte"], sns.color_palette("colorblind", 2)))
    for name, sub in table.groupby("graph"):
        sub = sub.sort_values("a")
        axes[0].errorbar(sub["a"], sub["n_clusters"], yerr=sub["n_clusters_sd"], marker="o", color=colors[name],
                         label=name, capsize=2)
        axes[1].errorbar(sub["a"], sub["ari"], yerr=sub["ari_sd"], marker="o", color=colors[name], capsize=2,
                         label=f"{name} ({int(sub['k'].iloc[0])}-cluster cut)")
    for ax, lab in ((axes[0], "clusters"), (axes[1], "adjusted Rand index")):
        ax.set_xlabel("auto-association a (h = 1 - a)")
        ax.set_ylabel(lab)
        ax.invert_xaxis()
        ax.legend(fontsize=7)
    axes[0].set_yscale("log")
    order = np.argsort(example["karate_truth"], kind="stable")
    axes[2].imshow(np.asarray(example["karate_attractors"])[np.ix_(order, order)], vmin=-1, vmax=1, cmap="RdBu_r")
    axes[2].set_title(f"karate attractors, a={table['a'].min():g} (faction order)", fontsize=8)
    axes[2].grid(False)
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    """Summary table, claims, caption and figure from the per-seed rows and the karate example; write
    ``<out_prefix>.{png,pdf,csv,json}`` and return the metadata."""
    tr = stages.figure_run(config, NAME, provenance)
    params = tr.params
    table = summarize(runs.table)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"],
        caption=lambda v: caption(params, config["scale"], v, tr.device),
        figure=lambda cap: make_figure(table, runs.extras, cap),
        kappa=params["kappa"],
        data="networkx karate_club_graph and tutte_graph; synthetic U[0,1] patterns",
        substitutions="none",
    )
