"""DrDAM (assocmem.random_features): kernel statistics, exact writes, closed-form gradients, blocks, the approach to
MrDAM as Y grows, and the descent. All in float64 on the CPU (one test also on CUDA when present)."""

from __future__ import annotations

import math

import pytest
import torch

from assocmem import device
from assocmem import random_features as rf

DT = torch.float64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tensors here are tiny: one thread avoids thread-pool waits (20x slower on a shared 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _binary(seed: int, K: int, D: int) -> torch.Tensor:
    """Random binary patterns scaled into the unit box: entries in {0, 1/sqrt(D)}."""
    return rf.to_unit_box((torch.rand(K, D, generator=device.generator(seed)) > 0.5).to(DT))


def _mr_energy_direct(Xi, x, beta):
    return -torch.logsumexp(-(beta / 2) * ((x[:, None] - Xi[None]) ** 2).sum(-1), 1) / beta


# ----------------------------------------------------------------------------- T8: kernel statistics, exact write

# per-frequency variance of one kernel estimate, and the estimate averages Y such terms (spec, "Derived facts")
_VARIANCE = {
    "sincos": lambda k, xy, beta: (1 - k**2) ** 2 / 2,
    "cos": lambda k, xy, beta: (1 - k**2) ** 2 / 2 + 0.5,
    "exp": lambda k, xy, beta: torch.exp(4 * beta * xy) - k**2,
}


@pytest.mark.parametrize("kind", sorted(_VARIANCE))
def test_single_kernel_estimate_mean_and_std(kind):
    """Over n = 500 independent seeds the estimate of k(x, y) has mean k and std sigma = sqrt(var / Y)
    (sincos: (1 - k^2) / sqrt(2Y)). Tolerance, 4 standard errors each: |mean - k| < 4 sigma / sqrt(n), and
    |s^2 - sigma^2| < 4 sqrt((m4 - s^4) / n), the delta-method standard error of a sample variance with the sample's
    own fourth central moment m4 (about sqrt(2/n) relative for normal data, i.e. +-13 % on the std at n = 500;
    a wrong factor of sqrt(2) in the std is rejected)."""
    D, Y, beta, n = 8, 256, 2.0, 500
    g = device.generator(7)
    v = torch.linalg.qr(torch.randn(D, 2, generator=g, dtype=DT))[0].T  # two orthonormal directions
    ks = torch.tensor([0.2, 0.5, 0.9], dtype=DT)
    d = torch.sqrt(-2 * torch.log(ks) / beta)  # ||x - y|| giving k
    w = math.sqrt(0.2) * v[1]  # x + y: small, so the exp map's estimate is close to normal
    x, y = (w - d[:, None] * v[0]) / 2, (w + d[:, None] * v[0]) / 2
    xy = (x * y).sum(-1)
    est = []
    for seed in range(n):
        f = rf.Features(kind, Y, D, beta, seed=seed, block=100)  # 3 blocks, the last one short
        phi = rf.features(f, torch.cat([x, y]))
        est.append((phi[:3] * phi[3:]).sum((1, 2)))
    est = torch.stack(est)  # (n, 3)
    sigma2 = _VARIANCE[kind](ks, xy, beta) / Y
    mean, s2 = est.mean(0), est.var(0)
    m4 = ((est - mean) ** 4).mean(0)
    assert ((mean - ks).abs() < 4 * torch.sqrt(sigma2 / n)).all(), (mean, ks)
    assert ((s2 - sigma2).abs() < 4 * torch.sqrt((m4 - s2**2) / n)).all(), (s2.sqrt(), sigma2.sqrt())


@pytest.mark.parametrize("kind", sorted(rf.KINDS))
def test_incremental_write_is_exact(kind):
    D, K = 12, 9
    Xi = _binary(1, K, D)
    f = rf.Features(kind, 1000, D, 5.0, seed=3, block=384)  # 384 does not divide 1000
    T = rf.write(f, Xi)
    assert T.shape == (f.parts, 1000) and T.dtype == DT
    inc = rf.write(f, Xi[-1:], rf.write(f, Xi[:-1]))
    torch.testing.assert_close(inc, T, rtol=0, atol=1e-13)
    torch.testing.assert_close(rf.write(f, Xi, chunk=2), T, rtol=0, atol=1e-13)
    torch.testing.assert_close(rf.features(f, Xi).sum(0), T, rtol=0, atol=1e-13)


# ----------------------------------------------------------------------------- closed-form gradients


@pytest.mark.parametrize("log", [True, False], ids=["log", "nolog"])
@pytest.mark.parametrize("kind", sorted(rf.KINDS))
def test_closed_form_gradient_matches_autograd(kind, log):
    D, K, beta = 6, 5, 3.0
    Xi = _binary(2, K, D)
    x = Xi + 0.05 * torch.randn(K, D, generator=device.generator(3), dtype=DT)
    f = rf.Features(kind, 300, D, beta, seed=4, block=128)
    T = rf.write(f, Xi)
    assert (rf.score(f, T, x) > 1e-3).all()  # away from the clip
    xa = x.clone().requires_grad_(True)
    rf.energy(f, T, xa, log).sum().backward()
    torch.testing.assert_close(rf.grad(f, T, x, log), xa.grad, rtol=1e-10, atol=1e-12)
    if log:  # clip active (S_hat = 0 <= 1e-5): constant energy, zero gradient, as autograd says
        xa.grad = None
        rf.energy(f, 0 * T, xa).sum().backward()
        assert torch.equal(rf.grad(f, 0 * T, x), torch.zeros_like(x)) and torch.equal(xa.grad, torch.zeros_like(x))


def test_mrdam_through_the_core_matches_the_spec():
    D, beta = 7, 8.0
    Xi, x = _binary(5, 11, D), torch.rand(4, D, generator=device.generator(6), dtype=DT) / math.sqrt(D)
    torch.testing.assert_close(rf.mr_energy(Xi, x, beta), _mr_energy_direct(Xi, x, beta), rtol=1e-12, atol=1e-12)
    xa = x.clone().requires_grad_(True)
    _mr_energy_direct(Xi, xa, beta).sum().backward()
    torch.testing.assert_close(rf.mr_grad(Xi, x, beta), xa.grad, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- blocks


def test_blocks_are_reproducible_and_independent_of_the_batch():
    """Same (seed, block): the same Omega whatever the dtype, and the same energies and gradients whatever the query
    batch or whether Omega is regenerated or held. Different block sizes are different draws by design (the block
    size enters the seed), so they agree only statistically, here both near MrDAM."""
    D, K, beta = 10, 6, 4.0
    Xi = _binary(8, K, D)
    x = Xi + 0.02 * torch.randn(K, D, generator=device.generator(9), dtype=DT)
    f = rf.Features("sincos", 2000, D, beta, seed=11, block=300)
    om64, b64 = rf.omega_block(f, 2)
    om32, b32 = rf.omega_block(f, 2, dtype=torch.float32)
    assert torch.equal(om64, rf.omega_block(f, 2)[0])
    assert torch.equal(om64, om32.double()) and torch.equal(b64, b32.double())
    assert om64.shape == (300, D) and rf.omega_block(f, f.n_blocks - 1)[0].shape == (200, D)
    T = rf.write(f, Xi)
    held = list(rf.omega_blocks(f, DT))
    assert torch.equal(rf.write(f, Xi, omega=held), T)
    E, G = rf.energy(f, T, x), rf.grad(f, T, x)
    assert torch.equal(rf.energy(f, T, x, omega=held), E) and torch.equal(rf.grad(f, T, x, omega=held), G)
    E1, G1 = rf.energy_and_grad(f, T, x)  # one pass over the blocks gives both
    torch.testing.assert_close(E1, E, rtol=1e-14, atol=1e-15)
    assert torch.equal(G1, G)
    for part in (x[:1], x[2:5]):
        idx = slice(0, 1) if part.shape[0] == 1 else slice(2, 5)
        torch.testing.assert_close(rf.energy(f, T, part), E[idx], rtol=1e-13, atol=1e-14)
        torch.testing.assert_close(rf.grad(f, T, part), G[idx], rtol=1e-13, atol=1e-14)
    f2 = rf.Features("sincos", 2000, D, beta, seed=11, block=512)
    assert not torch.equal(rf.omega_block(f2, 0)[0][:300], rf.omega_block(f, 0)[0])
    E2 = rf.energy(f2, rf.write(f2, Xi), x)
    Emr = rf.mr_energy(Xi, x, beta)
    assert not torch.equal(E2, E)
    assert (E - Emr).abs().max() < 0.02 and (E2 - Emr).abs().max() < 0.02


# ----------------------------------------------------------------------------- DrDAM -> MrDAM


@pytest.mark.parametrize("kind", sorted(rf.KINDS))
def test_cpu_row_tiles_change_only_the_order_of_summation(kind, monkeypatch):
    """A block computed in row tiles (the CPU path, to keep temporaries small) gives the whole block's write, energy
    and gradient up to round-off; the tile is 256 rows here, so blocks of 700 split into 256 + 256 + 188."""
    D, K = 9, 40
    Xi = _binary(12, K, D)
    x = Xi + 0.03 * torch.randn(K, D, generator=device.generator(13), dtype=DT)
    f = rf.Features(kind, 1500, D, 6.0, seed=14, block=700)
    monkeypatch.setattr(rf, "CPU_TILE_BYTES", 2**40)
    T, (E, G) = rf.write(f, Xi), rf.energy_and_grad(f, rf.write(f, Xi), x)
    monkeypatch.setattr(rf, "CPU_TILE_BYTES", 1)
    assert len(list(rf._blocks(f, x, None))) == 2 * 3 + 1  # two blocks of 700 in 3 tiles, the last block of 100
    T2 = rf.write(f, Xi)
    E2, G2 = rf.energy_and_grad(f, T2, x)
    torch.testing.assert_close(T2, T, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(E2, E, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(G2, G, rtol=1e-10, atol=1e-12)


def test_drdam_approaches_mrdam_as_Y_grows():
    D, K, beta = 30, 20, 10.0
    Xi = _binary(12, K, D)
    E, G = rf.mr_energy(Xi, Xi, beta), rf.mr_grad(Xi, Xi, beta)
    err = {}
    for Y in (1000, 16000):
        e = g = 0.0
        for seed in (0, 1):
            f = rf.Features("sincos", Y, D, beta, seed=seed)
            T = rf.write(f, Xi)
            e += (rf.energy(f, T, Xi) - E).abs().mean().item() / 2
            g += (rf.grad(f, T, Xi) - G).abs().mean().item() / 2
        err[Y] = (e, g)
    # the error scales as 1/sqrt(Y): a factor 4 expected, 2 required
    assert err[16000][0] < 0.5 * err[1000][0] and err[16000][1] < 0.5 * err[1000][1], err


# ----------------------------------------------------------------------------- descent


def test_descent_with_clamp_keeps_observed_coordinates():
    D, K, beta = 16, 5, 10.0
    Xi = _binary(13, K, D)
    x0 = torch.rand(K, D, generator=device.generator(14), dtype=DT) / math.sqrt(D)
    f = rf.Features("sincos", 2000, D, beta, seed=15, block=512)
    T = rf.write(f, Xi)
    col = torch.arange(D) < D // 3
    per_state = torch.rand(K, D, generator=device.generator(16)) < 0.5
    for clamp in (col, per_state):
        for gfn in (lambda x: rf.grad(f, T, x), lambda x: rf.mr_grad(Xi, x, beta)):
            x, trace = rf.descend(gfn, x0, 0.1, 20, clamp=clamp)
            assert trace is None and torch.equal(x[clamp.expand(K, D)], x0[clamp.expand(K, D)])
            assert not torch.equal(x, x0)


def test_mrdam_energy_trace_is_non_increasing():
    D, K, beta = 20, 8, 10.0
    Xi = _binary(17, K, D)
    x0 = torch.rand(6, D, generator=device.generator(18), dtype=DT) / math.sqrt(D)
    x, trace = rf.descend(lambda x: rf.mr_grad(Xi, x, beta), x0, 0.1, 50, energy_fn=lambda x: rf.mr_energy(Xi, x, beta))
    assert trace.shape == (51, 6)
    assert (trace[1:] - trace[:-1] <= 1e-12).all()
    assert (trace[-1] < trace[0]).all()


@pytest.mark.cuda
@pytest.mark.parametrize("dev", ["cpu", "cuda"])
def test_float32_on_device_matches_float64_cpu(dev):
    if dev == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    D, K, beta = 24, 6, 10.0
    Xi = _binary(19, K, D)
    f = rf.Features("sincos", 3000, D, beta, seed=20, block=1024)
    ref_T = rf.write(f, Xi)
    ref = rf.descend(lambda x: rf.grad(f, ref_T, x), Xi, 0.1, 5)[0]
    Xd = Xi.float().to(dev)
    T = rf.write(f, Xd)
    out = rf.descend(lambda x: rf.grad(f, T, x), Xd, 0.1, 5)[0]
    assert out.dtype == torch.float32 and out.device.type == dev
    torch.testing.assert_close(out.double().cpu(), ref, rtol=0, atol=1e-4)
