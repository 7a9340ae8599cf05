"""Figure stage of ``fig_cdam_automata``: the tables, claims, caption and figure from the run table and the released
runs' trace alone (the model run is described in :mod:`assocmem.experiments.cdam_automata`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .automata import CHARACTERS, DFA_COUNTS, DFA_MIN_CORRECT, FACTS, NAME, PAPER, PAPER_KEY, RELEASED


def split_runs(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The family-tree rows and the DFA rows of the run table, each with its own columns and plain dtypes (as
    :func:`.automata.run` and :func:`.automata.run_dfas` return them)."""
    is_dfa = table["kind"] == "dfa"
    tree = table[~is_dfa].dropna(axis=1, how="all").astype({"correct": bool})
    dfa = table[is_dfa].dropna(axis=1, how="all").astype({c: "int64" for c in DFA_COUNTS})
    return tree.reset_index(drop=True), dfa.reset_index(drop=True)


def summarize_dfas(raw: pd.DataFrame) -> pd.DataFrame:
    """Per DFA: mean and sd over seeds of the fraction of correct final states (rows of kind ``dfa``)."""
    g = raw.groupby(["kind", "start", "family", "n_states", "n_symbols"], sort=False)
    return g.agg(fraction_correct=("correct_fraction", "mean"),
                 fraction_correct_sd=("correct_fraction", lambda x: float(np.std(x))),
                 n_strings=("n_strings", "sum"), n_seeds=("seed", "nunique")).reset_index()


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Per family-tree transition or released run: fraction of seeds that reached the expected characters, and the
    characters reached with seed 0."""
    return raw.groupby(["kind", "start", "inputs", "expected"], sort=False).agg(
        fraction_correct=("correct", "mean"), n_seeds=("seed", "nunique"),
        reached_seed0=("reached", "first")).reset_index()


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    """The family tree's transitions and released runs, and (with DFA rows) the DFAs' final states."""
    tr = table[table["kind"] == "transition"]
    rr = table[table["kind"] == "released_run"]
    c1 = Claim(
        id="transitions_follow_the_family_tree",
        statement="Every defined (character, relation) input moves the state to the right character",
        paper_value="the family-tree automaton follows its edges",
        our_value=f"mean fraction correct over the 12 transitions and seeds: {tr['fraction_correct'].mean():.3f}",
        tolerance="1.0 (every transition, every seed)",
        passed=bool(len(tr) == len(FACTS) and (tr["fraction_correct"] == 1.0).all()),
    )
    c2 = Claim(
        id="released_runs_reproduce",
        statement="The author's three released input sequences visit the same characters",
        paper_value="; ".join(f"{s} [{' '.join(i)}] -> {' '.join(e)}" for s, i, e in RELEASED),
        our_value="; ".join(f"{r.start} [{r.inputs}] -> {r.reached_seed0} ({r.fraction_correct:.2f} of seeds)"
                            for r in rr.itertuples()),
        tolerance="every run matches in every seed",
        passed=bool(len(rr) == len(RELEASED) and (rr["fraction_correct"] == 1.0).all()),
    )
    claims = [c1, c2]
    dfa = table[table["kind"] == "dfa"] if "kind" in table else table.iloc[:0]
    if len(dfa):
        worst = dfa.loc[dfa["fraction_correct"].idxmin()]
        claims.append(Claim(
            id="dfa_final_states_correct",
            statement="CDAM runs general DFAs (parity, divisibility by 3, random 10-50 states) on random strings: "
                      "the final state is correct",
            paper_value=f">= {DFA_MIN_CORRECT:.0%} of final states correct (spec E7)",
            our_value="; ".join(f"{r.start} ({int(r.n_states)} states): {r.fraction_correct:.3f}"
                                for r in dfa.itertuples())
                      + f"; lowest {worst['fraction_correct']:.3f} ({worst['start']})",
            tolerance=f"fraction correct >= {DFA_MIN_CORRECT} for every DFA (mean over seeds)",
            passed=bool((dfa["fraction_correct"] >= DFA_MIN_CORRECT).all()),
        ))
    return claims


def caption(params: dict, scale: str, verdict_text: str) -> str:
    return (
        f"CDAM finite automata (Burns 2024, ICML; spec E7). Top: the family-tree automaton: 4 characters and 8 "
        f"relations as U[0,1] random vectors of n = {params['n']} units; 12 composite patterns [first k = "
        f"{params['k']} units of the character | rest of the relation], each with one edge to its target character; "
        f"characters with self-loops; p = 16, raw adjacency. a = {params['a']:g}, h = {params['h']:g}, "
        f"beta = {params['beta']:g}, eta = {params['eta']:g}, kappa = {params['kappa']:g}, noise 0; {params['steps']} "
        f"steps before and after each input (input = overwrite units k..n-1 with the relation). Scale '{scale}': "
        f"{params['seeds']} seed(s). Panels: correlation of the state with each character over time for the author's "
        f"three released runs (seed 0); dotted lines mark inputs. Bottom: general DFAs (parity, divisibility by 3 "
        f"read MSB first, random DFAs with {', '.join(map(str, params['dfa_random_states']))} states over "
        f"{params['dfa_symbols']} symbols): one pattern per state (self-loop) and one composite [first "
        f"{params['dfa_k']} units of the state | rest of the symbol] per (state, symbol) with an edge to the next "
        f"state, n = {params['dfa_n']}; {params['dfa_strings']} random strings of length {params['dfa_length']} per "
        f"DFA, {params['dfa_steps']} steps per symbol; fraction of correct final states, mean +- sd over "
        f"{params['dfa_seeds']} seed(s) (claim >= {DFA_MIN_CORRECT:.0%}). Verdict: {verdict_text}."
    )


def make_figure(trace: np.ndarray, params: dict, caption_text: str, dfa: pd.DataFrame | None = None):
    """Correlation with each character over time for the released runs (``trace``: step, run, character); below,
    the DFAs' fraction of correct final states (``dfa``: :func:`summarize_dfas`)."""
    plt, sns = pyplot()
    rows = 2 if dfa is not None and len(dfa) else 1
    fig = plt.figure(figsize=(4 * len(RELEASED), 3.2 * rows))
    gs = fig.add_gridspec(rows, len(RELEASED))
    axes = [fig.add_subplot(gs[0, 0])]
    axes += [fig.add_subplot(gs[0, i], sharey=axes[0]) for i in range(1, len(RELEASED))]
    colors = sns.color_palette("colorblind", 4)
    for b, (ax, (start, inputs, expected)) in enumerate(zip(np.atleast_1d(axes), RELEASED)):
        for c, name in enumerate(CHARACTERS):
            ax.plot(trace[:, b, c], color=colors[c], label=name)
        for i, rel in enumerate(inputs):
            x = params["steps"] * (i + 1)
            ax.axvline(x, color="0.4", ls=":", lw=0.8)
            ax.text(x + 2, 1.02, rel, fontsize=7, va="bottom")
        ax.set_title(f"start {start}: expected {' -> '.join(expected)}", fontsize=8, pad=14)
        ax.set_xlabel("step")
    np.atleast_1d(axes)[0].set_ylabel("correlation with character")
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="lower left")
    if rows == 2:
        ax = fig.add_subplot(gs[1, :])
        x = np.arange(len(dfa))
        ax.bar(x, dfa["fraction_correct"], yerr=dfa["fraction_correct_sd"], color="0.6", capsize=3)
        ax.axhline(DFA_MIN_CORRECT, color="C3", ls="--", lw=1, label=f"claim: {DFA_MIN_CORRECT:.0%}")
        ax.set_xticks(x, [f"{r.start}\n({int(r.n_states)} states)" for r in dfa.itertuples()], fontsize=7)
        ax.set_ylabel("fraction of correct final states")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title("general DFAs on random strings", fontsize=8)
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    """Summarize the family-tree and DFA rows, test the claims and write ``<out_prefix>.{png,pdf,csv,json}``."""
    tr = stages.figure_run(config, NAME, provenance)
    params = tr.params
    raw, dfa_raw = split_runs(runs.table)
    dfa = summarize_dfas(dfa_raw)
    table = pd.concat([summarize(raw), dfa], ignore_index=True)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"],
        caption=lambda v: caption(params, config["scale"], v),
        figure=lambda cap: make_figure(np.asarray(runs.extras["trace"]), params, cap, dfa),
        dtype=f"float64 (family tree), {tr.dtype} (DFAs)", kappa=params["kappa"],
        data="synthetic U[0,1] patterns (as in the paper)",
        substitutions="none; general DFAs (spec E7, second part) use project choices: random strings and DFAs, "
                      "n, k, steps per symbol and string length from the config",
    )
