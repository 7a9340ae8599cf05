"""Tests of the Krotov-Hopfield DAM classifier and its continual-learning methods (assocmem.krotov_hopfield) and of the
three sequential-learning targets (McAlister, Robins & Szymanski 2025): the tanh argument as an energy difference,
the closed-form gradient and Fisher against autograd, the update, A-GEM and GEM (against brute force), seeded
bit-identical training, shard independence, and claims that fail on tables built to fail."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
import torch

from assocmem import config as _config
from assocmem import device
from assocmem import krotov_hopfield as kh
from assocmem import stages
from assocmem.experiments.sequential_learning import sequential as sq
from assocmem.experiments.sequential_learning import sequential_figure as sf

REPO = Path(__file__).resolve().parents[1]
D = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one torch thread per test module


def _net(seed=0, M=2, K=7, P=12, B=5, dtype=D):
    g = device.generator(seed)
    xi = 2 * torch.rand(M, K, P + kh.N_CLASSES, generator=g, dtype=dtype) - 1
    x = torch.where(torch.rand(B, P, generator=g) < 0.4, 1.0, -1.0).to(dtype)
    labels = torch.randint(0, kh.N_CLASSES, (B,), generator=g)
    return xi, x, labels


# ------------------------------------------------------------------------------------------------ the model


def test_rect_poly_is_the_rectified_power():
    z = torch.linspace(-2, 2, 41, dtype=D)
    for n in (1, 2, 3, 10, 17, 30, 40):
        torch.testing.assert_close(kh.rect_poly(z, n), z.clamp(min=0) ** n, rtol=1e-13, atol=0)


@pytest.mark.parametrize("n", [1, 2, 5, 30])
def test_tanh_argument_is_the_energy_difference_of_the_two_class_states(n):
    """sum_mu [F(s xi.sigma+) - F(s xi.sigma-)] (shared-work trick) = s^n (E(sigma-) - E(sigma+)) on full states."""
    xi, x, _ = _net(1, M=1, K=9, P=30, B=6)
    T = 0.3
    s = kh.scale_of(xi.shape[-1], T)
    h = kh.class_scores(xi, x, n, T)[0]
    for a in range(kh.N_CLASSES):
        minus, plus = kh.full_states(x, a, -1.0), kh.full_states(x, a, 1.0)
        assert (minus[:, 30:] == -1).sum(-1).eq(kh.N_CLASSES).all() and (plus[:, 30 + a] == 1).all()
        ref = s**n * (kh.energy(xi[0], minus, n) - kh.energy(xi[0], plus, n))
        torch.testing.assert_close(h[:, a], ref, rtol=1e-10, atol=1e-300)
    # the energy applies F_n per memory and sums (not F_n of the summed dot products)
    st = kh.full_states(x, 0, 1.0)
    assert not torch.allclose(kh.energy(xi[0], st, 2), -kh.rect_poly((st @ xi[0].T).sum(-1), 2))


@pytest.mark.parametrize("n,m,per_model", [(1, 1, False), (2, 1, False), (7, 3, True), (30, 2, False)])
def test_loss_and_grad_match_autograd(n, m, per_model):
    xi, x, labels = _net(2)
    T = 0.4
    t = kh.targets_pm1(labels, D)
    if per_model:  # per-model pixels and targets (pseudorehearsal's per-model labels)
        x = torch.stack([x, -x])
        t = torch.stack([t, t.flip(0)])
    loss, grad, correct = kh.loss_and_grad(xi, x, t, n, T, m)
    xr = xi.clone().requires_grad_()
    y = torch.tanh(kh.class_scores(xr, x, n, T))
    L = (y - t).pow(2 * m).sum(-1).mean(-1)
    (g_ad,) = torch.autograd.grad(L.sum(), xr)
    torch.testing.assert_close(loss, L.detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(grad, g_ad, rtol=1e-9, atol=1e-12)
    assert torch.equal(correct, (y.argmax(-1) == t.argmax(-1)).sum(-1))


def test_fisher_diagonal_is_the_mean_squared_per_item_gradient():
    xi, x, labels = _net(3, B=9)
    T, n, m = 0.4, 3, 2
    t = kh.targets_pm1(labels, D)
    sq_sum = torch.zeros_like(xi)
    for b in range(x.shape[0]):
        _, g, _ = kh.loss_and_grad(xi, x[b:b + 1], t[b:b + 1], n, T, m)  # a batch of one: the per-item gradient
        sq_sum += g**2
    torch.testing.assert_close(kh.fisher_diagonal(xi, x, t, n, T, m, block=4), sq_sum / x.shape[0], rtol=1e-10,
                               atol=1e-300)


def test_kh_step_normalises_each_memory_and_clamps():
    xi = torch.zeros(1, 3, 4, dtype=D)
    grad = torch.tensor([[[2.0, -1.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], [1e-20, 0.0, -3e-20, 0.0]]], dtype=D)
    new, v = kh.kh_step(xi, torch.zeros_like(xi), grad, lr=0.1, momentum=0.6)
    torch.testing.assert_close(new[0, 0], torch.tensor([-0.1, 0.05, 0.0, -0.025], dtype=D))
    assert torch.equal(new[0, 1], torch.zeros(4, dtype=D))  # a zero gradient leaves the memory alone
    torch.testing.assert_close(new[0, 2], torch.tensor([-0.1 / 3, 0.0, 0.1, 0.0], dtype=D))  # scale-free step
    big, _ = kh.kh_step(torch.full_like(xi, 0.95), torch.zeros_like(xi), -grad, lr=0.1, momentum=0.6)
    assert big.max() == 1.0  # clamped
    # velocity normalisation keeps moving a memory whose gradient vanished; gradient normalisation lets it rest
    moved, _ = kh.kh_step(new, v, torch.zeros_like(grad), lr=0.1, momentum=0.6)
    assert torch.allclose(moved[0, 0] - new[0, 0], new[0, 0])
    _, vg = kh.kh_step(xi, torch.zeros_like(xi), grad, lr=0.1, momentum=0.6, normalise="gradient")
    a, _ = kh.kh_step(new, vg, torch.zeros_like(grad), lr=0.1, momentum=0.6, normalise="gradient")
    torch.testing.assert_close(a[0, 0] - new[0, 0], 0.6 * new[0, 0])


def test_ewc_penalty_grad_matches_autograd():
    xi, _, _ = _net(4)
    g = device.generator(5)
    F1, F2 = torch.rand(xi.shape, generator=g, dtype=D), torch.rand(xi.shape, generator=g, dtype=D)
    s1, s2 = torch.rand(xi.shape, generator=g, dtype=D), torch.rand(xi.shape, generator=g, dtype=D)
    lam = torch.tensor([1.0, 10.0], dtype=D)
    xr = xi.clone().requires_grad_()
    pen = (lam[:, None, None] / 2 * (F1 * (xr - s1) ** 2 + F2 * (xr - s2) ** 2)).sum()
    (ref,) = torch.autograd.grad(pen, xr)
    torch.testing.assert_close(kh.ewc_penalty_grad(xi, F1 + F2, F1 * s1 + F2 * s2, lam), ref)


# ------------------------------------------------------------------------------------------------ A-GEM and GEM


def test_agem_projects_only_conflicting_gradients():
    g = device.generator(6)
    grad, ref = torch.randn(50, 3, 4, generator=g, dtype=D), torch.randn(50, 3, 4, generator=g, dtype=D)
    out = kh.agem_project(grad, ref)
    dot = (grad * ref).flatten(1).sum(-1)
    assert ((out * ref).flatten(1).sum(-1) >= -1e-12).all()
    assert torch.equal(out[dot >= 0], grad[dot >= 0])
    assert not torch.allclose(out[dot < 0], grad[dot < 0])


def _gem_brute_force(g: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """min ||x - g||^2 s.t. G x >= 0 by enumerating active sets: for every subset A the projection of g onto
    {G_A x = 0}; the feasible candidate closest to g is the optimum (it lies in the affine hull of its face)."""
    best, best_d = None, float("inf")
    k = G.shape[0]
    for r in range(k + 1):
        for A in itertools.combinations(range(k), r):
            if A:
                GA = G[list(A)]
                x = g - GA.T @ torch.linalg.lstsq(GA @ GA.T, GA @ g).solution
            else:
                x = g
            if (G @ x >= -1e-9).all() and float((x - g).norm()) < best_d:
                best, best_d = x, float((x - g).norm())
    return best


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_gem_projection_matches_brute_force(k):
    g = device.generator(10 + k)
    for trial in range(20):
        grad = torch.randn(1, 6, generator=g, dtype=D)
        refs = torch.randn(1, k, 6, generator=g, dtype=D)
        if trial % 5 == 0:  # nearly parallel constraints (an ill-conditioned dual)
            refs[0, -1] = refs[0, 0] + 1e-3 * torch.randn(6, generator=g, dtype=D)
        out = kh.gem_project(grad, refs)
        ref = _gem_brute_force(grad[0], refs[0])
        torch.testing.assert_close(out[0], ref, rtol=0, atol=1e-6)
        assert ((refs[0] @ out[0]) >= -1e-6).all()


def test_gem_dual_solves_the_nonnegative_qp():
    g = device.generator(20)
    A = torch.randn(3, 4, 4, generator=g, dtype=D)
    Q, p = A @ A.transpose(-1, -2), torch.randn(3, 4, generator=g, dtype=D)
    v = kh.gem_dual(Q, p)
    grad = (Q @ v[..., None])[..., 0] + p
    assert (v >= 0).all()
    assert (grad >= -1e-8).all() and (v * grad).abs().max() < 1e-8  # KKT


# ------------------------------------------------------------------------------------------------ training


def _tiny_tasks(n_tasks=2, P=20, B=60, seed=7):
    g = device.generator(seed)
    protos = torch.where(torch.rand(kh.N_CLASSES, P, generator=g) < 0.3, 1.0, -1.0)
    tasks = []
    for t in range(n_tasks):
        perm = torch.randperm(P, generator=g)
        y = torch.randint(0, kh.N_CLASSES, (B,), generator=g)
        x = protos[y] * torch.where(torch.rand(B, P, generator=g) < 0.1, -1.0, 1.0)
        tasks.append(kh.Task(x[:, perm], y, x[:20, perm], y[:20]))
    return tasks


@pytest.mark.parametrize("method", sorted(kh.METHODS))
def test_every_method_trains_and_reruns_bit_identically(method):
    tasks = _tiny_tasks()
    cfg = kh.Settings(n=3, memories=8, temperature=0.3, epochs=2, batch=16, ewc_lambdas=(1.0, 100.0), ref_items=8)
    xi1, rec1 = kh.train_tasks(tasks, method, cfg, seed=3, progress=False)
    xi2, rec2 = kh.train_tasks(tasks, method, cfg, seed=3, progress=False)
    assert torch.equal(xi1, xi2) and rec1 == rec2
    assert xi1.shape[0] == (2 if method == "ewc" else 1) and xi1.abs().max() <= 1.0
    tests = [r for r in rec1 if r["kind"] == "test"]
    assert len(tests) == len(tasks) ** 2 * xi1.shape[0]
    # task 1 is trained alike by every method (nothing to rehearse or protect yet); a stack of models (EWC) sums
    # its products in another order, so it agrees to rounding only
    naive, _ = kh.train_tasks(tasks[:1], "naive", cfg, seed=3, progress=False)
    first, _ = kh.train_tasks(tasks[:1], method, cfg, seed=3, progress=False)
    if method == "ewc":
        torch.testing.assert_close(first, naive.expand_as(first), rtol=0, atol=1e-5)
    else:
        assert torch.equal(first, naive)


def test_make_tasks_permutes_pixels_and_keeps_items():
    g = device.generator(0)
    images = {"train_images": torch.randint(0, 256, (50, 28, 28), generator=g, dtype=torch.uint8),
              "train_labels": torch.randint(0, 10, (50,), generator=g),
              "test_images": torch.randint(0, 256, (30, 28, 28), generator=g, dtype=torch.uint8),
              "test_labels": torch.randint(0, 10, (30,), generator=g)}
    params = {"train_items": 20, "test_items": 10, "threshold": 0.5, "tasks": 3}
    tasks = sq.make_tasks(images, params, 1, "cpu", torch.float32)
    assert len(tasks) == 3 and tasks[0].train_x.shape == (20, 784)
    assert set(tasks[0].train_x.unique().tolist()) == {-1.0, 1.0}
    for t in tasks[1:]:
        assert torch.equal(t.train_y, tasks[0].train_y) and not torch.equal(t.train_x, tasks[0].train_x)
        assert torch.equal(t.train_x.sort(-1).values, tasks[0].train_x.sort(-1).values)  # a permutation
    with pytest.raises(ValueError, match="bad cell"):
        sq.parse_cell("n=3,method=si,seed=0")
    assert sq.parse_cell("n=10,method=gem,seed=1") == {"n": 10, "method": "gem", "seed": 1}


# ------------------------------------------------------------------------------------------------ the targets


@pytest.fixture(scope="module")
def test_config():
    return _config.load([REPO / "config" / "config.yaml", REPO / ".test" / "config" / "config.yaml"])


@pytest.fixture(scope="module")
def mnist(prepared_mnist):
    from assocmem.data import load_images

    return load_images(prepared_mnist)


@pytest.fixture(scope="module")
def test_run(test_config, mnist):
    params = _config.experiment_params(test_config, sq.NAME)
    table, extras = sq.run(params, mnist, seed=test_config["seed"], device=torch.device("cpu"), dtype=torch.float32,
                           progress=False)
    return table, extras, params


def test_test_scale_run_learns_forgets_and_keeps_the_identity(test_run):
    table, extras, params = test_run
    summary = sf.summarize(table)
    assert set(summary["method"]) == {"naive", "rehearsal", "ewc", "pseudorehearsal", "agem", "gem"}
    assert (summary["task1_after_task1"] > 0.7).all()  # far above chance (0.1) on a tiny run
    naive = summary[summary["method"] == "naive"]
    assert (naive["task1_after_task1"] - naive["task1_final"] > 0.15).all()
    rehearsal = summary[summary["method"] == "rehearsal"].set_index("n")["final_mean_accuracy"]
    assert (rehearsal > naive.set_index("n")["final_mean_accuracy"]).all()
    claims = {c.id: c for c in sf.claims_memories(table)}
    assert claims["tanh_argument_is_energy_difference"].passed
    assert set(extras["memories"]) == {"n=2,seed=0", "n=10,seed=0"}
    assert len(extras["memories"]["n=2,seed=0"]["pixels"]) == params["shown_memories"]


def test_figures_draw_from_the_run(test_run, test_config, tmp_path):
    table, extras, _ = test_run
    prov = {"run_wall_time_s": 1.0, "device": "cpu", "dtype": "torch.float32"}
    for target in sq.TARGETS:
        meta = sf.figure_stage(test_config, stages.Runs(table, extras), prov, tmp_path / target)
        assert meta["verdict"] in ("reproduced", "partly", "not reproduced") and meta["claims"]
        assert (tmp_path / f"{target}.png").is_file() and (tmp_path / f"{target}.csv").is_file()


def test_accuracy_claims_fail_on_tables_built_to_fail(test_run):
    summary = sf.summarize(test_run[0])
    good = summary.copy()
    good["task1_after_task1"] = 0.9
    good.loc[good["method"] == "naive", "task1_final"] = 0.3
    assert all(c.passed for c in sf.claims_accuracy(good))
    bad = good.copy()
    bad.loc[bad.index[0], "task1_after_task1"] = 0.79
    assert [c.passed for c in sf.claims_accuracy(bad)] == [False, True]
    bad = good.copy()
    bad.loc[(bad["method"] == "naive") & (bad["n"] == 10), "task1_final"] = 0.61  # a drop of 0.29
    assert [c.passed for c in sf.claims_accuracy(bad)] == [True, False]


def _ranking_table(values: dict) -> pd.DataFrame:
    rows = [{"n": n, "series": sf.series_label(m, lam), "method": m, "lam": lam, "seed": 0,
             "final_mean_accuracy": v, "mean_forgetting": 0.1, "drawdown": 0.01, "tasks": 5,
             "task1_after_task1": 0.9, "task1_final": 0.5}
            for (n, m, lam), v in values.items()]
    return pd.DataFrame(rows)


def test_ranking_claim_uses_the_best_lambda_and_fails_when_any_n_breaks_it():
    nan = float("nan")
    ok = {(2, "naive", nan): 0.4, (2, "rehearsal", nan): 0.8, (2, "ewc", 1.0): 0.3, (2, "ewc", 10.0): 0.6,
          (30, "naive", nan): 0.4, (30, "rehearsal", nan): 0.5, (30, "ewc", 1.0): 0.4, (30, "ewc", 10.0): 0.2}
    assert sf.best_ewc(_ranking_table(ok)).to_dict() == {2: 10.0, 30: 1.0}
    assert sf.claims_forgetting(_ranking_table(ok))[0].passed  # EWC = naive counts as >=
    for key, v in (((30, "rehearsal", nan), 0.4), ((2, "ewc", 10.0), 0.39), ((30, "ewc", 1.0), 0.39)):
        assert not sf.claims_forgetting(_ranking_table({**ok, key: v}))[0].passed


def test_instability_claim_needs_a_peak_at_intermediate_n():
    nan = float("nan")
    t = _ranking_table({(n, m, nan): 0.5 for n in (2, 10, 40) for m in ("naive", "rehearsal", "gem")})
    t = pd.concat([t, _ranking_table({(n, "ewc", 1.0): 0.45 for n in (2, 10, 40)})], ignore_index=True)
    t.loc[(t["method"] == "gem") & (t["n"] == 10), "drawdown"] = 0.2
    claims = {c.id: c for c in sf.claims_forgetting(t)}
    assert claims["gem_unstable_at_intermediate_n"].passed and "agem_unstable_at_intermediate_n" not in claims
    t.loc[(t["method"] == "gem") & (t["n"] == 40), "drawdown"] = 0.15  # unstable at an extreme too
    assert not {c.id: c for c in sf.claims_forgetting(t)}["gem_unstable_at_intermediate_n"].passed


def test_memory_claims_fail_on_tables_built_to_fail(test_run):
    table = test_run[0]
    proxy = (table["kind"] == "memory_proxy") & (table["stage"] == "after task 1")
    good = table.copy()
    good.loc[proxy & (good["n"] == 10), "proxy"] = good.loc[proxy & (good["n"] == 2), "proxy"].iloc[0] + 0.1
    assert [c.passed for c in sf.claims_memories(good)] == [True, True]
    bad = good.copy()
    bad.loc[proxy & (bad["n"] == 10), "proxy"] -= 0.002
    assert [c.passed for c in sf.claims_memories(bad)] == [False, True]
    bad = good.copy()
    bad.loc[bad["kind"] == "identity", "identity_rel_error"] = 1e-6
    assert [c.passed for c in sf.claims_memories(bad)] == [True, False]


def test_cells_run_alone_give_the_rows_of_a_run_together(mnist, test_config):
    """A shard's rows do not depend on which other cells run (every draw is seeded per replicate and task)."""
    params = {**_config.experiment_params(test_config, sq.NAME), "train_items": 200, "test_items": 50, "epochs": 2,
              "memories": 16, "tasks": 2}
    cells = ["n=2,method=naive,seed=0", "n=3,method=agem,seed=1"]
    kw = dict(seed=0, device=torch.device("cpu"), dtype=torch.float32, progress=False)
    whole, ex_whole = sq.run({**params, "cells": cells}, mnist, **kw)
    parts = [sq.run({**params, "cells": [c]}, mnist, **kw) for c in cells]
    pd.testing.assert_frame_equal(pd.concat([p[0] for p in parts], ignore_index=True), whole)
    assert stages._merge(parts[0][1], parts[1][1], "") == ex_whole
