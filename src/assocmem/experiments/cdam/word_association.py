"""CDAM on human word-association graphs (target ``fig_cdam_word_association``; CDAM spec E8).

A project extension of Burns (ICML 2024) that the design card asks for (not in the paper). The memory
graph is a free-association norm: USF (Nelson, McEvoy and Schreiber) first, the Edinburgh Associative
Thesaurus (EAT, Kiss et al.) second. Words are restricted to those that were themselves cues (so
every word has out-going strengths); a connected subgraph of ``n_words`` of them is grown
breadth-first by link strength (:func:`assocmem.data.word_association.connected_subgraph`) at the
quick and test scales, and the whole cue graph (largest connected component; 5,018 USF cues) is
used at the paper scale. Edge weights are forward strengths ``P(target | cue)``; with
``symmetrize`` (the default, a project choice) the link ``u -- v`` gets ``w(u->v) + w(v->u)`` so the
graph is undirected like the paper's community experiments, then ``M = D^-1/2 A D^-1/2``. One U[0,1]
random pattern ``xi_mu`` of ``n`` units per word.

Every word is cued (noise ``* (U[0,1) - 1/2)``) for every ``a`` of the sweep with ``h = 1 - a``
(E1 settings: ``beta = 1``, ``eta = 0.1``, ``kappa = 1``, ``T = 100``), all settings and cues in one
batch (:func:`assocmem.cdam.run`). From the attractor matrix (Pearson correlation of the final
states) we compute

- mean attractor correlation vs hop distance in the (undirected) association graph;
- among directly linked words, the Spearman correlation between attractor correlation and
  association strength;
- communities: average-linkage clusters on ``1 - corr`` (as :mod:`.cdam_communities`), cut at
  correlation ``corr_threshold``: number and mean size of clusters, and named example clusters.

Claims (project tolerances, the shape the E1/E3 results lead one to expect on a real graph):
auto-association (``a = 1``) does not spread (d = 1 correlation < 0.1); for ``a < 1`` the
correlation decreases with graph distance; the range (largest distance with mean correlation
>= ``range_threshold``) does not shrink as ``a`` decreases and is wider at the most negative ``a``
than at ``a = 1``; linked words with stronger associations have more correlated attractors; clusters
grow as ``a`` becomes more negative.

Run without Snakemake::

    python -m assocmem run fig_cdam_word_association --config config/config.yaml
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ...registry import PAPERS, Target
from ... import cdam
from ... import device as _device
from ... import graphs as _graphs
from ...data import word_association as wa
from ...results import begin_target
from ...stages import Runs
from .. import cli
from .communities import cluster

NAME = "cdam_word_association"
TARGET = "fig_cdam_word_association"
PAPER_KEY = "cdam"
PAPER = PAPERS["cdam"].citation
TARGET_SPECS = (
    Target("fig_cdam_word_association", PAPERS["cdam"], NAME, __name__, data=lambda p: tuple(p["sources"]),
           threads=4,
           summary="E8: recall spreading over USF and EAT word-association graphs", shard_axis="sources"),
)
SOURCES = ("usf", "eat")
GRAPH_NAMES = {"usf": "USF free-association norms", "eat": "the Edinburgh Associative Thesaurus"}
SOURCE_NAMES = {"usf": "USF free association", "eat": "Edinburgh Associative Thesaurus"}
# Project tolerances.
AUTO_MAX_D1 = 0.1  # a = 1: mean attractor correlation at distance 1 stays below this
DIST_SLACK = 0.02  # "decreasing" allows this much noise between d = 2 and d = 3


def word_graph(path: Path, params: dict, seed: int) -> tuple[list[str], torch.Tensor]:
    """Words and the ``(N, N)`` float64 adjacency (symmetrized if ``params['symmetrize']``) of the memory graph."""
    import networkx as nx

    G = wa.load_graph(path)
    if params["cues_only"]:
        G = G.subgraph([v for v in G if G.out_degree(v) > 0])  # a view: copying costs seconds on EAT
    if params["n_words"] is None:
        comp = min(nx.weakly_connected_components(G), key=lambda c: (-len(c), min(c)))
        words = sorted(comp)
    else:
        words = list(wa.connected_subgraph(G, params["n_words"], seed_word=params["seed_word"], seed=seed))
    A = wa.adjacency(G, words)
    if params["symmetrize"]:
        A = A + A.T
    return words, A


def strength_spearman(att: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Spearman correlation, over linked pairs ``u < v``, of attractor correlation ``att[..., u, v]`` and ``A[u, v]``.

    Returns one value per leading index of ``att`` (shape ``att.shape[:-2]``).
    """
    from scipy.stats import spearmanr

    iu, ju = np.triu_indices(A.shape[0], 1)
    w = np.maximum(A, A.T)[iu, ju]
    linked = w > 0
    flat = att.reshape(-1, *att.shape[-2:])[:, iu[linked], ju[linked]]
    return np.array([spearmanr(f, w[linked]).statistic for f in flat]).reshape(att.shape[:-2])


def run(graphs: dict, params: dict, *, seed: int, device: torch.device, dtype: torch.dtype):
    """Raw rows (source, seed, a, quantity, x, value) and seed-0 cluster labels per source.

    ``graphs`` maps source -> (words, A). Quantities: ``corr_vs_distance`` (x = hop distance),
    ``strength_rho`` (Spearman, linked pairs), ``n_clusters``, ``mean_cluster_size``,
    ``largest_cluster``.
    """
    a = torch.tensor(params["a_values"], dtype=torch.float64)
    rows, labels = [], {}
    bar = tqdm(total=len(graphs) * params["seeds"], desc=NAME, unit="run", mininterval=2)
    for source, (words, A) in graphs.items():
        si = SOURCES.index(source)  # seeds depend on the source, not on which others run (shards agree)
        p = len(words)
        M = _graphs.normalized_adjacency(A).to(device, dtype)
        dist = _graphs.graph_distance(A)
        A_np = A.numpy()
        for s in range(params["seeds"]):
            bar.update()
            gen = _device.generator(seed * 100_003 + 7_919 * si + s)
            Xi64 = torch.rand(p, params["n"], generator=gen, dtype=torch.float64)
            cues = cdam.noisy_cues(Xi64, params["noise"], gen)
            res = cdam.run(
                Xi64.to(device, dtype),
                M,
                cues.to(device, dtype),
                a,
                1.0 - a,
                params["beta"],
                eta=params["eta"],
                kappa=params["kappa"],
                steps=params["steps"],
            )
            att = cdam.attractor_matrix(res.state).double().cpu()
            mean, _, _ = cdam.correlation_by_distance(att, dist, params["max_distance"])
            rho = strength_spearman(att.numpy(), A_np)
            for k, ak in enumerate(a.tolist()):
                base = {"source": source, "seed": s, "a": ak, "h": 1.0 - ak}
                rows += [
                    dict(base, quantity="corr_vs_distance", x=d, value=float(mean[k, d]))
                    for d in range(params["max_distance"] + 1)
                ]
                lab = cluster(att[k].numpy(), threshold=1.0 - params["corr_threshold"])
                sizes = np.bincount(lab)[1:]
                sizes = sizes[sizes > 0]
                rows += [
                    dict(base, quantity="strength_rho", x=np.nan, value=float(rho[k])),
                    dict(base, quantity="n_clusters", x=np.nan, value=float(len(sizes))),
                    dict(base, quantity="mean_cluster_size", x=np.nan, value=float(p / len(sizes))),
                    dict(base, quantity="largest_cluster", x=np.nan, value=float(sizes.max())),
                ]
                if s == 0:
                    labels[(source, ak)] = lab
    bar.close()
    return pd.DataFrame(rows), labels


def example_clusters(
    words: list[str], A: torch.Tensor, labels: dict, source: str, a_values, n_show: int = 3, max_words: int = 8
) -> dict[str, list[list[str]]]:
    """The ``n_show`` largest clusters (>= 2 words) of ``source`` at each ``a``, words ordered by degree."""
    deg = (A > 0).sum(1).numpy()
    out = {}
    for a in a_values:
        lab = labels[(source, a)]
        ids, counts = np.unique(lab, return_counts=True)
        order = [i for i, c in sorted(zip(ids, counts), key=lambda t: (-t[1], t[0])) if c >= 2][:n_show]
        groups = []
        for c in order:
            members = np.flatnonzero(lab == c)
            members = members[np.lexsort((members, -deg[members]))]
            groups.append(
                [words[m] for m in members[:max_words]]
                + ([f"(+{len(members) - max_words})"] if len(members) > max_words else [])
            )
        out[f"{a:g}"] = groups
    return out


def example_a_values(a_values) -> list[float]:
    """Three a values for the named clusters: the second largest, the median and the most negative."""
    s = sorted(a_values, reverse=True)
    picks = [s[min(1, len(s) - 1)], s[len(s) // 2], s[-1]]
    return list(dict.fromkeys(picks))


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run on the prepared edge lists ``data`` (source -> path): raw rows (:func:`run`); extras: per source,
    the number of words (``n_words``), the first ten (``first_words``) and the named example clusters of seed 0
    (``example_clusters``, :func:`example_clusters` at :func:`example_a_values`). The figure is in
    :mod:`.cdam_word_association_figure`."""
    tr = begin_target(config, NAME, threads)
    params = tr.params
    graphs = {s: word_graph(Path(data[s]), params, config["seed"]) for s in params["sources"]}
    raw, labels = run(graphs, params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    picks = example_a_values(params["a_values"])
    return Runs(raw, {
        "n_words": {s: len(graphs[s][0]) for s in graphs},
        "first_words": {s: graphs[s][0][:10] for s in graphs},
        "example_clusters": {s: example_clusters(*graphs[s], labels, s, picks) for s in graphs},
    })


def run_target(config: dict, data_paths: dict, out_prefix: Path, threads: int | None = None) -> dict:
    """Run and draw in one call on the prepared edge lists ``data_paths`` (source -> path): write
    ``<out_prefix>.{png,pdf,csv,json}`` and return the metadata."""
    from .word_association_figure import write_figure

    tr = begin_target(config, NAME, threads)
    runs = run_stage(config, {s: Path(p) for s, p in data_paths.items()}, threads)
    return write_figure(tr, runs, out_prefix, time.perf_counter() - tr.started,
                        {s: str(data_paths[s]) for s in runs.extras["n_words"]})


def main(argv: list[str] | None = None) -> None:
    p = cli.parser(__name__, __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the experiment and write the figure, table and metadata")
    for s in SOURCES:
        p_run.add_argument(
            f"--{s}",
            type=Path,
            default=Path(f"resources/data/word_association/{s}.csv.gz"),
            help=f"prepared {s.upper()} edge list",
        )
    p_run.add_argument("--out-prefix", type=Path, default=Path("results") / PAPER_KEY / TARGET)
    p_run.add_argument("--threads", type=int, default=None)
    p_fig = sub.add_parser("gather", help="draw the target from shard runs (their <prefix>.csv and .json)")
    p_fig.add_argument("shards", type=Path, nargs="+", help="shard prefixes, e.g. results/cdam/X.usf")
    p_fig.add_argument("--out-prefix", type=Path, default=Path("results") / PAPER_KEY / TARGET)
    args: argparse.Namespace = p.parse_args(argv)
    cfg = cli.load_config(p, args)
    if args.command == "gather":
        from .word_association_figure import gather_target

        cli.print_summary(gather_target(cfg, args.shards, args.out_prefix))
        return
    cli.print_summary(run_target(cfg, {s: getattr(args, s) for s in SOURCES}, args.out_prefix, args.threads))


def __getattr__(name):  # figure-stage names (claims, caption, figure) live in cdam_word_association_figure
    from . import word_association_figure
    try:
        return getattr(word_association_figure, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


if __name__ == "__main__":
    main()
