"""Multi-scale communities from CDAM attractors (target ``fig_cdam_communities``; CDAM spec E3).

Burns (ICML 2024): memories on Zachary's karate club (34 nodes) and on the Tutte graph (46 nodes: a
central node joining three 15-node fragments), both from networkx; E1 settings (beta = 1, eta = 0.1,
noise = 1, T = 100, kappa = 1, undirected normalized ``M``) with ``a + h = 1`` and ``a`` swept
(values *unverified*). The attractors reached from every cue are clustered by average linkage on
``1 - corr`` (a project choice). Claim: more negative ``a`` merges attractors into larger
communities (fine to coarse): the karate club cut into 2 clusters matches the two factions (adjusted
Rand index), and the Tutte graph reaches its 3 fragments at strongly negative ``a``.

Run without Snakemake::

    python -m assocmem run fig_cdam_communities --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import cdam
from ... import device as _device
from ... import graphs as _graphs
from ...results import begin_target
from ...stages import Runs

NAME = "cdam_communities"
TARGET = "fig_cdam_communities"
PAPER_KEY = "cdam"
PAPER = PAPERS["cdam"].citation
TARGET_SPECS = (
    Target("fig_cdam_communities", PAPERS["cdam"], NAME, __name__, data=(), threads=4,
           summary="E3: multi-scale communities on the karate club and the Tutte graph"),
)
# Project tolerances.
KARATE_MIN_ARI = 0.6  # best 2-cluster ARI vs the factions over a <= -0.5
TUTTE_MIN_ARI = 0.9  # 3-cluster ARI vs the fragments at the most negative a


def graphs() -> dict:
    """The two graphs (:mod:`assocmem.graphs`) with their ground-truth partitions (labels; -1 = not scored) and the
    number of parts ``k``."""
    return {"karate": dict(A=_graphs.karate_club(), truth=_graphs.karate_factions(), k=2),
            "tutte": dict(A=_graphs.tutte(), truth=_graphs.tutte_fragments(), k=3)}


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
        M = _graphs.normalized_adjacency(g["A"]).to(device, dtype)
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


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: one row per (graph, seed, a) (:func:`run`) and, in the extras, the figure's example: seed 0's
    karate attractor matrix at the most negative ``a`` and the factions; the figure is in
    :mod:`.cdam_communities_figure`."""
    tr = begin_target(config, NAME, threads)
    params = tr.params
    if sorted(params["a_values"])[0] != params["a_values"][-1]:
        raise ValueError("the last of a_values must be the most negative (the figure's example uses it)")
    raw, example = run(params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    karate = example["karate"]
    return Runs(raw, dict(karate_attractors=karate["att"][-1].tolist(), karate_truth=karate["truth"].tolist()))
