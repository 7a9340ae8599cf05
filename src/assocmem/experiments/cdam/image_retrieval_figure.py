"""Figure stage of ``fig_cdam_image_retrieval``: the score table, claims, caption and figure from the run table and
the example final states alone (the model run is described in :mod:`assocmem.experiments.cdam_image_retrieval`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .image_retrieval import AUTHOR_MAX_MAD, AUTHOR_VALUES, DATASET_NOTES, NAME, PAPER, PAPER_KEY, SMALL_A_MIN


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, P, a): mean and sd of the score over seeds, mean own correlation, and the author's score
    where reported (Fashion-MNIST)."""
    g = raw.groupby(["dataset", "n_stored", "a"], sort=True)
    table = g.agg(score=("score", "mean"), score_sd=("score", lambda x: float(np.std(x, ddof=0))),
                  own_correlation=("own_correlation", "mean"), n_seeds=("seed", "nunique")).reset_index()
    table["author_value"] = [AUTHOR_VALUES.get(a, {}).get(int(P), np.nan) if ds == "fashion_mnist" else np.nan
                             for ds, a, P in zip(table["dataset"], table["a"], table["n_stored"])]
    return table


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    """Spec E6 claims on the P the author reports (10, 20, 30) that are in the table."""
    ref = table.dropna(subset=["author_value"])
    if ref.empty:
        raise ValueError("no (a, P) reported by the author in the table")

    def score(a, P):
        return float(ref.loc[np.isclose(ref["a"], a) & (ref["n_stored"] == P), "score"].iloc[0])

    Ps = sorted(ref["n_stored"].unique())
    small = {P: score(0.1, P) for P in Ps}
    auto = {P: score(1.0, P) for P in Ps}
    c1 = Claim(
        id="small_a_retrieves_all",
        statement="a = 0.1 (item on a grey mean-subtracted background) tells almost every memory apart, better "
                  "than plain auto-association (a = 1) at the largest P",
        paper_value="a = 0.1: 1.0/1.0/1.0; a = 1: 0.8/0.8/0.67 at P = 10/20/30",
        our_value="a = 0.1: " + "/".join(f"{v:.2f}" for v in small.values()) + "; a = 1: "
                  + "/".join(f"{v:.2f}" for v in auto.values()) + f" at P = {'/'.join(str(P) for P in Ps)}",
        tolerance=f"a = 0.1 score >= {SMALL_A_MIN} at every P and > a = 1 at the largest P",
        passed=bool(min(small.values()) >= SMALL_A_MIN and small[Ps[-1]] > auto[Ps[-1]]),
    )
    worst = {P: float(ref.loc[ref["n_stored"] == P].sort_values("score")["a"].iloc[0]) for P in Ps}
    c2 = Claim(
        id="intermediate_a_worst",
        statement="a = 0.5 is the worst setting (neither the item nor its distinctive residue dominates)",
        paper_value="a = 0.5: 0.5/0.15/0.1, the lowest at every P",
        our_value="lowest-scoring a per P: " + ", ".join(f"P={P}: a={a:g}" for P, a in worst.items()),
        tolerance="a = 0.5 has the lowest mean score at every P",
        passed=bool(all(np.isclose(a, 0.5) for a in worst.values())),
    )
    diffs = (ref["score"] - ref["author_value"]).abs()
    per_a = ref.assign(d=diffs).groupby("a")["d"].mean()
    c3 = Claim(
        id="matches_author_scores",
        statement="Scores match the author's released single run",
        paper_value="; ".join(f"a={a:g}: " + "/".join(f"{v:g}" for v in d.values())
                              for a, d in AUTHOR_VALUES.items()),
        our_value=f"mean |ours - author| = {diffs.mean():.3f} (per a: "
                  + ", ".join(f"{a:g}: {v:.2f}" for a, v in per_a.items()) + ")",
        tolerance=f"mean abs difference over all reported (a, P) < {AUTHOR_MAX_MAD} (author: single unseeded run)",
        passed=bool(diffs.mean() < AUTHOR_MAX_MAD),
    )
    return [c1, c2, c3]


def caption(params: dict, dataset: str, scale: str, verdict_text: str, device: str) -> str:
    avals = ", ".join(f"{a:g}" for a in params["a_values"])
    return (
        f"CDAM 'non-traditional auto-association' (Burns 2024, ICML; spec E6). Data: the first P images of the "
        f"{DATASET_NOTES.get(dataset, dataset)}, pixels scaled to [0, 1], n = 784; empty memory graph "
        f"(Q = a Xi; h = 1 - a has no effect). Scale '{scale}': P in "
        f"{{{', '.join(str(P) for P in params['n_stored'])}}}, {params['seeds']} "
        f"seed(s) of the cue noise {params['noise']:g} * (U[0,1) - 1/2), every image cued; beta = {params['beta']:g}, "
        f"eta = {params['eta']:g}, kappa = {params['kappa']:g}, T = {params['steps']}; a in {{{avals}}}. Score: "
        f"fraction of memories whose own cue's final state is the one most correlated with them. Lines: mean over "
        f"seeds (bars: sd); crosses: the author's single unseeded run. Right: final states for the first 5 cues at "
        f"each a (seed 0, largest P). Device: {device}. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, examples: dict, caption_text: str):
    """Score against P per a (left); the example final states, one row per a (right)."""
    plt, sns = pyplot()
    a_vals = sorted(table["a"].unique(), reverse=True)
    states = np.asarray(examples["states"])
    n_ex = states.shape[1]
    fig = plt.figure(figsize=(11, 4.2))
    gs = fig.add_gridspec(len(a_vals), 2 + n_ex, width_ratios=[3.5, 0.3] + [1] * n_ex)
    ax = fig.add_subplot(gs[:, 0])
    palette = sns.color_palette("viridis", n_colors=len(a_vals))
    for color, a in zip(palette, a_vals):
        sub = table[np.isclose(table["a"], a)].sort_values("n_stored")
        ax.errorbar(sub["n_stored"], sub["score"], yerr=sub["score_sd"], marker="o", ms=3, color=color,
                    capsize=2, label=f"a={a:g}")
        ref = sub.dropna(subset=["author_value"])
        ax.scatter(ref["n_stored"], ref["author_value"], marker="x", s=40, color=color, zorder=5)
    ax.scatter([], [], marker="x", color="0.3", label="author (released)")
    ax.set_xlabel("stored images P")
    ax.set_xticks(sorted(table["n_stored"].unique()))
    ax.set_ylabel("retrieval score")
    ax.set_ylim(-0.03, 1.05)
    ax.legend(fontsize=7, loc="lower left")
    for i, a in enumerate(a_vals):
        k = examples["a"].index(a)
        for j in range(n_ex):
            axi = fig.add_subplot(gs[i, 2 + j])
            axi.imshow(states[k, j].reshape(examples["shape"]), cmap="gray")
            axi.set_xticks([])
            axi.set_yticks([])
            axi.grid(False)
            if j == 0:
                axi.set_ylabel(f"a={a:g}", fontsize=7)
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    """Summarize the run table (:func:`summarize`), test the claims and write ``<out_prefix>.{png,pdf,csv,json}``."""
    tr = stages.figure_run(config, NAME, provenance)
    params = tr.params
    dataset = params["dataset"]
    table = summarize(runs.table)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"],
        caption=lambda v: caption(params, dataset, config["scale"], v, tr.device),
        figure=lambda cap: make_figure(table, runs.extras["examples"], cap),
        kappa=params["kappa"],
        data=provenance["data"][dataset],
        datasets={dataset: DATASET_NOTES.get(dataset, dataset)},
        substitutions=("none" if dataset == "fashion_mnist"
                       else f"{dataset} instead of Fashion-MNIST (beyond the paper)"),
    )
