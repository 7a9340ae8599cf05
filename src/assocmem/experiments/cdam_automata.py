"""A finite automaton in CDAM: the family-tree demo (target ``fig_cdam_automata``; CDAM spec E7, first part).

Burns (ICML 2024): 4 character states (Homer, Marge, Bart, Lisa) and 8 relation inputs, all random
U[0,1] vectors of n units. One composite pattern per defined (character, relation) -- the first ``k``
units from the character, the rest from the relation -- with one edge to the target character; each
character has a self-loop; p = 16, **raw** adjacency (not normalized). a = 0, h = 1, beta = 0.5,
eta = 0.1, kappa = 1, noise = 0. Start at a character, run ``steps``; an input overwrites units
``k..n-1`` with the relation vector, then ``steps`` more. The state read out is the character whose
pattern correlates most with the state.

Not yet done (spec E7, second part): general DFAs (parity, divisibility by 3, random 10-50 state DFAs).

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

from . import cli
from .. import cdam
from .. import config as _config
from .. import device as _device
from ..results import Claim, add_caption, target_meta, verdict, write_target

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
    return [c1, c2]


def caption(params: dict, scale: str, verdict_text: str) -> str:
    return (
        f"CDAM family-tree automaton (Burns 2024, ICML; spec E7, first part). 4 characters and 8 relations as U[0,1] random "
        f"vectors of n = {params['n']} units; 12 composite patterns [first k = {params['k']} units of the character | rest "
        f"of the relation], each with one edge to its target character; characters with self-loops; p = 16, raw "
        f"adjacency. a = {params['a']:g}, h = {params['h']:g}, beta = {params['beta']:g}, eta = {params['eta']:g}, "
        f"kappa = {params['kappa']:g}, noise 0; {params['steps']} steps before and after each input (input = overwrite "
        f"units k..n-1 with the relation). Scale '{scale}': {params['seeds']} seed(s). Panels: correlation of the state "
        f"with each character over time for the author's three released runs (seed 0); dotted lines mark inputs. "
        f"General DFAs (parity, mod 3, random) are not done yet. Verdict: {verdict_text}."
    )


def make_figure(trace: torch.Tensor, params: dict, caption_text: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(RELEASED), figsize=(4 * len(RELEASED), 3.2), sharey=True)
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
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def run_target(config: dict, out_prefix: Path, threads: int | None = None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    params = _config.experiment_params(config, NAME)
    t0 = time.perf_counter()
    raw, trace = run(params, seed=config["seed"])
    run_wall = time.perf_counter() - t0
    table = summarize(raw)
    claims = evaluate_claims(table)
    v = verdict(claims)
    cap = caption(params, config["scale"], v)
    fig = make_figure(trace, params, cap)
    meta = target_meta(
        config, paper=PAPER, paper_key=PAPER_KEY, params=params, device=torch.device("cpu"), dtype=torch.float64,
        caption=cap, claims=claims, started=t0, run_wall_s=run_wall, kappa=params["kappa"],
        data="synthetic U[0,1] patterns (as in the paper)",
        substitutions="none; only the family-tree demo (general DFAs not yet done)",
    )
    return write_target(out_prefix, figure=fig, table=table, meta=meta)


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET, argv=argv)


if __name__ == "__main__":
    main()
