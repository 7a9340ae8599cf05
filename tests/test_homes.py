"""The small core homes of pieces the experiments share: sphere sampler, fits and AUC, graph zoo, Hopfield pooling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from assocmem import device, graphs, pooling, sampling, stats


def test_sample_sphere_is_normalized_gaussian_draws_and_radius_scales_them():
    x = sampling.sample_sphere((4, 5, 3), device.generator(0), torch.float64)
    g = torch.randn((4, 5, 3), generator=device.generator(0), dtype=torch.float64)
    assert torch.equal(x, g / g.norm(dim=-1, keepdim=True))
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(4, 5, dtype=torch.float64))
    gen = device.generator(0)
    r = sampling.sample_sphere((4, 5, 3), gen, torch.float64, radius=0.05)
    assert torch.equal(r, 0.05 * g / g.norm(dim=-1, keepdim=True))
    after = torch.rand(1, generator=gen)
    ref = device.generator(0)
    torch.randn((4, 5, 3), generator=ref, dtype=torch.float64)
    assert torch.equal(after, torch.rand(1, generator=ref))  # one randn call, whatever the radius
    assert sampling.sample_sphere((2, 3), device.generator(1)).dtype == torch.float32


def test_loglinear_fit_and_its_degenerate_cases():
    slope, intercept, r2 = stats.loglinear_fit([4, 8, 12], [2, 8, 32])
    assert slope == pytest.approx(math.log(4) / 4) and intercept == pytest.approx(-math.log(2))
    assert r2 == pytest.approx(1.0)
    assert all(math.isnan(v) for v in stats.loglinear_fit([4], [2]))  # a line needs two points
    assert all(math.isnan(v) for v in stats.loglinear_fit([4, 8], [2, 8], min_points=3))
    slope, intercept, r2 = stats.loglinear_fit([4, 8, 12], [32, 32, 32])  # constant: R^2 is 0 / 0
    assert slope == pytest.approx(0.0, abs=1e-12) and intercept == pytest.approx(math.log(32)) and math.isnan(r2)


def test_auc_matches_the_pairwise_definition():
    g = device.generator(2)
    scores = torch.randint(0, 5, (3, 30), generator=g).float()  # many ties
    y = (torch.rand(3, 30, generator=g) > 0.4).float()
    got = stats.auc(scores, y)
    for e in range(3):
        pos, neg = scores[e][y[e] == 1], scores[e][y[e] == 0]
        d = pos[:, None] - neg[None, :]
        assert float(got[e]) == pytest.approx(float(((d > 0).float() + 0.5 * (d == 0).float()).mean()))


def test_named_graphs():
    K = graphs.karate_club()
    assert K.shape == (34, 34) and K.dtype == torch.float64 and torch.equal(K, K.T) and K.sum() == 2 * 78
    assert graphs.karate_factions().tolist().count(1) == 17
    T = graphs.tutte()
    assert T.shape == (46, 46) and T.sum(1).eq(3).all()
    for make in (lambda s: graphs.erdos_renyi(20, 0.15, s), lambda s: graphs.watts_strogatz(20, 4, 0.1, s)):
        A = make(3)
        assert torch.equal(A, make(3)) and torch.equal(A, A.T) and not torch.equal(A, make(4))
        assert (graphs.graph_distance(A) >= 0).all()  # connected


def test_from_networkx_follows_the_node_order():
    import networkx as nx

    G = nx.Graph([("b", "a"), ("a", "c")])
    A = graphs.from_networkx(G, ["a", "b", "c"])
    assert A.tolist() == [[0, 1, 1], [1, 0, 0], [1, 0, 0]]
    assert graphs.from_networkx(G).tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]  # the graph's order b, a, c


def test_automaton_graph():
    delta = torch.tensor([[0, 1], [1, 0]])  # parity
    A = graphs.automaton(2, delta.reshape(-1))
    assert A.shape == (6, 6) and A.dtype == torch.float64
    assert A[:2, :2].equal(torch.eye(2, dtype=torch.float64)) and A.sum() == 2 + 4
    assert [int(A[2 + j].argmax()) for j in range(4)] == [0, 1, 1, 0]  # composite (q, s) -> delta[q, s]


def test_hopfield_pooling_ensemble_members_are_independent():
    sizes = dict(hidden=5, embedding=4, key_dim=3, heads=2)
    p = pooling.init_params(3, 6, device.generator(0), **sizes)
    assert p["Wc"].shape == (3, 6, 1) and p["q"].shape == (3, 2, 3)
    X = torch.rand(3, 4, 5, 6, generator=device.generator(1))
    mask = torch.ones(3, 4, 5, dtype=torch.bool)
    mask[:, :, 3:] = False
    out = pooling.forward(p, X, mask, beta=1.5)
    assert out.shape == (3, 4)
    for e in range(3):
        one = {k: v[e:e + 1] for k, v in p.items()}
        torch.testing.assert_close(pooling.forward(one, X[e:e + 1], mask[e:e + 1], beta=1.5)[0], out[e])
    assert set(pooling.KEY_PARAMS) < set(p)
    assert np.isfinite(out.numpy()).all()
