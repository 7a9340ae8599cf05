"""Finite automata in CDAM: the family-tree demo and general DFAs (target ``fig_cdam_automata``; CDAM spec E7).

Burns (ICML 2024): 4 character states (Homer, Marge, Bart, Lisa) and 8 relation inputs, all random
U[0,1] vectors of n units. One composite pattern per defined (character, relation) -- the first ``k``
units from the character, the rest from the relation -- with one edge to the target character; each
character has a self-loop; p = 16, **raw** adjacency (not normalized). a = 0, h = 1, beta = 0.5,
eta = 0.1, kappa = 1, noise = 0. Start at a character, run ``steps``; an input overwrites units
``k..n-1`` with the relation vector, then ``steps`` more. The state read out is the character whose
pattern correlates most with the state.

General DFAs (spec E7, second part): a DFA ``(Q, Sigma, delta)`` becomes one U[0,1] pattern per state
``q`` (with a self-loop) and one composite pattern ``[first k units of q | units k.. of symbol s]`` per
``(q, s)`` with one edge to ``delta(q, s)``; p = |Q| (1 + |Sigma|), raw adjacency, the family tree's
a, h, beta, eta, kappa. Reading a string: start at the start state's pattern, run ``dfa_steps``; each
symbol overwrites units ``k..n-1`` with the symbol's pattern, then ``dfa_steps`` more. The final state
read out (most correlated state pattern) is compared with the DFA's. DFAs: parity of the number of 1s,
divisibility by 3 of a binary number read most significant bit first, and random DFAs (uniform
transition table) with ``dfa_random_states`` states over ``dfa_symbols`` symbols; uniform random
strings of length ``dfa_length``; all strings of one DFA run as one batch; ``dfa_seeds`` independent draws of
the patterns, random DFAs and strings (separate from the family tree's ``seeds``: the DFA part costs far more). Claim (spec): >= 99% of
final states correct. ``beta * k * Var(xi)`` (Var = 1/12) is kept around 10 or more as the spec says.

Not yet done: nothing; both parts of spec E7 are built.

Run without Snakemake::

    python -m assocmem.experiments.cdam_automata run --config config/config.yaml \\
        --out-prefix results/cdam/fig_cdam_automata
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import cli
from .. import cdam
from .. import device as _device
from ..results import Claim, add_caption, begin_target, finish_target, pyplot

NAME = "cdam_automata"
TARGET = "fig_cdam_automata"
PAPER_KEY = "cdam"
PAPER = "Burns 2024, Semantically-correlated memories in a dense associative model (ICML 2024)"
CHARACTERS = ["Homer", "Marge", "Bart", "Lisa"]
RELATIONS = ["brother", "sister", "mother", "father", "son", "daughter", "husband", "wife"]
FACTS = [("Homer", "wife", "Marge"), ("Homer", "son", "Bart"), ("Homer", "daughter", "Lisa"),
         ("Marge", "husband", "Homer"), ("Marge", "son", "Bart"), ("Marge", "daughter", "Lisa"),
         ("Lisa", "mother", "Marge"), ("Lisa", "father", "Homer"), ("Lisa", "brother", "Bart"),
         ("Bart", "mother", "Marge"), ("Bart", "father", "Homer"), ("Bart", "sister", "Lisa")]
# The author's released runs: start, inputs, characters visited after each input.
RELEASED = [("Marge", ["daughter", "daughter", "brother"], ["Lisa", "Lisa", "Bart"]),
            ("Bart", ["father", "wife", "husband"], ["Homer", "Marge", "Homer"]),
            ("Homer", ["father", "son", "mother"], ["Homer", "Bart", "Marge"])]


def build(n: int, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Memories ``(16, n)`` (characters then composites), raw adjacency ``(16, 16)`` and relation vectors ``(8, n)``."""
    C = torch.rand(len(CHARACTERS), n, generator=generator, dtype=torch.float64)
    R = torch.rand(len(RELATIONS), n, generator=generator, dtype=torch.float64)
    comp = torch.stack([torch.cat([C[CHARACTERS.index(s), :k], R[RELATIONS.index(r), k:]]) for s, r, _ in FACTS])
    Xi = torch.cat([C, comp])
    A = torch.zeros(len(Xi), len(Xi), dtype=torch.float64)
    A[range(4), range(4)] = 1.0
    for j, (_, _, t) in enumerate(FACTS):
        A[4 + j, CHARACTERS.index(t)] = 1.0
    return Xi, A, R


def simulate(Xi, A, R, starts: list[str], inputs: list[list[str]], params: dict, record: bool = False):
    """Run every start/input sequence as one batch; return characters visited ``(B, L)`` and, if
    ``record``, the correlation with the 4 characters over time ``(steps * (L + 1) + 1, B, 4)``."""
    k, steps = params["k"], params["steps"]
    sigma = torch.stack([Xi[CHARACTERS.index(s)] for s in starts])  # noise = 0: the cue is the character
    kw = dict(eta=params["eta"], kappa=params["kappa"], steps=steps, record=record)
    res = cdam.run(Xi, A, sigma, params["a"], params["h"], params["beta"], **kw)
    traces = [res.correlations[:, 0, :, :4]] if record else []
    sigma = res.state[0]
    visited = []
    for i in range(len(inputs[0])):
        sigma = sigma.clone()
        sigma[:, k:] = torch.stack([R[RELATIONS.index(seq[i]), k:] for seq in inputs])
        res = cdam.run(Xi, A, sigma, params["a"], params["h"], params["beta"], **kw)
        sigma = res.state[0]
        if record:
            traces.append(res.correlations[1:, 0, :, :4])
        visited.append(cdam.pearson(sigma, Xi[:4]).argmax(-1))
    out = torch.stack(visited, 1)
    return out, (torch.cat(traces) if record else None)


def run(params: dict, *, seed: int) -> tuple[pd.DataFrame, torch.Tensor]:
    """Per seed: the 12 single transitions and the 3 released runs; rows with expected and reached characters."""
    rows, trace = [], None
    for s in range(params["seeds"]):
        Xi, A, R = build(params["n"], params["k"], _device.generator(seed * 100_003 + s))
        got, _ = simulate(Xi, A, R, [f[0] for f in FACTS], [[f[1]] for f in FACTS], params)
        for (src, rel, tgt), g in zip(FACTS, got[:, 0].tolist()):
            rows.append(dict(seed=s, kind="transition", start=src, inputs=rel, expected=tgt, reached=CHARACTERS[g]))
        got, tr = simulate(Xi, A, R, [r[0] for r in RELEASED], [r[1] for r in RELEASED], params, record=(s == 0))
        if s == 0:
            trace = tr
        for (start, inputs, expected), g in zip(RELEASED, got.tolist()):
            rows.append(dict(seed=s, kind="released_run", start=start, inputs=" ".join(inputs),
                             expected=" ".join(expected), reached=" ".join(CHARACTERS[i] for i in g)))
    raw = pd.DataFrame(rows)
    raw["correct"] = raw["expected"] == raw["reached"]
    return raw, trace


# ----------------------------------------------------------------------------- general DFAs (spec E7, part 2)

DFA_MIN_CORRECT = 0.99  # the spec's claim: fraction of correct final states


def parity_dfa() -> torch.Tensor:
    """Transition table ``delta[q, s]`` of the parity of the number of 1s (state 0 = even)."""
    return torch.tensor([[0, 1], [1, 0]])


def mod3_dfa() -> torch.Tensor:
    """Remainder mod 3 of a binary number read most significant bit first: ``delta[r, b] = (2 r + b) mod 3``."""
    return torch.tensor([[(2 * r + b) % 3 for b in (0, 1)] for r in range(3)])


def random_dfa(n_states: int, n_symbols: int, generator: torch.Generator) -> torch.Tensor:
    """A DFA with a uniformly random transition table ``(n_states, n_symbols)``."""
    return torch.randint(0, n_states, (n_states, n_symbols), generator=generator)


def dfa_final_states(delta: torch.Tensor, strings: torch.Tensor, start: int = 0) -> torch.Tensor:
    """The DFA's own final state for every string ``(B, L)``."""
    q = torch.full((strings.shape[0],), start, dtype=torch.long)
    for i in range(strings.shape[1]):
        q = delta[q, strings[:, i]]
    return q


def build_dfa(delta: torch.Tensor, n: int, k: int, generator: torch.Generator):
    """Memories ``(|Q| + |Q||Sigma|, n)`` (states, then composites ``(q, s)`` in row-major order), raw adjacency
    (state self-loops, composite ``(q, s)`` -> ``delta(q, s)``) and symbol patterns ``(|Sigma|, n)``; float64."""
    nq, ns = delta.shape
    X = torch.rand(nq, n, generator=generator, dtype=torch.float64)
    sym = torch.rand(ns, n, generator=generator, dtype=torch.float64)
    comp = torch.cat([X[:, None, :k].expand(nq, ns, k), sym[None, :, k:].expand(nq, ns, n - k)], -1)
    Xi = torch.cat([X, comp.reshape(nq * ns, n)])
    A = torch.zeros(len(Xi), len(Xi), dtype=torch.float64)
    A[range(nq), range(nq)] = 1.0
    A[nq + torch.arange(nq * ns), delta.reshape(-1)] = 1.0
    return Xi, A, sym


def run_dfa(Xi, A, sym, n_states: int, strings: torch.Tensor, params: dict, start: int = 0) -> torch.Tensor:
    """Read every string ``(B, L)`` in CDAM as one batch; return the state read out at the end ``(B,)``."""
    k, steps = params["dfa_k"], params["dfa_steps"]
    kw = dict(eta=params["eta"], kappa=params["kappa"], steps=steps)
    sigma = Xi[start].expand(strings.shape[0], -1).clone()  # noise = 0: the cue is the start state
    sigma = cdam.run(Xi, A, sigma, params["a"], params["h"], params["beta"], **kw).state[0]
    for i in range(strings.shape[1]):
        sigma = sigma.clone()
        sigma[:, k:] = sym[strings[:, i].to(sigma.device), k:]
        sigma = cdam.run(Xi, A, sigma, params["a"], params["h"], params["beta"], **kw).state[0]
    return cdam.pearson(sigma, Xi[:n_states]).argmax(-1).cpu()


def run_dfas(params: dict, *, seed: int, device: torch.device | None = None,
             dtype: torch.dtype = torch.float64, progress: bool = True) -> pd.DataFrame:
    """One row per (seed, DFA): fraction of random strings whose final state CDAM reads out correctly."""
    device = device or torch.device("cpu")
    rows = []
    n_dfas = 2 + len(params["dfa_random_states"])
    bar = tqdm(total=params["dfa_seeds"] * n_dfas, desc=f"{NAME} DFAs", unit="DFA", disable=not progress,
               mininterval=2)
    for s in range(params["dfa_seeds"]):
        gen = _device.generator(seed * 100_003 + 50_000 + s)
        dfas = [("parity", "parity", parity_dfa()), ("mod3", "divisible by 3", mod3_dfa())]
        dfas += [(f"random{q}", "random", random_dfa(q, params["dfa_symbols"], gen)) for q in params["dfa_random_states"]]
        for name, family, delta in dfas:
            Xi, A, sym = build_dfa(delta, params["dfa_n"], params["dfa_k"], gen)
            strings = torch.randint(0, delta.shape[1], (params["dfa_strings"], params["dfa_length"]), generator=gen)
            expected = dfa_final_states(delta, strings)
            got = run_dfa(Xi.to(device, dtype), A.to(device, dtype), sym.to(device, dtype), delta.shape[0], strings,
                          params)
            rows.append(dict(seed=s, kind="dfa", start=name, family=family, n_states=delta.shape[0],
                             n_symbols=delta.shape[1], n_strings=len(strings),
                             correct_fraction=float((got == expected).double().mean())))
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


def summarize_dfas(raw: pd.DataFrame) -> pd.DataFrame:
    """Per DFA: mean and sd over seeds of the fraction of correct final states (rows of kind ``dfa``)."""
    g = raw.groupby(["kind", "start", "family", "n_states", "n_symbols"], sort=False)
    return g.agg(fraction_correct=("correct_fraction", "mean"),
                 fraction_correct_sd=("correct_fraction", lambda x: float(np.std(x))),
                 n_strings=("n_strings", "sum"), n_seeds=("seed", "nunique")).reset_index()


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.groupby(["kind", "start", "inputs", "expected"], sort=False).agg(
        fraction_correct=("correct", "mean"), n_seeds=("seed", "nunique"),
        reached_seed0=("reached", "first")).reset_index()


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
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
            our_value="; ".join(f"{r.start} ({int(r.n_states)} states): {r.fraction_correct:.3f}" for r in dfa.itertuples())
                      + f"; lowest {worst['fraction_correct']:.3f} ({worst['start']})",
            tolerance=f"fraction correct >= {DFA_MIN_CORRECT} for every DFA (mean over seeds)",
            passed=bool((dfa["fraction_correct"] >= DFA_MIN_CORRECT).all()),
        ))
    return claims


def caption(params: dict, scale: str, verdict_text: str) -> str:
    return (
        f"CDAM finite automata (Burns 2024, ICML; spec E7). Top: the family-tree automaton: 4 characters and 8 relations as "
        f"U[0,1] random "
        f"vectors of n = {params['n']} units; 12 composite patterns [first k = {params['k']} units of the character | rest "
        f"of the relation], each with one edge to its target character; characters with self-loops; p = 16, raw "
        f"adjacency. a = {params['a']:g}, h = {params['h']:g}, beta = {params['beta']:g}, eta = {params['eta']:g}, "
        f"kappa = {params['kappa']:g}, noise 0; {params['steps']} steps before and after each input (input = overwrite "
        f"units k..n-1 with the relation). Scale '{scale}': {params['seeds']} seed(s). Panels: correlation of the state "
        f"with each character over time for the author's three released runs (seed 0); dotted lines mark inputs. "
        f"Bottom: general DFAs (parity, divisibility by 3 read MSB first, random DFAs with "
        f"{', '.join(map(str, params['dfa_random_states']))} states over {params['dfa_symbols']} symbols): one pattern "
        f"per state (self-loop) and one composite [first {params['dfa_k']} units of the state | rest of the symbol] per "
        f"(state, symbol) with an edge to the next state, n = {params['dfa_n']}; {params['dfa_strings']} random strings "
        f"of length {params['dfa_length']} per DFA, {params['dfa_steps']} steps per symbol; fraction of correct final "
        f"states, mean +- sd over {params['dfa_seeds']} seed(s) (claim >= {DFA_MIN_CORRECT:.0%}). Verdict: {verdict_text}."
    )


def make_figure(trace: torch.Tensor, params: dict, caption_text: str, dfa: pd.DataFrame | None = None):
    plt, sns = pyplot()
    rows = 2 if dfa is not None and len(dfa) else 1
    fig = plt.figure(figsize=(4 * len(RELEASED), 3.2 * rows))
    gs = fig.add_gridspec(rows, len(RELEASED))
    axes = [fig.add_subplot(gs[0, 0])]
    axes += [fig.add_subplot(gs[0, i], sharey=axes[0]) for i in range(1, len(RELEASED))]
    colors = sns.color_palette("colorblind", 4)
    for b, (ax, (start, inputs, expected)) in enumerate(zip(np.atleast_1d(axes), RELEASED)):
        for c, name in enumerate(CHARACTERS):
            ax.plot(trace[:, b, c].numpy(), color=colors[c], label=name)
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


def run_target(config: dict, out_prefix: Path, threads: int | None = None) -> dict:
    tr = begin_target(config, NAME, threads)
    params = tr.params
    raw, trace = run(params, seed=config["seed"])
    dfa = summarize_dfas(run_dfas(params, seed=config["seed"], device=tr.device, dtype=tr.dtype))
    run_wall = time.perf_counter() - tr.started
    table = pd.concat([summarize(raw), dfa], ignore_index=True)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v),
        figure=lambda cap: make_figure(trace, params, cap, dfa),
        dtype=f"float64 (family tree), {tr.dtype} (DFAs)", kappa=params["kappa"],
        data="synthetic U[0,1] patterns (as in the paper)",
        substitutions="none; general DFAs (spec E7, second part) use project choices: random strings and DFAs, "
                      "n, k, steps per symbol and string length from the config",
    )


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET, argv=argv)


if __name__ == "__main__":
    main()
