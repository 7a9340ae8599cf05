"""DIA (Huang et al.; shared attention across the blocks of a stage): the core model (:mod:`assocmem.dia`), the shared
run of ``fig_dia_attention_correlation`` and ``fig_dia_accuracy_vs_parameters`` at the test scale, and claims that
fail on tables where the claim is false."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from assocmem import config as am_config
from assocmem import dia, registry, stages
from assocmem.experiments.dia import shared_attention as sa
from assocmem.experiments.dia import shared_attention_figure as saf

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one torch thread per test module


def _test_config() -> dict:
    return am_config.load([REPO / "config" / "config.yaml"], {"scale": "test", "device": "cpu"})


def _test_params() -> dict:
    return am_config.experiment_params(_test_config(), sa.NAME)


def _model(attention: str, depth: int = 20, width: int = 4, block: str = "basic", seed: int = 0) -> dia.ResNet:
    return dia.ResNet(attention, depth=depth, width=width, block=block, generator=torch.Generator().manual_seed(seed),
                      attention_generator=torch.Generator().manual_seed(seed + 1))


# ----------------------------------------------------------------------------- the core model


def _hidden(c: int, r: int) -> int:
    return max(c // r, 1)


def test_attention_parameter_counts_match_closed_form_and_dia_is_independent_of_depth():
    r = 4
    for block, depths, expansion in (("basic", (20, 56, 110), 1), ("bottleneck", (29, 164), 4)):
        widths = [expansion * 4 * k for k in (1, 2, 4)]  # width 4: stages of 4, 8, 16 planes
        dia_count = sum(2 * (5 * c * _hidden(c, r) + _hidden(c, r) + 4 * c) for c in widths)
        se_block = [2 * c * _hidden(c, r) + _hidden(c, r) + c for c in widths]
        for depth in depths:
            n = dia.blocks_per_stage(depth, block)
            m = _model("dia", depth, 4, block)
            assert dia.attention_parameters(m) == dia_count  # one unit per stage, whatever the depth
            assert sum(isinstance(x, dia.DIAUnit) for x in m.modules()) == 3
            assert dia.attention_parameters(_model("dia_reset", depth, 4, block)) == dia_count
            assert dia.attention_parameters(_model("se", depth, 4, block)) == n * sum(se_block)
            assert dia.attention_parameters(_model("none", depth, 4, block)) == 0
    with pytest.raises(ValueError, match="6 n \\+ 2"):
        dia.blocks_per_stage(21, "basic")


def test_variants_of_one_seed_share_the_backbone():
    plain, shared = _model("none").state_dict(), _model("dia").state_dict()
    common = [k for k in plain if k in shared]
    assert len(common) == len(plain)  # the plain backbone's every weight is in the DIA network
    assert all(torch.equal(plain[k], shared[k]) for k in common)


@pytest.mark.parametrize("variant", ["dia", "se"])
def test_gate_fixed_to_one_gives_the_plain_backbone(variant):
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    plain, gated = _model("none"), _model(variant)
    for stage in gated.stages:
        if variant == "dia":
            stage.dia.forward = lambda z, state: (torch.ones_like(z), state)
        else:
            for se in stage.se:
                se.forward = lambda z: torch.ones_like(z)
    for mode in ("train", "eval"):
        getattr(plain, mode)(), getattr(gated, mode)()
        assert torch.allclose(gated(x), plain(x), atol=1e-6)
    # ...and a zero gate removes the branch, not the sum: an identity-skip stage passes its (non-negative) input on.
    zero = _model("dia")
    zero.stages[0].dia.forward = lambda z, state: (torch.zeros_like(z), state)
    h = torch.relu(torch.randn(2, 4, 8, 8))
    assert torch.equal(zero.stages[0](h), h)


def test_dia_unit_is_the_spec_lstm_with_sigmoid_output():
    unit = dia.DIAUnit(8, 4)
    dia.init_weights(unit, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    z, h0, c0 = (torch.randn(5, 8, generator=g) for _ in range(3))
    h, (h1, c1) = unit(z, (h0, c0))
    gates = unit.f_ih(z) + unit.f_hh(h0)
    i, f, gg, o = gates[:, :8], gates[:, 8:16], gates[:, 16:24], gates[:, 24:]
    c = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(gg)
    assert torch.allclose(c1, c) and torch.allclose(h, torch.sigmoid(o) * torch.sigmoid(c)) and h is h1
    assert ((h > 0) & (h < 1)).all()
    # No state: h_0 = c_0 = 0.
    h_none, _ = unit(z, None)
    assert torch.equal(h_none, unit(z, (torch.zeros_like(z), torch.zeros_like(z)))[0])
    assert tuple(unit.f_ih[0].weight.shape) == (2, 8) and tuple(unit.f_ih[2].weight.shape) == (32, 2)


@pytest.mark.parametrize("variant", ["dia", "dia_reset"])
def test_state_resets_at_each_stage_and_the_unit_sees_the_pooled_branch(variant):
    m = _model(variant).eval()
    seen = []
    for k, stage in enumerate(m.stages):
        unit_forward = stage.dia.forward

        def spy(z, state, k=k, f=unit_forward):
            seen.append((k, state is None, z))
            return f(z, state)

        stage.dia.forward = spy
        for t, branch in enumerate(stage.branches):
            branch.register_forward_hook(lambda mod, inp, out, k=k, t=t: seen.append((k, t, out.mean(dim=(2, 3)))))
    m(torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    # entries alternate: the branch's pooled output, then the unit's call with that z
    pooled, calls = seen[0::2], seen[1::2]
    assert len(calls) == 9
    for (k, t, zb), (k2, fresh, z) in zip(pooled, calls):
        assert k == k2 and torch.equal(z, zb)  # pooled before the skip is added
        assert fresh == (t == 0 or variant == "dia_reset")  # h_0 = c_0 = 0 at each stage's first block only


@pytest.mark.parametrize("variant", ["se", "dia"])
def test_attention_modules_are_trained(variant):
    """Every attention module gets a gradient; the untrained vectors are those of the model before training."""
    m = _model(variant)
    x, y = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.arange(8)
    before = dia.initial_vectors(m, x)
    torch.nn.functional.cross_entropy(m(x), y).backward()
    for stage in m.stages:
        for mod in stage.attention_modules():
            assert sum(p.grad.abs().sum() for p in mod.parameters()) > 0
    rec: list = []
    m.train()(x, rec)
    assert all(torch.equal(a.double(), b) for s, t in zip(rec, before) for a, b in zip(s, t))


def test_within_stage_correlation():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(20, 16, generator=g, dtype=torch.float64)
    b = torch.rand(20, 16, generator=g, dtype=torch.float64)
    r = dia.within_stage_correlation([a, 2 * a + 1, 1 - a, b])
    assert torch.allclose(r.diagonal(), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(r[0, 1], torch.tensor(1.0, dtype=torch.float64))
    assert torch.allclose(r[0, 2], torch.tensor(-1.0, dtype=torch.float64))
    expected = np.mean([np.corrcoef(a[p].numpy(), b[p].numpy())[0, 1] for p in range(20)])
    assert r[0, 3].item() == pytest.approx(expected, abs=1e-12) and torch.allclose(r, r.T)
    assert dia.mean_off_diagonal(torch.tensor([[1.0, 0.2], [0.4, 1.0]])) == pytest.approx(0.3)


def test_augment_crops_and_flips_per_image():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    assert torch.equal(dia.augment(x, torch.Generator().manual_seed(0), pad=0).flip(-1).flip(-1).sort(-1)[0],
                       x.sort(-1)[0])  # pad 0: each image is itself or its mirror
    y = dia.augment(x, torch.Generator().manual_seed(1), pad=2)
    assert y.shape == x.shape
    for b in range(2):  # every output image is a (possibly flipped) 4x4 window of the zero-padded input
        xp = torch.nn.functional.pad(x[b], (2, 2, 2, 2))
        wins = [xp[:, i:i + 4, j:j + 4] for i in range(5) for j in range(5)]
        assert any(torch.equal(y[b], w) or torch.equal(y[b], w.flip(-1)) for w in wins)


def test_learning_rate_schedules():
    p = {"lr": 0.1, "schedule": "cosine", "milestones": [0.5, 0.75], "warmup_epochs": 0}
    assert dia.learning_rate(0, 100, 10, p) == pytest.approx(0.1)
    assert dia.learning_rate(50, 100, 10, p) == pytest.approx(0.05)
    s = {**p, "schedule": "step", "warmup_epochs": 1}
    assert [dia.learning_rate(k, 100, 10, s) for k in (5, 10, 49, 50, 74, 75, 99)] == pytest.approx(
        [0.01, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def _tiny(variant: str, seed: int = 5) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 3, 16, 16, generator=g)
    y = torch.randint(0, 10, (48,), generator=g)
    params = {**_test_params(), "depth": 8, "block": "basic", "width": 2, "batch": 16, "epochs": 2}
    return dia.fit_and_test(variant, x, y, x[:20], y[:20], params, seed=seed, device=CPU, dtype=torch.float32,
                            record=20, progress=False)


def test_training_is_seeded_and_bit_identical_on_a_cpu_rerun():
    a, b, c = _tiny("dia"), _tiny("dia"), _tiny("dia", seed=6)
    assert a["log"] == b["log"] and a["accuracy"] == b["accuracy"]
    assert all(torch.equal(u, v) for s, t in zip(a["vectors"], b["vectors"]) for u, v in zip(s, t))
    assert a["log"] != c["log"]
    assert [len(s) for s in a["vectors"]] == [1, 1, 1] and a["vectors"][0][0].shape == (20, 2)


# ----------------------------------------------------------------------------- claims that can fail


def _raw(acc: dict[str, list[float]], counts=None, corr: float | None = None) -> pd.DataFrame:
    """A run table: accuracies (fractions) per variant and seed, parameter counts, and SE correlations."""
    params = {"none": 0, "se": 200, "dia": 100}
    rows = [{"kind": "accuracy", "backbone": "b", "depth": 56, "block": "basic", "width": 4, "variant": v, "seed": s,
             "accuracy": a, "attention_parameters": params[v], "parameters": 1000 + params[v], "train_loss": 1.0,
             "train_accuracy": 0.5} for v, accs in acc.items() for s, a in enumerate(accs)]
    for n, (se, d) in (counts or {3: (60, 100), 9: (180, 100)}).items():
        rows += [{"kind": "count", "backbone": "b", "blocks_per_stage": n, "depth": 6 * n + 2, "variant": "se",
                  "attention_parameters": se},
                 {"kind": "count", "backbone": "b", "blocks_per_stage": n, "depth": 6 * n + 2, "variant": "dia",
                  "attention_parameters": d}]
    if corr is not None:
        for s in range(2):
            for stage in (1, 2, 3):
                for i in (1, 2):
                    for j in (1, 2):
                        rows.append({"kind": "correlation", "backbone": "b", "variant": "se", "seed": s,
                                     "stage": stage, "i": i, "j": j, "r": 1.0 if i == j else corr})
    return pd.DataFrame(rows)


def _passed(claims) -> dict[str, bool]:
    return {c.id: c.passed for c in claims}


def test_accuracy_claims_pass_only_beyond_the_seed_noise():
    good = _raw({"none": [0.70, 0.71], "se": [0.75, 0.76], "dia": [0.78, 0.79]})
    assert all(_passed(saf.claims_accuracy(good)).values())
    # Inside the noise: the same means with a seed spread of 5 points are "not resolved", never a pass.
    noisy = _raw({"none": [0.67, 0.74], "se": [0.73, 0.78], "dia": [0.755, 0.815]})
    claims = {c.id: c for c in saf.claims_accuracy(noisy)}
    assert not claims["dia_beats_no_attention_b"].passed and "not resolved" in claims["dia_beats_no_attention_b"].our_value
    assert not claims["dia_not_below_se_b"].passed and "not resolved" in claims["dia_not_below_se_b"].our_value
    # Beyond the noise the other way: refuted.
    bad = _raw({"none": [0.80, 0.81], "se": [0.80, 0.81], "dia": [0.70, 0.71]})
    claims = {c.id: c for c in saf.claims_accuracy(bad)}
    assert "refuted" in claims["dia_not_below_se_b"].our_value and not claims["dia_beats_no_attention_b"].passed
    # One seed: no noise estimate, nothing resolved.
    one = _raw({"none": [0.5], "se": [0.6], "dia": [0.9]})
    assert not any(c.passed for c in saf.claims_accuracy(one) if "attention_parameters" not in c.id)


def test_parameter_claim_fails_when_dia_has_more():
    raw = _raw({"none": [0.70, 0.71], "se": [0.75, 0.76], "dia": [0.78, 0.79]})
    raw.loc[(raw["kind"] == "accuracy") & (raw["variant"] == "dia"), "attention_parameters"] = 300
    claims = {c.id: c for c in saf.claims_accuracy(raw)}
    assert not claims["dia_fewer_attention_parameters_b"].passed
    assert "fewer from 9 blocks per stage" in claims["dia_fewer_attention_parameters_b"].our_value


def test_correlation_claim_threshold():
    acc = {"none": [0.7, 0.7], "se": [0.7, 0.7], "dia": [0.7, 0.7]}
    assert _passed(saf.claims_correlation(_raw(acc, corr=0.6))) == {"se_attention_correlated_b": True}
    assert _passed(saf.claims_correlation(_raw(acc, corr=0.4))) == {"se_attention_correlated_b": False}


# ----------------------------------------------------------------------------- the shared run at the test scale


@pytest.fixture(scope="module")
def cifar(tmp_path_factory):
    """CIFAR-10 as prepared for the workflow: the repository's resources/data/cifar10.pt when it is there, else
    prepared from the offline mirror (skipped without one)."""
    from assocmem.data import load_images, prepare_cifar10

    local = REPO / "resources" / "data" / "cifar10.pt"
    if local.is_file():
        return load_images(local)
    from conftest import mirror_path

    if not (mirror_path() / "SHA256SUMS").is_file():
        pytest.skip("no prepared CIFAR-10 and no offline data mirror")
    out = tmp_path_factory.mktemp("data") / "cifar10.pt"
    prepare_cifar10(mirror_path(), out)
    return load_images(out)


@pytest.fixture(scope="module")
def test_run(cifar):
    return sa.run(cifar, _test_params(), seed=0, device=CPU, dtype=torch.float32, progress=False)


def test_shared_run_at_test_scale(test_run, tmp_path):
    p = _test_params()
    acc = test_run[test_run["kind"] == "accuracy"]
    assert len(acc) == len(p["cells"]) and acc["accuracy"].between(0, 1).all()
    assert set(acc["variant"]) == {"none", "se", "dia"}
    corr = saf.correlation_matrices(test_run)
    for (_, _, _), m in corr.groupby(["backbone", "variant", "stage"]):
        M = m.pivot(index="i", columns="j", values="r").to_numpy()
        assert np.allclose(np.diag(M), 1.0) and np.allclose(M, M.T, atol=1e-12) and (np.abs(M) <= 1 + 1e-9).all()
    # The claims evaluated on this run: parameter counts are exact (at 3 blocks per stage DIA has more than SE, and
    # the claim says so); the accuracy claims on this tiny run, and the same run with DIA made 20 points better.
    claims = {c.id: c for c in saf.claims_accuracy(test_run)}
    assert claims["dia_fewer_attention_parameters_resnet20"].passed is False
    better = test_run.copy()
    sel = (better["kind"] == "accuracy") & (better["variant"] == "dia")
    better.loc[sel, "accuracy"] = better.loc[(better["kind"] == "accuracy") & (better["variant"] == "none"),
                                             "accuracy"].to_numpy() + 0.2
    assert _passed(saf.claims_accuracy(better))["dia_beats_no_attention_resnet20"]
    # Both figures draw from the one run.
    cfg = _test_config()
    prov = {"run_wall_time_s": 1.0, "device": "cpu", "dtype": "torch.float32"}
    for target in sa.TARGETS:
        meta = saf.figure_stage(cfg, stages.Runs(test_run, {"cifar10_fidelity": "JPEG re-encoding (lossy)"}), prov,
                                tmp_path / target)
        assert "JPEG re-encoding" in meta["caption"] and "CIFAR-100" in meta["caption"]
        assert "Reduced from the spec's quick plan" in meta["caption"]
        written = json.loads((tmp_path / f"{target}.json").read_text())
        assert written["verdict"] == meta["verdict"] and (tmp_path / f"{target}.png").is_file()


def test_cells_shard_and_gather_to_the_same_tables(cifar, test_run):
    p = _test_params()
    cells = p["cells"][:2]
    parts = [sa.run(cifar, {**p, "cells": [c]}, seed=0, device=CPU, dtype=torch.float32, progress=False)
             for c in cells]
    whole = test_run[test_run["seed"].isna() | test_run["seed"].eq(0) & test_run["variant"].isin(["none", "se"])]
    gathered = pd.concat(parts, ignore_index=True)
    gathered = gathered[list(whole.columns)]
    pd.testing.assert_frame_equal(gathered[gathered["kind"] != "count"].reset_index(drop=True),
                                  whole[whole["kind"] != "count"].reset_index(drop=True))
    pd.testing.assert_frame_equal(saf.count_table(gathered), saf.count_table(test_run))


def test_registry_declares_one_shared_run_sharded_by_cell():
    targets = registry.targets()
    run = registry.runs()[sa.RUN]
    assert {t for t in targets if targets[t].run_name == sa.RUN} == set(sa.TARGETS)
    assert run.shard_axis == "cells" and run.data == ("cifar10",)
    cfg = am_config.load([REPO / "config" / "config.yaml"], {"scale": "paper"})
    shards = run.shards(cfg)
    assert len(shards) == len(set(shards)) == 35 and "resnet164-dia-4" in shards
    for c in shards:
        sa.parse_cell(c)
    with pytest.raises(ValueError, match="backbone"):
        sa.parse_cell("resnet20-sk-0")
