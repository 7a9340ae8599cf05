"""Tests of the side-by-side comparison (issue 18): the shared retrieval protocol (assocmem.benchmark), its model
adapters, the shared run of fig_models_retrieval_vs_stored, fig_models_retrieval_vs_corruption and tab_models_cost,
and their claims (each fails on a table where it is false)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from assocmem import benchmark as bm
from assocmem import config as _config
from assocmem import device, dynamics, kernelized, stages
from assocmem import random_features as rf
from assocmem.experiments.comparison import retrieval as cmp
from assocmem.experiments.comparison import retrieval_figure as cmp_fig

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one torch thread per test module


def _test_config() -> dict:
    return _config.load([REPO / "config" / "config.yaml", REPO / ".test" / "config" / "config.yaml"],
                        {"device": "cpu"})


def _params() -> dict:
    return _config.experiment_params(_test_config(), cmp.NAME)


def _prepared(name: str, tmp_path_factory) -> Path:
    """The prepared image file: the repository's resources/data/<name>.pt when it is there, else prepared from the
    offline mirror (skipped without one)."""
    local = REPO / "resources" / "data" / f"{name}.pt"
    if local.is_file():
        return local
    from conftest import mirror_path

    from assocmem.data import prepare_cifar10, prepare_idx_dataset

    if not (mirror_path() / "SHA256SUMS").is_file():
        pytest.skip(f"no prepared {name} and no offline data mirror")
    out = tmp_path_factory.mktemp("data") / f"{name}.pt"
    prepare_cifar10(mirror_path(), out) if name == "cifar10" else prepare_idx_dataset(name, mirror_path(), out)
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, torch.Tensor]:
    from assocmem.data import load_images

    return {ds: load_images(_prepared(ds, tmp_path_factory))["train_images"] for ds in ("mnist", "cifar10")}


@pytest.fixture(scope="module")
def test_run(images) -> pd.DataFrame:
    return cmp.run(images, _params(), seed=0, device=CPU, dtype=torch.float32, progress=False)


# ----------------------------------------------------------------------------- the protocol


def test_cues_are_what_the_protocol_says():
    g = device.generator(0)
    X = torch.rand(10, 4 * 4 * 3, generator=g, dtype=torch.float64)
    fill = torch.full((48,), 0.5, dtype=torch.float64)
    conds = bm.conditions([0.3], [0.25, 0.75])
    cues = bm.make_cues(X, torch.tensor([2, 5, 7]), conds, fill, 3, device.generator(1))
    assert cues.cues.shape == (12, 48) and cues.conditions() == conds
    assert cues.source.tolist() == [2, 5, 7] * 4 and cues.kind == ["clean"] * 3 + ["noise"] * 3 + ["mask"] * 6
    torch.testing.assert_close(cues.cues[:3], X[[2, 5, 7]], rtol=0, atol=0)
    assert not cues.known[:6].any()  # nothing is declared known on clean and noisy cues
    noise = cues.cues[3:6] - X[[2, 5, 7]]
    assert 0.2 < float(noise.std()) < 0.4
    for row, level in ((6, 0.25), (7, 0.25), (8, 0.25), (9, 0.75), (11, 0.75)):
        hidden = ~cues.known[row].view(16, 3)
        assert int(hidden[:, 0].sum()) == round(level * 16)  # pixel positions, all channels together
        assert bool((hidden == hidden[:, :1]).all())
        assert bool((cues.cues[row][~cues.known[row]] == 0.5).all())
        assert bool((cues.cues[row][cues.known[row]] == X[cues.source[row]][cues.known[row]]).all())
    again = bm.make_cues(X, torch.tensor([2, 5, 7]), conds, fill, 3, device.generator(1))
    assert torch.equal(again.cues, cues.cues) and torch.equal(again.known, cues.known)


def test_validation_sources_are_never_test_sources():
    assert bm.validation_sources(16, 8).tolist() == list(range(8, 16))
    with pytest.raises(ValueError, match="need N >= 16"):
        bm.validation_sources(15, 8)


def test_score_and_nearest_stored():
    X = torch.eye(4, dtype=torch.float64)
    out = torch.tensor([[0.9, 0.1, 0, 0], [0, 0, 0.2, 0.3], [1, 0, 0, 0]], dtype=torch.float64)
    ok, mse = bm.score(X, out, torch.tensor([0, 3, 1]))
    assert ok.tolist() == [True, True, False]
    torch.testing.assert_close(mse, ((out - X[[0, 3, 1]]) ** 2).mean(-1))
    # on the known entries only: the last two entries of the cue are unknown
    known = torch.tensor([[True, True, False, False]])
    assert bm.nearest_stored(X, torch.tensor([[0.0, 0.9, 5.0, 5.0]], dtype=torch.float64), known).tolist() == [1]


def test_downsample_and_mean_image():
    g = device.generator(2)
    imgs = torch.randint(0, 256, (5, 8, 8, 3), generator=g, dtype=torch.uint8)
    x = bm.downsample(imgs, 4)
    assert x.shape == (5, 48) and float(x.min()) >= 0 and float(x.max()) <= 1
    manual = imgs.double().div(255).view(5, 4, 2, 4, 2, 3).mean((2, 4)).reshape(5, -1)
    torch.testing.assert_close(x, manual)
    torch.testing.assert_close(bm.mean_image(imgs, 4), x.mean(0))  # area pooling is linear
    torch.testing.assert_close(bm.downsample(imgs, 8), imgs.double().div(255).reshape(5, -1))


def _spy_adapter(calls: list) -> bm.Adapter:
    """A stand-in memory: with value 2 it returns the stored image nearest to the cue, otherwise the first image."""

    def write(X, params, g):
        return {"memory": {"X": X}, "params": params}

    def recall(state, cues, known, budget):
        calls.append((state["params"]["v"], cues.clone()))
        X = state["memory"]["X"]
        if state["params"]["v"] == 2:
            return X[bm.nearest_stored(X, cues)]
        return X[:1].expand(cues.shape[0], -1)

    return bm.Adapter("spy", "spy", "-", write, recall, "v", False)


def test_tuning_picks_the_best_value_on_validation_cues_only():
    g = device.generator(3)
    X = torch.rand(12, 20, generator=g, dtype=torch.float64)
    conds = bm.conditions([0.05], [0.25])
    fill = X.mean(0)
    test = bm.make_cues(X, torch.arange(6), conds, fill, 1, device.generator(4))
    val = bm.make_cues(X, bm.validation_sources(12, 6), conds, fill, 1, device.generator(5))
    calls: list = []
    ev = bm.evaluate(_spy_adapter(calls), X, test, val, {"v": [1, 2, 3]}, 5, 0)
    assert ev.value == 2 and [v for v, _, _ in ev.tuning.scores] == [1, 2, 3]
    assert [v for v, _ in calls] == [1, 2, 3, 2]  # three validation recalls, then the test recall
    for _, cues in calls[:3]:
        assert torch.equal(cues, val.cues)
        assert not any(bool((cues == t).all(-1).any()) for t in test.cues[test.level > 0])
    assert torch.equal(calls[3][1], test.cues)
    assert bool(ev.retrieved.all())


# ----------------------------------------------------------------------------- the adapters call the core


def test_adapters_are_the_core_models():
    g = device.generator(6)
    X = torch.rand(12, 16, generator=g, dtype=torch.float64)
    cues = X[:4] + 0.1 * torch.randn(4, 16, generator=g, dtype=torch.float64)
    none = torch.zeros(4, 16, dtype=torch.bool)
    # KDE: mean shift of the core with beta = 1 / (2 sigma^2 d)
    st = bm.ADAPTERS["kde"].write(X, {"sigma": 0.1}, g)
    ref = dynamics.retrieve(X, cues, 1 / (2 * 0.1**2 * 16), similarity="neg_sq_euclidean", max_steps=7, tol=1e-6)
    torch.testing.assert_close(bm.ADAPTERS["kde"].recall(st, cues, none, 7), ref.state, rtol=0, atol=0)
    # MHN: the core's update on unit-norm centred keys, read out on the stored images
    st = bm.ADAPTERS["mhn"].write(X, {"beta": 50.0}, g)
    keys = (X - X.mean(0)) / (X - X.mean(0)).norm(dim=1, keepdim=True)
    c = (cues - X.mean(0)) / (cues - X.mean(0)).norm(dim=1, keepdim=True)
    s = dynamics.retrieve(keys, c, 50.0, max_steps=7, tol=1e-6).state
    torch.testing.assert_close(bm.ADAPTERS["mhn"].recall(st, cues, none, 7),
                               dynamics.separation_weights(keys, s, 50.0) @ X)
    # DrDAM: the written memory is random_features.write of the unit-box images (2 Y numbers)
    st = bm.ADAPTERS["drdam_small"].write(X, {"beta": 30.0, "features": 64}, device.generator(7))
    torch.testing.assert_close(st["memory"]["T"], rf.write(st["features"], rf.to_unit_box(X)))
    assert bm.stored_numbers(st) == 128
    # KHM: zero U-Hop+ steps keep the Kaiming start map (the khm_raw control); the retrieval is the core's with phi
    st = bm.ADAPTERS["khm_raw"].write(X, {"beta": 8.0, "feature_dim": 10}, device.generator(8))
    torch.testing.assert_close(st["memory"]["W"], kernelized.kaiming_normal((10, 16), device.generator(8),
                                                                            torch.float64))
    phi = kernelized.feature_map(st["memory"]["W"], None, normalize=True)
    ref = dynamics.retrieve(X - X.mean(0), cues - X.mean(0), 8.0, phi=phi, max_steps=7, tol=1e-6).state + X.mean(0)
    torch.testing.assert_close(bm.ADAPTERS["khm_raw"].recall(st, cues, none, 7), ref)
    # entropic register: lambda-registered quantised PCA features; a clean cue's levels are all registered, so a
    # narrow beta-retrieval returns them and the PCA decodes the de-quantised features
    from assocmem import entropic_am, feature_extractors

    st = bm.ADAPTERS["eam"].write(X, {"columns": 5, "rows": 8, "sigma": 0.001}, device.generator(9))
    pca = feature_extractors.fit_pca(X, 5, torch.float64)
    q = st["quantiser"].levels(pca.encode(X))
    assert torch.equal(st["memory"]["register"], entropic_am.register(entropic_am.empty(8, 5), q))
    out = bm.ADAPTERS["eam"].recall(st, X, torch.zeros(X.shape, dtype=torch.bool), 1)
    torch.testing.assert_close(out, pca.decode(st["quantiser"].values(q, torch.float64)))
    # predictive-coding network: the core's training (the same draws) and recall, masked and noisy rows apart
    from assocmem import autoencoder, predictive_coding

    pcn_p = {"sizes": [8], "epochs": 3, "min_updates": 0, "batch": 4, "t_train": 5, "train_gamma": 0.1, "lr": 0.05,
             "gamma": 0.1, "outer": 2}
    st = bm.ADAPTERS["pcn"].write(X, pcn_p, device.generator(10))
    net, _ = predictive_coding.train(X, [8], epochs=3, batch=4, t_train=5, gamma=0.1, lr=0.05,
                                     generator=device.generator(10), progress=False)
    torch.testing.assert_close(st["memory"]["W1"], net.weights[0], rtol=0, atol=0)
    assert bm.stored_numbers(st) == 16 * 8 + 16  # W_1 and the offset (the mean image)
    half = torch.zeros(4, 16, dtype=torch.bool)
    half[2:, :8] = True  # rows 0, 1 noisy, rows 2, 3 masked
    out = bm.ADAPTERS["pcn"].recall(st, cues, half, 7)
    torch.testing.assert_close(out[:2], predictive_coding.recall(net, cues[:2], None, steps=3, gamma=0.1, outer=2)[0])
    torch.testing.assert_close(out[2:], predictive_coding.recall(net, cues[2:], half[2:], steps=7, gamma=0.1)[0])
    # at least min_updates weight steps: 3 epochs of one batch become 10
    st = bm.ADAPTERS["pcn"].write(X[:4], {**pcn_p, "min_updates": 10}, device.generator(10))
    net, trace = predictive_coding.train(X[:4], [8], epochs=10, batch=4, t_train=5, gamma=0.1, lr=0.05,
                                         generator=device.generator(10), progress=False)
    torch.testing.assert_close(st["memory"]["W1"], net.weights[0], rtol=0, atol=0)
    assert st["write_loss"] == (trace[0]["energy"], trace[-1]["energy"])
    # autoencoder: the core's training and iterated map, passes capped by the budget
    st = bm.ADAPTERS["ae"].write(X, {"sizes": [6], "epochs": 2, "batch": 4, "lr": 1e-3, "iterations": 9},
                                 device.generator(11))
    ae, _ = autoencoder.train(X, [6], epochs=2, batch=4, lr=1e-3, generator=device.generator(11), progress=False)
    assert bm.stored_numbers(st) == 16 * 6 + 6 + 6 * 16 + 16 + 16
    torch.testing.assert_close(bm.ADAPTERS["ae"].recall(st, cues, half, 3),
                               autoencoder.recall(ae, cues, half, iterations=3))
    # CDAM: a retrieved memory's fixed point a xi - kappa xi_bar decodes to the image itself
    P = torch.eye(6, 16, dtype=torch.float64)
    st = bm.ADAPTERS["cdam_best"].write(P, {"a": 0.5, "beta_784": 49.0, "eta": 0.1, "kappa": 1.0}, g)
    out = bm.ADAPTERS["cdam_best"].recall(st, P, torch.zeros(6, 16, dtype=torch.bool), 300)
    torch.testing.assert_close(out, P, rtol=0, atol=1e-3)


def test_khm_write_in_loss_blocks_equals_one_block(monkeypatch):
    X = torch.rand(40, 16, generator=device.generator(3), dtype=torch.float64)
    for p in ({"feature_dim": 6}, {"feature_dim": 6, "uhop_steps": 3, "uhop_lr": 0.05}):  # khm_raw, full-batch U-Hop+
        whole = bm.ADAPTERS["khm_raw"].write(X, p, device.generator(4))
        monkeypatch.setattr(bm, "KHM_LOSS_BLOCK", 7)  # 6 blocks of the 40 x 40 pair matrix, the last one short
        blocked = bm.ADAPTERS["khm_raw"].write(X, p, device.generator(4))
        monkeypatch.setattr(bm, "KHM_LOSS_BLOCK", 1024)
        torch.testing.assert_close(blocked["write_loss"], whole["write_loss"], rtol=1e-12, atol=0)
        torch.testing.assert_close(blocked["memory"]["W"], whole["memory"]["W"], rtol=1e-10, atol=1e-12)
    seen = []  # and the write does ask for blocks (equal values alone would not show it)
    train = kernelized.uhop_train
    monkeypatch.setattr(kernelized, "uhop_train", lambda *a, **k: seen.append(k.get("block")) or train(*a, **k))
    bm.ADAPTERS["khm_raw"].write(X, {"feature_dim": 6}, device.generator(4))
    assert seen == [bm.KHM_LOSS_BLOCK]


def test_clamping_keeps_the_known_pixels():
    g = device.generator(9)
    X = torch.rand(10, 16, generator=g, dtype=torch.float64)
    known = torch.zeros(2, 16, dtype=torch.bool)
    known[:, :8] = True
    cues = torch.where(known, X[:2], X.mean(0))
    for key, p in (("kde", {"sigma": 0.1}), ("khm_raw", {"beta": 8.0, "feature_dim": 10}),
                   ("drdam_small", {"beta": 30.0, "features": 64, "alpha": 0.1}),
                   ("pcn", {"sizes": [8], "epochs": 2, "min_updates": 0, "batch": 5, "t_train": 5, "train_gamma": 0.1,
                            "lr": 0.05, "gamma": 0.1, "outer": 1}),
                   ("ae", {"sizes": [6], "epochs": 2, "batch": 5, "lr": 1e-3, "iterations": 3})):
        ad = bm.ADAPTERS[key]
        out = ad.recall(ad.write(X, p, device.generator(1)), cues, known, 5)
        torch.testing.assert_close(out[known], cues[known], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- the shared run at the test scale


RAW_PIXEL_DOT = ("CDAM with the paper's settings (raw pixels, dot product): a stored image with a larger overlap "
                 "captures the clean cue of another, at every a of the grid (a finding of the comparison, not a bug)")
CANNOT = {("mnist", "cdam_a1"), ("mnist", "cdam_best"), ("cifar10", "cdam_a1"), ("cifar10", "cdam_best")}


@pytest.mark.parametrize("dataset,key", [
    pytest.param(ds, key, marks=pytest.mark.xfail(strict=True, reason=RAW_PIXEL_DOT) if (ds, key) in CANNOT else ())
    for ds in ("mnist", "cifar10") for key in bm.ADAPTERS])
def test_every_model_retrieves_its_own_clean_images(images, dataset, key):
    """The issue's test: a model that cannot retrieve its own uncorrupted stored images fails. Each adapter writes the
    test-scale stored set and must give back every stored image from its clean cue at one value of its grid (the
    protocol's tuning trades clean recall for corrupted recall; the figure's claims test the tuned value). CDAM cannot,
    on either data set: its entries are strict expected failures, with why (if they start to pass, the test says
    so), and its clean-retrieval claims fail in the figure too."""
    p = _params()
    N = max(n for n in p["n_stored"] if n != "all")
    X, _ = bm.stored_images(images[dataset], N, p["sizes"][dataset], device.generator(0))
    X = X.float()
    none = torch.zeros(X.shape, dtype=torch.bool)
    ad = bm.ADAPTERS[key]
    best = 0.0
    for value in bm.grid(ad, p["models"][key]):
        params = bm.with_value(ad, cmp.model_params(p, key), value)
        state = ad.write(X, params, device.generator(1))
        ok, _ = bm.score(X, ad.recall(state, X, none, p["budget"]), torch.arange(N))
        best = max(best, float(ok.double().mean()))
    assert best == 1.0, (dataset, key, best)


def test_the_test_scale_run_retrieves_clean_mnist_images(test_run):
    """At the tuned values too, every model gives back its cued clean MNIST images at the test scale (the first N/2
    stored images; CDAM's failures need brighter neighbours, which these draws do not give)."""
    clean = test_run[(test_run["row"] == "test") & (test_run["kind"] == "clean")]
    assert set(clean["model"]) == set(bm.ADAPTERS)
    mn = clean[clean["dataset"] == "mnist"]
    assert mn["fraction_retrieved"].min() == 1.0, mn[mn["fraction_retrieved"] < 1][["model", "n_stored"]]


def test_cdam_on_raw_cifar_pixels_falls_into_one_state(images):
    """Why CDAM fails on CIFAR-10: with raw pixels the dot product favours bright images, and every clean cue of a
    stored set ends in the same state (a finding of the comparison, kept as a test of the adapter's behaviour)."""
    p = _params()
    X, _ = bm.stored_images(images["cifar10"], 8, p["sizes"]["cifar10"], device.generator(0))
    ad = bm.ADAPTERS["cdam_a1"]
    out = ad.recall(ad.write(X.float(), p["models"]["cdam_a1"], device.generator(0)), X.float(),
                    torch.zeros(X.shape, dtype=torch.bool), p["budget"])
    ends = bm.nearest_stored(X, out.double())
    assert len(set(ends.tolist())) == 1
    brightness = X.sum(-1)
    assert int(ends[0]) in brightness.topk(3).indices.tolist()


def test_run_table_shape_and_rows(test_run):
    p = _params()
    cells = [c.split("-", 1) for c in p["cells"]]
    n_conds = 1 + len(p["noise_levels"]) + len(p["mask_levels"])
    te, cost = test_run[test_run["row"] == "test"], test_run[test_run["row"] == "cost"]
    assert len(te) == len(cells) * len(p["n_stored"]) * n_conds * p["seeds"]
    assert len(cost) == len(cells) * len(p["n_stored"]) * p["seeds"]
    assert cost["write_s"].isna().all() and cost["query_s"].isna().all()  # timing: false at the test scale
    assert te["fraction_retrieved"].between(0, 1).all() and (te["mse_mean"] >= 0).all()
    dr = cost[cost["model"] == "drdam_large"]
    assert (dr["stored_numbers"] == 2 * p["models"]["drdam_large"]["features"]).all()
    kde = cost[cost["model"] == "kde"]
    assert (kde["stored_numbers"] == kde["n_stored"] * kde["dataset"].map(
        {ds: p["sizes"][ds] ** 2 * cmp.CHANNELS[ds] for ds in p["sizes"]})).all()


def test_a_cell_alone_gives_its_rows_of_the_whole_run_bit_for_bit(test_run, images):
    """Seeded draws: a rerun of two cells (U-Hop+ training included) reproduces their rows of the whole run exactly,
    whatever else runs beside them (what the sharded paper run relies on)."""
    p = {**_params(), "cells": ["khm_uhop-mnist", "drdam_small-cifar10"]}
    part = cmp.run(images, p, seed=0, device=CPU, dtype=torch.float32, progress=False)
    whole = test_run[((test_run["model"] == "khm_uhop") & (test_run["dataset"] == "mnist"))
                     | ((test_run["model"] == "drdam_small") & (test_run["dataset"] == "cifar10"))]
    pd.testing.assert_frame_equal(part, whole.reset_index(drop=True))


def test_the_three_targets_draw_from_the_run(test_run, tmp_path):
    cfg = _test_config()
    runs = stages.Runs(test_run, {"datasets": {"mnist": "MNIST (exact)", "cifar10": "CIFAR-10 (JPEG, lossy)"}})
    prov = {"run_wall_time_s": 1.0, "device": "cpu", "dtype": "torch.float32"}
    for target in cmp.TARGETS:
        meta = cmp_fig.figure_stage(cfg, runs, prov, tmp_path / target)
        written = json.loads((tmp_path / f"{target}.json").read_text())
        assert written["verdict"] == meta["verdict"] and (tmp_path / f"{target}.png").is_file()
        assert "Not in the comparison" in meta["caption"] and "project's reading" in meta["caption"]
        assert "Scale 'test': reduced" in meta["caption"]
        assert set(meta["not_included"]) == set(cmp_fig.NOT_INCLUDED)
        assert pd.read_csv(tmp_path / f"{target}.csv").shape[0] > 0
    listed = pd.read_csv(tmp_path / "tab_models_cost.csv")
    assert set(listed.loc[listed["status"] != "in the comparison", "label"]) == set(cmp_fig.NOT_INCLUDED)
    ids = {c["id"] for c in json.loads((tmp_path / "fig_models_retrieval_vs_stored.json").read_text())["claims"]}
    assert {f"{m}_retrieves_clean_images" for m in bm.ADAPTERS if m != "lookup"} <= ids


# ----------------------------------------------------------------------------- claims fail where they are false


def _summary(frac: dict, models=("mhn", "cdam_a1", "cdam_best", "khm_raw", "khm_uhop", "drdam_small", "drdam_large",
                                 "kde", "pcn", "ae", "lookup"), ns=(8, 64), mse=None) -> pd.DataFrame:
    """A summary table: ``frac[(model, N, kind, level)]`` or 1.0; the median MSE grows with the level unless given."""
    rows = []
    for m in models:
        for n in ns:
            for kind, level in bm.conditions([0.2, 0.8], [0.5, 0.9]):
                f = frac.get((m, n, kind, level), frac.get((m, n), 1.0 if n == ns[0] else 0.9))
                if kind == "clean":
                    f = frac.get((m, n, "clean", 0.0), 1.0)
                e = (mse or {}).get((m, kind, level), level / 10)
                rows.append(dict(dataset="mnist", n_stored=n, model=m, kind=kind, level=level, fraction_retrieved=f,
                                 mse_mean=e, mse_median=e, cue_mse=level, n_cues=8, n_seeds=1,
                                 tuned=bm.ADAPTERS[m].tuned or "", value=0.1 if m == "cdam_best" else 1.0, values=""))
    return pd.DataFrame(rows)


def _passed(claims) -> dict:
    return {c.id: c.passed for c in claims}


def test_claims_of_the_stored_figure_fail_where_false():
    ok = _passed(cmp_fig.claims_stored(_summary({})))
    assert all(ok.values()) and "kde_retrieves_clean_images" in ok
    bad = _passed(cmp_fig.claims_stored(_summary({("kde", 64, "clean", 0.0): 0.5, ("mhn", 64): 1.0,
                                                  ("khm_uhop", 64): 0.5})))
    assert bad["kde_retrieves_clean_images"] is False and bad["mhn_retrieves_clean_images"] is True
    assert bad["retrieval_falls_with_n"] is False  # MHN does not fall with N
    assert bad["uhop_at_least_mhn"] is False and bad["uhop_at_least_its_untrained_map"] is False


def test_claims_of_the_corruption_figure_fail_where_false():
    ok = _passed(cmp_fig.claims_corruption(_summary({("cdam_a1", 64): 0.5, ("cdam_best", 64): 0.8}), 64))
    assert all(ok.values()), ok
    bad = _passed(cmp_fig.claims_corruption(_summary(
        {("kde", 64, "noise", 0.8): 1.0, ("kde", 64, "noise", 0.2): 0.5, ("mhn", 64, "noise", 0.8): 0.5,
         ("lookup", 64, "noise", 0.8): 0.9, ("drdam_large", 64): 0.5, ("cdam_a1", 64): 0.9, ("cdam_best", 64): 0.5,
         ("pcn", 64, "mask", 0.5): 0.7, ("pcn", 64, "mask", 0.9): 0.7},
        mse={("kde", "mask", 0.9): 0.0}), 64))
    assert bad == {"retrieval_falls_with_corruption": False, "error_grows_with_corruption": False,
                   "mhn_retrieves_the_nearest_stored_image": False, "cdam_small_a_helps": False,
                   "drdam_more_features_no_worse": False, "pcn_at_least_autoencoder": False}


def test_claims_of_the_cost_table_fail_where_false():
    def cost(dr_small, pcn_end=0.1):
        rows = [dict(dataset="mnist", n_stored=n, model=m, stored_numbers=v, write_s=0.0, query_s=0.0)
                for n, v_small in ((8, dr_small[0]), (64, dr_small[1]))
                for m, v in (("drdam_small", v_small), ("drdam_large", 100), ("kde", 50 * n))]
        rows += [dict(dataset="mnist", n_stored=n, model=m, stored_numbers=10, write_s=0.0, query_s=0.0,
                      write_loss_start=1.0, write_loss_end=pcn_end if m == "pcn" else 0.1)
                 for n in (8, 64) for m in ("pcn", "ae")]
        return pd.DataFrame(rows)
    assert all(_passed(cmp_fig.claims_cost(cost((10, 10)))).values())
    bad = _passed(cmp_fig.claims_cost(cost((10, 4000), pcn_end=2.0)))
    assert bad == {"drdam_storage_constant_in_n": False, "drdam_compresses_its_exact_memory": False,
                   "pcn_and_autoencoder_memorise": False}


def test_reading_names_the_best_memory():
    s = _summary({("kde", 64): 0.95, ("mhn", 64): 0.6})
    assert "Gaussian KDE" in cmp_fig.reading_stored(s) and math.isfinite(cmp_fig.fixed_n(s, {"fixed_n": 64}))
