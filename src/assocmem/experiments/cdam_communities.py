"""Multi-scale communities from CDAM attractors (target ``fig_cdam_communities``; CDAM spec E3).

Burns (ICML 2024): memories on Zachary's karate club (34 nodes) and on the Tutte graph (46 nodes: a
central node joining three 15-node fragments), both from networkx; E1 settings (beta = 1, eta = 0.1,
noise = 1, T = 100, kappa = 1, undirected normalized ``M``) with ``a + h = 1`` and ``a`` swept
(values *unverified*). The attractors reached from every cue are clustered by average linkage on
``1 - corr`` (a project choice). Claim: more negative ``a`` merges attractors into larger
communities (fine to coarse): the karate club cut into 2 clusters matches the two factions (adjusted
Rand index), and the Tutte graph reaches its 3 fragments at strongly negative ``a``.

Run without Snakemake::

    python -m assocmem.experiments.cdam_communities run --config config/config.yaml \\
        --out-prefix results/cdam/fig_cdam_communities
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import cli
from .. import cdam
from .. import device as _device
from ..results import Claim, add_caption, begin_target, finish_target, pyplot

NAME = "cdam_communities"
TARGET = "fig_cdam_communities"
PAPER_KEY = "cdam"
PAPER = "Burns 2024, Semantically-correlated memories in a dense associative model (ICML 2024)"
# Project tolerances.
KARATE_MIN_ARI = 0.6  # best 2-cluster ARI vs the factions over a <= -0.5
TUTTE_MIN_ARI = 0.9  # 3-cluster ARI vs the fragments at the most negative a


def tutte_fragments(G) -> np.ndarray:
    """Fragment label (0, 1, 2) of every node of the Tutte graph, -1 for the centre.

    The centre is node 0 (degree 3, one edge into each fragment). Without it each 15-node fragment
    hangs on the rest by exactly two edges, so it is a component left after removing some pair of edges.
    """
    import itertools

    import networkx as nx

    rest = G.copy()
    rest.remove_node(0)
    frags: list[frozenset] = []
    for e1, e2 in itertools.combinations(list(rest.edges()), 2):
        cut = rest.copy()
        cut.remove_edges_from([e1, e2])
        for comp in nx.connected_components(cut):
            if len(comp) == 15 and frozenset(comp) not in frags:
                frags.append(frozenset(comp))
        if len(frags) == 3:
            break
    if len(frags) != 3 or len(set().union(*frags)) != 45:
        raise RuntimeError("could not find the Tutte graph's three fragments")
    labels = np.full(G.number_of_nodes(), -1)
    for c, comp in enumerate(sorted(frags, key=min)):
        labels[sorted(comp)] = c
    return labels


def graphs() -> dict:
    """The two graphs with their ground-truth partitions (labels; -1 = not scored)."""
    import networkx as nx

    karate = nx.karate_club_graph()
    k_truth = np.array([int(karate.nodes[i]["club"] == "Officer") for i in range(karate.number_of_nodes())])
    tutte = nx.tutte_graph()
    t_truth = tutte_fragments(tutte)
    out = {}
    for name, G, truth, k in (("karate", karate, k_truth, 2), ("tutte", tutte, t_truth, 3)):
        A = torch.tensor(nx.to_numpy_array(G, nodelist=range(G.number_of_nodes()), weight=None))
        out[name] = dict(A=A, truth=truth, k=k)
    return out


def cluster(att: np.ndarray, k: int | None = None, threshold: float | None = None) -> np.ndarray:
    """Average-linkage clusters of attractors on distance ``1 - corr``: ``k`` clusters, or cut at ``threshold``."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    D = np.clip(1.0 - att, 0.0, None)
    D = (D + D.T) / 2
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(D, checks=False), "average")
    return fcluster(Z, k, "maxclust") if k is not None else fcluster(Z, threshold, "distance")


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype) -> tuple[pd.DataFrame, dict]:
    """One row per (graph, seed, a): clusters at the correlation threshold and ARI of the k-cut."""
    from sklearn.metrics import adjusted_rand_score

    a = torch.tensor(params["a_values"], dtype=torch.float64)
    rows, example = [], {}
    for gi, (name, g) in enumerate(graphs().items()):
        p = g["A"].shape[0]
        M = cdam.normalized_adjacency(g["A"]).to(device, dtype)
        scored = g["truth"] >= 0
        for s in range(params["seeds"]):
            gen = _device.generator(seed * 100_003 + 1_000 * gi + s)
            Xi64 = torch.rand(p, params["n"], generator=gen, dtype=torch.float64)
            cues = cdam.noisy_cues(Xi64, params["noise"], gen)
            res = cdam.run(Xi64.to(device, dtype), M, cues.to(device, dtype), a, 1.0 - a, params["beta"],
                           eta=params["eta"], kappa=params["kappa"], steps=params["steps"])
            att = cdam.attractor_matrix(res.state).double().cpu().numpy()
            for k, ak in enumerate(a.tolist()):
                labels = cluster(att[k], k=g["k"])
                n_clusters = len(set(cluster(att[k], threshold=1.0 - params["corr_threshold"])))
                rows.append(dict(graph=name, seed=s, a=ak, h=1.0 - ak, n_nodes=p, n_clusters=n_clusters,
                                 ari=adjusted_rand_score(g["truth"][scored], labels[scored]), k=g["k"]))
            if s == 0:
                example[name] = dict(att=att, truth=g["truth"])
    return pd.DataFrame(rows), example


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
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
        tolerance="mean number of clusters non-increasing as a decreases, and fewer at the lowest a than at the highest",
        passed=bool(ok),
    )
    k = table[(table["graph"] == "karate") & (table["a"] <= -0.5)]
    best = k.loc[k["ari"].idxmax()] if not k.empty else None
    c2 = Claim(
        id="karate_factions",
        statement="Karate club attractors cut into 2 clusters recover the two factions at anti-Hebbian a",
        paper_value="2 clusters match the factions",
        our_value=(f"best ARI {best['ari']:.2f} at a={best['a']:g}; a=1: "
                   f"{float(table[(table['graph'] == 'karate') & (table['a'] == table['a'].max())]['ari'].iloc[0]):.2f}")
        if best is not None else "no a <= -0.5 in the sweep",
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
        f"CDAM multi-scale communities (Burns 2024, ICML; spec E3). Memory graphs: Zachary's karate club (34 nodes) and "
        f"the Tutte graph (46 nodes, three 15-node fragments joined at a centre), from networkx; undirected, "
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
    ex = example["karate"]
    order = np.argsort(ex["truth"], kind="stable")
    axes[2].imshow(ex["att"][-1][np.ix_(order, order)], vmin=-1, vmax=1, cmap="RdBu_r")
    axes[2].set_title(f"karate attractors, a={table['a'].min():g} (faction order)", fontsize=8)
    axes[2].grid(False)
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def run_target(config: dict, out_prefix: Path, threads: int | None = None) -> dict:
    tr = begin_target(config, NAME, threads)
    params, dev = tr.params, tr.device
    if sorted(params["a_values"])[0] != params["a_values"][-1]:
        raise ValueError("the last of a_values must be the most negative (the figure's example uses it)")
    raw, example = run(params, seed=config["seed"], device=dev, dtype=tr.dtype)
    run_wall = time.perf_counter() - tr.started
    table = summarize(raw)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v, _device.describe(dev)),
        figure=lambda cap: make_figure(table, example, cap),
        kappa=params["kappa"],
        data="networkx karate_club_graph and tutte_graph; synthetic U[0,1] patterns",
        substitutions="none",
    )


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET, argv=argv)


if __name__ == "__main__":
    main()
