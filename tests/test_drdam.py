"""DrDAM targets (Hoover et al. 2024; experiments in assocmem.experiments.drdam): the experiments' pieces by hand, and
per target a test-scale replication test on a real (tiny) run whose claims must hold where they hold at the quick
scale, plus a check that each claim fails on a table where it is false. The core (assocmem.random_features) has its
own tests (test_random_features.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from assocmem import config as _config
from assocmem import device
from assocmem import random_features as rf
from assocmem.experiments.drdam import common, errors, errors_figure, feature_maps, feature_maps_figure, images
from assocmem.experiments.drdam import images_figure, memories, memories_figure, retrieval, retrieval_figure

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
DT = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one thread avoids thread-pool waits on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _test_params(name: str) -> dict:
    cfg = _config.load([REPO / "config" / "config.yaml", REPO / ".test" / "config" / "config.yaml"])
    return _config.experiment_params(cfg, name)


def _passed(claims) -> dict[str, bool]:
    return {c.id: c.passed for c in claims}


# ----------------------------------------------------------------------------- shared pieces


def test_patterns_and_query_sets():
    g = device.generator(0)
    mem = common.unique_binary(200, 8, g)  # 256 patterns exist: duplicates are certain in a plain draw of 200
    assert mem.shape == (200, 8) and set(mem.unique().tolist()) <= {0.0, 1.0}
    assert torch.unique(mem, dim=0).shape[0] == 200
    with pytest.raises(ValueError):
        common.unique_binary(300, 8, g)
    sets = common.query_sets(mem, 50, 0.25, g)
    assert [s.shape for s in sets.values()] == [(50, 8)] * 3
    assert torch.equal(sets["memories"], mem[:50])
    assert ((sets["near"] != mem[:50]).sum(1) == 2).all()  # round(0.25 * 8) bits flipped in every row
    assert common.feature_seed(0, 30, 1000) != common.feature_seed(0, 30, 2000) != common.feature_seed(1, 30, 1000)


def test_rising_and_slopes_by_hand():
    assert common.rising([1, 2, 3], [1.0, 2.0, 3.0])
    assert not common.rising([1, 2, 3], [1.0, 3.0, 2.0])  # a step down, no standard errors given
    assert common.rising([1, 2, 3], [1.0, 3.0, 2.0], se=[0.1, 0.5, 0.5])  # the fall of 1 is within 2 x 0.71
    assert not common.rising([3, 2, 1], [1.0, 2.0, 3.0])  # order follows x
    assert common.loglog_slope([1e3, 4e3, 16e3], [1.0, 0.5, 0.25]) == pytest.approx(-0.5)
    assert math.isnan(common.loglog_slope([1, 2], [1.0, 0.0]))


def test_error_rows_match_a_direct_computation():
    g = device.generator(1)
    mem = common.unique_binary(30, 10, g)
    Xi = rf.to_unit_box(mem)
    sets = {k: rf.to_unit_box(v) for k, v in common.query_sets(mem, 6, 0.2, g).items()}
    f = rf.Features("sincos", 2000, 10, 5.0, seed=3, block=512)
    T = rf.write(f, Xi)
    rows = {r["set"]: r for r in errors.error_rows(f, T, Xi, sets, None)}
    x = sets["near"]
    e = (rf.energy(f, T, x) - rf.mr_energy(Xi, x, 5.0)).abs()
    gd = rf.grad(f, T, x) - rf.mr_grad(Xi, x, 5.0)
    assert rows["near"]["energy_mae"] == pytest.approx(float(e.mean()), rel=1e-12)
    assert rows["near"]["grad_mae"] == pytest.approx(float(gd.abs().mean()), rel=1e-12)
    assert rows["near"]["grad_l2"] == pytest.approx(float(gd.norm(dim=1).mean()), rel=1e-12)
    guess = (rf.mr_energy(Xi, sets["memories"], 5.0)[:, None] - rf.energy(f, T, sets["random"])[None]).abs().mean()
    assert rows["random"]["guess_energy"] == pytest.approx(float(guess), rel=1e-12)
    assert rows["memories"]["clipped"] == 0.0


def test_with_beta_keeps_the_draw():
    f = rf.Features("sincos", 1000, 6, 2.0, seed=5, block=300)
    f2 = common.with_beta(f, 40.0)
    assert f2.beta == 40.0 and torch.equal(rf.omega_block(f, 1)[0], rf.omega_block(f2, 1)[0])


def test_nearest_hamming_by_hand():
    bits = torch.tensor([[1, 0, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    mem = torch.tensor([[1, 0, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    torch.testing.assert_close(retrieval.nearest_hamming(bits, mem), torch.tensor([0.25, 0.5], dtype=DT))


def test_pooled_features_and_offset_mae():
    imgs = torch.randint(0, 256, (50, 28, 28), generator=device.generator(2), dtype=torch.uint8)
    x = feature_maps.pooled_features(imgs)
    assert x.shape == (50, 16)
    assert float(x.min()) == 0.0 and float(x.max()) == pytest.approx(0.25)  # min-max per feature, then / sqrt(16)
    assert (torch.cdist(x, x) <= 1 + 1e-12).all()
    torch.testing.assert_close(x[:, 0] * 4, (imgs[:, :7, :7].double().mean((1, 2)) - imgs[:, :7, :7].double()
                                             .mean((1, 2)).min()) / np.ptp(imgs[:, :7, :7].double().mean((1, 2))
                                                                           .numpy()))
    E = torch.linspace(-1, 1, 7, dtype=DT)
    assert feature_maps.offset_mae(E + 3.0, E) == pytest.approx(0.0, abs=1e-12)  # a constant offset does not count
    assert feature_maps.offset_mae(E + torch.tensor([1.0, -1] * 3 + [0.0], dtype=DT), E) > 0.5
    mem, q = feature_maps.split_points(100, 30, 20, device.generator(0))
    assert len(set(mem.tolist()) | set(q.tolist())) == 50


def test_image_helpers():
    imgs = torch.randint(0, 256, (30, 32, 32, 3), generator=device.generator(3), dtype=torch.uint8)
    small = images.resize(imgs, 16)
    assert small.shape == (30, 16, 16, 3)
    torch.testing.assert_close(small[0, 0, 0], imgs[0, :2, :2].double().mean((0, 1)))  # area = 2x2 average
    assert images.resize(imgs, 64).shape == (30, 64, 64, 3)
    labels = torch.arange(30) % 10
    idx = images.per_class(labels, 20, device.generator(0))
    assert len(set(idx.tolist())) == 20 and (labels[idx].bincount(minlength=10) == 2).all()
    x = rf.to_unit_box(imgs[:2].flatten(1).double(), 255.0)
    rows = images.image_rows("p", (32, 32, 3), {"drdam": x, "mrdam": x.flip(0)}, torch.tensor([4, 5]),
                             reference=(0 * x, x.flip(0)))
    d = rows[0]
    assert d["source"] == 4 and d["pixels"].shape == (3072,) and float(d["pixels"].max()) <= 1.0
    pix = imgs[:2].flatten(1).double() / 255
    assert d["mse_to_mrdam"] == pytest.approx(float(((pix[0] - pix[1]) ** 2).mean()))
    assert d["query_to_mrdam"] == pytest.approx(float((pix[1] ** 2).mean()))


# ----------------------------------------------------------------------------- Fig 3: error vs Y


@pytest.fixture(scope="module")
def fig3():
    params = _test_params(errors.NAME)
    return errors.run(params, seed=0, device=CPU, dtype=DT, progress=False)


def test_fig3_claims_at_test_scale(fig3):
    passed = _passed(errors_figure.evaluate_claims(fig3))
    # As at the quick scale: the 1/sqrt(Y) law holds where the estimate is accurate, and the energy ordering holds.
    # T1 on every curve below the random-guess line fails (curves still leaving the clipped regime are steeper,
    # saturated ones flatter) and the gradient ordering fails at beta = 50 (clipped random queries have a zero
    # DrDAM gradient, near ones a huge one): reported, not asserted.
    assert passed["T1_slope_small_error_regime"] and passed["T2_ordering_energy"], passed


def test_fig3_claims_can_fail(fig3):
    flat = fig3.copy()
    flat[["energy_mae", "grad_mae"]] = 1e-3  # no decay with Y, no ordering
    passed = _passed(errors_figure.evaluate_claims(flat))
    assert not any(passed.values()), passed
    steep = fig3.copy()
    steep["energy_mae"] = steep["energy_mae"] * (steep["Y"] / 1000.0) ** -0.5  # a 1/Y law
    assert not _passed(errors_figure.evaluate_claims(steep))["T1_slope_small_error_regime"]


def test_fig3_rows_are_seeded_and_independent_of_the_other_Y():
    """A shard over Y gives the rows of the full run (Omega is seeded per (D, Y); patterns per D)."""
    p = dict(_test_params(errors.NAME), features=[1000, 2000], betas=[10, 30])
    full = errors.run(p, seed=4, device=CPU, dtype=DT, progress=False)
    shard = errors.run(dict(p, features=[2000]), seed=4, device=CPU, dtype=DT, progress=False)
    pd.testing.assert_frame_equal(full[full["Y"] == 2000].reset_index(drop=True), shard)


# ----------------------------------------------------------------------------- Fig 5: error vs K


@pytest.fixture(scope="module")
def fig5():
    return memories.run(_test_params(memories.NAME), seed=0, device=CPU, dtype=DT, progress=False)


def test_fig5_claims_at_test_scale(fig5):
    passed = _passed(memories_figure.evaluate_claims(fig5))
    assert passed["T3_error_grows_with_beta"], passed
    # Not reproduced, here and at the quick scale, for a reason the test pins down: at random queries both the sum
    # S of the kernels and the noise of its estimate grow with K (S ~ K, noise ~ sqrt(K)), so the relative error, and
    # with it the energy error, falls as K grows (clearly at beta = 30; flat within noise at beta = 10 here).
    assert not passed["T3_error_grows_with_K"]
    top = fig5[fig5["beta"] == fig5["beta"].max()]
    for _, g in top.groupby("D"):
        g = g.sort_values("K")
        assert g["energy_mae"].iloc[-1] < g["energy_mae"].iloc[0]


def test_fig5_claims_can_fail(fig5):
    bad = fig5.copy()
    bad["energy_mae"] = 1.0 / bad["beta"]  # falling with beta
    assert not _passed(memories_figure.evaluate_claims(bad))["T3_error_grows_with_beta"]
    good = fig5.copy()
    for col, se in (("energy_mae", "energy_se"), ("grad_l2", "grad_l2_se")):
        good[col] = good["beta"] * good["D"] * good["K"]
        good[se] = 0.0
    assert all(_passed(memories_figure.evaluate_claims(good)).values())


# ----------------------------------------------------------------------------- Fig 4A: retrieval agreement


@pytest.fixture(scope="module")
def fig4a():
    return retrieval.run(_test_params(retrieval.NAME), seed=0, device=CPU, dtype=torch.float32, progress=False)


def test_fig4a_claims_at_test_scale(fig4a):
    passed = _passed(retrieval_figure.evaluate_claims(fig4a))
    # The rise with beta fails at the quick scale too (at small beta MrDAM pulls every query to one mixture state
    # whose coordinates sit at the binarization threshold): reported, not asserted.
    for cid in ("T4_near_zero_at_small_beta_large_Y", "T4_disagreement_rises_as_Y_shrinks",
                "T4_random_queries_degrade_first"):
        assert passed[cid], (cid, passed)


def test_fig4a_float32_descent_agrees_with_float64(fig4a):
    p = _test_params(retrieval.NAME)
    r64 = retrieval.run(p, seed=0, device=CPU, dtype=DT, progress=False)
    assert (r64["disagreement"] - fig4a["disagreement"]).abs().max() <= 0.02


def test_fig4a_claims_can_fail(fig4a):
    bad = fig4a.copy()
    bad["disagreement"] = 0.3
    bad["disagreement_se"] = 0.0
    bad.loc[bad["set"] == "random", "disagreement"] = 0.1
    passed = _passed(retrieval_figure.evaluate_claims(bad))
    assert not passed["T4_near_zero_at_small_beta_large_Y"] and not passed["T4_random_queries_degrade_first"]
    worse = fig4a.copy()
    worse["disagreement_se"] = 0.0
    worse["disagreement"] = np.log(worse["Y"]) / 20  # rising with Y
    assert not _passed(retrieval_figure.evaluate_claims(worse))["T4_disagreement_rises_as_Y_shrinks"]


# ----------------------------------------------------------------------------- Fig 6: feature maps


@pytest.fixture(scope="module")
def fig6(prepared_mnist):
    from assocmem.data import load_images

    imgs = load_images(prepared_mnist)["train_images"]
    return feature_maps.run(imgs, _test_params(feature_maps.NAME), seed=0, device=CPU, dtype=DT, progress=False)


def test_fig6_claims_at_test_scale(fig6):
    passed = _passed(feature_maps_figure.evaluate_claims(fig6))
    # The other two T5 claims fail at the quick scale as well (stated in the caption): reported, not asserted.
    assert passed["T5_sincos_lowest_error"], passed


def test_fig6_claims_can_fail(fig6):
    bad = fig6.copy()
    bad.loc[bad["map"] == "cos", ["energy_mae", "grad_mae"]] = 1e-9
    assert not _passed(feature_maps_figure.evaluate_claims(bad))["T5_sincos_lowest_error"]
    good = fig6.copy()
    for col in ("energy_mae", "grad_mae"):
        grow = np.where(good["map"].isin(["exp", "expexp"]), good["beta"] ** 2, 1.0)
        rank = good["map"].map({"sincos": 1.0, "cos": 2.0, "exp": 3.0, "expexp": 4.0})
        good[col] = rank * grow / np.sqrt(good["Y"])
    assert all(_passed(feature_maps_figure.evaluate_claims(good)).values())


def test_fig6_degrade_claim_marks_a_peak_before_the_largest_beta():
    """Where an Exp-type error is largest at an inner beta, the claim says so (the caption's explanation of a
    failure relies on it); a monotone growth is not marked."""
    rows = []
    for Y in (1000, 4000):
        for beta in (1.0, 10.0, 100.0):
            for m, e in (("sincos", 1.0), ("cos", 2.0), ("exp", {1.0: 3.0, 10.0: 90.0, 100.0: 60.0}[beta]),
                         ("expexp", 3.0 * beta)):
                for s in ("memories", "queries"):
                    rows.append({"Y": Y, "beta": beta, "map": m, "set": s, "energy_mae": e / Y**0.5,
                                 "grad_mae": e / Y**0.5})
    claims = {c.id: c for c in feature_maps_figure.evaluate_claims(pd.DataFrame(rows))}
    claim = claims["T5_exp_maps_degrade_faster_with_beta"]
    parts = claim.our_value.split("; ")
    assert all(("peak at beta = 10" in p) == (" exp:" in p) for p in parts), parts
    assert claim.passed  # x20 and x100 against x1: a peak alone does not fail the claim


# ----------------------------------------------------------------------------- Figs 1, 2, 4B: images


@pytest.fixture(scope="module")
def cifar(tmp_path_factory, mirror):
    from assocmem.data import load_images, prepare_cifar10

    out = tmp_path_factory.mktemp("data") / "cifar10.pt"
    prepare_cifar10(mirror, out)
    return load_images(out)


@pytest.fixture(scope="module")
def figs_1_2_4b(cifar):
    return images.run(cifar["train_images"], cifar["train_labels"], _test_params(images.NAME), seed=0, device=CPU,
                      dtype=torch.float32, progress=False)


def test_image_claims_at_test_scale(figs_1_2_4b):
    passed = _passed(images_figure.evaluate_claims(figs_1_2_4b))
    # Fig 1 (a third of each image visible) fails at the test and quick scales: the occluded queries lie so far from
    # every memory that the kernel sum is below the noise of its estimate. Reported, not asserted.
    for cid in ("T6_completions_agree_fig2", "T7_small_beta_modest_Y", "T7_large_beta_needs_more_Y"):
        assert passed[cid], (cid, passed)


def test_image_run_shapes_and_clamp(figs_1_2_4b, cifar):
    t = figs_1_2_4b
    p = _test_params(images.NAME)
    D = 3 * p["size"] ** 2
    f2 = t[t["part"] == "fig2"]
    assert len(f2) == 4 * p["fig2_images"]
    q, dr = (np.stack(f2[f2["role"] == r].sort_values("image")["pixels"]) for r in ("query", "drdam"))
    keep = round(p["fig2_keep"] * D)
    np.testing.assert_array_equal(q[:, :keep], dr[:, :keep])  # the visible part is clamped
    assert (q[:, keep:] == 0).all()
    grid = t[(t["part"] == "grid") & (t["role"] == "drdam")]
    assert len(grid) == len(p["grid_betas"]) * len(p["grid_features"])
    tr = t[t["part"] == "fig1_trace"]
    assert len(tr) == 2 * p["fig1_images"] * (p["fig1_steps"] + 1)


def test_image_float32_descent_agrees_with_float64(figs_1_2_4b, cifar):
    r64 = images.run(cifar["train_images"], cifar["train_labels"], _test_params(images.NAME), seed=0, device=CPU,
                     dtype=DT, progress=False)
    pix = figs_1_2_4b["pixels"].dropna()
    assert np.abs(np.stack(pix) - np.stack(r64.loc[pix.index, "pixels"])).max() < 1e-3


def test_image_claims_can_fail(figs_1_2_4b):
    bad = figs_1_2_4b.copy()
    bad["mse_to_mrdam"] = bad["query_to_mrdam"]  # DrDAM no closer to MrDAM than the query is
    passed = _passed(images_figure.evaluate_claims(bad))
    assert not passed["T6_completions_agree_fig2"] and not passed["T7_small_beta_modest_Y"]
    even = figs_1_2_4b.copy()
    even.loc[even["part"] == "grid", "mse_to_mrdam"] = 0.0  # every Y reproduces at every beta
    assert not _passed(images_figure.evaluate_claims(even))["T7_large_beta_needs_more_Y"]
