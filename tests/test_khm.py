"""Tests of sparse separation maps, the kernelized Hopfield model, U-Hop+ and the capacity routine (KHM paper)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from assocmem import capacity, device, kernelized, sampling, separation
from assocmem.experiments.khm import basins as khm_basins
from assocmem.experiments.khm import basins_figure as khm_basins_fig
from assocmem.experiments.khm import capacity as khm_capacity
from assocmem.experiments.khm import capacity_figure as khm_capacity_figure
from assocmem.experiments.khm import energy_landscapes_figure as khm_energy_landscapes_fig
from assocmem.experiments.khm import metastable as khm_metastable
from assocmem.experiments.khm import metastable_figure as khm_metastable_fig
from assocmem.experiments.khm import spherical_codes as khm_codes
from assocmem.experiments.khm import spherical_codes_figure as khm_codes_fig

# ----------------------------------------------------------------------------- separation maps


@pytest.mark.parametrize("name", ["softmax", "entmax15", "sparsemax"])
def test_separations_are_distributions(name):
    z = torch.randn(50, 9, generator=device.generator(1), dtype=torch.float64) * 4
    p = separation.get(name)(z)
    assert (p >= 0).all()
    assert torch.allclose(p.sum(-1), torch.ones(50, dtype=torch.float64))
    # order-preserving: the largest score gets the largest weight
    assert torch.equal(p.argmax(-1), z.argmax(-1))


def test_sparsemax_hand_computed():
    # z = (0, 0.5, 1): support {0.5, 1}, tau = (1.5 - 1)/2 = 0.25 -> (0, 0.25, 0.75)
    p = separation.sparsemax(torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float64))
    assert torch.allclose(p, torch.tensor([[0.0, 0.25, 0.75]], dtype=torch.float64))
    # a gap of 1 or more leaves only the top entry
    p = separation.sparsemax(torch.tensor([[2.0, 1.0, -3.0]]))
    assert torch.equal(p, torch.tensor([[1.0, 0.0, 0.0]]))


def test_entmax15_hand_computed():
    # z = (1, 0): p = [(z/2 - tau)]_+^2 with p1 + p2 = 1: (1/2 - tau)^2 + tau^2 = 1 -> tau = (1/2 - sqrt(7/4))/2
    p = separation.entmax15(torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    tau = (0.5 - math.sqrt(1.75)) / 2
    assert torch.allclose(p, torch.tensor([[(0.5 - tau) ** 2, tau ** 2]], dtype=torch.float64))
    # a gap of 2 or more leaves only the top entry (p = (z/2 - tau)^2, tau = max/2 - 1)
    p = separation.entmax15(torch.tensor([[3.0, 1.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(p, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))


@pytest.mark.parametrize("alpha,name", [(1.5, "entmax15"), (2.0, "sparsemax")])
def test_exact_maps_match_bisection(alpha, name):
    z = torch.randn(40, 12, generator=device.generator(2), dtype=torch.float64) * 3
    assert torch.allclose(separation.get(name)(z), separation.entmax_bisect(z, alpha), atol=1e-10)


def test_limits_uniform_and_one_hot_and_softmax():
    z = torch.zeros(1, 5, dtype=torch.float64)
    for name in ("softmax", "entmax15", "sparsemax"):
        assert torch.allclose(separation.get(name)(z), torch.full((1, 5), 0.2, dtype=torch.float64))
        big = separation.get(name)(torch.tensor([[1000.0, 0.0, -1.0]], dtype=torch.float64))
        assert torch.allclose(big, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))
    # alpha -> 1 recovers softmax
    y = torch.randn(3, 6, generator=device.generator(3), dtype=torch.float64)
    assert torch.allclose(separation.entmax_bisect(y, 1.001, n_iter=100), torch.softmax(y, -1), atol=5e-3)


def test_sparsity_ordering():
    z = torch.randn(200, 10, generator=device.generator(4), dtype=torch.float64) * 2
    nnz = {n: (separation.get(n)(z) > 0).sum(-1).float().mean() for n in ("softmax", "entmax15", "sparsemax")}
    assert nnz["softmax"] == 10 and nnz["sparsemax"] < nnz["entmax15"] < 10


def test_conjugate_gradient_is_entmax_and_softmax_is_lse():
    z = torch.randn(4, 7, generator=device.generator(5), dtype=torch.float64, requires_grad=True)
    for alpha, f in [(1.0, separation.softmax), (1.5, separation.entmax15), (2.0, separation.sparsemax)]:
        (g,) = torch.autograd.grad(separation.conjugate(z, alpha).sum(), z)
        assert torch.allclose(g, f(z.detach()), atol=1e-8)
    assert torch.allclose(separation.conjugate(z, 1.0), torch.logsumexp(z, -1))
    # sparsemax conjugate by hand at z = (0, 0.5, 1): p = (0, .25, .75): <p,z> = .875, H_2 = (1 - .625)/2
    w = torch.tensor([[0.0, 0.5, 1.0]], dtype=torch.float64)
    assert torch.allclose(separation.conjugate(w, 2.0), torch.tensor([0.875 + 0.1875], dtype=torch.float64))


# ----------------------------------------------------------------------------- kernelized Hopfield model


def test_identity_kernel_is_the_modern_hopfield_update():
    from assocmem import dynamics

    g = device.generator(6)
    Xi = torch.randn(7, 5, generator=g, dtype=torch.float64)
    x = torch.randn(3, 5, generator=g, dtype=torch.float64)
    ours = kernelized.update(Xi, x, 2.0, W=torch.eye(5, dtype=torch.float64))
    assert torch.allclose(ours, dynamics.update(Xi, x, 2.0))
    assert torch.allclose(kernelized.update(Xi, x, 2.0), ours)


def test_kernel_and_retrieval_in_pattern_space_hand_computed():
    Xi = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    W = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)  # D_Phi = 3
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    K = kernelized.kernel(Xi, x, W)
    assert torch.allclose(K, torch.tensor([[4.0, 1.0]], dtype=torch.float64))
    p = torch.softmax(torch.tensor([4.0, 1.0], dtype=torch.float64), -1)
    assert torch.allclose(kernelized.update(Xi, x, 1.0, W), p[None] @ Xi)  # output in pattern space (d = 2)
    # energy: 1/2 K(x,x) - lse(K) at beta = 1
    E = kernelized.energy(Xi, x, 1.0, W)
    assert torch.allclose(E, 0.5 * 5.0 - torch.logsumexp(torch.tensor([4.0, 1.0], dtype=torch.float64), -1))


def test_batched_equals_one_at_a_time():
    g = device.generator(7)
    Xi = sampling.sample_sphere((3, 6, 4), g, torch.float64)
    W = kernelized.kaiming_normal((3, 5, 4), g, torch.float64)
    x = sampling.sample_sphere((3, 2, 4), g, torch.float64)
    out = kernelized.retrieve(Xi, x, 3.0, W, separation="entmax15", normalize=True, steps=3).state
    for r in range(3):
        one = kernelized.retrieve(Xi[r], x[r], 3.0, W[r], separation="entmax15", normalize=True, steps=3).state
        assert torch.allclose(out[r], one)


def test_separation_loss_hand_computed_and_min_separation():
    Xi = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    # cosines of pairs: 0, -1, 0
    cos = torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64)
    expect = (torch.logsumexp(cos / 0.5, 0) - math.log(3)) / 3
    assert torch.allclose(kernelized.separation_loss(Xi, None, None, 0.5), expect)
    assert torch.allclose(kernelized.separation_loss(Xi, None, None, 0.5, "sum"), torch.logsumexp(cos / 0.5, 0))
    assert float(kernelized.min_separation(Xi)) == pytest.approx(1.0)
    assert float(kernelized.min_angle_deg(Xi)) == pytest.approx(90.0)


def test_code_bounds_d3_match_the_spec():
    lo, up = kernelized.code_bounds([4, 12, 24, 130], 3)
    assert np.allclose(lo, [2 / 12, 2 / 36, 2 / 72, 2 / 390])
    assert np.allclose(up, [2.0, 4 / math.sqrt(12), 4 / math.sqrt(24), 4 / math.sqrt(130)])


def test_uhop_separates_and_is_seeded():
    g = device.generator(8)
    Xi = sampling.sample_sphere((12, 3), g)
    W0 = kernelized.kaiming_normal((3, 3), device.generator(9))
    a = kernelized.uhop_train(Xi, W0, steps=100, lr=0.05, tau=0.05)
    b = kernelized.uhop_train(Xi, W0, steps=100, lr=0.05, tau=0.05)
    assert torch.equal(a.W, b.W)
    assert a.losses[-1] < a.losses[0]
    assert float(kernelized.min_separation(Xi, a.W)) > float(kernelized.min_separation(Xi, W0))


# ----------------------------------------------------------------------------- capacity routine


def test_capacity_bisection_finds_a_known_boundary():
    # a fake retriever that stores exactly when M <= 37
    def retrieve(Xi, cues, beta, steps):
        return cues if Xi.shape[1] <= 37 else cues + 1.0

    make = capacity.sphere_generator(4)
    res = capacity.capacity(make, retrieve, beta=1.0, draws=1, progress=False)
    assert res.m_star == 37 and not res.capped
    res = capacity.capacity(make, retrieve, beta=1.0, draws=2, progress=False, m_start=30, growth=1.5)
    assert res.m_star == 37
    res = capacity.capacity(make, retrieve, beta=1.0, draws=2, progress=False, m_start=100)
    assert res.m_star == 37
    assert capacity.capacity(make, retrieve, beta=1.0, draws=2, m_max=20, progress=False).capped


def test_capacity_grows_with_beta_and_dimension():
    r = capacity.dense_retriever("softmax", normalize=True)
    kw = dict(steps=1, tol=0.05, draws=2, m_max=256, progress=False)
    small = capacity.capacity(capacity.sphere_generator(4), r, beta=10.0, **kw).m_star
    large = capacity.capacity(capacity.sphere_generator(4), r, beta=40.0, **kw).m_star
    assert large > small
    hi_d = capacity.capacity(capacity.sphere_generator(8), r, beta=40.0, **kw).m_star
    assert hi_d > large


def test_stored_with_cues_at_a_distance():
    g = device.generator(10)
    Xi = sampling.sample_sphere((2, 4, 16), g)  # nearly orthogonal memories
    r = capacity.dense_retriever("sparsemax", normalize=True)
    ok = capacity.stored(Xi, r, beta=10.0, steps=2, tol=1e-6, cue_distance=0.3, generator=g, on_sphere=True)
    assert ok.all()
    bad = capacity.stored(Xi, r, beta=0.01, steps=2, tol=1e-6, cue_distance=0.3, generator=g, on_sphere=True)
    assert not bad.any()


# ----------------------------------------------------------------------------- experiments (tiny, claims can fail)

CODES = dict(ms=[4, 12], groups=1, restarts=2, code_steps=150, code_lr=0.01, code_tau=[0.05, 0.005], pattern_dim=16,
             uhop_steps=200, uhop_lr=0.05, uhop_tau=0.02, search_tolerance_deg=1.0, m12_min_deg=60.0,
             uhop_min_ratio=0.9)


@pytest.fixture(scope="module")
def codes_table():
    return khm_codes.run(CODES, seed=0)


def test_spherical_codes_reproduce_at_tiny_scale(codes_table):
    claims = khm_codes_fig.evaluate_claims(codes_table, CODES)
    assert all(c.passed for c in claims), [c for c in claims if not c.passed]


def test_spherical_code_claims_can_fail(codes_table):
    bad = codes_table.copy()
    bad["truth_delta"] = bad["upper_bound"] * 1.5  # outside Prop. 3.1
    bad["search_angle_deg"] = bad["truth_angle_deg"] - 5
    bad["uhop_angle_deg"] = bad["truth_angle_deg"] * 0.5
    assert not any(c.passed for c in khm_codes_fig.evaluate_claims(bad, CODES))


def test_theory_capacity_grows_with_dimension():
    caps = [khm_capacity.theory_capacity(D, 20.0, 0.05) for D in (3, 5, 8)]
    assert all(lo <= up for lo, up in caps)
    assert caps[0][1] < caps[1][1] < caps[2][1]


def _capacity_table(raw, uhop, data="sphere"):
    rows = [dict(data=data, features=k, D_Phi=D, m_star=m, capped=False, theory_guaranteed=1.0, theory_ceiling=1.0,
                 tested="")
            for k, ms in (("raw", raw), ("U-Hop+", uhop)) for D, m in zip(range(2, 2 + len(ms)), ms)]
    import pandas as pd

    return pd.DataFrame(rows)


def test_capacity_claims_pass_and_fail():
    import pandas as pd

    params = {"min_r2": 0.9}
    good = khm_capacity_figure.evaluate_claims(_capacity_table([2, 3, 4, 6], [9, 25, 70, 200]), params)
    assert [c.id for c in good] == ["log_capacity_linear_in_feature_dim", "uhop_raises_capacity"]
    assert all(c.passed for c in good)
    bad = khm_capacity_figure.evaluate_claims(_capacity_table([9, 25, 70, 200], [9, 9, 8, 9]), params)
    assert not any(c.passed for c in bad)
    # the MNIST claim: U-Hop+ above raw at every D_Phi; false as soon as one D_Phi ties or falls below
    sphere = _capacity_table([2, 3, 4, 6], [9, 25, 70, 200])
    ok = pd.concat([sphere, _capacity_table([0, 1, 2, 2], [3, 6, 9, 9], "mnist")], ignore_index=True)
    claims = {c.id: c for c in khm_capacity_figure.evaluate_claims(ok, params)}
    assert claims["uhop_raises_capacity_mnist"].passed is True
    assert claims["uhop_raises_capacity"].passed is True  # the sphere rows are judged on their own
    tie = pd.concat([sphere, _capacity_table([0, 1, 9, 2], [3, 6, 9, 9], "mnist")], ignore_index=True)
    assert {c.id: c for c in khm_capacity_figure.evaluate_claims(tie, params)}["uhop_raises_capacity_mnist"].passed is False
    worse = _capacity_table([5, 6, 7, 8], [1, 2, 3, 4], "mnist")
    claims = khm_capacity_figure.evaluate_claims(worse, params)
    assert [c.id for c in claims] == ["uhop_raises_capacity_mnist"] and claims[0].passed is False
    # a capped raw M* is only a lower bound: never counted as beaten
    capped = _capacity_table([0, 1, 2, 2], [3, 6, 9, 9], "mnist")
    capped.loc[(capped["features"] == "raw") & (capped["D_Phi"] == 3), "capped"] = True
    assert khm_capacity_figure.evaluate_claims(capped, params)[0].passed is False
    assert "not a claim" in khm_capacity_figure.mnist_fit_note(ok) and khm_capacity_figure.mnist_fit_note(sphere) == ""
    # the power-law comparison: M* = D^2 exactly is a perfect power law (R^2 1) and a worse exponential
    power = _capacity_table([1, 1, 1, 1], [4, 9, 16, 25])  # D_Phi = 2..5
    note = khm_capacity_figure.power_law_note(power)
    assert "exponent 2.00" in note and "R^2 1.000" in note and "not a claim" in note
    assert khm_capacity_figure.power_law_note(worse) == ""


TINY_CAPACITY = {"pattern_dim": 8, "beta": 20.0, "tol": 0.05, "retrieval_steps": 1, "draws": 2, "growth": 2.0,
                 "resolution": 0.2, "uhop_steps": 10, "uhop_lr": 0.1, "uhop_tau": 0.1, "min_r2": 0.9,
                 "mnist_uhop_lr": 0.02}


def test_capacity_experiment_tiny():
    params = {**TINY_CAPACITY, "feature_dims": [2, 4], "m_max": 256, "datasets": ["sphere"]}
    table = khm_capacity.run(params, seed=0)
    assert set(table["data"]) == {"sphere"}
    u = table[table["features"] == "U-Hop+"]["m_star"].to_numpy()
    assert (np.diff(u) > 0).all()  # more feature dimensions, more memories
    with pytest.raises(ValueError, match="data_path"):
        khm_capacity.run(dict(params, datasets=["mnist"]), seed=0)


def test_mnist_memory_sets_are_seeded_unit_images(prepared_mnist):
    from assocmem.data import load_images

    images = load_images(prepared_mnist)["train_images"]
    make = khm_capacity.mnist_generator(images)
    a, b = make(5, 3, device.generator(4)), make(5, 3, device.generator(4))
    assert a.shape == (3, 5, 784) and torch.equal(a, b)
    assert torch.allclose(a.norm(dim=-1), torch.ones(3, 5))
    assert (a >= 0).all()
    # every pattern is a training image (pixels / 255) up to its norm, and the images of a draw are distinct
    flat = images.reshape(images.shape[0], -1).float()
    unit = flat / flat.norm(dim=-1, keepdim=True)
    for r in range(3):
        hits = (a[r] @ unit.T).max(-1)
        assert torch.allclose(hits.values, torch.ones(5), atol=1e-5)
        assert len(set(hits.indices.tolist())) == 5
    assert not torch.equal(make(5, 3, device.generator(5)), a)


def test_capacity_mnist_tiny_is_seeded(prepared_mnist):
    params = {**TINY_CAPACITY, "feature_dims": [4], "m_max": 32, "datasets": ["mnist"]}
    table = khm_capacity.run(params, seed=0, data_path=prepared_mnist)
    again = khm_capacity.run(params, seed=0, data_path=prepared_mnist)
    assert table.equals(again)
    assert set(table["data"]) == {"mnist"} and len(table) == 2
    raw = table[table["features"] == "raw"]["m_star"].to_numpy()
    uhop = table[table["features"] == "U-Hop+"]["m_star"].to_numpy()
    assert uhop.max() > 2 * max(raw.max(), 1)  # U-Hop+ separates correlated images that a random W leaves merged
    claims = khm_capacity_figure.evaluate_claims(table, params)
    assert [c.id for c in claims] == ["uhop_raises_capacity_mnist"] and isinstance(claims[0].passed, bool)


def test_metastable_support_size_and_claims_can_fail():
    p = torch.tensor([[0.5, 0.495, 0.005], [1 / 3, 1 / 3, 1 / 3], [0.004] * 3])
    assert khm_metastable.support_size(p, "softmax").tolist() == [2, 3, 3]  # all below 0.01: diffuse, counts as M
    assert khm_metastable.support_size(torch.tensor([[0.7, 0.3, 0.0]]), "sparsemax").tolist() == [2]
    params = dict(dim=5, feature_dim=5, n_memories=10, n_queries=10, trials=3, beta=1.0, steps=20, uhop_steps=20,
                  uhop_lr=1.0, uhop_tau=0.1, separations=["softmax", "sparsemax"])
    table = khm_metastable.run_synthetic(params, seed=0)
    assert np.allclose(table.groupby(["separation", "condition"])["share"].sum(), 1.0)
    swapped = table.copy()
    swapped["condition"] = swapped["condition"].replace({"MHM": "U-Hop+", "U-Hop+": "MHM"})
    claim = khm_metastable_fig.evaluate_claims(swapped)[0]
    assert claim.passed is False


def test_basins_identity_map_is_plain_mhm_and_claims_can_fail():
    params = dict(n_memories=5, memory_seed=42, draws=2, beta=20.0, steps=5, grid=12, extent=1.5, tol=1e-3,
                  uhop_steps=[0, 1], uhop_lr=0.1, uhop_tau=1.0, init="identity", separations=["softmax"])
    labels, table, Xi, Ws = khm_basins.run(params, seed=0)
    assert torch.equal(Ws[0, 0], torch.eye(2, dtype=Ws.dtype))
    _, pts = khm_basins.grid_points(12, 1.5)
    x = pts
    for _ in range(5):
        x = torch.softmax(20.0 * x @ Xi[0].T, -1) @ Xi[0]
    d, i = (x[:, None] - Xi[0][None]).norm(dim=-1).min(-1)
    assert torch.equal(labels[0, 0, 0], torch.where(d <= 1e-3, i, torch.full_like(i, -1)))
    rising = table.copy()
    rising.loc[rising["uhop_steps"] == 1, "metastable_share"] = 2.0
    assert khm_basins_fig.evaluate_claims(rising)[0].passed is False


def test_basins_metastable_area_shrinks_at_tiny_scale():
    """The claim on 20 draws of a 30 x 30 grid (0.3 s). It is a claim on a mean over random memory sets: at this
    size it held for config seeds 0, 1 and 2 and failed for seed 3 (sparsemax 0.071 -> 0.098 from N = 2 to 5)."""
    params = dict(n_memories=5, memory_seed=42, draws=20, beta=20.0, steps=5, grid=30, extent=1.5, tol=1e-3,
                  uhop_steps=[0, 1, 2, 5], uhop_lr=0.1, uhop_tau=1.0, init="identity",
                  separations=["softmax", "entmax15", "sparsemax"])
    _, table, _, _ = khm_basins.run(params, seed=0)
    claim = khm_basins_fig.evaluate_claims(table)[0]
    assert claim.passed, claim.our_value


def test_energy_grid_descent_and_valleys():
    ax = np.linspace(-1, 1, 21)
    X, Y = np.meshgrid(ax, ax)
    E = np.minimum((X - 0.5) ** 2 + Y ** 2, (X + 0.5) ** 2 + Y ** 2)  # two wells at (+-0.5, 0)
    assert khm_energy_landscapes_fig.own_valleys(E, ax, np.array([[0.5, 0.1], [-0.5, -0.1]])) == 2
    assert khm_energy_landscapes_fig.own_valleys(E, ax, np.array([[0.45, 0.1], [0.55, -0.1]])) == 1
    import pandas as pd

    t = pd.DataFrame([dict(setting=0, n_memories=2, beta=1.0, separation="softmax", uhop_steps=5, valleys=1)])
    assert khm_energy_landscapes_fig.evaluate_claims(t)[0].passed is False


# ----------------------------------------------------------------------------- the test-scale pipeline

KHM_TARGETS = ["fig_spherical_code_bounds", "fig_capacity_vs_feature_dim", "tab_metastable_states",
               "fig_energy_landscapes", "fig_basins"]


# Claims that hold at the tiny test scale; the others are reported in each target's JSON (some claims do not
# reproduce at any scale we ran).
ASSERTED_AT_TEST_SCALE = {
    "fig_spherical_code_bounds": ["prop31_bounds_hold_d3", "uhop_reaches_tammes_at_m12"],
    "fig_capacity_vs_feature_dim": ["uhop_raises_capacity", "uhop_raises_capacity_mnist"],
    "tab_metastable_states": ["uhop_moves_mass_to_k1_synthetic"],
    "fig_energy_landscapes": ["uhop_splits_merged_valleys"],
    "fig_basins": ["metastable_area_shrinks_with_uhop_steps"],
}


@pytest.mark.pipeline
@pytest.mark.parametrize("target", KHM_TARGETS)
def test_khm_targets_written_at_test_scale(pipeline_run, target):
    prefix = pipeline_run / "results" / "khm" / target
    for ext in ("png", "pdf", "csv"):
        assert prefix.with_suffix(f".{ext}").stat().st_size > 0
    meta = json.loads(prefix.with_suffix(".json").read_text())
    assert meta["claims"] and meta["verdict"] in ("reproduced", "partly", "not reproduced")
    passed = {c["id"]: c["passed"] for c in meta["claims"]}
    for claim in ASSERTED_AT_TEST_SCALE[target]:
        assert passed[claim], (claim, [c for c in meta["claims"] if c["id"] == claim])


@pytest.mark.parametrize("padded", [False, True])
def test_blockwise_separation_loss_matches_the_full_one(padded):
    """Computing the loss a few rows at a time (checkpointed) gives the same value and gradient."""
    g = torch.Generator().manual_seed(3)
    Xi = torch.randn(2, 23, 6, generator=g, dtype=torch.float64)
    W0 = torch.randn(2, 4, 6, generator=g, dtype=torch.float64)
    valid = torch.arange(23) < torch.tensor([[23], [17]]) if padded else None
    grads = []
    for block in (None, 5):
        W = W0.clone().requires_grad_(True)
        loss = kernelized.separation_loss(Xi, W, None, 0.3, valid=valid, block=block)
        loss.sum().backward()
        grads.append((loss.detach(), W.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-12)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-12)


def test_cue_blocks_do_not_change_retrieval():
    g = torch.Generator().manual_seed(4)
    Xi = torch.randn(2, 11, 5, generator=g, dtype=torch.float64)
    W = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    cues = Xi + 0.1 * torch.randn(Xi.shape, generator=g, dtype=torch.float64)
    whole = capacity.kernel_retriever(lambda X: (W, None))(Xi, cues, 5.0, 2)
    blocked = capacity.kernel_retriever(lambda X: (W, None), cue_block=4)(Xi, cues, 5.0, 2)
    assert torch.allclose(whole, blocked, atol=1e-12)
    assert torch.allclose(capacity.dense_retriever()(Xi, cues, 5.0, 2),
                          capacity.dense_retriever(cue_block=4)(Xi, cues, 5.0, 2), atol=1e-12)
