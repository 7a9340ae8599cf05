"""Tests of the entropic associative memory (assocmem.entropic_am), its feature maps (assocmem.feature_extractors) and
the four EAM targets (Hernandez, Morales & Pineda 2024): the spec's exact unit claims (lambda-register of a cue k
times adds exactly k; beta-retrieval with sigma -> 0 returns the cue's levels where its cells are non-zero), the
recognition rule, the retrieval distribution, the feature maps' exactness and determinism, a test-scale run on
CIFAR-10 whose claims are evaluated, and claims that fail on tables built to fail."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from assocmem import config as _config
from assocmem import device
from assocmem import entropic_am as eam
from assocmem import feature_extractors as fx
from assocmem.experiments.entropic_am import eam as run_mod
from assocmem.experiments.entropic_am import eam_figure as fig

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one torch thread per test module


def _register(seed=0, m=8, n=12, N=40, sparse=True):
    g = device.generator(seed)
    q = torch.randint(0, m // 2 if sparse else m, (N, n), generator=g)  # leaves the upper rows empty
    return eam.register(eam.empty(m, n), q), g


# ----------------------------------------------------------------------------- core: the spec's unit claims


@pytest.mark.parametrize("k", [1, 3, 17])
def test_register_same_cue_k_times_adds_exactly_k_to_its_cells(k):
    R, g = _register(1)
    cue = torch.randint(0, 8, (1, 12), generator=g)
    R2 = eam.register(R, cue.repeat(k, 1))
    diff = R2 - R
    assert diff[cue[0], torch.arange(12)].eq(k).all()
    assert diff.sum() == k * 12  # nothing elsewhere


def test_register_saturates_at_1023_and_equals_one_cue_at_a_time():
    R = eam.empty(4, 3)
    q = torch.tensor([[0, 1, 2]])
    assert eam.register(R, q.repeat(1100, 1))[0, 0] == eam.SATURATION == 1023
    g = device.generator(2)
    cues = torch.randint(0, 4, (30, 3), generator=g)
    one = R
    for c in cues:
        one = eam.register(one, c[None])
    assert torch.equal(one, eam.register(R, cues))
    with pytest.raises(ValueError):
        eam.register(R, torch.tensor([[0, 4, 0]]))


@pytest.mark.parametrize("sigma", [0.0, 1e-6])
def test_retrieval_as_sigma_goes_to_zero_returns_the_cues_levels_where_their_cells_are_non_zero(sigma):
    R, g = _register(3, m=8, n=12)
    R[:, 0] = 0  # an empty column
    q = torch.randint(0, 8, (50, 12), generator=g)
    got = eam.retrieve(R, q, sigma, device.generator(4))
    nonzero = eam.cue_weights(R, q) > 0
    assert nonzero.any() and (~nonzero).any()
    assert torch.equal(got[nonzero], q[nonzero])
    # elsewhere: the nearest non-zero cell (the lower one on a tie); the cue's level in the empty column
    for b, j in (~nonzero).nonzero().tolist():
        rows = R[:, j].nonzero().flatten()
        want = int(q[b, j]) if len(rows) == 0 else int(rows[(rows - q[b, j]).abs().argmin()])
        assert int(got[b, j]) == want


def test_retrieval_draws_from_weights_times_gaussian_and_is_block_invariant():
    m, sigma = 6, 0.25
    R = torch.tensor([[5], [0], [20], [1], [40], [2]])
    q = torch.full((20000, 1), 1)
    got = eam.retrieve(R, q, sigma, device.generator(5))
    w = R[:, 0].double() * torch.exp(-(torch.arange(m) - 1.0) ** 2 / (2 * (sigma * m) ** 2))
    p = w / w.sum()
    freq = torch.bincount(got[:, 0], minlength=m).double() / len(got)
    assert freq[1] == 0  # an empty cell is never drawn
    assert (freq - p).abs().max() < 4 * math.sqrt(0.25 / len(got))
    R2, _ = _register(6, m=16, n=10, sparse=False)
    qq = torch.randint(0, 16, (37, 10), generator=device.generator(7))
    a = eam.retrieve(R2, qq, 0.1, device.generator(8), max_elements=160)
    b = eam.retrieve(R2, qq, 0.1, device.generator(8), max_elements=1 << 20)
    assert torch.equal(a, b)


def test_recognition_counts_mismatches_and_weights():
    R = torch.tensor([[4, 0, 1],
                      [0, 2, 9],
                      [1, 3, 0]])
    q = torch.tensor([[0, 1, 1],    # all cells non-zero: weights 4, 2, 9
                      [1, 0, 2],    # cells 0, 0, 0: three mismatches
                      [2, 2, 0]])   # cells 1, 3, 1
    rec = eam.recognise(R, q)
    assert rec.mismatches.tolist() == [0, 3, 0]
    assert rec.accepted.tolist() == [True, False, True]
    # register mean weight: column means of non-zero cells 2.5, 2.5, 5 -> 10/3
    assert rec.reference == pytest.approx(10 / 3)
    assert rec.weight.tolist() == pytest.approx([5.0, 0.0, 5 / 3])
    assert eam.recognise(R, q, kappa=1.0).accepted.tolist() == [True, False, False]
    assert eam.recognise(R, q, xi=3).accepted.tolist() == [True, True, True]
    # iota: column 2's cells below 0.5 x 5 (the 1) count as empty
    f = eam.filtered(R, 0.5)
    assert f[0, 2] == 0 and f[1, 2] == 9 and f[2, 0] == 0 and f[0, 0] == 4
    assert eam.recognise(R, q, iota=0.5).mismatches.tolist() == [0, 3, 2]
    grid = eam.accept_grid(rec, [0.0, 1.0], [0, 3])
    for a, k in enumerate([0.0, 1.0]):
        for b, x in enumerate([0, 3]):
            assert torch.equal(grid[a, b], eam.recognise(R, q, kappa=k, xi=x).accepted)


def test_entropy_of_columns():
    R = torch.tensor([[1, 5, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]])
    h = eam.column_entropies(R)
    assert h.tolist() == pytest.approx([2.0, 0.0, 0.0])
    assert eam.entropy(R) == pytest.approx(2 / 3)


def test_quantiser_levels_values_and_range():
    z = torch.tensor([[0.0, 10.0], [1.0, 20.0], [0.5, 15.0]])
    qu = eam.fit_quantiser(z, 5)
    assert qu.levels(z).tolist() == [[0, 0], [4, 4], [2, 2]]
    assert torch.allclose(qu.values(qu.levels(z)), z)
    assert qu.levels(torch.tensor([[-3.0, 99.0]])).tolist() == [[0, 4]]  # clipped
    glob = eam.fit_quantiser(z, 5, per_feature=False)
    assert glob.levels(z)[:, 0].tolist() == [0, 0, 0] and glob.levels(z)[:, 1].tolist() == [2, 4, 3]
    one = eam.fit_quantiser(z, 1)
    assert one.levels(z).eq(0).all() and torch.allclose(one.values(one.levels(z))[0], torch.tensor([0.5, 15.0]))


# ----------------------------------------------------------------------------- feature maps


@pytest.mark.parametrize("N", [30, 200])
def test_pca_is_exact_in_both_branches_and_nested(N):
    g = device.generator(9)
    x = torch.rand(N, 4, 4, 3, generator=g, dtype=torch.float64) * torch.linspace(0.2, 2, 48).reshape(4, 4, 3)
    p = fx.fit_pca(x, 10, torch.float64)
    xc = x.reshape(N, -1) - x.reshape(N, -1).mean(0)
    S = torch.linalg.svdvals(xc)
    assert torch.allclose(p.variances, S[:10] ** 2 / N, rtol=1e-8)
    assert torch.allclose(p.components @ p.components.T, torch.eye(10, dtype=torch.float64), atol=1e-10)
    full = fx.fit_pca(x, min(N - 1, 48), torch.float64)  # the rank of the centred data
    assert torch.allclose(full.decode(full.encode(x)), x, atol=1e-8)
    assert torch.allclose(p.truncated(4).encode(x), p.encode(x)[:, :4])


def test_logistic_classifier_is_deterministic_and_learns():
    g = device.generator(10)
    y = torch.randint(0, 3, (300,), generator=g)
    z = torch.randn(300, 5, generator=g) + 3 * torch.nn.functional.one_hot(y, 5)[:, :5].float()
    a = fx.train_logistic(z, y, 3, steps=60, lr=0.1, weight_decay=1e-4, progress=False)
    b = fx.train_logistic(z, y, 3, steps=60, lr=0.1, weight_decay=1e-4, progress=False)
    assert torch.equal(a.W, b.W)
    assert (a.predict(z) == y).double().mean() > 0.9


def test_conv_autoencoder_trains_seeded_and_bit_identical():
    images = torch.rand(40, 16, 16, 3, generator=device.generator(11))
    labels = torch.randint(0, 10, (40,), generator=device.generator(12))

    def train():
        g = device.generator(13)
        model = fx.ConvAutoencoder(g, 12, size=16, widths=(4, 8), hidden=16)
        log = fx.train_autoencoder(model, images, labels, epochs=3, batch=16, lr=3e-3, class_weight=1.0, generator=g,
                                   progress=False)
        return model, log

    m1, log1 = train()
    m2, log2 = train()
    assert log1 == log2 and all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert log1[-1]["mse"] < log1[0]["mse"]
    with torch.no_grad():
        z = m1.encode(images)
        assert z.shape == (40, 12) and m1.decode(z).shape == images.shape and m1.logits(z).shape == (40, 10)
        assert 0 <= float(m1.decode(z).min()) and float(m1.decode(z).max()) <= 1


# ----------------------------------------------------------------------------- the targets


def _test_params() -> dict:
    cfg = _config.load([REPO / "config" / "config.yaml", REPO / ".test" / "config" / "config.yaml"])
    return _config.experiment_params(cfg, run_mod.NAME)


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    from assocmem.data import load_images, prepare_cifar10

    local = REPO / "resources" / "data" / "cifar10.pt"
    if local.is_file():
        return load_images(local)
    from conftest import mirror_path

    mirror = mirror_path()
    if not (mirror / "SHA256SUMS").is_file():
        pytest.skip("no prepared CIFAR-10 and no data mirror")
    out = tmp_path_factory.mktemp("data") / "cifar10.pt"
    prepare_cifar10(mirror, out)
    return load_images(out)


@pytest.fixture(scope="module")
def test_run(cifar):
    params = _test_params()
    table, extras = run_mod.run(cifar, params, seed=0, progress=False)
    return table, extras, params


def _tiny(params: dict, **kw) -> dict:
    p = dict(params, split={"train": 200, "validation": 40, "fill": 150, "test": 50}, columns=[16], n=16,
             rows=[2, 8], fills=[0.5, 1.0], noise_levels=[0.0, 0.1], sigmas=[0.05, 0.25], chain_steps=2,
             kappas=[0.0, 1.0], xis=[0, 4], random_cues=30, size_cues=20, logistic=dict(params["logistic"], steps=5))
    p.update(kw)
    return p


def test_run_is_seeded_and_folds_are_independent(cifar):
    p = _tiny(_test_params(), folds=[0, 1])
    a, ea = run_mod.run(cifar, p, seed=3, progress=False)
    b, _ = run_mod.run(cifar, _tiny(_test_params(), folds=[1]), seed=3, progress=False)
    pd.testing.assert_frame_equal(a[a["fold"] == 1].reset_index(drop=True), b.reset_index(drop=True))
    again, _ = run_mod.run(cifar, p, seed=3, progress=False)
    pd.testing.assert_frame_equal(a, again)
    assert set(ea["grids"]) == {"0"} and set(ea["folds"]) == {"0", "1"}


def test_conv_autoencoder_path_runs(cifar):
    p = _tiny(_test_params(), features="conv_ae", columns=[8], n=8, rows=[2],
              autoencoder=dict(widths=[4, 8], hidden=8, epochs=1, batch=64, lr=1e-3, class_weight=1.0))
    table, extras = run_mod.run(cifar, p, seed=0, progress=False)
    assert {"size", "fill", "noise", "sigma", "rejection", "chain", "classifier"} <= set(table["kind"])
    assert "final_mse_n8" in extras["folds"]["0"]


def test_claims_at_test_scale(test_run, tmp_path):
    raw, extras, params = test_run
    acc = fig.classifier_accuracy(raw, params["n"])
    passed = {c.id: c.passed for c in fig.claims_size(fig.size_table(raw), params)}
    assert passed["entropy_rises_with_rows"]
    passed = {c.id: c.passed for c in fig.claims_fill(fig.fill_table(raw), acc, "test")}
    for cid in ("recall_rises_with_filling", "entropy_rises_with_filling", "precision_changes_little"):
        assert passed[cid], cid
    # the full-fill claim fails at the quick and test scales (retrieval at sigma = 0.25 loses the class): not asserted
    passed = {c.id: c.passed for c in fig.claims_noise(fig.noise_table(raw), fig.sigma_table(raw),
                                                        fig.rejection_table(raw), params)}
    assert passed["narrow_retrieval_more_precise"] and passed["rejects_random_cues"]
    passed = {c.id: c.passed for c in fig.claims_chains(fig.chain_table(raw))}
    assert passed["retrievals_are_constructed"] and passed["chain_first_step_keeps_class_sigma_0.05"]
    # the image target draws from the run alone
    from assocmem import stages

    cfg = _config.load([REPO / "config" / "config.yaml", REPO / ".test" / "config" / "config.yaml"])
    meta = fig.figure_stage(cfg, stages.Runs(raw, extras), {"run_wall_time_s": 1.0, "device": "cpu",
                                                             "dtype": "torch.float32"}, tmp_path / "fig_eam_retrievals")
    assert (tmp_path / "fig_eam_retrievals.png").is_file() and "PCA" in meta["caption"] and "JPEG" in meta["caption"]


def _fill(recall, entropy, precision, accepted=None):
    k = len(recall)
    return pd.DataFrame({"fill": np.linspace(0.1, 1, k), "recall": recall, "entropy": entropy,
                         "precision": precision, "accepted": accepted if accepted is not None else [0.9] * k,
                         "cues": [1000] * k})


def test_fill_claims_fail_on_tables_built_to_fail():
    good = _fill([0.1, 0.3, 0.64], [3.0, 3.2, 3.4], [0.62, 0.65, 0.66])
    assert all(c.passed for c in fig.claims_fill(good, 0.66, "quick"))

    def failed(t, acc=0.66, scale="quick"):
        return {c.id for c in fig.claims_fill(t, acc, scale) if not c.passed}

    assert failed(_fill([0.1, 0.5, 0.3], [3.0, 3.2, 3.4], [0.62, 0.65, 0.66])) == {"recall_rises_with_filling",
                                                                                   "full_fill_matches_classifier"}
    assert failed(_fill([0.1, 0.3, 0.64], [3.0, 3.4, 3.2], [0.62, 0.65, 0.66])) == {"entropy_rises_with_filling"}
    assert failed(_fill([0.1, 0.3, 0.64], [3.0, 3.2, 3.4], [0.4, 0.65, 0.66])) == {"precision_changes_little"}
    assert failed(good, acc=0.8) == {"full_fill_matches_classifier"}
    paper = {c.id: c.passed for c in fig.claims_fill(_fill([0.1, 0.3, 0.67], [3.0, 3.2, 3.40], [0.6, 0.65, 0.68]),
                                                     0.68, "paper")}
    assert paper["end_points_match_authors"]
    off = _fill([0.1, 0.3, 0.67], [3.0, 3.1, 3.2], [0.6, 0.65, 0.68])
    assert failed(off, acc=0.68, scale="paper") == {"end_points_match_authors"}


def test_size_noise_rejection_and_chain_claims_fail_when_false():
    rows = [{"n": 8, "m": m, "precision": p, "recall": r, "entropy": h}
            for m, p, r, h in ((1, 0.1, 0.1, 0.0), (4, 0.2, 0.2, 1.5), (16, 0.4, 0.3, 3.0), (64, 0.3, 0.1, 4.0))]
    t = pd.DataFrame(rows)
    t["f1"] = fig.f1(t["precision"], t["recall"])
    p = {"n": 8, "folds": [0], "size_cues": 100, "retrievals": 2}
    assert all(c.passed for c in fig.claims_size(t, p))
    bad = t.copy()
    bad.loc[bad["m"] == 64, "entropy"] = 2.0
    bad.loc[bad["m"] == 16, "f1"] = 0.0
    assert not any(c.passed for c in fig.claims_size(bad, p))

    def noise(rec, sigma=0.01):
        return pd.DataFrame({"sigma": sigma, "noise": [0.0, 0.05, 0.11], "recall": rec, "precision": rec})

    sig = pd.DataFrame({"cue": "clean", "sigma": [0.01, 0.25], "precision": [0.4, 0.2], "recall": [0.4, 0.2]})
    rej = pd.DataFrame([{"split": s, "kappa": k, "xi": 0, "recall": r, "accepted": 1.0, "rejected_random": j,
                         "rejected_shuffled": 0.0}
                        for s in ("validation", "test") for k, r, j in ((0.0, 0.5, 0.5), (1.0, 0.49, 0.95))])
    params = {"kappa": 0.0, "xi": 0}
    ok = {c.id: c.passed for c in fig.claims_noise(noise([0.4, 0.38, 0.35]), sig, rej, params)}
    assert all(ok.values())
    res = {c.id: c.passed for c in fig.claims_noise(noise([0.4, 0.45, 0.1]), sig.assign(precision=[0.2, 0.2]),
                                                    rej.assign(recall=[0.5, 0.49, 0.5, 0.3]), params)}
    assert not any(res.values())
    chain = pd.DataFrame({"sigma": 0.05, "step": [0, 1, 2], "agreement": [0.4, 0.3, 0.2],
                          "identical_to_stored": [0.0, 0.0, 0.0]})
    assert all(c.passed for c in fig.claims_chains(chain))
    assert not any(c.passed for c in fig.claims_chains(chain.assign(agreement=[0.4, 0.1, 0.1],
                                                                   identical_to_stored=[0, 0.01, 0])))
