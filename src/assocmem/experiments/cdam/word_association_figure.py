"""Figure stage of ``fig_cdam_word_association``: means over seeds, claims, caption and figure from the run table and
the run's example clusters alone (the model run, and what it computes, are described in
:mod:`assocmem.experiments.cdam_word_association`); also the figure drawn from shard runs (:func:`gather_target`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import device as _device
from ... import cdam, stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, begin_target, finish_target, read_shards, shard_devices, shard_summary
from .word_association import (AUTO_MAX_D1, DIST_SLACK, GRAPH_NAMES, NAME, PAPER, PAPER_KEY, SOURCE_NAMES,
                                    SOURCES)


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of every (source, a, quantity, x)."""
    raw = raw.assign(x=raw["x"].fillna(-1))
    g = raw.groupby(["source", "a", "quantity", "x"], sort=True)
    out = g.agg(
        h=("h", "first"), mean=("value", "mean"), sd=("value", lambda v: float(np.std(v))), n_seeds=("seed", "nunique")
    ).reset_index()
    out["x"] = out["x"].where(out["x"] >= 0, np.nan)
    return out


def _q(table: pd.DataFrame, source: str, quantity: str) -> pd.DataFrame:
    return table[(table["source"] == source) & (table["quantity"] == quantity)]


def recall_range(table: pd.DataFrame, source: str, threshold: float) -> dict[float, int]:
    """Per ``a``: the range of recall (:func:`assocmem.cdam.recall_range`) at ``threshold``."""
    return {float(a): cdam.recall_range(sub.sort_values("x")["mean"].to_numpy(), threshold)
            for a, sub in _q(table, source, "corr_vs_distance").groupby("a")}


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


def write_figure(tr: TargetRun, runs: stages.Runs, out_prefix: Path, run_wall: float | None, data: dict) -> dict:
    """The figure stage: summary table, claims, caption, figure and metadata from the raw run rows and the run's
    extras (word counts, first words, example clusters); ``data``: the edge list of each source (source -> path)."""
    return _finish(tr, summarize(runs.table), runs.extras, out_prefix, run_wall, data)


def _finish(tr: TargetRun, table: pd.DataFrame, extras: dict, out_prefix: Path, run_wall: float | None, data: dict,
            **more) -> dict:
    """Claims, caption, figure and metadata from the summary table and the extras; ``more``: further metadata."""
    params, config = tr.params, tr.config
    device = tr.device if isinstance(tr.device, str) else _device.describe(tr.device)
    claims = evaluate_claims(table, params["range_threshold"])
    sizes, examples = extras["n_words"], extras["example_clusters"]
    failed = [c.id for c in claims if not c.passed]
    return finish_target(
        tr,
        out_prefix,
        paper=PAPER,
        paper_key=PAPER_KEY,
        claims=claims,
        table=table,
        run_wall_s=run_wall,
        caption=lambda v: caption(params, sizes, config["scale"], v, device, failed),
        figure=lambda cap: make_figure(table, examples, cap),
        kappa=params["kappa"],
        data=data,
        n_words=sizes,
        first_words=extras["first_words"],
        example_clusters=examples,
        recall_range={
            s: {f"{a:g}": r for a, r in recall_range(table, s, params["range_threshold"]).items()} for s in sizes
        },
        substitutions="none (project extension: random U[0,1] patterns stand for the words)",
        **more,
    )


def gather_target(config: dict, shards: list[Path], out_prefix: Path) -> dict:
    """Draw the target from shard runs of the one-call form (``python -m assocmem.experiments.cdam.word_association
    run``), one or more sources each (e.g. USF and EAT run apart on a GPU): from their summary tables
    (``<prefix>.csv``) and, from their metadata, the example clusters, word counts and first words."""
    tables, metas = read_shards(shards)
    if any(m.get("partial") for m in metas):
        raise ValueError("a word-association shard did not finish (only finished shards can be gathered)")
    table = pd.concat(tables, ignore_index=True).sort_values(["source", "a", "quantity", "x"], kind="stable")
    merged = {key: {k: v for m in metas for k, v in m[key].items()}
              for key in ("example_clusters", "n_words", "first_words", "data")}
    tr = begin_target(config, NAME)
    tr = TargetRun(config=config, params=tr.params, device=shard_devices(metas), dtype=tr.dtype, started=tr.started)
    return _finish(tr, table.reset_index(drop=True), merged, out_prefix, max(m["run_wall_time_s"] for m in metas),
                   merged["data"], shards=shard_summary(shards, metas))


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs, out_prefix, provenance["run_wall_time_s"],
                        {s: provenance["data"][s] for s in runs.extras["n_words"]})
