"""Tests of in-context learning of energy functions (assocmem.icl_energy) and of fig_icl_energy (Schaeffer et al.
2024, spec E2): queries read exactly as appended tokens, causality, the mixtures' log-densities and samples, the rank
correlation, the detached and clipped Langevin negatives, the loss, a bit-identical training rerun, and the claims
on a real test-scale run and on tables built to fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from assocmem import config as _config
from assocmem import device
from assocmem import icl_energy as ie
from assocmem import stats
from assocmem.experiments.kde import icl_energy as run_mod
from assocmem.experiments.kde import icl_energy_figure as fig_mod

REPO = Path(__file__).resolve().parents[1]
D = torch.float64
MIX = {"components": [1, 4], "mean_range": 3.0, "std_range": [0.2, 0.8]}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one torch thread per test module


def _model(seed=0, T=8, width=16, layers=2, heads=4):
    return ie.EnergyTransformer(device.generator(seed), max_len=T, width=width, layers=layers, heads=heads).double()


def test_query_equals_appending_it_to_the_context():
    m = _model()
    g = device.generator(1)
    x = torch.randn(3, 8, 2, generator=g, dtype=D)
    y = torch.randn(3, 6, 2, generator=g, dtype=D)
    pos = torch.tensor([0, 1, 3, 7, 5, 7])
    e, kv = m.context(x)
    eq = m.query_energy(kv, y, pos)
    for j, p in enumerate(pos.tolist()):
        ref = m.context(torch.cat([x[:, :p], y[:, j:j + 1]], 1))[0][:, -1]
        torch.testing.assert_close(eq[:, j], ref, rtol=0, atol=1e-12)
    # the real points as queries at their own positions give the causal pass's energies
    torch.testing.assert_close(m.query_energy(kv, x, torch.arange(8)), e, rtol=0, atol=1e-12)
    torch.testing.assert_close(m(x), e, rtol=0, atol=0)
    with pytest.raises(ValueError):
        m.query_energy(kv, y, 8)


def test_energy_is_causal():
    m = _model(2)
    x = torch.randn(2, 8, 2, generator=device.generator(3), dtype=D)
    x2 = x.clone()
    x2[:, 5:] += 1.0
    e, e2 = m.context(x)[0], m.context(x2)[0]
    torch.testing.assert_close(e[:, :5], e2[:, :5], rtol=0, atol=1e-13)
    assert (e[:, 5:] - e2[:, 5:]).abs().min() > 0


def test_gmm_log_prob_matches_torch_distributions():
    gmm = ie.sample_gmm(6, (1, 4), 3.0, (0.2, 0.8), device.generator(4))
    assert set(gmm.n_components.tolist()) <= {1, 2, 3, 4}
    x = 3 * torch.randn(6, 50, 2, generator=device.generator(5), dtype=D)
    ours = ie.gmm_log_prob(x, gmm)
    for b in range(6):
        k = int(gmm.n_components[b])
        mix = torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(logits=gmm.log_weights[b, :k]),
            torch.distributions.MultivariateNormal(gmm.means[b, :k], scale_tril=gmm.chol[b, :k]))
        torch.testing.assert_close(ours[b], mix.log_prob(x[b]), rtol=0, atol=1e-10)
    torch.testing.assert_close(gmm.log_weights.exp().sum(-1), torch.ones(6, dtype=D))


def test_samples_have_the_mixture_moments():
    gmm = ie.sample_gmm(2, (1, 1), 3.0, (0.3, 0.9), device.generator(6))
    pts = ie.sample_points(gmm, 40000, device.generator(7))
    cov = gmm.chol[:, 0] @ gmm.chol[:, 0].mT
    torch.testing.assert_close(pts.mean(1), gmm.means[:, 0], rtol=0, atol=0.02)
    emp = (pts - pts.mean(1, keepdim=True)).mT @ (pts - pts.mean(1, keepdim=True)) / pts.shape[1]
    torch.testing.assert_close(emp, cov, rtol=0, atol=0.03)
    s = torch.linalg.eigvalsh(cov).sqrt()
    assert (s >= 0.3 - 1e-9).all() and (s <= 0.9 + 1e-9).all()


def test_spearman_matches_scipy_and_box_grid():
    g = device.generator(8)
    a, b = torch.randn(4, 300, generator=g, dtype=D), torch.randn(4, 300, generator=g, dtype=D)
    b = b + a * torch.tensor([0.0, 0.5, 2.0, -1.0], dtype=D)[:, None]
    ours = stats.spearman(a, b)
    for i in range(4):
        assert ours[i].item() == pytest.approx(spearmanr(a[i].numpy(), b[i].numpy())[0], abs=1e-12)
    pts = torch.randn(3, 20, 2, generator=g, dtype=D)
    grid, xs, ys = ie.box_grid(pts, 2.0, 7)
    lo, hi = pts.mean(1) - 2 * pts.std(1), pts.mean(1) + 2 * pts.std(1)
    assert grid.shape == (3, 49, 2)
    torch.testing.assert_close(grid.amin(1), lo, rtol=0, atol=1e-12)
    torch.testing.assert_close(grid.amax(1), hi, rtol=0, atol=1e-12)
    assert torch.equal(grid[:, 8], torch.stack([xs[:, 1], ys[:, 1]], -1))  # row-major: y index 1, x index 1


def test_langevin_is_detached_and_its_gradient_step_clipped():
    m = _model(9)
    x = torch.randn(2, 8, 2, generator=device.generator(10), dtype=D)
    _, kv = m.context(x)
    start = torch.randn(2, 8, 2, generator=device.generator(11), dtype=D)
    s, clip = 0.3, 0.01
    y = ie.langevin_negatives(m, kv, start, torch.arange(8), steps=1, s=s, grad_clip=clip,
                              generator=device.generator(12))
    assert not y.requires_grad and y.grad_fn is None
    noise = torch.randn(start.shape, generator=device.generator(12), dtype=D)
    step = y - (start + s * noise)  # = -(s / 2) clip(grad E)
    assert (step.norm(dim=-1) <= 0.5 * s * clip + 1e-12).all() and (step.norm(dim=-1) > 0).all()
    # s = 0: no noise and no step
    y0 = ie.langevin_negatives(m, kv, start, 3, steps=5, s=0.0, grad_clip=1.0, generator=device.generator(12))
    assert torch.equal(y0, start)


def test_contrastive_loss_formula():
    r, n = torch.tensor([-1.0, -3.0], dtype=D), torch.tensor([2.0, 0.0, 1.0], dtype=D)
    loss, parts = ie.contrastive_loss(r, n, 0.1)
    assert loss.item() == pytest.approx((-2.0 - 1.0) + 0.1 * (5.0 + 5.0 / 3.0))
    assert parts["gap"].item() == pytest.approx(-3.0)


def _tiny_params(**over):
    return {**MIX, "context_len": 8, "batch": 4, "steps": 3, "lr": 1e-3, "clip_norm": 1.0, "alpha": 0.1,
            "langevin_steps": 2, "langevin_s": 0.1, "langevin_grad_clip": 1.0, "init_box": 3.0, "log_every": 1, **over}


def test_training_is_seeded_and_bit_identical_on_rerun():
    def once(seed):
        m = ie.EnergyTransformer(device.generator(seed), max_len=8, width=16, layers=1, heads=2)
        log = ie.train(m, _tiny_params(), generator=device.generator(seed + 1), progress=False)
        return torch.cat([p.detach().flatten() for p in m.parameters()]), log

    (a, la), (b, lb), (c, _) = once(0), once(0), once(5)
    assert torch.equal(a, b) and la == lb
    assert not torch.equal(a, c)
    assert len(la) == 3 and all(np.isfinite(r["loss"]) for r in la)


# ----------------------------------------------------------------------------- the target


@pytest.fixture(scope="module")
def test_scale():
    cfg = _config.load([REPO / "config" / "config.yaml", REPO / ".test" / "config" / "config.yaml"])
    params = _config.experiment_params(cfg, run_mod.NAME)
    table, extras = run_mod.run(params, seed=cfg["seed"], device=torch.device("cpu"), progress=False)
    return table, extras, params


def test_test_scale_run_learns_a_context_dependent_energy(test_scale):
    """The test scale is too small for the 0.7 / 0.3 tolerances (the quick scale tests them); what it must show: the
    gap claim holds, and the trained energy ranks like its own context far better than like another's, and far
    better than the context-blind ||x||^2."""
    table, extras, params = test_scale
    claims = {c.id: c for c in fig_mod.evaluate_claims(table, params)}
    assert claims["energy_gap_negative_and_bounded"].passed
    ctx = table[table["kind"] == "context"]
    assert len(ctx) == params["n_eval"] and ctx[["rho_own", "rho_other"]].notna().all().all()
    assert ctx["rho_own"].mean() - ctx["rho_other"].mean() >= 0.15
    assert ctx["rho_own"].mean() - ctx["rho_blind_own"].mean() >= 0.15
    pos = table[table["kind"] == "positions"].groupby("visible")["rho_own"].mean()
    assert pos.iloc[-1] > pos.iloc[0]  # more visible context points, a better landscape
    land = table[table["kind"] == "landscape"]
    assert len(land) == len(extras["shown"]) * params["grid"] ** 2
    # the claim evaluation reports what it measured, whatever the verdict
    assert f"over {params['n_eval']} held-out contexts" in claims["energy_ranks_like_own_context"].our_value


def test_an_untrained_energy_fails_the_own_context_claim(test_scale):
    _, _, params = test_scale
    table, _ = run_mod.run({**params, "steps": 1, "n_eval": 8, "eval_positions": []}, seed=0,
                           device=torch.device("cpu"), progress=False)
    claims = {c.id: c for c in fig_mod.evaluate_claims(table, params)}
    assert not claims["energy_ranks_like_own_context"].passed


def test_each_claim_fails_on_a_table_built_to_fail(test_scale):
    table, _, params = test_scale
    t = table.copy()
    c = t["kind"] == "context"
    t.loc[c, "rho_own"], t.loc[c, "rho_other"] = 0.9, 0.0
    t.loc[t["kind"] == "train", "gap"] = -1.0
    ids = [x.id for x in fig_mod.evaluate_claims(t, params)]
    assert all(x.passed for x in fig_mod.evaluate_claims(t, params))

    def failed(tab):
        return {x.id for x in fig_mod.evaluate_claims(tab, params) if not x.passed}

    u = t.copy()
    u.loc[c, "rho_own"] = 0.69
    assert failed(u) == {ids[0]}
    u = t.copy()
    u.loc[c, "rho_other"] = 0.31
    assert failed(u) == {ids[1]}
    u = t.copy()
    u.loc[u["kind"] == "train", "gap"] = 0.01  # the late gap is positive
    assert failed(u) == {ids[2]}
    u = t.copy()
    tr = u.index[u["kind"] == "train"]
    u.loc[tr[0], "rms_neg"] = 1.0 / params["alpha"] + 0.01  # energies ran away once
    assert failed(u) == {ids[2]}
