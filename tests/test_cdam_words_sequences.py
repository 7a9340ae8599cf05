"""CDAM word-association graphs (spec E8) and temporal sequences on a directed cycle (spec E4)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from assocmem import cdam, graphs
from assocmem.experiments.cdam import sequences as seq
from assocmem.experiments.cdam import sequences_figure as seq_fig
from assocmem.experiments.cdam import word_association as wrd


WORDS = {
    "sources": ["usf"],
    "n_words": 100,
    "seed_word": None,
    "cues_only": True,
    "symmetrize": True,
    "n": 1000,
    "a_values": [1, 0.5, -0.5, -1, -2],
    "beta": 1.0,
    "eta": 0.1,
    "kappa": 1.0,
    "noise": 1.0,
    "steps": 100,
    "seeds": 3,
    "max_distance": 6,
    "corr_threshold": 0.5,
    "range_threshold": 0.1,
}


# ----------------------------------------------------------------------------- word association (E8)


def _edge_file(tmp_path: Path, rows) -> Path:
    path = tmp_path / "edges.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("source,target,weight\n" + "".join(f"{s},{t},{w}\n" for s, t, w in rows))
    return path


def test_word_graph_keeps_cues_and_symmetrizes(tmp_path):
    # cat <-> dog, dog -> bone (bone is never a cue), cat -> mouse, mouse -> cat
    path = _edge_file(
        tmp_path,
        [("cat", "dog", 0.5), ("dog", "cat", 0.25), ("dog", "bone", 0.5), ("cat", "mouse", 0.2), ("mouse", "cat", 0.4)],
    )
    words, A = wrd.word_graph(path, {**WORDS, "n_words": 3}, seed=0)
    assert sorted(words) == ["cat", "dog", "mouse"]  # "bone" is not a cue
    i = {w: k for k, w in enumerate(words)}
    assert torch.allclose(A, A.T)
    assert A[i["cat"], i["dog"]] == pytest.approx(0.75)
    assert A[i["cat"], i["mouse"]] == pytest.approx(0.6)
    assert A[i["dog"], i["mouse"]] == 0
    words_d, A_d = wrd.word_graph(path, {**WORDS, "n_words": 3, "symmetrize": False}, seed=0)
    j = {w: k for k, w in enumerate(words_d)}
    assert A_d[j["cat"], j["dog"]] == pytest.approx(0.5) and A_d[j["dog"], j["cat"]] == pytest.approx(0.25)


def test_strength_spearman_and_range_by_hand():
    A = np.array([[0, 0.1, 0.5], [0.1, 0, 0.3], [0.5, 0.3, 0]])
    att = np.stack([A, -A])  # two settings: perfectly ordered and reversed
    assert wrd.strength_spearman(att, A) == pytest.approx([1.0, -1.0])
    rows = [
        {
            "source": "usf",
            "a": a,
            "h": 1 - a,
            "quantity": "corr_vs_distance",
            "x": d,
            "mean": m,
            "sd": 0.0,
            "n_seeds": 1,
        }
        for a, curve in ((1.0, [1, 0.05, 0.0, 0.0]), (-1.0, [1, 0.5, 0.2, 0.05]), (-2.0, [1, 0.5, 0.05, 0.3]))
        for d, m in enumerate(curve)
    ]
    assert wrd.recall_range(pd.DataFrame(rows), "usf", 0.1) == {1.0: 0, -1.0: 2, -2.0: 1}


def test_word_association_claims_hold_on_usf_subgraph(prepared_usf):
    """100 USF words, three seeds: the E8 claims hold and the run is seeded. The strongly anti-Hebbian runs
    (a = -2) are chaotic, so with one or two seeds the claims hinged on rounding (state vs overlap form, float32 vs
    float64); with three they held in all four combinations."""
    graphs = {"usf": wrd.word_graph(prepared_usf, WORDS, seed=0)}
    raw, labels = wrd.run(graphs, WORDS, seed=0, device=torch.device("cpu"), dtype=torch.float32)
    table = wrd.summarize(raw)
    claims = wrd.evaluate_claims(table)
    assert len(claims) == 5
    assert all(c.passed for c in claims), [c for c in claims if not c.passed]
    ex = wrd.example_clusters(*graphs["usf"], labels, "usf", wrd.example_a_values(WORDS["a_values"]))
    assert set(ex) == {"0.5", "-0.5", "-2"}
    assert all(isinstance(w, str) for groups in ex.values() for g in groups for w in g)
    raw2, _ = wrd.run(graphs, {**WORDS, "a_values": [-2]}, seed=0, device=torch.device("cpu"), dtype=torch.float32)
    a = raw[raw["a"] == -2.0].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, raw2.reset_index(drop=True))  # batched over a == fewer settings


def test_word_association_claims_can_fail():
    """No spreading at any a and no coarsening: every claim fails."""
    rows = []
    for a in (1.0, 0.5, -0.5, -2.0):
        rows += [
            {
                "source": "usf",
                "a": a,
                "h": 1 - a,
                "quantity": "corr_vs_distance",
                "x": d,
                "mean": m,
                "sd": 0.0,
                "n_seeds": 1,
            }
            for d, m in enumerate([1.0, 0.3, 0.0, 0.2, 0.0])
        ]
        rows += [
            {"source": "usf", "a": a, "h": 1 - a, "quantity": q, "x": np.nan, "mean": v, "sd": 0.0, "n_seeds": 1}
            for q, v in (
                ("strength_rho", -0.1),
                ("mean_cluster_size", 1.0),
                ("n_clusters", 60.0),
                ("largest_cluster", 1.0),
            )
        ]
    claims = wrd.evaluate_claims(pd.DataFrame(rows))
    assert not any(c.passed for c in claims), claims


@pytest.mark.pipeline
def test_word_association_claims_reproduce_at_test_scale(pipeline_run):
    meta = json.loads((pipeline_run / "results" / "cdam" / "fig_cdam_word_association.json").read_text())
    failed = [c for c in meta["claims"] if not c["passed"]]
    assert not failed, failed
    assert meta["verdict"] == "reproduced"
    assert meta["example_clusters"]["usf"]


# ----------------------------------------------------------------------------- sequences (E4)

SEQ = {
    "n_frames": 50,
    "n_pixels": 2000,
    "canvas": 64,
    "n_digits": 2,
    "texture_cutoff": 4.0,
    "ah_settings": [[1, 0], [-1, 3], [-2, 3]],
    "beta_eta": [[0.6, 0.2]],
    "grid_a": [0],
    "grid_h": [0],
    "kappa": 1.0,
    "noise": 1.0,
    "steps": 100,
    "seeds": 1,
    "distract_a": [-2],
    "distract_h": 3.0,
    "distract_every": 20,
    "distract_gain": 0.5,
}


def test_clips_are_seeded_in_range_and_loop():
    digits = torch.zeros(2, 28, 28)
    digits[:, 8:20, 10:18] = 1.0
    a = seq.moving_mnist_clip(digits, 20, 64, torch.Generator().manual_seed(1))
    b = seq.moving_mnist_clip(digits, 20, 64, torch.Generator().manual_seed(1))
    assert a.shape == (20, 64, 64) and torch.equal(a, b)
    assert 0 <= a.min() and a.max() <= 1
    flat = a.reshape(20, -1)
    assert (torch.cdist(flat, flat) + torch.eye(20)).min() > 0  # no two frames coincide
    tex = seq.drifting_texture_clip(10, 32, 3, torch.Generator().manual_seed(2))
    assert tex.shape == (10, 3, 32, 32) and tex.min() == 0 and tex.max() == 1
    longer = seq.drifting_texture_clip(11, 32, 3, torch.Generator().manual_seed(2))
    # Drift of 32 * t / 10 pixels: frame 5 is the texture shifted by exactly 16 pixels on both axes.
    assert torch.allclose(tex[5], torch.roll(tex[0], (16, 16), (-2, -1)), atol=1e-9)
    assert longer.shape[0] == 11
    pats = seq.sample_pixels(tex, 100, torch.Generator().manual_seed(3))
    assert pats.shape == (10, 100)


def test_trace_scores_by_hand():
    # p = 4: 0 -> 1 -> 2 -> 2 -> 3 -> 0 (wrap) -> 3 (back) ; one trace
    arg = torch.tensor([0, 1, 2, 2, 3, 0, 3])[:, None]
    s = seq.trace_scores(arg, 4, cue=torch.tensor([0]))
    assert s["advanced"].item() == 3 and s["changes"].item() == 5 and s["clean"].item() == 4
    assert s["backward"].item() == 1 and s["wraps"].item() == 1
    assert s["stay"].item() == pytest.approx(1 / 6)  # back on the cue once (step 5)
    inj = torch.tensor([False, False, True, False, False, False, False])
    s2 = seq.trace_scores(arg, 4, inj)
    assert s2["changes"].item() == 4 and s2["clean"].item() == 3


def test_winner_trace_is_cdam_run_winners_and_is_batched():
    gen = torch.Generator().manual_seed(0)
    Xi = torch.rand(8, 200, generator=gen, dtype=torch.float64)
    M = graphs.normalized_adjacency(graphs.cycle_graph(8, directed=True))
    cues = cdam.noisy_cues(Xi, 1.0, gen)
    a, h = torch.tensor([1.0, -2.0, -1.0]), torch.tensor([0.0, 3.0, 3.0])
    arg, inj = seq.winner_trace(Xi, M, cues, a, h, 0.6, eta=0.2, kappa=1.0, steps=30)
    ref = cdam.run(Xi, M, cues, a, h, 0.6, eta=0.2, kappa=1.0, steps=30, record=True)
    assert torch.equal(arg, ref.correlations.argmax(-1))
    assert not inj.any()
    one, _ = seq.winner_trace(Xi, M, cues, a[1:2], h[1:2], 0.6, eta=0.2, kappa=1.0, steps=30)
    assert torch.equal(one[:, 0], arg[:, 1])
    # per-setting beta and eta in one batch == each setting alone
    mixed, _ = seq.winner_trace(
        Xi, M, cues, a, h, torch.tensor([0.6, 1.0, 0.6]), eta=torch.tensor([0.2, 0.1, 0.2]), kappa=1.0, steps=30
    )
    alone = cdam.run(Xi, M, cues, -2.0, 3.0, 1.0, eta=0.1, kappa=1.0, steps=30, record=True)
    assert torch.equal(mixed[:, 1], alone.correlations[:, 0].argmax(-1))
    assert torch.equal(mixed[:, 2], arg[:, 2])


def test_distractors_in_the_coefficient_form_match_the_state_form():
    """Distractors in the coefficient form equal moving the state to (1 - g) sigma + g xi_d, step by step."""
    gen = torch.Generator().manual_seed(1)
    Xi = torch.rand(12, 150, generator=gen, dtype=torch.float64)
    M = graphs.normalized_adjacency(graphs.cycle_graph(12, directed=True))
    cues = cdam.noisy_cues(Xi, 1.0, gen)
    a, h = torch.tensor([-2.0, 1.0]), torch.tensor([3.0, 0.0])
    arg, inj = seq.winner_trace(Xi, M, cues, a, h, 0.6, eta=0.2, kappa=1.0, steps=25, distract_every=5,
                                distract_gain=0.5, generator=torch.Generator().manual_seed(7))
    assert inj.tolist() == [t % 5 == 0 and 0 < t < 25 for t in range(26)]
    g = torch.Generator().manual_seed(7)
    sigma = cues.repeat(2, 1)
    Q = torch.cat([cdam.hetero_targets(Xi, M, a[i].item(), h[i].item()).expand(12, 12, 150) for i in range(2)])
    ref = [cdam.pearson(sigma, Xi).argmax(-1)]
    for t in range(1, 26):
        sigma = cdam.step(sigma, Xi, Q, 0.6, eta=0.2, kappa=1.0)
        if t % 5 == 0 and t < 25:
            d = (cdam.pearson(sigma, Xi).argmax(-1) + torch.randint(3, 10, (24,), generator=g)) % 12
            sigma = 0.5 * sigma + 0.5 * Xi[d]
        ref.append(cdam.pearson(sigma, Xi).argmax(-1))
    assert torch.equal(arg, torch.stack(ref).view(26, 2, 12))
    # cdam.run's state form takes the same push
    g2 = torch.Generator().manual_seed(7)

    def push(t, corr):
        if t % 5 or t >= 25:
            return None
        return (corr.argmax(-1) + torch.randint(3, 10, (corr.shape[0],), generator=g2)) % 12, 0.5

    state_form = cdam.run(Xi, M, cues, a, h, 0.6, eta=0.2, kappa=1.0, steps=25, method="state",
                          record_winners=True, perturb=push)
    assert torch.equal(state_form.winners, arg)


def test_sequence_claims_hold_at_tiny_scale(prepared_mnist):
    from assocmem.data.images import load_images

    clips = seq.make_clips(load_images(prepared_mnist)["test_images"], SEQ, seed=0)
    assert set(clips) == set(seq.CLIPS) and all(c.shape == (50, 2000) for c in clips.values())
    raw, traces = seq.run(clips, SEQ, seed=0, device=torch.device("cpu"), dtype=torch.float32)
    table = seq_fig.summarize(raw)
    claims = {c.id: c for c in seq_fig.evaluate_claims(table)}
    for cid in ("clean_advance_at_minus2_3", "weaker_antihebbian_advances_less", "sequence_resumes_after_distractors"):
        assert claims[cid].passed, claims[cid]
    named = table[(table["kind"] == "named") & (table["a"] == 1.0)]
    assert (named["advanced"].abs() < 1).all()  # auto-association does not move along the clip
    assert traces[("moving_mnist", 0.6, 0.2)].shape == (101, 3, 50)


def test_sequence_claims_can_fail():
    """Nothing advances and auto-association drifts: every claim fails."""
    rows = []
    for clip in seq.CLIPS:
        for kind, a, h in (("named", 1.0, 0.0), ("named", -1.0, 3.0), ("named", -2.0, 3.0), ("distractor", -2.0, 3.0)):
            rows.append(
                {
                    "clip": clip,
                    "kind": kind,
                    "beta": 0.6,
                    "eta": 0.2,
                    "a": a,
                    "h": h,
                    "advanced": 0.0,
                    "changes": 4.0,
                    "clean": 0.0,
                    "backward": 4.0,
                    "wraps": 0.0,
                    "stay": 0.5,
                    "captured": 1.0,
                    "clean_frac": 0.0,
                    "advanced_sd": 0.0,
                    "clean_frac_sd": 0.0,
                    "n_seeds": 1,
                }
            )
    claims = seq_fig.evaluate_claims(pd.DataFrame(rows))
    assert len(claims) == 4 and not any(c.passed for c in claims), claims


@pytest.mark.pipeline
def test_sequence_claims_at_test_scale(pipeline_run):
    """The pipeline's test-scale run: the advancing claims hold (the auto-association one is reported as measured)."""
    meta = json.loads((pipeline_run / "results" / "cdam" / "fig_cdam_sequences.json").read_text())
    claims = {c["id"]: c for c in meta["claims"]}
    for cid in ("clean_advance_at_minus2_3", "weaker_antihebbian_advances_less", "sequence_resumes_after_distractors"):
        assert claims[cid]["passed"], claims[cid]
    assert "moving-MNIST" in meta["substitutions"]
