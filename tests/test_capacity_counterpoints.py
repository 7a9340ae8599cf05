"""Tests of the capacity counterpoints: Gaussian-KDE / mean-shift capacity (fig_kde_capacity), sparse-recovery
associative memory (assocmem.sparse_recovery, fig_sparse_recovery_capacity) and the MNIST-bags MIL stand-in
(tab_mil_mnist_bags)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from assocmem import config as _config
from assocmem import device, dynamics
from assocmem import pooling, stats
from assocmem import sparse_recovery as sr
from assocmem.sampling import sample_sphere
from assocmem.experiments.kde import capacity as kde
from assocmem.experiments.kde import capacity_figure as kde_fig
from assocmem.experiments.khm import mil_bags as mil
from assocmem.experiments.khm import mil_bags_figure as mil_fig
from assocmem.experiments.sparse_recovery import capacity as src
from assocmem.experiments.sparse_recovery import capacity_figure as src_fig

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one torch thread per test module


def _test_params(name: str) -> dict:
    cfg = _config.load([REPO / "config" / "config.yaml", REPO / ".test" / "config" / "config.yaml"])
    return _config.experiment_params(cfg, name)


# ----------------------------------------------------------------------------- KDE / mean shift


def _mean_shift(Xi, x, beta, block=None):
    """The blocked (online log-sum-exp) mean-shift step that fig_kde_capacity runs."""
    return dynamics.update(Xi, x, beta, similarity="neg_sq_euclidean", memory_block=block or Xi.shape[-2])


def test_mean_shift_step_is_the_euclidean_mhn_update_and_the_dot_update_on_the_sphere():
    g = device.generator(0)
    sigma = 0.3
    Xi = sample_sphere((50, 6), g, torch.float64).unsqueeze(0)  # (1, N, D), float64
    x = torch.randn(1, 7, 6, generator=g, dtype=torch.float64)
    step = _mean_shift(Xi, x, 1.0 / (2 * sigma**2))
    core = dynamics.update(Xi[0], x[0], 1.0 / (2 * sigma**2), similarity="neg_sq_euclidean")
    torch.testing.assert_close(step[0], core, rtol=0, atol=1e-12)
    dot = dynamics.update(Xi[0], x[0], 1.0 / sigma**2, similarity="dot")  # equal norms: the |x_i|^2 terms cancel
    torch.testing.assert_close(step[0], dot, rtol=0, atol=1e-12)
    # by hand: two memories, state at the first one
    Xi2 = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    w = 1.0 / (1.0 + math.exp(-2.0 / (2 * sigma**2)))
    torch.testing.assert_close(_mean_shift(Xi2, Xi2[:, :1], 1.0 / (2 * sigma**2))[0, 0],
                               torch.tensor([w, 1 - w], dtype=torch.float64), rtol=0, atol=1e-12)


def test_mean_shift_blocked_and_batched_equal_one_at_a_time():
    g = device.generator(1)
    Xi = torch.stack([sample_sphere((37, 5), g, torch.float64) for _ in range(3)])
    x = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)
    beta = torch.tensor([2.0, 8.0, 8.0, 4.0], dtype=torch.float64)  # one beta per state
    full = _mean_shift(Xi, x, beta)
    torch.testing.assert_close(_mean_shift(Xi, x, beta, block=5), full, rtol=0, atol=1e-12)
    for s in range(3):
        for b in range(4):
            one = dynamics.update(Xi[s], x[s, b:b + 1], float(beta[b]), similarity="neg_sq_euclidean")
            torch.testing.assert_close(full[s, b:b + 1], one, rtol=0, atol=1e-12)


def test_capacity_by_hand_and_censoring():
    raw = pd.DataFrame({"D": [4] * 3 + [8] * 3, "sigma": 0.25, "start": "probe", "N": [2, 4, 8] * 2,
                            "fraction_retrieved": [1.0, 0.95, 0.5, 1.0, 0.9, 0.92]})
    cap = kde_fig.capacity(raw, 0.9).set_index("D")
    assert cap.loc[4, "capacity"] == 4 and not cap.loc[4, "censored"]
    assert cap.loc[8, "capacity"] == 8 and cap.loc[8, "censored"]
    slope, _intercept, r2 = stats.loglinear_fit(pd.Series([4, 8, 12]).to_numpy(), pd.Series([2, 8, 32]).to_numpy())
    assert slope == pytest.approx(math.log(4) / 4) and r2 == pytest.approx(1.0)


@pytest.fixture(scope="module")
def kde_table():
    params = _test_params(kde.NAME)
    raw = kde.run(params, seed=0, device=torch.device("cpu"), dtype=torch.float32, progress=False)
    return kde_fig.summarize(raw, params), raw, params


def test_kde_claims_reproduce_at_test_scale(kde_table):
    table, _, _ = kde_table
    claims = kde_fig.evaluate_claims(table)
    failed = [(c.id, c.our_value) for c in claims if not c.passed]
    assert not failed, failed


def test_kde_run_is_seeded(kde_table):
    _, _raw, params = kde_table
    small = dict(params, dims=[4, 8], n_grid=[2, 4, 8, 16])
    a = kde.run(small, seed=3, device=torch.device("cpu"), dtype=torch.float32, progress=False)
    b = kde.run(small, seed=3, device=torch.device("cpu"), dtype=torch.float32, progress=False)
    pd.testing.assert_frame_equal(a, b)


def test_kde_claims_can_fail(kde_table):
    table = kde_table[0].copy()
    cap = table["kind"] == "capacity"
    table.loc[cap, "capacity"] = 16  # flat in D and equal for both bandwidths
    table.loc[cap, "censored"] = False
    passed = {c.id: c.passed for c in kde_fig.evaluate_claims(table)}
    assert passed["capacity_exponential_in_D"] is False
    assert passed["larger_bandwidth_lowers_capacity"] is False
    table.loc[cap, "capacity"] = 2 ** table.loc[cap, "D"].astype(int)  # growing at the large bandwidth too
    assert {c.id: c.passed for c in kde_fig.evaluate_claims(table)}["large_bandwidth_capacity_bounded"] is False


# ----------------------------------------------------------------------------- sparse recovery model


def test_soft_threshold_and_ista_by_hand():
    v = torch.tensor([3.0, -0.2, -1.5, 0.5])
    torch.testing.assert_close(sr.soft_threshold(v, 0.5), torch.tensor([2.5, 0.0, -1.0, 0.0]))
    B = torch.tensor([[1.0]], dtype=torch.float64)
    sol = sr.ista(B, torch.tensor([[3.0]], dtype=torch.float64), lam=0.5, iterations=50)
    torch.testing.assert_close(sol.e, torch.tensor([[2.5]], dtype=torch.float64))  # lasso: soft(s, lam)


def test_basis_pursuit_hand_cases():
    # min |e1| + |e2| s.t. e1 + 2 e2 = 2  ->  e = (0, 1)
    sol = sr.basis_pursuit(torch.tensor([[1.0, 2.0]], dtype=torch.float64), torch.tensor([[2.0]], dtype=torch.float64),
                           tol=1e-10, max_iter=20000)
    torch.testing.assert_close(sol.e, torch.tensor([[0.0, 1.0]], dtype=torch.float64), rtol=0, atol=1e-6)
    # e3 alone explains both constraints: (0, 0, 1) has norm 1 against (1, 1, 0) with norm 2; batched with a second s
    B = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    s = torch.tensor([[1.0, 1.0], [-2.0, -2.0]], dtype=torch.float64)
    sol = sr.basis_pursuit(B, s, tol=1e-10, max_iter=20000)
    torch.testing.assert_close(sol.e, torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -2.0]], dtype=torch.float64),
                               rtol=0, atol=1e-6)
    assert bool(sol.converged.all())


def test_basis_pursuit_matches_an_lp_solver():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    g = device.generator(5)
    m, n = 12, 30
    B = torch.randn(m, n, generator=g, dtype=torch.float64)
    s = torch.randn(3, m, generator=g, dtype=torch.float64)
    ours = sr.basis_pursuit(B, s, tol=1e-9, max_iter=20000)
    for q in range(3):  # e = a - b, a, b >= 0: minimise sum(a + b) s.t. B (a - b) = s
        res = scipy_optimize.linprog(torch.ones(2 * n).numpy(), A_eq=torch.cat([B, -B], 1).numpy(), b_eq=s[q].numpy(),
                                     bounds=(0, None), method="highs")
        assert res.status == 0
        assert float(ours.e[q].abs().sum()) == pytest.approx(res.fun, rel=1e-6)


def test_learned_constraints_annihilate_and_do_not_depend_on_the_stored_count():
    g = device.generator(2)
    n, k = 40, 15
    G = sr.subspace_generator(n, k, g)
    X, _ = sr.stored_vectors(G, 60, 2, g)
    B, rank = sr.learn_constraints(X, n - k)
    assert rank == k and B.shape == (n - k, n)
    assert float((X @ B.T).abs().max()) <= 1e-10 * float(X.abs().max())
    torch.testing.assert_close(B @ B.T, torch.eye(n - k, dtype=torch.float64), rtol=0, atol=1e-12)
    XL = torch.cat([X, sr.stored_vectors(G, 3000, 2, g)[0]])
    BL, rankL = sr.learn_constraints(XL, n - k, gram=True)
    assert rankL == k
    torch.testing.assert_close(BL.T @ BL, B.T @ B, rtol=0, atol=1e-9)  # the same projector onto the complement
    few, _ = sr.stored_vectors(G, k - 3, 2, g)
    assert sr.learn_constraints(few, n - k)[1] == k - 3  # too few vectors: the rank check says so


def test_random_errors_and_recall_by_debiasing():
    g = device.generator(3)
    e = sr.random_errors(5, 50, 7, 1.0, 3.0, g)
    assert ((e != 0).sum(1) == 7).all()
    nz = e[e != 0].abs()
    assert float(nz.min()) >= 1.0 and float(nz.max()) <= 3.0
    n, k = 60, 20
    G = sr.subspace_generator(n, k, g)
    X, _ = sr.stored_vectors(G, 100, 2, g)
    B, _ = sr.learn_constraints(X, n - k)
    err = sr.random_errors(5, n, 4, 1.0, 3.0, g)
    y = X[:5] + err
    s = y @ B.T
    exact = sr.debias(B, s, err, 0.5)  # debiasing on the true support recovers the error exactly
    assert bool(sr.recall_success(y - exact, X[:5], 1e-8).all())
    bp = sr.basis_pursuit(B, s, tol=1e-9, max_iter=10000)
    assert bool(sr.recall_success(y - bp.e, X[:5], 1e-4).all())


@pytest.fixture(scope="module")
def sparse_table():
    params = _test_params(src.NAME)
    raw, checks = src.run(params, seed=0, device=torch.device("cpu"), progress=False)
    return src_fig.summarize(raw, params, checks), params


def test_sparse_recovery_claims_reproduce_at_test_scale(sparse_table):
    table, params = sparse_table
    claims = src_fig.evaluate_claims(table, params["min_success"])
    # ista_needs_debiasing is decided at the support threshold fixed before the first run (0.01) and does not
    # hold there (it does at 0.1, chosen afterwards); it is reported, not asserted.
    failed = [(c.id, c.our_value) for c in claims if not c.passed and c.id != "ista_needs_debiasing"]
    assert not failed, failed


def test_sparse_recovery_claims_can_fail(sparse_table):
    table, params = sparse_table
    bad = table.copy()
    e1 = bad["experiment"] == "E1"
    bad.loc[e1 & (bad["decoder"] == "ista"), "success_rate"] = 1.0  # ISTA as good as basis pursuit
    bad.loc[(bad["experiment"] == "check") & (bad["decoder"] == "E2_agreement"), "success_rate"] = 0.5
    passed = {c.id: c.passed for c in src_fig.evaluate_claims(bad, params["min_success"])}
    assert passed["ista_needs_debiasing"] is False
    assert passed["recall_independent_of_stored_count"] is False
    flat = table.copy()
    flat.loc[flat["experiment"] == "scaling", "success_rate"] = 0.0  # no error ever corrected
    passed = {c.id: c.passed for c in src_fig.evaluate_claims(flat, params["min_success"])}
    assert passed["exponential_storage_linear_correction"] is False


# ----------------------------------------------------------------------------- MNIST-bags MIL (HopfieldPooling, U-Hop+)

MIL = {"targets": [3], "n_bags": 24, "test_fraction": 0.5, "bag_size_mean": 6, "bag_size_spread": 2, "max_witnesses": 2,
           "downsample": 4, "seeds": 2, "epochs": 2, "batch_bags": 8, "lr": 1e-3, "weight_decay": 1e-4, "hidden": 8,
           "embedding": 8, "key_dim": 4,
           "heads": 2, "beta": 1.0, "tau": 0.1, "uhop_lr": 1e-3, "uhop_epochs": 2, "auc_tolerance": 0.01}


def _fake_mnist(seed=0, n=300):
    g = device.generator(seed)
    return {"train_images": torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8),
                "train_labels": torch.arange(n) % 10,
                "test_images": torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8),
                "test_labels": torch.arange(n) % 10}


def test_mil_bags_are_labelled_by_the_target_digit():
    labels = torch.arange(500) % 10
    idx, mask, y = mil.make_bags(labels, 7, 40, MIL, device.generator(0))
    sizes = mask.sum(1)
    assert int(sizes.min()) >= 4 and int(sizes.max()) <= 8 and float(y.mean()) == 0.5
    for b in range(40):
        digits = labels[idx[b][mask[b]]]
        n_target = int((digits == 7).sum())
        assert (n_target >= 1 and n_target <= 2) if y[b] else n_target == 0


def test_mil_auc_by_hand():
    scores = torch.tensor([[0.1, 0.4, 0.35, 0.8], [0.5, 0.5, 0.5, 0.5]])
    y = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    torch.testing.assert_close(stats.auc(scores, y), torch.tensor([0.75, 0.5]))


def test_hopfield_pooling_by_hand_and_padding_is_ignored():
    p = pooling.init_params(1, 3, device.generator(0), hidden=MIL["hidden"], embedding=MIL["embedding"],
                            key_dim=MIL["key_dim"], heads=1)
    X = torch.rand(1, 1, 4, 3, generator=device.generator(1))
    mask = torch.tensor([[[True, True, True, False]]])
    out = pooling.forward(p, X, mask, beta=2.0)
    K, V = pooling.keys_values(p, X)
    a = torch.softmax(2.0 * K[0, 0, :3] @ p["q"][0, 0], dim=0)
    expected = (a @ V[0, 0, :3]) @ p["Wc"][0][:, 0] + p["bc"][0, 0]
    torch.testing.assert_close(out[0, 0], expected)
    X2 = X.clone()
    X2[0, 0, 3] = 100.0  # the padded instance must not matter
    torch.testing.assert_close(pooling.forward(p, X2, mask, beta=2.0), out)


def test_mil_run_is_seeded_and_the_baseline_is_untouched_by_uhop():
    data = _fake_mnist()
    a = mil.run(data, MIL, seed=1, device=torch.device("cpu"), progress=False)
    b = mil.run(data, MIL, seed=1, device=torch.device("cpu"), progress=False)
    pd.testing.assert_frame_equal(a, b)
    no_sep = mil.run(data, dict(MIL, uhop_epochs=0), seed=1, device=torch.device("cpu"), progress=False)
    base = a[a["variant"] == "baseline"].reset_index(drop=True)
    pd.testing.assert_frame_equal(base, no_sep[no_sep["variant"] == "baseline"].reset_index(drop=True))
    # without separation epochs the two halves of the ensemble are the same model
    assert (no_sep.groupby("seed")["test_auc"].nunique() == 1).all()
    assert not a[a["variant"] == "U-Hop+"]["max_key_cosine"].equals(base["max_key_cosine"])


def test_mil_claims_can_fail():
    rows = [{"target_digit": d, "seed": s, "variant": v, "test_auc": 0.9 - (0.1 if v == "U-Hop+" else 0.0),
                 "max_key_cosine": 0.9} for d in (1, 2) for s in range(2) for v in ("baseline", "U-Hop+")]
    passed = {c.id: c.passed for c in mil_fig.evaluate_claims(mil_fig.summarize(pd.DataFrame(rows)), 0.01)}
    assert passed == {"uhop_not_worse_on_every_dataset": False, "uhop_gains_on_average": False,
                      "uhop_separates_keys": False}


def test_mil_on_mnist_at_test_scale(prepared_mnist):
    """On real MNIST: the models learn (AUC > 0.6) and U-Hop+ separates the keys; the AUC claims are
    reported, not asserted (they do not reproduce at the quick scale either; see the target's JSON)."""
    from assocmem.data import load_images

    path = prepared_mnist

    params = _test_params(mil.NAME)
    raw = mil.run(load_images(path), params, seed=0, device=torch.device("cpu"), progress=False)
    assert raw["test_auc"].mean() > 0.6
    claims = {c.id: c for c in mil_fig.evaluate_claims(mil_fig.summarize(raw), params["auc_tolerance"])}
    assert claims["uhop_separates_keys"].passed, claims["uhop_separates_keys"].our_value


# ----------------------------------------------------------------------------- pipeline


@pytest.mark.pipeline
@pytest.mark.parametrize("paper,target", [("kde", "fig_kde_capacity"),
                                          ("sparse_recovery", "fig_sparse_recovery_capacity")])
def test_capacity_targets_reproduce_in_the_pipeline(pipeline_run, paper, target):
    prefix = pipeline_run / "results" / paper / target
    meta = json.loads(prefix.with_suffix(".json").read_text())
    # See test_sparse_recovery_claims_reproduce_at_test_scale: the debiasing claim is reported, not asserted.
    failed = [c for c in meta["claims"] if not c["passed"] and c["id"] != "ista_needs_debiasing"]
    assert not failed, failed
    assert meta["paper_key"] == paper
    assert len(pd.read_csv(prefix.with_suffix(".csv"))) > 0
    for ext in ("png", "pdf"):
        assert prefix.with_suffix(f".{ext}").stat().st_size > 0


@pytest.mark.pipeline
def test_mil_target_in_the_pipeline(pipeline_run):
    """The MIL stand-in runs end to end; its AUC claims are recorded honestly (not asserted: they do not reproduce),
    the separation mechanism is asserted."""
    prefix = pipeline_run / "results" / "khm" / "tab_mil_mnist_bags"
    meta = json.loads(prefix.with_suffix(".json").read_text())
    claims = {c["id"]: c for c in meta["claims"]}
    assert set(claims) == {"uhop_not_worse_on_every_dataset", "uhop_gains_on_average", "uhop_separates_keys"}
    assert claims["uhop_separates_keys"]["passed"]
    assert meta["verdict"] in ("reproduced", "partly", "not reproduced") and "stand-in" in meta["substitutions"]
    for ext in ("png", "pdf", "csv"):
        assert prefix.with_suffix(f".{ext}").stat().st_size > 0
