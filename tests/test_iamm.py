"""Tests of IAMM (Yang et al. 2024): the core model (assocmem.iamm), the synthetic association-dialogue stand-in
(assocmem.data.association_dialogues, fig_iamm_association_dialogue), the user-supplied EmpatheticDialogues path
(assocmem.data.empathetic, tab_iamm_empathetic_dialogues, on tiny fabricated files) and the "not run" verdict."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from assocmem import config as _config
from assocmem import device, iamm, stages
from assocmem.claims import Claim, verdict
from assocmem.data import association_dialogues as ad
from assocmem.data import empathetic as ed
from assocmem.data.mirror import DataError, sha256_file
from assocmem.experiments.iamm import association_dialogue as assoc
from assocmem.experiments.iamm import association_dialogue_figure as assoc_fig
from assocmem.experiments.iamm import empathetic_dialogues as emp
from assocmem.experiments.iamm import empathetic_dialogues_figure as emp_fig

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one torch thread per test module


def _config_at(scale: str) -> dict:
    return _config.load([REPO / "config" / "config.yaml"], {"scale": scale})


def _model(associative: bool, vocab: int = 30, seed: int = 0, **kw) -> iamm.IAMMEncoder:
    m = iamm.IAMMEncoder(vocab, 4, d=16, heads=2, key_depth=8, filter_size=16, topk=2, associative=associative,
                         generator=device.generator(seed), **kw).double()
    return m.eval()


# ----------------------------------------------------------------------------- core model


def test_attention_by_hand_null_slot_and_masks():
    g = device.generator(0)
    att = iamm.Attention(4, 1, 4, g).double()
    x = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    y = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    out, A = att(x, y, mask)
    q, k, v = att.q(x), att.k(y), att.v(y)
    logits = (q @ k.transpose(1, 2) / 2.0).masked_fill(~mask[:, None], -math.inf)
    torch.testing.assert_close(A, torch.softmax(logits, -1), rtol=0, atol=1e-12)
    torch.testing.assert_close(out, att.o(torch.softmax(logits, -1) @ v), rtol=0, atol=1e-12)
    # per-query masks; a query with no valid key gets zero output
    per_q = torch.zeros(2, 3, 5, dtype=torch.bool)
    per_q[:, 1:, :2] = True
    out_q, A_q = att(x, y, per_q)
    assert torch.all(out_q[:, 0] == 0) and torch.all(A_q[:, 0] == 0)
    # the null slot: a learned key with a zero value, always valid (empty sources are fine)
    natt = iamm.Attention(4, 2, 4, device.generator(1), null=True).double()
    out0, A0 = natt(x, y[:, :0], torch.zeros(2, 0, dtype=torch.bool))
    assert torch.all(out0 == 0) and torch.allclose(A0, torch.ones_like(A0))


def test_iamm_reads_utterances_in_order_and_the_baseline_does_not():
    g = device.generator(3)
    tokens = torch.randint(1, 30, (5, 4, 6), generator=g)
    later = tokens.clone()
    later[:, 3] = torch.randint(1, 30, (5, 6), generator=g)
    m = _model(True)
    a, b = m(tokens), m(later)
    # utterances 0..2 are fused, scored and selected without looking at utterance 3
    torch.testing.assert_close(a["scores"][:, :3], b["scores"][:, :3], rtol=0, atol=0)
    torch.testing.assert_close(a["words"][:, :3], b["words"][:, :3], rtol=0, atol=0)
    assert torch.equal(a["selected"][:, :3], b["selected"][:, :3])
    torch.testing.assert_close(a["scores"].sum(-1), torch.ones(5, 4, dtype=torch.float64), rtol=0, atol=1e-12)
    # order: the baseline pools utterances (order-blind), IAMM does not
    perm = tokens[:, [2, 0, 3, 1]]
    base = _model(False)
    torch.testing.assert_close(base(tokens)["logits"], base(perm)["logits"], rtol=0, atol=1e-12)
    assert not torch.allclose(m(tokens)["logits"], m(perm)["logits"], atol=1e-6)


def test_iamm_batched_equals_one_at_a_time_and_padding_is_ignored():
    g = device.generator(4)
    tokens = torch.randint(1, 30, (4, 3, 5), generator=g)
    tokens[1, 1, 3:] = iamm.PAD  # a shorter utterance
    m = _model(True)
    full = m(tokens)
    for i in range(4):
        one = m(tokens[i:i + 1])
        torch.testing.assert_close(one["logits"], full["logits"][i:i + 1], rtol=0, atol=1e-10)
        assert torch.equal(one["selected"], full["selected"][i:i + 1])
    assert not (full["selected"][1, 1] >= 3).any()  # pads are never associated words
    # an absent (all-pad) last utterance and padded word slots change nothing
    padded = torch.cat([tokens, torch.zeros(4, 1, 5, dtype=torch.long)], dim=1)
    padded = torch.cat([padded, torch.zeros(4, 4, 2, dtype=torch.long)], dim=2)
    torch.testing.assert_close(m(padded)["logits"], full["logits"], rtol=0, atol=1e-10)


def test_planted_pair_hits_and_distinct_n_by_hand():
    selected = torch.tensor([[[0, 1], [2, 3]], [[0, 1], [4, 5]]])  # (B=2, T=2, k=2)
    pair_pos = torch.tensor([[0, 1, 1, 3], [0, 2, 1, 4]])
    h = iamm.planted_pair_hits(selected, pair_pos)
    assert h["anchor"].tolist() == [True, False] and h["associate"].tolist() == [True, True]
    assert h["pair"].tolist() == [True, False]
    # corpus level: distinct n-grams over all n-grams of all responses (not the mean of per-response ratios)
    responses = [[1, 2, 3], [1, 2, 3], [4]]
    assert iamm.distinct_n(responses, 1) == pytest.approx(4 / 7)
    assert iamm.distinct_n(responses, 2) == pytest.approx(2 / 4)
    assert iamm.distinct_n([], 2) == 0.0
    assert iamm.noam_factor(50, 100) == pytest.approx(0.5) and iamm.noam_factor(400, 100) == pytest.approx(0.5)
    assert iamm.noam_factor(7, None) == 1.0


def test_fit_is_seeded_and_bit_identical():
    g = device.generator(5)
    tokens = torch.randint(1, 30, (64, 3, 5), generator=g)
    labels = torch.randint(0, 4, (64,), generator=g)

    def train():
        m = _model(True, seed=9).float()
        losses = iamm.fit(m, 64, iamm.classification_loss(m, tokens, labels, torch.device("cpu")), batch_size=16,
                          steps=6, lr=1e-2, generator=device.generator(9), progress=False)
        return losses, [p.detach().clone() for p in m.parameters()]

    (la, pa), (lb, pb) = train(), train()
    assert la == lb
    assert all(torch.equal(x, y) for x, y in zip(pa, pb))


# ----------------------------------------------------------------------------- the synthetic stand-in


def _toy_tables():
    vocab = ["a", "b", "c", "d", "e", "f", "x", "y", "z"]
    classes = [[("a", ["b"])], [("c", ["d", "e"])], [("f", ["x"])]]
    return vocab, ad.TaskTables(vocab, classes)


def test_completed_classes_by_hand():
    vocab, t = _toy_tables()
    ids = {w: i + 1 for i, w in enumerate(vocab)}

    def dialog(*utts):
        return torch.tensor([[[ids[w] for w in u] for u in utts]])

    assert ad.completed_classes(dialog("ay", "zb", "yy"), t).tolist() == [[True, False, False]]
    assert ad.completed_classes(dialog("ba", "zy", "yy"), t).tolist() == [[False, False, False]]  # wrong order
    assert ad.completed_classes(dialog("ab", "zy", "yy"), t).tolist() == [[False, False, False]]  # same utterance
    assert ad.completed_classes(dialog("cz", "yy", "ey"), t).tolist() == [[False, True, False]]
    assert ad.completed_classes(dialog("cf", "ex", "yy"), t).tolist() == [[False, True, True]]
    assert set(t.fillers.tolist()) == {ids[w] for w in "bdexyz"}  # anchors are never fillers


def test_dialogues_follow_the_label_rule(prepared_usf):
    cues, assoc_map = ad.strong_associates(prepared_usf, 0.1)
    assert all(a in set(cues) for v in assoc_map.values() for a in v)
    g = device.generator(0)
    classes = ad.choose_classes(cues, assoc_map, 8, 2, g)
    words = [w for cls in classes for a, asc in cls for w in (a, *asc)]
    assert len(words) == len(set(words))  # anchors and associates all distinct
    vocab = ad.vocabulary(cues, classes, 300, g)
    assert len(vocab) == 300 and set(words) <= set(vocab)
    t = ad.TaskTables(vocab, classes)
    d = ad.make_dialogues(t, 400, utterances=4, words=8, distractor_anchors=2, reversed_fraction=0.5, generator=g)
    n = 400
    done = ad.completed_classes(d["tokens"], t)
    assert done[torch.arange(n), d["label"]].all() and (done.sum(-1) == 1).all()
    r = torch.arange(n)
    anchor = d["tokens"][r, d["pair_pos"][:, 0], d["pair_pos"][:, 1]]
    associate = d["tokens"][r, d["pair_pos"][:, 2], d["pair_pos"][:, 3]]
    k = t.anchor_of[anchor]
    assert (k >= 0).all() and (t.anchor_class[k] == d["label"]).all() and t.is_assoc[k, associate].all()
    assert (d["pair_pos"][:, 0] < d["pair_pos"][:, 2]).all()
    # every dialogue holds >= 3 anchors of distinct classes (planted + 2 distractors), 4 with a reversed pair
    present = torch.zeros(n, t.n_classes, dtype=torch.bool)
    hit = t.anchor_of[d["tokens"]].flatten(1)
    for c in range(t.n_classes):
        present[:, c] = (t.anchor_class[hit.clamp(min=0)].eq(c) & (hit >= 0)).any(-1)
    assert (present.sum(-1) >= 3 + d["reversed"].long()).all()
    assert 0.35 < d["reversed"].float().mean() < 0.65


def test_association_shards_by_seed_equal_one_run(tmp_path, prepared_usf):
    cfg = _config_at("test")
    cfg["device"] = "cpu"
    cfg["experiments"][assoc.NAME]["test"].update(seeds=2, n_train=64, n_test=32, epochs=1)
    data = {"usf": prepared_usf}
    stages.run(assoc.__name__, assoc.TARGET, cfg, data, tmp_path / "whole", threads=1)
    for s in ("0", "1"):
        stages.run(assoc.__name__, assoc.TARGET, cfg, data, tmp_path / "runs", threads=1, shard=s, axis="seeds")
    whole, _ = stages.read(tmp_path / "whole", assoc.TARGET)
    gathered, _ = stages.read_shards(tmp_path / "runs", assoc.TARGET, ["0", "1"])
    pd.testing.assert_frame_equal(gathered.table, whole.table)
    assert gathered.extras == whole.extras


@pytest.fixture(scope="module")
def assoc_run(prepared_usf):
    """A real run, smaller than the quick scale (1,200 training dialogues, one seed) but with its model."""
    params = _config.experiment_params(_config_at("quick"), assoc.NAME)
    params.update(n_train=1200, n_test=300, seeds=1)
    tables, classes, train, test, vocab = assoc.build_task(prepared_usf, params, 0)
    raw = assoc.run(tables, train, test, params, seed=0, device=torch.device("cpu"), dtype=torch.float32,
                    progress=False)
    return raw, params


def test_association_claims_reproduce_on_a_small_run(assoc_run):
    raw, params = assoc_run
    claims = assoc_fig.evaluate_claims(assoc_fig.summarize(raw, params), assoc_fig.first_epoch_drop(raw))
    failed = [(c.id, c.our_value) for c in claims if not c.passed]
    assert not failed, failed


def test_association_claims_can_fail(assoc_run):
    raw, params = assoc_run
    table = assoc_fig.summarize(raw, params)
    smoke = assoc_fig.first_epoch_drop(raw)
    worse = table.copy()
    acc = worse["kind"] == "accuracy"
    base = worse[acc & (worse["variant"] == "baseline")].set_index(["seed", "subset"])["value"]
    worse.loc[acc & (worse["variant"] == "iamm"), "value"] = [
        base[(s, sub)] + 0.01 for s, sub in worse.loc[acc & (worse["variant"] == "iamm"), ["seed", "subset"]].values]
    hits = worse["kind"] == "hits"
    worse.loc[hits, "count"] = (worse.loc[hits, "chance"] * worse.loc[hits, "n"]).round()
    worse.loc[hits, "value"] = worse.loc[hits, "count"] / worse.loc[hits, "n"]
    flat = smoke.assign(last=smoke["first"] + 0.01)
    passed = {c.id: c.passed for c in assoc_fig.evaluate_claims(worse, flat)}
    assert passed == {"iamm_beats_baseline": False, "associated_words_contain_planted_pair": False,
                      "training_loss_decreases_first_epoch": False}


# ----------------------------------------------------------------------------- EmpatheticDialogues (fabricated files)

EMOTIONS = ("joyful", "afraid", "sad")
WORDS = "i you we the a dog cat rain sun home work party storm night dark happy sorry great".split()


def _fabricate(folder: Path, d: int) -> tuple[Path, Path]:
    """Tiny files in the EmpatheticDialogues release format (and a GloVe text file), written here, never fetched."""
    g = torch.Generator().manual_seed(0)
    ed_dir = folder / "ed"
    ed_dir.mkdir()
    for split, n_conv in (("train", 24), ("valid", 4), ("test", 8)):
        lines = ["conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags"]
        for c in range(n_conv):
            emo = EMOTIONS[c % 3]
            prompt = f"the {WORDS[c % len(WORDS)]} was {emo}_comma_ really"
            for u in range(4):
                words = [WORDS[int(i)] for i in torch.randint(len(WORDS), (5,), generator=g)] + [emo]
                lines.append(f"hit:{c}_conv:{split}{c},{u + 1},{emo},{prompt},{u % 2},{' '.join(words)}_comma_ ok,"
                             f"5|5|5_2|2|5,")
        lines.append("a,broken,line")  # fewer than six fields: skipped and counted
        (ed_dir / f"{split}.csv").write_text("\n".join(lines) + "\n")
    glove = folder / "glove.txt"
    rows = [" ".join([w] + [f"{float(v):.4f}" for v in torch.randn(d, generator=g)]) for w in WORDS + list(EMOTIONS)]
    glove.write_text("\n".join(rows) + "\n")
    return ed_dir, glove


def _emp_config(ed_dir, glove, sha256=None) -> dict:
    cfg = _config_at("test")
    block = cfg["experiments"][emp.NAME]["test"]
    block.update(ed_dir=None if ed_dir is None else str(ed_dir), glove=None if glove is None else str(glove),
                 sha256=sha256 or {})
    return cfg


def test_empathetic_reader_on_fabricated_files(tmp_path):
    ed_dir, _ = _fabricate(tmp_path, 16)
    convs, skipped = ed.read_ed_split(ed_dir / "train.csv")
    assert skipped == 1 and len(convs) == 24
    assert convs[0]["situation"].endswith("joyful, really") and len(convs[0]["utterances"]) == 4
    ex = ed.dialogue_examples(convs, max_utterances=5)
    assert len(ex) == 24 * 2  # listener turns 1 and 3
    assert ex[1]["context"][-1][-2:] == [",", "ok"] and len(ex[1]["context"]) == 3
    vocab = ed.build_vocab(ex, None)
    t = ed.encode_examples(ex, vocab, list(EMOTIONS), max_utterances=2, max_words=4, max_situation=6,
                           max_response=5)
    assert t["context"].shape == (48, 2, 4) and t["response"].shape == (48, 6)
    assert (t["prev"][:, 0] == ed.BOS).all() and (t["response"] == ed.EOS).sum() == 48
    assert ed.tokenize("I'm fine, really!") == ["i'm", "fine", ",", "really", "!"]


def test_empathetic_checks_name_missing_and_altered_files(tmp_path):
    ed_dir, glove = _fabricate(tmp_path, 16)
    key = f"experiments.{emp.NAME}.test"
    params = _config.experiment_params(_emp_config(ed_dir, tmp_path / "nope.txt"), emp.NAME)
    with pytest.raises(DataError, match="nope.txt"):
        ed.load(params, key)
    params = _config.experiment_params(_emp_config(tmp_path / "missing_dir", glove), emp.NAME)
    with pytest.raises(DataError, match="missing_dir"):
        ed.load(params, key)
    (ed_dir / "valid.csv").rename(tmp_path / "valid.csv")
    with pytest.raises(DataError, match="valid.csv"):
        ed.load(_config.experiment_params(_emp_config(ed_dir, glove), emp.NAME), key)
    (tmp_path / "valid.csv").rename(ed_dir / "valid.csv")
    good = {"train.csv": sha256_file(ed_dir / "train.csv"), "glove": sha256_file(glove)}
    assert ed.load(_config.experiment_params(_emp_config(ed_dir, glove, good), emp.NAME), key)["emotions"] == sorted(
        EMOTIONS)
    bad = dict(good, glove="0" * 64)
    with pytest.raises(DataError, match="glove.txt has SHA-256"):
        ed.load(_config.experiment_params(_emp_config(ed_dir, glove, bad), emp.NAME), key)
    with pytest.raises(DataError, match="glove is set but ed_dir is not"):
        emp.supplied(_config.experiment_params(_emp_config(None, glove), emp.NAME))


def test_empathetic_target_runs_on_fabricated_files(tmp_path):
    ed_dir, glove = _fabricate(tmp_path, 16)  # the test scale's d = 16
    cfg = _emp_config(ed_dir, glove)
    runs, prov = stages._run(emp.__name__, cfg, {}, 1)
    m = runs.table[runs.table["kind"] == "metric"]
    assert set(m["metric"]) == set(emp.METRICS) and set(m["variant"]) == {"baseline", "iamm"}
    assert m["value"].notna().all() and (m["status"] == "run").all()
    assert runs.extras["glove_words_found"] == len(WORDS) + 3 and runs.extras["skipped_lines"]["train"] == 1
    meta = emp_fig.figure_stage(cfg, runs, prov, tmp_path / "out" / "tab")
    assert meta["verdict"] in ("reproduced", "partly", "not reproduced")
    assert all(isinstance(c["passed"], bool) for c in meta["claims"])
    # the claims follow the numbers: make IAMM's worse and both fail
    worse = runs.table.copy()
    iam = (worse["kind"] == "metric") & (worse["variant"] == "iamm")
    worse.loc[iam, "value"] = -1.0
    assert not any(c.passed for c in emp_fig.evaluate_claims(worse, True))
    better = runs.table.copy()
    better.loc[iam, "value"] = 2.0
    assert all(c.passed for c in emp_fig.evaluate_claims(better, True))


def test_empathetic_target_without_data_is_not_run(tmp_path):
    cfg = _emp_config(None, None)
    runs, prov = stages._run(emp.__name__, cfg, {}, 1)
    assert runs.table["value"].isna().all() and len(runs.table) > 0
    meta = emp_fig.figure_stage(cfg, runs, prov, tmp_path / "tab")
    assert meta["verdict"] == "not run"
    assert all(c["passed"] is None for c in meta["claims"]) and "not supplied" in meta["caption"]
    for ext in ("png", "pdf", "csv", "json"):
        assert (tmp_path / f"tab.{ext}").stat().st_size > 0
    assert json.loads((tmp_path / "tab.json").read_text())["verdict"] == "not run"


def test_not_run_verdict():
    def c(p):
        return Claim(id="x", statement="s", our_value="v", tolerance="t", passed=p)

    assert verdict([c(None), c(None)]) == "not run"
    assert verdict([c(True), c(None)]) == "partly"  # an untested claim never counts as holding
    assert verdict([c(False), c(None)]) == "not reproduced"
    assert verdict([c(True), c(True)]) == "reproduced" and verdict([c(True), c(False)]) == "partly"


# ----------------------------------------------------------------------------- pipeline


@pytest.mark.pipeline
def test_iamm_targets_in_the_pipeline(pipeline_run):
    fig = json.loads((pipeline_run / "results" / "iamm" / "fig_iamm_association_dialogue.json").read_text())
    assert fig["paper_key"] == "iamm" and "SYNTHETIC" in fig["caption"]
    assert {c["id"] for c in fig["claims"]} == {"iamm_beats_baseline", "associated_words_contain_planted_pair",
                                               "training_loss_decreases_first_epoch"}
    tab = json.loads((pipeline_run / "results" / "iamm" / "tab_iamm_empathetic_dialogues.json").read_text())
    assert tab["verdict"] == "not run"
    for name in ("fig_iamm_association_dialogue", "tab_iamm_empathetic_dialogues"):
        prefix = pipeline_run / "results" / "iamm" / name
        assert len(pd.read_csv(prefix.with_suffix(".csv"))) > 0
        for ext in ("png", "pdf"):
            assert prefix.with_suffix(f".{ext}").stat().st_size > 0
