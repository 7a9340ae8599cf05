"""Correlation-aware vs naive recall in a binary memory (target ``fig_correlation_aware_recall``).

Savin, Dayan & Lengyel (NIPS 2013), "Correlations strike back (again): the case of associative memory
retrieval"; project spec experiments E1 (Hebb rule, error vs M), E2 (covariance-rule control), E3
(background weight statistics) and, as curves without a claim, the pre- and post-synaptically gated rules of
E4. The paper's own figures were not at hand: the claims come from the spec.

What is computed: ``N`` neurons, patterns with coding level ``f``, ``M`` patterns stored by each rule in
``rules`` (the same patterns for all): Hebb ``Omega(a, b) = ab``, covariance ``Omega(a, b) = (a - f)(b - f)``,
Hopfield, presynaptically gated ``Omega(a, b) = a (b - f)`` and postsynaptically gated ``(a - f) b`` (the gated
tables are the usual ones; the spec marks them unverified). The first pattern is cued with noise (1 -> 0
with ``r1``, 0 -> 1 with ``r0``) and recalled by
Gibbs sampling of ``p(x | W, x~)`` (``sweeps`` sweeps, majority of the last ``samples``) under two
storage likelihoods: the *naive* one (synapses independent, ``Sigma = (M - 1) v I``) and the
*correlation-aware* one (``Sigma = (M - 1)[(v - 2c) I + c B B^T]``, used through Woodbury; for the gated
rules the ordered-pair covariance with separate shared-pre, shared-post and reciprocal terms, see
:mod:`assocmem.correlated_recall`). Every
(rule, decoder, trial) is an independent chain, one batch per M (each M draws from a generator of its own, so the
paper-scale run is sharded by M), run once from the cue and, with
``prior_chains``, once more from a prior sample as a convergence check. E3: the empirical per-pattern
``v``, ``c`` and disjoint-pair covariance of background weights over ``stats_sets`` pattern sets against
the derived values (gated rules: also ``c_pre``, ``c_post``, ``c_x`` and the reciprocal ``rho``; plotted,
outside the claim, since the spec gives no values for them).

Substitutions: the exact Gibbs decoder stands in for the paper's neural dynamics and its plausible
approximation (unverified details in the spec, not built); no cascade synapses. The spec states no claim
for the gated rules, so their recall curves are plotted without one. All arithmetic in float64.

Run without Snakemake::

    python -m assocmem run fig_correlation_aware_recall --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import correlated_recall as cr
from ... import device as _device
from ...results import begin_target
from ...stages import Runs

NAME = "savin_correlated_recall"
TARGET = "fig_correlation_aware_recall"
PAPER_KEY = "savin"
PAPER = PAPERS["savin"].citation
TARGET_SPECS = (
    Target("fig_correlation_aware_recall", PAPERS["savin"], NAME, __name__, data=(), threads=1,
           summary="recall error vs stored patterns, naive and correlation-aware decoders", shard_axis="m_values"),
)
DECODERS = ("naive", "aware")
COINCIDE_TOL = 0.01  # spec E2: mean error difference within 0.01
STATS_SE = 3.0  # spec E3: within 3 standard errors
GATED = ("pre_gated", "post_gated")
RULE_NAMES = {"hebb": "Hebb", "covariance": "covariance", "hopfield": "Hopfield", "pre_gated": "presynaptically gated",
              "post_gated": "postsynaptically gated"}
RULE_SHORT = {"hebb": "Hebb", "covariance": "cov", "hopfield": "Hopf", "pre_gated": "pre-g", "post_gated": "post-g"}
SYMMETRIC_QUANTITIES = ("v", "c", "d")  # see correlated_recall.background_statistics
GATED_QUANTITIES = ("v", "c_pre", "c_post", "c_x", "rho", "d")


def run(params: dict, *, seed: int, device: torch.device | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-trial errors ``raw`` (every M's chains in one batch, from a generator of that M's own, so M's rows do not
    depend on the other M: the paper-scale run is sharded by ``m_values``) and the E3 statistics ``stats``."""
    device = device or torch.device("cpu")
    if params["samples"] > params["sweeps"]:
        raise ValueError("samples must not exceed sweeps")
    raw = pd.concat([_chains(params, m, _device.generator(seed * 1_000_003 + 1_000 + m), device)
                     for m in params["m_values"]], ignore_index=True)
    return raw, _statistics(params, seed)


def _chains(params: dict, m: int, g: torch.Generator, device: torch.device) -> pd.DataFrame:
    """All recall chains with ``m`` stored patterns (rules x decoders x starts x trials) in one batch."""
    n, f, r1, r0 = params["n"], params["f"], params["r1"], params["r0"]
    ms, trials, rules = [m], params["trials"], list(params["rules"])
    starts = ["cue", "prior"] if params["prior_chains"] else ["cue"]
    # problems: (M, trial); the same patterns and cue for every rule, decoder and start
    P, Mmax = len(ms) * trials, max(ms)
    X = cr.sample_patterns((P, Mmax, n), f, g)
    m_p = torch.tensor(ms, dtype=torch.float64).repeat_interleave(trials)
    mask = (torch.arange(Mmax)[None, :] < m_p[:, None]).to(torch.float64)
    target = X[:, 0]
    cue = cr.corrupt(target, r1, r0, g)
    prior = cr.sample_patterns((P, n), f, g)
    tables = torch.stack([cr.rule_table(r, f) for r in rules])  # (R, 2, 2)
    stats = [cr.rule_statistics(t, f) for t in tables]
    W = torch.cat([cr.store(X.to(device), t.to(device), mask.to(device)) for t in tables])  # (R * P, N, N)
    # chains: (rule, decoder, start, problem) flattened
    grid = torch.cartesian_prod(torch.arange(len(rules)), torch.arange(len(DECODERS)), torch.arange(len(starts)),
                                torch.arange(P))
    ri, di, si, pi = grid.unbind(-1)
    cst = cr.chain_statistics(stats, ri)
    consts = cr.decoder_constants(cst, m_p[pi], n, di == DECODERS.index("aware"))
    init = torch.where((si == 0)[:, None], cue[pi], prior[pi])
    # symmetric and asymmetric (gated) rules in separate batches: symmetric ones take the cheaper updates
    asym = torch.tensor([s["delta"] != 0 for s in stats])[ri]
    est = torch.zeros(len(grid), n, dtype=torch.float64)
    for group in (~asym, asym):
        b = group.nonzero().squeeze(-1)
        if len(b) == 0:
            continue
        e, _ = cr.gibbs_decode(W, cue[pi[b]], init[b], tables[ri[b]], cst["mean"][b],
                               {key: val[b] for key, val in consts.items()}, m_p[pi[b]], f, r1, r0,
                               sweeps=params["sweeps"], samples=params["samples"], generator=g,
                               w_index=(ri[b] * P + pi[b]).to(device))
        est[b] = e.cpu()
    est = est.cpu()
    err = (est != target[pi]).to(torch.float64).mean(-1)
    cue_err = (cue != target).to(torch.float64).mean(-1)
    # agreement of the cue- and prior-started chains of the same (rule, decoder, problem)
    est4 = est.reshape(len(rules), len(DECODERS), len(starts), P, n)
    agree = (est4[:, :, 0] == est4[:, :, -1]).to(torch.float64).mean(-1)  # (R, D, P)
    rows = []
    for b in range(len(grid)):
        r, d, s_, p = (int(t) for t in grid[b])
        rows.append(dict(rule=rules[r], m=int(m_p[p]), trial=p % trials, decoder=DECODERS[d], start=starts[s_],
                         error=float(err[b]), cue_error=float(cue_err[p]), chain_agreement=float(agree[r, d, p])))
    return pd.DataFrame(rows)


def _statistics(params: dict, seed: int) -> pd.DataFrame:
    """The E3 statistics per rule: measured on stored-pattern backgrounds against the derived values."""
    f, rules = params["f"], list(params["rules"])
    tables = torch.stack([cr.rule_table(r, f) for r in rules])
    stats = [cr.rule_statistics(t, f) for t in tables]
    srows = []
    for r, t in enumerate(tables):
        emp = cr.background_statistics(t, f, params["stats_m"] - 1, params["stats_sets"],
                                       _device.generator(seed * 1_000_003 + 17 + r))
        derived = {**stats[r], "d": 0.0}
        for q in (GATED_QUANTITIES if stats[r]["delta"] != 0 else SYMMETRIC_QUANTITIES):
            srows.append(dict(rule=rules[r], quantity=q, empirical=emp[q][0], se=emp[q][1], derived=derived[q]))
    return pd.DataFrame(srows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: the per-chain errors (:func:`run`), with the E3 statistics in the extras (``statistics``, one
    record per rule and quantity); the figure is in :mod:`.savin_correlated_recall_figure`."""
    tr = begin_target(config, NAME, threads)
    raw, stats = run(tr.params, seed=config["seed"], device=tr.device)
    return Runs(raw, {"statistics": stats.to_dict("records")})
