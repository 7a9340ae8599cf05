"""Figure stage of ``fig_correlation_aware_recall``: error summaries, claims, caption and figure from the run table and
the E3 statistics alone (the model run, and what it computes, are described in
:mod:`assocmem.experiments.savin_correlated_recall`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, finish_target
from .correlated_recall import (COINCIDE_TOL, DECODERS, GATED, NAME, PAPER, PAPER_KEY, RULE_NAMES, RULE_SHORT,
                                      STATS_SE)


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


def write_figure(tr: TargetRun, runs: stages.Runs, out_prefix: Path, run_wall: float | None) -> dict:
    """Claims, caption, figure and metadata from the run table (one row per chain) and the E3 statistics."""
    params, config = tr.params, tr.config
    table = summarize(runs.table, pd.DataFrame(runs.extras["statistics"]))
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


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs, out_prefix, provenance["run_wall_time_s"])
