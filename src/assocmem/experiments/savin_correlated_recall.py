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
(rule, decoder, trial, M) is an independent chain in one batch, run once from the cue and, with
``prior_chains``, once more from a prior sample as a convergence check. E3: the empirical per-pattern
``v``, ``c`` and disjoint-pair covariance of background weights over ``stats_sets`` pattern sets against
the derived values (gated rules: also ``c_pre``, ``c_post``, ``c_x`` and the reciprocal ``rho``; plotted,
outside the claim, since the spec gives no values for them).

Substitutions: the exact Gibbs decoder stands in for the paper's neural dynamics and its plausible
approximation (unverified details in the spec, not built); no cascade synapses. The spec states no claim
for the gated rules, so their recall curves are plotted without one. All arithmetic in float64.

Run without Snakemake::

    python -m assocmem.experiments.savin_correlated_recall --config config/config.yaml run \\
        --out-prefix results/savin/fig_correlation_aware_recall
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import correlated_recall as cr
from .. import device as _device
from ..results import Claim, add_caption, begin_target, finish_target, pyplot
from . import cli

NAME = "savin_correlated_recall"
TARGET = "fig_correlation_aware_recall"
PAPER_KEY = "savin"
PAPER = "Savin, Dayan & Lengyel 2013, Correlations strike back (again): the case of associative memory retrieval (NIPS)"
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
    """All recall chains in one batch; return per-trial errors ``raw`` and the E3 statistics ``stats``."""
    device = device or torch.device("cpu")
    n, f, r1, r0 = params["n"], params["f"], params["r1"], params["r0"]
    ms, trials, rules = list(params["m_values"]), params["trials"], list(params["rules"])
    starts = ["cue", "prior"] if params["prior_chains"] else ["cue"]
    if params["samples"] > params["sweeps"]:
        raise ValueError("samples must not exceed sweeps")
    g = _device.generator(seed)
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
    raw = pd.DataFrame(rows)
    srows = []
    for r, t in enumerate(tables):
        emp = cr.background_statistics(t, f, params["stats_m"] - 1, params["stats_sets"],
                                       _device.generator(seed * 1_000_003 + 17 + r))
        derived = {**stats[r], "d": 0.0}
        for q in (GATED_QUANTITIES if stats[r]["delta"] != 0 else SYMMETRIC_QUANTITIES):
            srows.append(dict(rule=rules[r], quantity=q, empirical=emp[q][0], se=emp[q][1], derived=derived[q]))
    return raw, pd.DataFrame(srows)


def summarize(raw: pd.DataFrame, stats: pd.DataFrame) -> pd.DataFrame:
    """Tidy table: ``kind = recall`` rows (mean bit error and SEM per rule, M, decoder incl. ``cue``, start)
    and ``kind = statistic`` rows (E3)."""
    rec = raw.groupby(["rule", "m", "decoder", "start"], sort=False).agg(
        error=("error", "mean"), sem=("error", "sem"), n_trials=("error", "size"),
        chain_agreement=("chain_agreement", "mean")).reset_index()
    # paired naive - aware difference per trial (same patterns and cue, independent chains): its SEM
    wide = raw.pivot_table(index=["rule", "m", "start", "trial"], columns="decoder", values="error").reset_index()
    wide["diff"] = wide["naive"] - wide["aware"]
    psem = wide.groupby(["rule", "m", "start"], sort=False)["diff"].sem().rename("paired_diff_sem").reset_index()
    rec = rec.merge(psem, on=["rule", "m", "start"], how="left")
    cue = raw[(raw["decoder"] == DECODERS[0]) & (raw["start"] == "cue")].groupby(["rule", "m"], sort=False).agg(
        error=("cue_error", "mean"), sem=("cue_error", "sem"), n_trials=("cue_error", "size")).reset_index()
    cue["decoder"], cue["start"] = "cue", "-"
    rec = pd.concat([cue, rec], ignore_index=True)
    rec["kind"] = "recall"
    rec["m"] = rec["m"].astype("Int64")
    st = stats.copy()
    st["kind"] = "statistic"
    return pd.concat([rec, st], ignore_index=True)


def _err(table: pd.DataFrame, rule: str, decoder: str) -> pd.Series:
    sel = table[(table["kind"] == "recall") & (table["rule"] == rule) & (table["decoder"] == decoder)
                & table["start"].isin(["cue", "-"])]
    return sel.set_index(sel["m"].astype(int))["error"].sort_index()


def _paired_sem(table: pd.DataFrame, rule: str) -> pd.Series:
    sel = table[(table["kind"] == "recall") & (table["rule"] == rule) & (table["decoder"] == "aware")
                & (table["start"] == "cue")]
    return sel.set_index(sel["m"].astype(int))["paired_diff_sem"].sort_index().fillna(0.0)


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    claims = []
    st = table[(table["kind"] == "statistic") & ~table["rule"].isin(GATED)]  # gated rules: plotted, no spec claim
    if len(st):
        dev = (st["empirical"] - st["derived"]).abs() / st["se"]
        claims.append(Claim(
            id="background_statistics_match",
            statement="Empirical per-pattern v, c and disjoint-pair covariance of the background weights match "
                      "the derived values (spec E3)",
            paper_value="Hebb v = f^2(1 - f^2), c = f^3(1 - f); covariance v = f^2(1 - f)^2, c = 0; disjoint 0",
            our_value="; ".join(f"{r.rule} {r.quantity}: {r.empirical:.5f} +- {r.se:.5f} vs {r.derived:.5f}"
                                for r in st.itertuples()),
            tolerance=f"|empirical - derived| <= {STATS_SE:g} standard errors for every quantity",
            passed=bool((dev <= STATS_SE).all()),
        ))
    if "hebb" in set(table["rule"]):
        cue, naive, aware = (_err(table, "hebb", d) for d in ("cue", "naive", "aware"))
        low = [m for m in cue.index if 10 <= m <= 25]
        fmt = "; ".join(f"M = {m}: cue {cue[m]:.3f}, naive {naive[m]:.3f}, aware {aware[m]:.3f}" for m in cue.index)
        claims.append(Claim(
            id="hebb_naive_worse_than_cue",
            statement="Hebb rule, M = 10-25: recall that ignores synaptic correlations has a higher bit error "
                      "than the cue itself",
            paper_value="naive recall is worse than the cue (catastrophic)", our_value=fmt,
            tolerance="mean naive error > mean cue error at every M in 10-25",
            passed=bool(low) and all(naive[m] > cue[m] for m in low),
        ))
        claims.append(Claim(
            id="hebb_aware_better_than_cue",
            statement="Hebb rule, M = 10-25: correlation-aware recall has a lower bit error than the cue",
            paper_value="correlation-aware recall improves on the cue", our_value=fmt,
            tolerance="mean aware error < mean cue error at every M in 10-25",
            passed=bool(low) and all(aware[m] < cue[m] for m in low),
        ))
        gap = naive - aware
        claims.append(Claim(
            id="hebb_gap_grows_with_m",
            statement="Hebb rule: the error gap between naive and correlation-aware recall grows with M",
            paper_value="gap grows with M (spec E1)",
            our_value="; ".join(f"M = {m}: {gap[m]:.3f}" for m in gap.index),
            tolerance="gap strictly increasing over the M grid",
            passed=bool(len(gap) > 1 and (np.diff(gap.to_numpy()) > 0).all()),
        ))
    if "covariance" in set(table["rule"]):
        claims.append(coincide_claim(table, "covariance"))
    return claims


def coincide_claim(table: pd.DataFrame, rule: str = "covariance") -> Claim:
    """Spec E2: naive and aware errors agree within ``max(0.01, 3 x SEM of the paired per-trial difference)``
    at every M (the chains are independent, so Gibbs noise alone separates them when ``c = 0``)."""
    naive, aware, psem = _err(table, rule, "naive"), _err(table, rule, "aware"), _paired_sem(table, rule)
    tol = np.maximum(COINCIDE_TOL, 3 * psem.reindex(naive.index).fillna(0.0))
    diff = (naive - aware).abs()
    return Claim(
        id=f"{rule}_decoders_coincide",
        statement=f"{rule.capitalize()} rule: naive and correlation-aware recall give the same error up to sampling "
                  "noise (spec E2; for the covariance rule c = 0, so the two likelihoods are the same)",
        paper_value="same answers up to sampling noise (mean error difference within 0.01)",
        our_value="; ".join(f"M = {m}: naive {naive[m]:.3f}, aware {aware[m]:.3f} (tolerance {tol[m]:.3f})"
                            for m in naive.index),
        tolerance=f"|mean naive - mean aware| <= max({COINCIDE_TOL}, 3 x SEM of the paired per-trial difference) "
                  "at every M",
        passed=bool(len(diff) and (diff <= tol).all()),
    )


def caption(params: dict, scale: str, table: pd.DataFrame, claims: list[Claim], verdict_text: str) -> str:
    failed = [c for c in claims if not c.passed]
    agree = table[(table["kind"] == "recall") & (table["start"] == "cue")]["chain_agreement"]
    chains = (f" Convergence check: chains started from a prior sample agree with the cue-started ones on "
              f"{agree.mean():.3f} of bits on average (the posterior is multimodal; the estimates plotted are the "
              f"cue-started chains')." if params["prior_chains"] else "")
    fails = "".join(f" Not reproduced at this scale: {c.statement} ({c.our_value})." for c in failed)
    rules = list(params["rules"])
    panels = ", ".join(f"{RULE_NAMES[r]} (panel {k + 1})" for k, r in enumerate(rules))
    gated = [r for r in rules if r in GATED]
    gated_text = ""
    if gated:
        rec = table[(table["kind"] == "recall") & table["start"].isin(["cue", "-"])]
        parts = []
        for r in gated:
            e = {d: rec[(rec["rule"] == r) & (rec["decoder"] == d)].set_index("m")["error"] for d in
                 ("cue", "naive", "aware")}
            parts.append(f"{RULE_NAMES[r]}: " + "; ".join(
                f"M = {m}: cue {e['cue'][m]:.3f}, naive {e['naive'][m]:.3f}, aware {e['aware'][m]:.3f}"
                for m in e["cue"].index))
        gated_text = (
            " Gated rules (Omega(a, b) = a(b - f) presynaptic, (a - f)b postsynaptic; weights W_ij != W_ji, so the "
            "aware likelihood uses the ordered-pair covariance with shared-pre c_pre, shared-post c_post, mixed c_x "
            "and reciprocal rho terms): plotted without a claim, since the spec states none for them ("
            + " | ".join(parts) + "); their background statistics are shown on the right but are outside the "
            "statistics claim.")
    return (
        f"Recall as inference (Savin, Dayan & Lengyel 2013, NIPS; spec E1-E3). N = {params['n']} neurons, coding "
        f"level f = {params['f']:g}, cue noise r1 = {params['r1']:g} (1 -> 0), r0 = {params['r0']:g} (0 -> 1); "
        f"M = {', '.join(map(str, params['m_values']))} patterns stored by the {panels} "
        f"rule{'s' if len(rules) > 1 else ''}; bit error (mean +- SEM over {params['trials']} trials with fresh "
        f"patterns and cue) of the "
        f"cue, of Gibbs recall with a likelihood that ignores synaptic correlations (naive) and of one that models "
        f"them (aware; {params['sweeps']} sweeps, majority of the last {params['samples']}).{gated_text}{chains} "
        f"Right: "
        f"per-pattern variance v, shared-neuron covariance c and disjoint-pair covariance d of background weights"
        f"{' (gated rules: shared-pre c_pre, shared-post c_post, mixed c_x, reciprocal rho)' if gated else ''}, "
        f"empirical ({params['stats_sets']} sets of M - 1 = {params['stats_m'] - 1} patterns, +- 3 SE) vs derived. "
        f"The exact Gibbs decoder stands in for the paper's neural dynamics. Scale '{scale}'. Verdict: "
        f"{verdict_text}" + (f" (failed: {', '.join(c.id for c in failed)})." if failed else ".") + fails
    )


def make_figure(table: pd.DataFrame, params: dict, caption_text: str):
    plt, sns = pyplot()
    rules = list(params["rules"])
    fig, axes = plt.subplots(1, len(rules) + 1, figsize=(4 * (len(rules) + 1), 3.4))
    colors = dict(zip(("cue", "naive", "aware"), sns.color_palette("colorblind", 3)))
    labels = dict(cue="cue", naive="naive (ignores correlations)", aware="correlation-aware")
    rec = table[(table["kind"] == "recall") & table["start"].isin(["cue", "-"])]
    for ax, rule in zip(axes, rules):
        for dec in ("cue", "naive", "aware"):
            d = rec[(rec["rule"] == rule) & (rec["decoder"] == dec)].sort_values("m")
            ax.errorbar(d["m"], d["error"], yerr=d["sem"].fillna(0), marker="o", capsize=3, color=colors[dec],
                        ls="--" if dec == "cue" else "-", label=labels[dec])
        ax.set_title(f"{RULE_NAMES[rule]} rule" + (" (no claim)" if rule in GATED else ""), fontsize=9)
        ax.set_xlabel("patterns stored M")
        ax.set_ylabel("bit error rate")
        ax.set_ylim(bottom=0)
    axes[0].legend(fontsize=7)
    st = table[table["kind"] == "statistic"].reset_index(drop=True)
    ax = axes[-1]
    xs = np.arange(len(st))
    ax.errorbar(xs, st["empirical"], yerr=STATS_SE * st["se"], fmt="o", capsize=3, label="empirical (+- 3 SE)")
    ax.scatter(xs, st["derived"], marker="x", color="k", zorder=3, label="derived")
    ax.set_xticks(xs, [f"{RULE_SHORT[r.rule]} {r.quantity}" for r in st.itertuples()], rotation=60, fontsize=6)
    ax.set_ylabel("per-pattern (co)variance")
    ax.set_title("background weight statistics", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def run_target(config: dict, out_prefix: Path, threads: int | None = None) -> dict:
    tr = begin_target(config, NAME, threads)
    params = tr.params
    raw, stats = run(params, seed=config["seed"], device=tr.device)
    run_wall = time.perf_counter() - tr.started
    table = summarize(raw, stats)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], table, claims, v),
        figure=lambda cap: make_figure(table, params, cap),
        dtype=torch.float64,
        data="synthetic Bernoulli(f) patterns (as in the paper)",
        substitutions="exact Gibbs decoder instead of the paper's neural dynamics; no cascade synapses; gated "
                      "rules (usual tables, unverified in the spec) plotted without a claim; claims from the "
                      "project spec (paper figures not at hand)",
    )


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET, argv=argv)


if __name__ == "__main__":
    main()
