"""Replication test of fig_mhn_image_retrieval (Ramsauer et al. 2020) and checks that it can fail."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from assocmem.claims import verdict
from assocmem.experiments.mhn import image_retrieval as exp
from assocmem.experiments.mhn import image_retrieval_figure as fig

PARAMS = dict(n_stored=[10, 100], betas=[1, 3, 10, 30, 100, 300, 1000, 3000, 10000], n_queries=20, seeds=1,
              corruptions=["mask_half", "gaussian"], noise_level=1.0, max_steps=30, tol=1e-5, success_tol=0.1,
              chunk_size=4096)


def _random_images(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 8, 8), generator=g, dtype=torch.uint8)


def _run(images, **overrides):
    params = {**PARAMS, **overrides}
    raw = exp.run(images, params, dataset="synthetic", seed=0, device=torch.device("cpu"), dtype=torch.float32,
                  progress=False)
    return fig.summarize(raw)


@pytest.mark.pipeline
def test_claims_reproduce_at_test_scale(pipeline_run):
    """The paper's claims hold for the real model on MNIST and CIFAR-10 at the test scale."""
    meta = json.loads((pipeline_run / "results" / "mhn" / "fig_mhn_image_retrieval.json").read_text())
    failed = [c for c in meta["claims"] if not c["passed"]]
    assert not failed, failed
    assert meta["verdict"] == "reproduced"
    assert set(meta["datasets"]) == {"mnist", "cifar10"}


def test_claims_fail_when_beta_is_too_small():
    """A model that cannot retrieve (beta far below the separation condition) fails every claim."""
    table = _run(_random_images(), betas=[0.01, 0.1])
    claims = fig.evaluate_claims(table)
    assert not any(c.passed for c in claims), claims
    assert verdict(claims) == "not reproduced"


def test_random_patterns_retrieved_at_large_beta():
    table = _run(_random_images())
    top = table[table["beta"] == table["beta"].max()]
    assert (top["fraction_retrieved"] == 1.0).all()
    claims = {c.id: c for c in fig.evaluate_claims(table)}
    assert claims["large_beta_retrieval"].passed and claims["one_update"].passed


def _table(frac_small_n, frac_large_n, betas=(1.0, 10.0, 100.0)):
    rows = []
    for n, fracs in ((10, frac_small_n), (100, frac_large_n)):
        for b, f in zip(betas, fracs):
            rows.append(dict(dataset="d", corruption="gaussian", n_stored=n, beta=b, fraction_retrieved=f,
                             fraction_retrieved_one_step=f, fraction_cue_nearest=1.0))
    return pd.DataFrame(rows)


def test_beta_needed_claim_tracks_the_data():
    grows = {c.id: c for c in fig.evaluate_claims(_table([0.2, 1.0, 1.0], [0.0, 0.3, 1.0]))}
    shrinks = {c.id: c for c in fig.evaluate_claims(_table([0.0, 0.3, 1.0], [0.2, 1.0, 1.0]))}
    flat = {c.id: c for c in fig.evaluate_claims(_table([0.0, 0.6, 1.0], [0.0, 0.6, 1.0]))}
    assert grows["beta_needed_grows_with_n"].passed
    assert not shrinks["beta_needed_grows_with_n"].passed
    assert not flat["beta_needed_grows_with_n"].passed


def test_beta_half_interpolates_in_log_beta():
    b = np.array([1.0, 10.0, 100.0])
    assert fig.beta_half(b, np.array([0.0, 0.5, 1.0])) == pytest.approx(10.0)
    assert fig.beta_half(b, np.array([0.0, 0.25, 0.75])) == pytest.approx(math.sqrt(10 * 100))
    assert fig.beta_half(b, np.array([0.6, 1.0, 1.0])) == 1.0
    assert fig.beta_half(b, np.array([0.0, 0.1, 0.2])) == math.inf


def test_run_is_seeded_and_device_independent_in_shape():
    a = _run(_random_images(), n_stored=[10, 30])
    b = _run(_random_images(), n_stored=[10, 30])
    assert a.equals(b)
    assert len(a) == 2 * 2 * len(PARAMS["betas"])


def test_figure_labels_each_data_sets_own_sizes():
    """At the paper scale "all" is 60,000 MNIST but 50,000 CIFAR-10 images: each data set gets a legend naming its
    own N, not the other's."""
    import matplotlib.pyplot as plt

    a = _run(_random_images(300, 1), n_stored=[10, 300]).assign(dataset="mnist")
    b = _run(_random_images(200, 2), n_stored=[10, 200]).assign(dataset="cifar10")
    f = fig.make_figure(pd.concat([a, b], ignore_index=True), "caption")
    labels = {ax.get_title().split(",")[0]: [t.get_text() for t in ax.get_legend().get_texts()]
              for ax in f.axes if ax.get_legend() is not None}
    plt.close(f)
    assert labels == {"CIFAR-10": ["N=10", "N=200"], "MNIST": ["N=10", "N=300"]}
