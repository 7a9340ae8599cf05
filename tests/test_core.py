"""Property tests of the shared core: update, energy, batching, precision, devices, seeds."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from assocmem import corruption, device, dynamics, energy, similarity

SETTINGS = settings(max_examples=40, deadline=None)


def _patterns(seed: int, N: int, d: int, dtype=torch.float64, unit: bool = False) -> torch.Tensor:
    Xi = torch.randn(N, d, generator=device.generator(seed), dtype=torch.float64)
    if unit:
        Xi = Xi / Xi.norm(dim=1, keepdim=True)
    return Xi.to(dtype)


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    N=st.integers(1, 40),
    d=st.integers(1, 30),
    beta=st.floats(0.01, 50.0),
    scale=st.floats(0.1, 3.0),
)
def test_softmax_update_never_increases_lse_energy(seed, N, d, beta, scale):
    Xi = _patterns(seed, N, d) * scale
    x = _patterns(seed + 1, 5, d) * scale
    r = dynamics.retrieve(Xi, x, beta, max_steps=15, tol=0.0, return_energy=True)
    steps = r.energies[1:] - r.energies[:-1]
    assert (steps <= 1e-9 * (1 + r.energies[:-1].abs())).all(), steps.max()


@SETTINGS
@given(seed=st.integers(0, 10_000), N=st.integers(1, 30), d=st.integers(1, 20), beta=st.floats(0.05, 20.0))
def test_mean_shift_never_increases_kde_energy(seed, N, d, beta):
    Xi, x = _patterns(seed, N, d), _patterns(seed + 1, 4, d)
    r = dynamics.retrieve(Xi, x, beta, similarity="neg_sq_euclidean", max_steps=15, tol=0.0, return_energy=True)
    steps = r.energies[1:] - r.energies[:-1]
    assert (steps <= 1e-9 * (1 + r.energies[:-1].abs())).all()


@SETTINGS
@given(seed=st.integers(0, 10_000), d=st.integers(2, 30), beta=st.floats(0.05, 20.0))
def test_clamped_update_never_increases_energy(seed, d, beta):
    Xi, x = _patterns(seed, 12, d), _patterns(seed + 1, 3, d)
    known = torch.arange(d) < d // 2
    r = dynamics.retrieve(Xi, x, beta, clamp=known, max_steps=10, tol=0.0, return_energy=True)
    assert (r.energies[1:] - r.energies[:-1] <= 1e-9 * (1 + r.energies[:-1].abs())).all()
    assert torch.equal(r.state[:, known], x[:, known])


def test_energy_matches_paper_formula():
    Xi, x, beta = _patterns(0, 7, 5), _patterns(1, 3, 5), 2.5
    M2 = (Xi**2).sum(1).max()
    expected = torch.stack(
        [
            -torch.log(torch.exp(beta * (Xi @ xi)).sum()) / beta + 0.5 * xi @ xi + math.log(7) / beta + 0.5 * M2
            for xi in x
        ]
    )
    torch.testing.assert_close(energy.lse_energy(Xi, x, beta), expected)
    assert (energy.lse_energy(Xi, x, beta) >= 0).all()  # the paper's constants make E >= 0


@SETTINGS
@given(seed=st.integers(0, 10_000), N=st.integers(2, 50), d=st.integers(64, 256))
def test_well_separated_patterns_are_fixed_points(seed, N, d):
    # Random unit patterns in d >= 64 have pairwise overlaps ~ 1/sqrt(d); at beta = 200 the
    # separation condition of Ramsauer et al. (Thm 3) holds, so each pattern is a fixed point.
    Xi = _patterns(seed, N, d, unit=True)
    out = dynamics.update(Xi, Xi, beta=200.0)
    torch.testing.assert_close(out, Xi, atol=1e-6, rtol=0)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), B=st.integers(1, 6), eta=st.sampled_from([1.0, 0.3]))
def test_batched_equals_one_at_a_time(seed, B, eta):
    Xi, x = _patterns(seed, 20, 10), _patterns(seed + 1, B, 10)
    betas = torch.linspace(0.5, 8.0, B, dtype=torch.float64)
    known = torch.arange(10) < 3
    batch = dynamics.retrieve(Xi, x, betas, eta=eta, clamp=known, max_steps=30, tol=1e-9)
    for b in range(B):
        one = dynamics.retrieve(Xi, x[b : b + 1], betas[b].item(), eta=eta, clamp=known, max_steps=30, tol=1e-9)
        torch.testing.assert_close(batch.state[b : b + 1], one.state)
        assert batch.steps[b] == one.steps[0]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.floats(0.1, 30.0), sim=st.sampled_from(["dot", "neg_sq_euclidean"]))
def test_float32_agrees_with_float64_reference(seed, beta, sim):
    Xi, x = _patterns(seed, 30, 16, unit=True), _patterns(seed + 1, 6, 16, unit=True)
    ref = dynamics.retrieve(Xi, x, beta, similarity=sim, max_steps=5, tol=0.0).state
    low = dynamics.retrieve(Xi.float(), x.float(), beta, similarity=sim, max_steps=5, tol=0.0).state
    torch.testing.assert_close(low.double(), ref, atol=2e-4, rtol=1e-3)


def test_similarities():
    Xi, x = _patterns(0, 4, 3), _patterns(1, 2, 3)
    torch.testing.assert_close(similarity.dot(Xi, x), x @ Xi.T)
    torch.testing.assert_close(similarity.neg_sq_euclidean(Xi, x), -torch.cdist(x, Xi) ** 2)
    with pytest.raises(ValueError, match="unknown similarity"):
        similarity.get("cosine-ish")


def test_small_beta_gives_metastable_average():
    # beta -> 0: softmax is uniform and one update lands on the mean memory.
    Xi, x = _patterns(0, 10, 6), _patterns(1, 2, 6)
    out = dynamics.update(Xi, x, beta=1e-9)
    torch.testing.assert_close(out, Xi.mean(0).expand(2, -1), atol=1e-6, rtol=0)


def test_trajectory_and_convergence_flags():
    Xi = _patterns(0, 5, 32, unit=True)
    r = dynamics.retrieve(Xi, Xi + 0.01, 100.0, max_steps=50, return_trajectory=True)
    assert r.converged.all()
    assert r.trajectory.shape[1:] == (5, 32)
    torch.testing.assert_close(r.trajectory[0], Xi + 0.01)
    torch.testing.assert_close(r.state, Xi, atol=1e-6, rtol=0)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="expected Xi"):
        dynamics.retrieve(torch.zeros(3, 4), torch.zeros(2, 5), 1.0)
    with pytest.raises(ValueError, match="beta has shape"):
        dynamics.update(torch.zeros(3, 4), torch.zeros(2, 4), torch.ones(3))


def test_cpu_rerun_is_bit_identical():
    def once():
        g = device.generator(123)
        Xi = torch.rand(200, 64, generator=g)
        cue = corruption.gaussian_noise(Xi[:50], 0.5, g)
        return dynamics.retrieve(Xi, cue, torch.linspace(1, 50, 50), max_steps=20).state

    assert torch.equal(once(), once())


def test_device_and_dtype_resolution():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert device.resolve_device("auto").type == expected
    assert device.resolve_device("cpu").type == "cpu"
    assert device.resolve_dtype("auto") == torch.float32
    assert device.resolve_dtype("float64") == torch.float64
    with pytest.raises(ValueError, match="unknown dtype"):
        device.resolve_dtype("float8")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            device.resolve_device("cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_matches_cpu():
    Xi, x = _patterns(0, 100, 64, unit=True), _patterns(1, 20, 64, unit=True)
    cpu = dynamics.retrieve(Xi, x, 20.0, max_steps=10).state
    gpu = dynamics.retrieve(Xi.cuda(), x.cuda(), 20.0, max_steps=10).state.cpu()
    torch.testing.assert_close(gpu, cpu)


def test_corruptions():
    g = device.generator(0)
    x = torch.rand(3, 4 * 4 * 3, generator=g, dtype=torch.float64)
    cue, known = corruption.mask_lower_half(x, (4, 4, 3))
    assert known.sum() == 2 * 4 * 3 and known[: 2 * 4 * 3].all()
    assert torch.equal(cue[:, known], x[:, known]) and (cue[:, ~known] == 0).all()
    noisy = corruption.gaussian_noise(x, 1.0, device.generator(1))
    ratio = (noisy - x).norm(dim=1) / x.norm(dim=1)
    assert ((ratio > 0.5) & (ratio < 1.5)).all()
    u = corruption.uniform_noise(x, 1.0, device.generator(2))
    assert ((u - x).abs() <= 0.5).all()


# ----------------------------------------------------------------------------- the one engine: blocks and feature maps


@pytest.mark.parametrize("sim", ["dot", "neg_sq_euclidean"])
def test_memory_blocks_equal_one_shot_softmax(sim):
    g = device.generator(3)
    Xi = torch.randn(2, 23, 5, generator=g, dtype=torch.float64)  # two memory sets
    x = torch.randn(2, 4, 5, generator=g, dtype=torch.float64)
    beta = torch.tensor([0.5, 2.0, 4.0, 8.0], dtype=torch.float64)  # one per state
    whole = dynamics.update(Xi, x, beta, similarity=sim)
    for block in (1, 5, 23, 100):
        torch.testing.assert_close(dynamics.update(Xi, x, beta, similarity=sim, memory_block=block), whole,
                                   rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="softmax"):
        dynamics.update(Xi, x, 1.0, separation="sparsemax", memory_block=4)


def test_cue_blocks_cut_per_state_beta_and_clamp_and_equal_the_whole_batch():
    g = device.generator(4)
    Xi = torch.randn(30, 8, generator=g, dtype=torch.float64)
    cue = Xi[:10] + 0.3 * torch.randn(10, 8, generator=g, dtype=torch.float64)
    beta = torch.linspace(0.5, 6.0, 10, dtype=torch.float64)
    clamp = torch.rand(10, 8, generator=g) < 0.3
    whole = dynamics.retrieve(Xi, cue, beta, clamp=clamp, max_steps=20)
    seen = []
    blocked = dynamics.retrieve(Xi, cue, beta, clamp=clamp, max_steps=20, cue_block=3, progress=seen.append)
    assert seen == [3, 3, 3, 1]
    torch.testing.assert_close(blocked.state, whole.state, rtol=0, atol=1e-12)
    assert torch.equal(blocked.steps, whole.steps) and torch.equal(blocked.converged, whole.converged)
    assert torch.equal(blocked.state[clamp], cue[clamp])


def test_converged_states_are_left_out_of_later_updates_and_the_result_is_each_state_alone(monkeypatch):
    g = device.generator(6)
    Xi = torch.randn(30, 8, generator=g, dtype=torch.float64)
    cue = Xi[:12] + 0.3 * torch.randn(12, 8, generator=g, dtype=torch.float64)
    beta = torch.linspace(0.2, 20.0, 12, dtype=torch.float64)  # converge after very different numbers of steps
    clamp = torch.rand(12, 8, generator=g) < 0.3
    rows_updated = []
    real = dynamics.update

    def counted(Xi, x, *args, **kw):
        rows_updated.append(x.shape[0])
        return real(Xi, x, *args, **kw)

    monkeypatch.setattr(dynamics, "update", counted)
    r = dynamics.retrieve(Xi, cue, beta, clamp=clamp, max_steps=50, tol=1e-9)
    assert rows_updated == [int((r.steps >= k + 1).sum()) for k in range(len(rows_updated))]
    assert rows_updated[0] == 12 and rows_updated[-1] < 12
    for i in range(12):
        alone = dynamics.retrieve(Xi, cue[i:i + 1], beta[i:i + 1], clamp=clamp[i:i + 1], max_steps=50, tol=1e-9)
        torch.testing.assert_close(r.state[i:i + 1], alone.state, rtol=0, atol=1e-12)
        assert r.steps[i] == alone.steps[0] and r.converged[i] == alone.converged[0]


def test_fixed_budget_and_feature_map_and_batched_memory_sets():
    g = device.generator(5)
    Xi = torch.randn(3, 12, 4, generator=g, dtype=torch.float64)
    x = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    W = torch.randn(3, 6, 4, generator=g, dtype=torch.float64)

    def phi(v):
        return v @ W.mT

    r = dynamics.retrieve(Xi, x, 2.0, phi=phi, max_steps=3, tol=None)
    assert torch.equal(r.steps, torch.full((3, 5), 3)) and not r.converged.any()
    by_hand = x
    for _ in range(3):
        by_hand = torch.softmax(2.0 * (phi(by_hand) @ phi(Xi).mT), dim=-1) @ Xi  # output in pattern space
    torch.testing.assert_close(r.state, by_hand, rtol=0, atol=1e-12)
    for s in range(3):  # each memory set alone
        one = dynamics.retrieve(Xi[s], x[s], 2.0, phi=lambda v: v @ W[s].T, max_steps=3, tol=None)
        torch.testing.assert_close(r.state[s], one.state, rtol=0, atol=1e-12)
