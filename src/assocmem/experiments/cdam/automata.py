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
strings of length ``dfa_length``; all strings of one DFA run as one batch; ``dfa_seeds`` independent draws
of the patterns, random DFAs and strings (separate from the family tree's ``seeds``: the DFA part costs far more).
Claim (spec): >= 99% of final states correct. ``beta * k * Var(xi)`` (Var = 1/12) is kept around 10 or more as the
spec says.

Not yet done: nothing; both parts of spec E7 are built.

Run without Snakemake::

    python -m assocmem run fig_cdam_automata
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ...registry import PAPERS, Target
from ... import cdam
from ... import device as _device
from ... import graphs as _graphs
from ...results import begin_target
from ...stages import Runs

NAME = "cdam_automata"
TARGET = "fig_cdam_automata"
PAPER_KEY = "cdam"
PAPER = PAPERS["cdam"].citation
TARGET_SPECS = (
    Target("fig_cdam_automata", PAPERS["cdam"], NAME, __name__, data=(), threads=1,
           summary="E7: the family-tree automaton and general DFAs"),
)
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
    A = _graphs.automaton(len(CHARACTERS), [CHARACTERS.index(t) for _, _, t in FACTS])
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
DFA_COUNTS = ("n_states", "n_symbols", "n_strings")  # integer columns of the DFA rows


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
    return Xi, _graphs.automaton(nq, delta.reshape(-1)), sym


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
        dfas += [(f"random{q}", "random", random_dfa(q, params["dfa_symbols"], gen))
                 for q in params["dfa_random_states"]]
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


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: the family-tree rows (:func:`run`) and then the DFA rows (:func:`run_dfas`) in one table,
    told apart by ``kind``; each leaves the other's columns empty (nullable dtypes). Extras: the correlation ``trace``
    of the released runs (seed 0). The figure is in :mod:`.cdam_automata_figure`."""
    tr = begin_target(config, NAME, threads)
    params = tr.params
    raw, trace = run(params, seed=config["seed"])
    dfa = run_dfas(params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    table = pd.concat([raw.astype({"correct": "boolean"}), dfa.astype({c: "Int64" for c in DFA_COUNTS})],
                      ignore_index=True)
    return Runs(table, {"trace": trace.tolist()})
