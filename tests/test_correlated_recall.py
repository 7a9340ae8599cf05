"""Savin, Dayan & Lengyel 2013 (NIPS): recall as inference with naive vs correlation-aware likelihoods."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from assocmem import correlated_recall as cr
from assocmem.device import generator
from assocmem.experiments import savin_correlated_recall as exp

F = 0.2
D64 = torch.float64
TINY = dict(n=100, f=F, r1=0.2, r0=0.05, m_values=[10, 25], rules=["hebb", "covariance"], trials=12, sweeps=40,
            samples=20, prior_chains=False, stats_m=10, stats_sets=2000)


# ----------------------------------------------------------------------------- model functions


def test_rule_statistics_match_the_derived_formulas():
    hebb = cr.rule_statistics(cr.rule_table("hebb", F), F)
    assert hebb["mean"] == pytest.approx(F**2)
    assert hebb["v"] == pytest.approx(F**2 * (1 - F**2)) and hebb["v"] == pytest.approx(0.0384)
    assert hebb["c"] == pytest.approx(F**3 * (1 - F)) and hebb["c"] == pytest.approx(0.0064)
    cov = cr.rule_statistics(cr.rule_table("covariance", F), F)
    assert cov["mean"] == pytest.approx(0.0, abs=1e-15)
    assert cov["v"] == pytest.approx(F**2 * (1 - F) ** 2)
    assert cov["c"] == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError):
        cr.rule_table("pre_gated", F)


def test_store_hand_computed_and_masked():
    X = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    W = cr.store(X, cr.rule_table("hebb", F))
    assert torch.equal(W, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    # covariance rule: sum_t (x_i - f)(x_j - f)
    Wc = cr.store(X, cr.rule_table("covariance", F))
    expected = (X - F).T @ (X - F)
    expected.fill_diagonal_(0.0)
    assert torch.allclose(Wc, expected)
    # a mask drops the second pattern
    Wm = cr.store(X, cr.rule_table("covariance", F), torch.tensor([1.0, 0.0]))
    exp1 = (X[:1] - F).T @ (X[:1] - F)
    exp1.fill_diagonal_(0.0)
    assert torch.allclose(Wm, exp1)


def test_woodbury_precision_equals_dense_inverse_n20():
    st = cr.rule_statistics(cr.rule_table("hebb", F), F)
    S = cr.dense_covariance(20, st["v"], st["c"], 10)
    P = cr.woodbury_precision(20, st["v"], st["c"], 10)
    assert torch.allclose(P, torch.linalg.inv(S), atol=1e-10, rtol=0)
    # Sigma's diagonal is (M - 1) v and pairs sharing a neuron have (M - 1) c
    assert S[0, 0] == pytest.approx(9 * st["v"]) and S[0, 1] == pytest.approx(9 * st["c"])


@pytest.mark.parametrize("aware", [True, False])
def test_structured_quadratic_form_equals_dense(aware):
    n, m = 12, 10
    st = cr.rule_statistics(cr.rule_table("hebb", F), F)
    S = cr.dense_covariance(n, st["v"], st["c"], m)
    if not aware:
        S = torch.diag(torch.diagonal(S))
    g = generator(3)
    R = torch.randn(4, n, n, generator=g, dtype=torch.float64)
    R = (R + R.transpose(1, 2)) * (1 - torch.eye(n, dtype=torch.float64))
    i, j = torch.triu_indices(n, n, 1)
    r = R[:, i, j]
    dense = torch.einsum("bp,pq,bq->b", r, torch.linalg.inv(S), r)
    k = cr.decoder_constants(torch.full((4,), st["v"], dtype=D64), torch.full((4,), st["c"], dtype=D64), m, n,
                             torch.full((4,), aware))
    assert torch.allclose(cr.quadratic_form(R, k), dense, rtol=1e-10)


@pytest.mark.parametrize("rule", ["hebb", "covariance"])
def test_flip_change_equals_recomputed_quadratic_form(rule):
    n, B, m = 15, 6, 8
    g = generator(5)
    t = cr.rule_table(rule, F)
    st = cr.rule_statistics(t, F)
    X = cr.sample_patterns((B, m, n), F, g)
    W = cr.store(X, t)
    x = cr.sample_patterns((B, n), F, g)
    aware = torch.tensor([True, False] * (B // 2))
    k = cr.decoder_constants(torch.full((B,), st["v"], dtype=D64), torch.full((B,), st["c"], dtype=D64), m, n, aware)
    tb = t.expand(B, 2, 2)
    bg = torch.full((B,), (m - 1) * st["mean"], dtype=torch.float64)
    om = cr.omega_coefficients(tb)

    def Q(state):
        return cr.quadratic_form(W - bg[:, None, None] - cr.pair_omega(state, tb), k)

    R = W - bg[:, None, None] - cr.pair_omega(x, tb)
    s = R.sum(-1)
    for i in (0, 7, n - 1):
        dQ, _, _ = cr.flip_change(W[:, i, :], s, s.sum(-1), x, i, bg, om, k)
        y = x.clone()
        y[:, i] = 1 - y[:, i]
        assert torch.allclose(dQ, Q(y) - Q(x), rtol=1e-9, atol=1e-9)


def test_gibbs_is_seeded_and_batched_equals_one_at_a_time():
    n, m = 30, 10
    t = cr.rule_table("hebb", F)
    st = cr.rule_statistics(t, F)
    g = generator(11)
    X = cr.sample_patterns((3, m, n), F, g)
    W = cr.store(X, t)
    cue = cr.corrupt(X[:, 0], 0.2, 0.05, g)
    k = cr.decoder_constants(torch.full((3,), st["v"], dtype=D64), torch.full((3,), st["c"], dtype=D64), m, n,
                             torch.tensor([True, False, True]))
    args = (W, cue, cue, t.expand(3, 2, 2), torch.full((3,), st["mean"], dtype=D64), k, torch.full((3,), float(m), dtype=D64), F, 0.2, 0.05)
    a, pa = cr.gibbs_decode(*args, sweeps=6, samples=3, generator=generator(1))
    b, pb = cr.gibbs_decode(*args, sweeps=6, samples=3, generator=generator(1))
    assert torch.equal(a, b) and torch.equal(pa, pb)
    # with an infinitely informative cue (tiny noise), every chain returns the cue
    c, _ = cr.gibbs_decode(*args[:7], F, 1e-300, 1e-300, sweeps=3, samples=2, generator=generator(2))
    assert torch.equal(c, cue)
    # shared weights via w_index give the same chains as repeated weights
    d, _ = cr.gibbs_decode(W[:1], cue, cue, *args[3:], sweeps=6, samples=3, generator=generator(1),
                           w_index=torch.tensor([0, 0, 0]))
    e, _ = cr.gibbs_decode(W[[0, 0, 0]], cue, cue, *args[3:], sweeps=6, samples=3, generator=generator(1))
    assert torch.equal(d, e)


def test_background_statistics_of_the_covariance_rule_are_uncorrelated():
    emp = cr.background_statistics(cr.rule_table("covariance", F), F, 9, 4000, generator(0))
    assert abs(emp["c"][0]) < 4 * emp["c"][1] and abs(emp["d"][0]) < 4 * emp["d"][1]
    assert abs(emp["v"][0] - F**2 * (1 - F) ** 2) < 4 * emp["v"][1]


# ----------------------------------------------------------------------------- replication at tiny scale


@pytest.fixture(scope="module")
def tiny_table():
    raw, stats = exp.run(TINY, seed=0)
    return exp.summarize(raw, stats)


def test_tiny_scale_reproduces_the_main_claims(tiny_table):
    claims = {c.id: c for c in exp.evaluate_claims(tiny_table)}
    for cid in ("background_statistics_match", "hebb_naive_worse_than_cue", "hebb_aware_better_than_cue",
                "covariance_decoders_coincide"):
        assert claims[cid].passed, claims[cid]
    assert "hebb_gap_grows_with_m" in claims  # evaluated and reported; not asserted (fails at N = 60-100)


def test_decoders_differ_for_the_hebb_rule(tiny_table):
    """The coincidence test has power: applied to the Hebb rule (c > 0) it fails."""
    assert not exp.coincide_claim(tiny_table, "hebb").passed


def _fake(cue, naive, aware, cov_naive, cov_aware, stat_off=0.0):
    rows = []
    for rule, (nv, aw) in (("hebb", (naive, aware)), ("covariance", (cov_naive, cov_aware))):
        for m, c, n_, a_ in zip((10, 25, 50), cue, nv, aw):
            rows.append(dict(kind="recall", rule=rule, m=m, decoder="cue", start="-", error=c))
            rows.append(dict(kind="recall", rule=rule, m=m, decoder="naive", start="cue", error=n_))
            rows.append(dict(kind="recall", rule=rule, m=m, decoder="aware", start="cue", error=a_,
                             paired_diff_sem=0.001))
    for q, d in (("v", 0.0384), ("c", 0.0064), ("d", 0.0)):
        rows.append(dict(kind="statistic", rule="hebb", quantity=q, empirical=d + stat_off, se=0.001, derived=d))
    return pd.DataFrame(rows)


def test_claims_can_fail():
    good = _fake([0.08] * 3, [0.2, 0.3, 0.4], [0.0, 0.02, 0.05], [0.0, 0.03, 0.1], [0.0, 0.03, 0.1])
    assert all(c.passed for c in exp.evaluate_claims(good))
    # naive better than the cue, aware worse, gap shrinking, covariance decoders apart, statistics off
    bad = _fake([0.08] * 3, [0.05, 0.06, 0.07], [0.1, 0.2, 0.3], [0.0, 0.03, 0.1], [0.1, 0.2, 0.3], stat_off=0.01)
    assert not any(c.passed for c in exp.evaluate_claims(bad))


def test_figure_and_caption(tiny_table):
    claims = exp.evaluate_claims(tiny_table)
    cap = exp.caption(TINY, "test", tiny_table, claims, "partly")
    assert "N = 100" in cap and "Verdict: partly" in cap
    fig = exp.make_figure(tiny_table, TINY, cap)
    assert len(fig.axes) == 3
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.pipeline
def test_correlation_aware_recall_claims_at_test_scale(pipeline_run):
    prefix = pipeline_run / "results" / "savin" / "fig_correlation_aware_recall"
    meta = json.loads(prefix.with_suffix(".json").read_text())
    claims = {c["id"]: c for c in meta["claims"]}
    for cid in ("background_statistics_match", "hebb_naive_worse_than_cue", "hebb_aware_better_than_cue",
                "covariance_decoders_coincide"):
        assert claims[cid]["passed"], claims[cid]
    # the gap claim does not hold at N = 60-100 (the naive error saturates); the verdict must say so
    expected = "reproduced" if claims["hebb_gap_grows_with_m"]["passed"] else "partly"
    assert meta["verdict"] == expected and meta["paper_key"] == "savin"
    table = pd.read_csv(prefix.with_suffix(".csv"))
    assert set(table["kind"]) == {"recall", "statistic"}
    assert np.isfinite(table.loc[table["kind"] == "recall", "error"]).all()
    for ext in ("png", "pdf"):
        assert prefix.with_suffix(f".{ext}").stat().st_size > 0
