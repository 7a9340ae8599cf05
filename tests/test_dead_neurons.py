"""Tests of the Krotov-Hopfield Lagrangian core (assocmem.lagrangian) and of fig_dead_neurons (Fanaskov & Oseledets
2025): the energy-rate identity, the closed-form Jacobian, the exact flatness of E along dead units, the Lyapunov
bound, and the five claims on a real test-scale run and on tables built to fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from assocmem import config as _config
from assocmem import device
from assocmem import lagrangian as lg
from assocmem.experiments.dead_neurons import dead_neurons as dn
from assocmem.experiments.dead_neurons import dead_neurons_figure as dnf

REPO = Path(__file__).resolve().parents[1]
D = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one torch thread per test module


def _model(seed=0, B=5, nv=8, k=6, tau_v=1.0, tau_h=1.0):
    g = device.generator(seed)
    xi = torch.randn(B, k, nv, generator=g, dtype=D)
    I = torch.randn(B, nv, generator=g, dtype=D)
    v = torch.randn(B, nv, generator=g, dtype=D)
    h = 2 * torch.randn(B, k, generator=g, dtype=D)
    return lg.Model(xi, I, tau_v=tau_v, tau_h=tau_h), v, h


@pytest.mark.parametrize("tau_v,tau_h", [(1.0, 1.0), (0.5, 2.0)])
def test_energy_rate_identity_on_random_states(tau_v, tau_h):
    m, v, h = _model(1, tau_v=tau_v, tau_h=tau_h)
    assert (h.abs() > 1e-6).all()  # away from the ReLU kink, where autograd is exact
    v, h = v.requires_grad_(), h.requires_grad_()
    gv, gh = torch.autograd.grad(lg.energy(m, v, h).sum(), (v, h))
    vdot, hdot = lg.rhs(m, v.detach(), h.detach())
    torch.testing.assert_close(gv, -tau_v * m.Lv.hessian(v.detach()) * vdot, rtol=0, atol=1e-12)
    torch.testing.assert_close(gh, -tau_h * m.Lh.hessian(h.detach()) * hdot, rtol=0, atol=1e-12)
    rate = (gv * vdot).sum(-1) + (gh * hdot).sum(-1)
    torch.testing.assert_close(rate, lg.energy_rate(m, v.detach(), h.detach()), rtol=0, atol=1e-11)
    assert (lg.energy_rate(m, v.detach(), h.detach()) <= 0).all()


def test_lyapunov_rate_closed_form_and_bound():
    m, v, h = _model(2)
    c = 0.5 * lg.c_max(m)
    vr, hr = v.clone().requires_grad_(), h.clone().requires_grad_()
    gv, gh = torch.autograd.grad(lg.lyapunov(m, vr, hr, c).sum(), (vr, hr))
    vdot, hdot = lg.rhs(m, v, h)
    torch.testing.assert_close((gv * vdot).sum(-1) + (gh * hdot).sum(-1), lg.lyapunov_rate(m, v, h, c),
                               rtol=0, atol=1e-10)
    assert (lg.lyapunov_rate(m, v, h, c) <= lg.lyapunov_bound(m, v, h, c) + 1e-12).all()
    # above the admissible c the bound need not hold: check it is not vacuous (fails for some state at c >> c_max)
    big = 50 * lg.c_max(m)
    g = device.generator(3)
    vv = torch.randn(200, 5, 8, generator=g, dtype=D)
    hh = 2 * torch.randn(200, 5, 6, generator=g, dtype=D)
    assert (lg.lyapunov_rate(m, vv, hh, big) > lg.lyapunov_bound(m, vv, hh, big) + 1e-9).any()


def test_jacobian_matches_autograd():
    m, v, h = _model(4, B=1, tau_v=0.7, tau_h=1.3)
    m1 = lg.Model(m.xi[0], m.I[0], tau_v=0.7, tau_h=1.3)
    v, h = v[0], h[0]

    def f(z):
        a, b = lg.rhs(m1, z[:8], z[8:])
        return torch.cat([a, b])

    J_ad = torch.autograd.functional.jacobian(f, torch.cat([v, h]))
    torch.testing.assert_close(lg.jacobian(m1, v, h), J_ad, rtol=0, atol=1e-12)
    # batched closed form equals the per-state one
    Jb = lg.jacobian(m, *_model(4, B=1, tau_v=0.7, tau_h=1.3)[1:])
    torch.testing.assert_close(Jb[0], J_ad, rtol=0, atol=1e-12)


def test_energy_is_exactly_flat_along_dead_units_and_boundary():
    m, v, h = _model(5)
    h = torch.where(torch.arange(6) % 2 == 0, -h.abs() - 0.1, h)  # units 0, 2, 4 dead
    E0 = lg.energy(m, v, h)
    for shift in (0.5, 5.0, 1e3):
        h2 = torch.where(torch.arange(6) % 2 == 0, h - shift, h)
        assert torch.equal(lg.energy(m, v, h2), E0)
    # the boundary h = 0 is on the dead side: moving a unit from 0 to -1 leaves E unchanged, to +1 does not
    h0 = torch.where(torch.arange(6) == 0, torch.zeros(()), h)
    hm = torch.where(torch.arange(6) == 0, -torch.ones(()), h)
    hp = torch.where(torch.arange(6) == 0, torch.ones(()), h)
    assert torch.equal(lg.energy(m, v, h0), lg.energy(m, v, hm))
    assert not torch.equal(lg.energy(m, v, h0), lg.energy(m, v, hp))
    assert lg.dead_units(h0)[:, 0].all() and (lg.jacobian(m, v, h0)[:, :8, 8] == 0).all()
    # the dead columns of J are -e / tau_h
    J = lg.jacobian(m, v, h)
    col = J[:, :, 8]
    assert torch.equal(col, -torch.eye(14, dtype=D)[8].expand(5, 14))


def test_log_cosh_is_stable_and_exact():
    x = torch.tensor([[-800.0, -3.0, 0.0, 2.0, 800.0]], dtype=D)
    ref = torch.tensor([800 - 0.6931471805599453, float(torch.log(torch.cosh(torch.tensor(3.0, dtype=D)))), 0.0,
                        float(torch.log(torch.cosh(torch.tensor(2.0, dtype=D)))), 800 - 0.6931471805599453], dtype=D)
    torch.testing.assert_close(lg.LAGRANGIANS["logcosh"].value(x), ref.sum()[None], rtol=1e-15, atol=1e-12)


@pytest.fixture(scope="module")
def test_run():
    cfg = _config.load([REPO / "config" / "config.yaml", REPO / ".test" / "config" / "config.yaml"])
    params = _config.experiment_params(cfg, dn.NAME)
    table, extras = dn.run(params, seed=cfg["seed"], device=torch.device("cpu"), progress=False)
    return table, extras, params


def test_claims_hold_at_test_scale(test_run):
    table, extras, params = test_run
    claims = dnf.evaluate_claims(table, params)
    assert len(claims) == 5
    assert extras["n_dead"] >= 1
    assert all(c.passed for c in claims), [(c.id, c.our_value) for c in claims if not c.passed]


def test_each_claim_fails_on_a_table_built_to_fail(test_run):
    table, _, params = test_run
    ids = [c.id for c in dnf.evaluate_claims(table, params)]

    def failed(t):
        return {c.id for c in dnf.evaluate_claims(t, params) if not c.passed}

    s = table["kind"] == "summary"
    t = table.copy()
    t.loc[s & (t["which"] == "e1"), "max_increase"] = 1e-6
    assert failed(t) == {ids[0]}
    t = table.copy()
    t.loc[s & (t["which"] == "e2"), "E_after"] = t.loc[s & (t["which"] == "e2"), "E_before"] + 1e-6
    assert failed(t) == {ids[1]}
    t = table.copy()
    e2 = t.index[t["kind"] == "e2_trace"]
    t.loc[e2[10], "V"] = t.loc[e2[9], "V"] + 1e-3  # V rises once
    assert failed(t) == {ids[2]}
    t = table.copy()
    t.loc[s & (t["which"] == "e4"), "spectrum_gap"] = 1e-8
    assert failed(t) == {ids[3]}
    t = table.copy()
    e5 = t.index[(t["kind"] == "e5_end") & (t["which"] == "fixed_point")]
    t.loc[e5[3], "max_pair_dist"] = 1e-3
    assert failed(t) == {ids[4]}
    t = table.copy()  # no dead unit: the dead-unit claims cannot pass
    t.loc[s, "n_dead"] = 0
    assert {ids[1], ids[2], ids[3], ids[4]} <= failed(t)


def test_match_spectra():
    a = torch.tensor([1 + 1j, 1 - 1j, -2 + 0j])
    assert dn.match_spectra(a, a.flip(0)) == 0.0
    assert dn.match_spectra(a, torch.tensor([1 + 1j, 1 - 1j, -2.5 + 0j])) == pytest.approx(0.5)
