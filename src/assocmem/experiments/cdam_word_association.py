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

    python -m assocmem.experiments.cdam_word_association run --config config/config.yaml \\
        --usf resources/data/word_association/usf.csv.gz --eat resources/data/word_association/eat.csv.gz
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import cdam
from .. import device as _device
from ..data import word_association as wa
from ..results import (Claim, TargetRun, add_caption, begin_target, finish_target, pyplot, read_shards,
                       shard_devices, shard_summary)
from . import cli
from .cdam_communities import cluster

NAME = "cdam_word_association"
TARGET = "fig_cdam_word_association"
PAPER_KEY = "cdam"
PAPER = "Burns 2024, Semantically-correlated memories in a dense associative model (ICML 2024)"
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
        M = cdam.normalized_adjacency(A).to(device, dtype)
        dist = cdam.graph_distance(A)
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


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of every (source, a, quantity, x)."""
    raw = raw.assign(x=raw["x"].fillna(-1))
    g = raw.groupby(["source", "a", "quantity", "x"], sort=True)
    out = g.agg(
        h=("h", "first"), mean=("value", "mean"), sd=("value", lambda v: float(np.std(v))), n_seeds=("seed", "nunique")
    ).reset_index()
    out["x"] = out["x"].where(out["x"] >= 0, np.nan)
    return out


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


def _q(table: pd.DataFrame, source: str, quantity: str) -> pd.DataFrame:
    return table[(table["source"] == source) & (table["quantity"] == quantity)]


def recall_range(table: pd.DataFrame, source: str, threshold: float) -> dict[float, int]:
    """Per ``a``: largest distance ``d >= 1`` such that the mean correlation is >= threshold at 1..d (0 if none)."""
    out = {}
    for a, sub in _q(table, source, "corr_vs_distance").groupby("a"):
        m = sub.sort_values("x")["mean"].to_numpy()[1:]
        ok = np.concatenate([m >= threshold, [False]])
        out[float(a)] = int(np.argmin(ok))
    return out


def evaluate_claims(table: pd.DataFrame, range_threshold: float = 0.1) -> list[Claim]:
    claims = []
    for source in [s for s in SOURCES if s in set(table["source"])]:
        cd = _q(table, source, "corr_vs_distance")
        a_all = sorted(cd["a"].unique(), reverse=True)
        a_top = a_all[0]

        def curve(a, cd=cd):
            return cd[cd["a"] == a].sort_values("x")["mean"].to_numpy()

        d1_top = curve(a_top)[1]
        claims.append(
            Claim(
                id=f"{source}_auto_does_not_spread",
                statement=f"{source.upper()}: auto-association (largest a) keeps recall on the cue: associated words' "
                "attractors are uncorrelated",
                paper_value="E1: a = 1 drops to ~0 at distance 1",
                our_value=f"a={a_top:g}: mean attractor correlation at d=1 {d1_top:.3f}",
                tolerance=f"< {AUTO_MAX_D1}",
                passed=bool(a_top == 1.0 and d1_top < AUTO_MAX_D1),
            )
        )
        parts, ok = [], True
        for a in a_all[1:]:
            c = curve(a)
            ok &= bool(c[1] > c[2] and c[2] >= c[3] - DIST_SLACK)
            parts.append(f"a={a:g}: " + "/".join(f"{v:.2f}" for v in c[1:4]))
        claims.append(
            Claim(
                id=f"{source}_decreases_with_distance",
                statement=f"{source.upper()}: with hetero-association (a < 1) attractor correlation decreases with "
                "graph distance",
                paper_value="E1 on the cycle: correlation falls with distance",
                our_value="mean at d=1/2/3: " + "; ".join(parts),
                tolerance=f"d1 > d2 and d2 >= d3 - {DIST_SLACK} for every a < 1",
                passed=bool(ok and len(a_all) > 1),
            )
        )
        rng = recall_range(table, source, range_threshold)
        seq = [rng[a] for a in a_all]
        claims.append(
            Claim(
                id=f"{source}_antihebbian_widens_range",
                statement=f"{source.upper()}: more negative (anti-Hebbian) a spreads recall over more graph steps",
                paper_value="E1: range grows as a decreases at a + h = 1",
                our_value="range (largest d with mean corr >= "
                f"{range_threshold:g} at 1..d), a from high to low: "
                + ", ".join(f"{a:g}: {r}" for a, r in zip(a_all, seq)),
                tolerance="non-decreasing as a decreases, and larger at the most negative a than at the largest",
                passed=bool(np.all(np.diff(seq) >= 0) and seq[-1] > seq[0]),
            )
        )
        rho = _q(table, source, "strength_rho").set_index("a")["mean"]
        rho_h = rho[rho.index < 1.0]
        claims.append(
            Claim(
                id=f"{source}_strength_orders_recall",
                statement=f"{source.upper()}: among directly associated words, stronger associations give more "
                "correlated attractors (a < 1)",
                paper_value=None,
                our_value="Spearman rho (linked pairs): "
                + ", ".join(f"a={a:g}: {v:.2f}" for a, v in rho_h.sort_index(ascending=False).items()),
                tolerance="rho > 0 for every a < 1",
                passed=bool(len(rho_h) > 0 and (rho_h > 0).all()),
            )
        )
        size = _q(table, source, "mean_cluster_size").set_index("a")["mean"].sort_index(ascending=False)
        neg = size[size.index < 0]
        claims.append(
            Claim(
                id=f"{source}_larger_clusters_at_larger_negative_a",
                statement=f"{source.upper()}: communities coarsen as a becomes more negative "
                "(larger clusters at larger |a|)",
                paper_value="E3: fine-to-coarse communities as a decreases",
                our_value="mean cluster size, a from high to low: "
                + ", ".join(f"{a:g}: {v:.1f}" for a, v in size.items()),
                tolerance="non-decreasing over a < 0 as a decreases, and larger at the most negative a than at a = "
                f"{a_top:g}",
                passed=bool(len(neg) > 0 and np.all(np.diff(neg.to_numpy()) >= -1e-9) and size.iloc[-1] > size.iloc[0]),
            )
        )
    return claims


def caption(params: dict, sizes: dict, scale: str, verdict_text: str, device: str, failed: list[str] = ()) -> str:
    avals = ", ".join(f"{a:g}" for a in params["a_values"])
    n_words = (
        "all cue words of the largest component"
        if params["n_words"] is None
        else f"a connected subgraph of {params['n_words']} cue words grown breadth-first by strength"
    )
    return (
        "CDAM on word-association graphs (project extension of Burns 2024, ICML; spec E8; not in the paper). "
        f"Memory graphs: {' and '.join(GRAPH_NAMES[s] for s in sizes)}, {n_words} "
        f"({', '.join(f'{s.upper()} {n} words' for s, n in sizes.items())}); weights = forward strength "
        f"P(response | cue){', symmetrized (w(u->v) + w(v->u))' if params['symmetrize'] else ''}; "
        f"M = D^-1/2 A D^-1/2. One U[0,1] pattern of n = {params['n']} units per word, every word cued with noise "
        f"{params['noise']:g} * (U[0,1) - 1/2). beta = {params['beta']:g}, eta = {params['eta']:g}, kappa = "
        f"{params['kappa']:g}, T = {params['steps']}, a in {{{avals}}}, h = 1 - a; {params['seeds']} seed(s) "
        "(patterns and noise). Left: mean attractor correlation vs hop distance in the association graph (+- sd over "
        "seeds). Middle: Spearman correlation, over directly linked word pairs, between attractor correlation and "
        "association strength. Right: mean size of the average-linkage clusters of attractors (1 - corr) cut at "
        f"correlation {params['corr_threshold']:g}. Bottom: the largest clusters (seed 0) at three values of a, "
        f"words ordered by degree. Device: {device}. Verdict: {verdict_text}"
        + (f" (claims that did not hold: {', '.join(failed)}; see the JSON)." if failed else ".")
    )


def make_figure(table: pd.DataFrame, examples: dict, caption_text: str):
    import matplotlib.ticker

    plt, sns = pyplot()
    sources = [s for s in SOURCES if s in set(table["source"])]
    fig = plt.figure(figsize=(13, 3.3 * len(sources) + 1.8))
    gs = fig.add_gridspec(len(sources) + 1, 3, height_ratios=[1] * len(sources) + [0.5])
    a_all = sorted(table["a"].unique(), reverse=True)
    colors = dict(zip(a_all, sns.color_palette("viridis", len(a_all))))
    for r, source in enumerate(sources):
        ax = fig.add_subplot(gs[r, 0])
        for a, sub in _q(table, source, "corr_vs_distance").groupby("a"):
            sub = sub.sort_values("x")
            ax.errorbar(
                sub["x"],
                sub["mean"],
                yerr=sub["sd"],
                marker="o",
                ms=3,
                capsize=2,
                color=colors[a],
                label=f"a={a:g}, h={1 - a:g}",
            )
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("graph distance (hops)")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel("attractor correlation")
        ax.set_title(f"{SOURCE_NAMES[source]}: recall vs distance", fontsize=9)
        ax.legend(fontsize=6)
        for c, (quantity, lab) in enumerate(
            (("strength_rho", "Spearman rho (corr vs strength)"), ("mean_cluster_size", "mean cluster size (words)")),
            start=1,
        ):
            ax = fig.add_subplot(gs[r, c])
            sub = _q(table, source, quantity).sort_values("a")
            ax.errorbar(sub["a"], sub["mean"], yerr=sub["sd"], marker="o", capsize=2, color="C0")
            ax.set_xlabel("auto-association a (h = 1 - a)")
            ax.set_ylabel(lab)
            ax.invert_xaxis()
            ax.set_title(
                f"{source.upper()}: " + ("association strength, linked pairs" if c == 1 else "communities"), fontsize=9
            )
            if quantity == "mean_cluster_size":
                ax.set_ylim(bottom=0)
    ax = fig.add_subplot(gs[-1, :])
    ax.axis("off")
    lines = []
    for source in sources:
        for a, groups in examples[source].items():
            text = "; ".join("{" + ", ".join(g) + "}" for g in groups) or "(no cluster of 2 or more words)"
            lines.append(f"{source.upper()}, a = {a}: {text}")
    import textwrap

    ax.text(
        0.0,
        1.0,
        "\n".join(textwrap.fill(t, 170, subsequent_indent="    ") for t in lines),
        va="top",
        ha="left",
        fontsize=7,
        family="monospace",
        transform=ax.transAxes,
    )
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def example_a_values(a_values) -> list[float]:
    """Three a values for the named clusters: the second largest, the median and the most negative."""
    s = sorted(a_values, reverse=True)
    picks = [s[min(1, len(s) - 1)], s[len(s) // 2], s[-1]]
    return list(dict.fromkeys(picks))


def run_target(config: dict, data_paths: dict, out_prefix: Path, threads: int | None = None) -> dict:
    """Run on the prepared edge lists ``data_paths`` (source -> path) and write ``<out_prefix>.{png,pdf,csv,json}``."""
    tr = begin_target(config, NAME, threads)
    params, dev = tr.params, tr.device
    graphs = {s: word_graph(Path(data_paths[s]), params, config["seed"]) for s in params["sources"]}
    t_run = time.perf_counter()
    raw, labels = run(graphs, params, seed=config["seed"], device=dev, dtype=tr.dtype)
    run_wall = time.perf_counter() - t_run
    table = summarize(raw)
    claims = evaluate_claims(table, params["range_threshold"])
    picks = example_a_values(params["a_values"])
    examples = {s: example_clusters(*graphs[s], labels, s, picks) for s in graphs}
    sizes = {s: len(graphs[s][0]) for s in graphs}
    failed = [c.id for c in claims if not c.passed]
    return finish_target(
        tr,
        out_prefix,
        paper=PAPER,
        paper_key=PAPER_KEY,
        claims=claims,
        table=table,
        run_wall_s=run_wall,
        caption=lambda v: caption(params, sizes, config["scale"], v, _device.describe(dev), failed),
        figure=lambda cap: make_figure(table, examples, cap),
        kappa=params["kappa"],
        data={s: str(data_paths[s]) for s in graphs},
        n_words=sizes,
        first_words={s: graphs[s][0][:10] for s in graphs},
        example_clusters=examples,
        recall_range={
            s: {f"{a:g}": r for a, r in recall_range(table, s, params["range_threshold"]).items()} for s in graphs
        },
        substitutions="none (project extension: random U[0,1] patterns stand for the words)",
    )


def gather_target(config: dict, shards: list[Path], out_prefix: Path) -> dict:
    """Draw the target from shard runs, one or more sources each (e.g. USF and EAT run apart on a GPU).

    The figure stage needs only what the shards wrote: their summary tables (``<prefix>.csv``, one block of rows
    per source) and, from their metadata, the example clusters, word counts and first words."""
    tables, metas = read_shards(shards)
    if any(m.get("partial") for m in metas):
        raise ValueError("a word-association shard did not finish (only finished shards can be gathered)")
    table = pd.concat(tables, ignore_index=True).sort_values(["source", "a", "quantity", "x"], kind="stable")
    table = table.reset_index(drop=True)
    merged = {key: {k: v for m in metas for k, v in m[key].items()}
              for key in ("example_clusters", "n_words", "first_words", "data", "recall_range")}
    tr = begin_target(config, NAME)
    params = tr.params
    device = shard_devices(metas)
    tr = TargetRun(config=config, params=params, device=device, dtype=tr.dtype, started=tr.started)
    claims = evaluate_claims(table, params["range_threshold"])
    failed = [c.id for c in claims if not c.passed]
    sizes = merged["n_words"]
    return finish_target(
        tr,
        out_prefix,
        paper=PAPER,
        paper_key=PAPER_KEY,
        claims=claims,
        table=table,
        run_wall_s=max(m["run_wall_time_s"] for m in metas),
        caption=lambda v: caption(params, sizes, config["scale"], v, device, failed),
        figure=lambda cap: make_figure(table, merged["example_clusters"], cap),
        kappa=params["kappa"],
        shards=shard_summary(shards, metas),
        **merged,
        substitutions="none (project extension: random U[0,1] patterns stand for the words)",
    )


def main(argv: list[str] | None = None) -> None:
    p = cli.parser(NAME, __doc__)
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
        cli.print_summary(gather_target(cfg, args.shards, args.out_prefix))
        return
    cli.print_summary(run_target(cfg, {s: getattr(args, s) for s in SOURCES}, args.out_prefix, args.threads))


if __name__ == "__main__":
    main()
