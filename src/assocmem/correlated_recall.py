"""Recall as inference in a classical binary memory, with and without synaptic correlations.

Savin, Dayan & Lengyel (NIPS 2013), "Correlations strike back (again): the case of associative memory
retrieval". Notation of the paper spec:

- ``N`` binary neurons, ``M`` patterns ``x^t`` in {0,1}^N with i.i.d. Bernoulli(``f``) entries.
- Storage by a local additive rule ``W_ij = sum_t Omega(x_i^t, x_j^t)``, ``Omega`` a 2x2 table indexed
  ``[pre, post]``. Only symmetric tables are supported (Hebb ``ab``, covariance ``(a - f)(b - f)``,
  Hopfield ``(2a - 1)(2b - 1)``): one weight per unordered pair ``i < j``, kept here as a symmetric
  ``(N, N)`` matrix with a zero diagonal. Pre-/post-synaptically gated rules are asymmetric and need
  ordered pairs with two neighbour covariances; they are not implemented.
- Cue ``x~``: 1 -> 0 with probability ``r1``, 0 -> 1 with probability ``r0``.
- Storage likelihood of the target ``x``: ``r = W - (M - 1) E[Omega] - Omega(x)`` is Gaussian with
  covariance ``Sigma = (M - 1) [(v - 2c) I + c B B^T]`` over pairs (``B`` the pair-neuron incidence
  matrix), ``v = Var Omega``, ``c`` the covariance of two synapses sharing one neuron.
- The *aware* decoder uses this ``Sigma``; the *naive* decoder its diagonal ``(M - 1) v I``. Both are
  the quadratic form ``Q(r) = [sum_pairs r^2 - (c / alpha) (|s|^2 - gamma T^2)] / kappa`` with
  ``s = B^T r`` (row sums of the matrix ``R``), ``T = sum_i s_i``, ``kappa = (M - 1) a``,
  ``alpha = a + c (N - 2)``, ``gamma = c / (alpha + c N)``, and ``(a, c) = (v - 2c, c)`` (aware) or
  ``(v, 0)`` (naive). This is ``r^T Sigma^-1 r`` by Woodbury with ``B^T B = (N - 2) I + 1 1^T``, so no
  pairs x pairs matrix is ever formed.
- Inference: systematic-scan Gibbs sampling of ``p(x | W, x~)``, every trial an independent chain in one
  batch; the estimate is the majority of the last ``samples`` sweeps (ties go to 0).

Everything is batched over chains (leading dimension ``B``); random numbers come from a seeded CPU
generator and are moved to the device.
"""

from __future__ import annotations

import math

import torch

RULES = ("hebb", "covariance", "hopfield")


def rule_table(rule: str, f: float, dtype=torch.float64) -> torch.Tensor:
    """``Omega`` as a ``(2, 2)`` table ``[pre, post]`` for coding level ``f``."""
    if rule == "hebb":
        t = [[0.0, 0.0], [0.0, 1.0]]
    elif rule == "covariance":
        t = [[f * f, -f * (1 - f)], [-f * (1 - f), (1 - f) ** 2]]
    elif rule == "hopfield":
        t = [[1.0, -1.0], [-1.0, 1.0]]
    else:
        raise ValueError(f"unknown or unsupported (asymmetric) rule {rule!r}; choose one of {RULES}")
    return torch.tensor(t, dtype=dtype)


def rule_statistics(table: torch.Tensor, f: float) -> dict[str, float]:
    """Exact ``E[Omega]``, ``v = Var Omega`` and ``c = Var_a E[Omega(a, b) | a]`` for Bernoulli(f) entries."""
    p = torch.tensor([1 - f, f], dtype=torch.float64)
    t = table.to(torch.float64)
    mean = float(p @ t @ p)
    v = float(p @ (t - mean) ** 2 @ p)
    cond = t @ p  # E[Omega(a, b) | a]
    c = float(p @ (cond - mean) ** 2)
    return dict(mean=mean, v=v, c=c)


def sample_patterns(shape: tuple[int, ...], f: float, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """Bernoulli(``f``) patterns of ``shape`` (last dimension: neurons), drawn on the CPU."""
    return (torch.rand(shape, generator=generator, dtype=torch.float64) < f).to(dtype)


def corrupt(x: torch.Tensor, r1: float, r0: float, generator: torch.Generator) -> torch.Tensor:
    """Noisy cue: each 1 becomes 0 with probability ``r1``, each 0 becomes 1 with probability ``r0``."""
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64).to(x.device)
    flip = torch.where(x > 0.5, u < r1, u < r0)
    return torch.where(flip, 1 - x, x)


def pair_omega(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``Omega(x_i, x_j)`` as ``(..., N, N)`` with a zero diagonal; ``table`` is ``(2, 2)`` or ``(..., 2, 2)``."""
    t = table if table.dim() > 2 else table.expand(*x.shape[:-1], 2, 2)
    xi, xj = x.unsqueeze(-1), x.unsqueeze(-2)
    t00, t01 = t[..., 0, 0, None, None], t[..., 0, 1, None, None]
    t10, t11 = t[..., 1, 0, None, None], t[..., 1, 1, None, None]
    om = t00 * (1 - xi) * (1 - xj) + t01 * (1 - xi) * xj + t10 * xi * (1 - xj) + t11 * xi * xj
    return om * (1 - torch.eye(x.shape[-1], dtype=x.dtype, device=x.device))


def store(X: torch.Tensor, table: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``W = sum_t Omega(x^t_i, x^t_j)`` for patterns ``X`` ``(..., M, N)``; ``mask`` ``(..., M)`` selects the
    patterns actually stored (so different ``M`` share one padded tensor). Zero diagonal."""
    Xm = X if mask is None else X * mask.unsqueeze(-1)
    on = mask.unsqueeze(-1).to(X.dtype) if mask is not None else torch.ones_like(X[..., :1])
    Y = on - Xm  # 1 - x for stored patterns, 0 for padding
    t = table
    W = (t[0, 0] * Y.transpose(-1, -2) @ Y + t[0, 1] * Y.transpose(-1, -2) @ Xm
         + t[1, 0] * Xm.transpose(-1, -2) @ Y + t[1, 1] * Xm.transpose(-1, -2) @ Xm)
    return W * (1 - torch.eye(X.shape[-1], dtype=X.dtype, device=X.device))


def decoder_constants(v, c, m, n: int, aware) -> dict[str, torch.Tensor]:
    """Per-chain constants ``kappa, c, alpha, gamma`` of the quadratic form (see the module docstring).

    ``v``, ``c``, ``m`` (patterns stored) and ``aware`` (bool) are broadcastable tensors; ``Sigma`` must be
    positive definite (``v - 2c > 0`` for the aware decoder)."""
    v, c, m = (torch.as_tensor(t, dtype=torch.float64) for t in (v, c, m))
    aware = torch.as_tensor(aware, dtype=torch.bool)
    c_eff = torch.where(aware, c, torch.zeros_like(c))
    a = torch.where(aware, v - 2 * c, v)
    if bool((a <= 0).any()):
        raise ValueError("the background covariance is not positive definite (v - 2c <= 0)")
    alpha = a + c_eff * (n - 2)
    return dict(kappa=(m - 1) * a, c=c_eff, alpha=alpha, gamma=c_eff / (alpha + c_eff * n))


def quadratic_form(R: torch.Tensor, k: dict[str, torch.Tensor]) -> torch.Tensor:
    """``r^T Sigma^-1 r`` for residual matrices ``R`` ``(B, N, N)`` (symmetric, zero diagonal), structured."""
    s = R.sum(-1)
    T = s.sum(-1)
    S2 = 0.5 * (R * R).sum((-1, -2))
    return (S2 - k["c"] / k["alpha"] * ((s * s).sum(-1) - k["gamma"] * T * T)) / k["kappa"]


def incidence(n: int, dtype=torch.float64) -> torch.Tensor:
    """Pair-neuron incidence matrix ``B`` ``(N (N - 1) / 2, N)``, pairs in ``torch.triu_indices`` order."""
    i, j = torch.triu_indices(n, n, 1)
    B = torch.zeros(len(i), n, dtype=dtype)
    B[torch.arange(len(i)), i] = 1.0
    B[torch.arange(len(i)), j] = 1.0
    return B


def dense_covariance(n: int, v: float, c: float, m: int) -> torch.Tensor:
    """The pairs x pairs background covariance ``Sigma`` (tests and small N only)."""
    B = incidence(n)
    return (m - 1) * ((v - 2 * c) * torch.eye(len(B), dtype=B.dtype) + c * B @ B.T)


def woodbury_precision(n: int, v: float, c: float, m: int) -> torch.Tensor:
    """``Sigma^-1 = [I - c B ((v - 2c) I_N + c B^T B)^-1 B^T] / ((M - 1)(v - 2c))`` (only an N x N inverse)."""
    B = incidence(n)
    a = v - 2 * c
    K = a * torch.eye(n, dtype=B.dtype) + c * B.T @ B
    return (torch.eye(len(B), dtype=B.dtype) - c * B @ torch.linalg.solve(K, B.T)) / ((m - 1) * a)


def omega_coefficients(table: torch.Tensor) -> dict[str, torch.Tensor]:
    """``Omega(a, b) = t00 + p a + o b + q a b`` for binary ``a, b``: the coefficients of ``(..., 2, 2)`` tables."""
    t00, t01, t10, t11 = table[..., 0, 0], table[..., 0, 1], table[..., 1, 0], table[..., 1, 1]
    return dict(t00=t00, p=t10 - t00, o=t01 - t00, q=t11 - t10 - t01 + t00)


def flip_change(W_i, s, T, x, i: int, bg, om, k):
    """Change of ``Q`` when ``x_i`` flips, for every chain: ``(dQ, e, D)``.

    ``W_i`` ``(B, N)`` is row ``i`` of the weights, ``s`` ``(B, N)`` the row sums of the current residual,
    ``T`` ``(B,)`` their total, ``bg`` ``(B,)`` the background mean ``(M - 1) E[Omega]``, ``om`` from
    :func:`omega_coefficients` and ``k`` from :func:`decoder_constants`. The residual row ``r_i`` is rebuilt
    from ``W_i`` and ``x`` (``O(N)``); ``e`` is the residual change on the pairs ``(i, j)`` (``e_i = 0``) and
    ``D = sum_j e_j``."""
    xi = x[:, i]
    d = 1 - 2 * xi  # +1 when x_i goes 0 -> 1
    r_i = W_i - (bg + om["t00"] + om["p"] * xi)[:, None] - (om["o"] + om["q"] * xi)[:, None] * x
    e = -(d * om["p"])[:, None] - (d * om["q"])[:, None] * x
    e[:, i] = 0.0
    D = e.sum(-1)
    ca = (k["c"] / k["alpha"])[:, None]
    main = ((2 * (r_i - ca * s) + (1 - ca) * e) * e).sum(-1)
    extra = (2 * s[:, i] + D) * D - k["gamma"] * 4 * D * (T + D)
    dQ = (main - ca[:, 0] * extra) / k["kappa"]
    return dQ, e, D


def gibbs_decode(W: torch.Tensor, cue: torch.Tensor, start: torch.Tensor, table: torch.Tensor, mean: torch.Tensor,
                 consts: dict[str, torch.Tensor], m: torch.Tensor, f: float, r1: float, r0: float, *, sweeps: int,
                 samples: int, generator: torch.Generator, w_index: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gibbs-sample ``p(x | W, x~)`` for a batch of chains; return the majority estimate and the posterior mean.

    ``W`` ``(B, N, N)`` weights (symmetric, zero diagonal), ``cue`` ``(B, N)``, ``start`` ``(B, N)`` initial
    states, ``table`` ``(B, 2, 2)`` per-chain ``Omega`` (symmetric), ``mean`` ``(B,)`` ``E[Omega]``,
    ``consts`` from :func:`decoder_constants` (``(B,)`` each), ``m`` ``(B,)`` patterns stored. Sites are
    visited in order ``0..N-1`` each sweep; flipping ``x_i`` changes the residual only on the ``N - 1``
    pairs that contain ``i``, so each site costs ``O(N)`` per chain (:func:`flip_change`). With ``w_index``
    ``(B,)``, ``W`` is ``(G, N, N)`` and chain ``b`` reads ``W[w_index[b]]`` (chains share weight matrices).
    """
    Bsz, N = cue.shape
    dev, dt = W.device, W.dtype
    k = {key: val.to(dev, dt) for key, val in consts.items()}
    om = {key: val.to(dev, dt) for key, val in omega_coefficients(table).items()}
    bg = ((m - 1) * mean).to(dev, dt)
    x = start.to(dev, dt).clone()
    widx = torch.arange(Bsz, device=dev) if w_index is None else w_index.to(dev)
    R = (W[widx] - bg[:, None, None] - pair_omega(x, table.to(dev, dt))) * (1 - torch.eye(N, dtype=dt, device=dev))
    s = R.sum(-1)
    T = s.sum(-1)
    del R
    # log-odds of x_i = 1 from the prior and the cue
    cue = cue.to(dev, dt)
    l1 = cue * math.log(1 - r1) + (1 - cue) * math.log(r1)
    l0 = cue * math.log(r0) + (1 - cue) * math.log(1 - r0)
    h = math.log(f / (1 - f)) + l1 - l0
    acc = torch.zeros_like(x)
    for sweep in range(sweeps):
        u = torch.rand(N, Bsz, generator=generator, dtype=torch.float64).to(dev, dt)
        for i in range(N):
            xi = x[:, i]
            dQ, e, D = flip_change(W[:, i, :].index_select(0, widx), s, T, x, i, bg, om, k)
            flip = (u[i] < torch.sigmoid(-0.5 * dQ + (1 - 2 * xi) * h[:, i])).to(dt)
            s.addcmul_(e, flip[:, None])
            s[:, i] += D * flip
            T += 2 * D * flip
            x[:, i] = xi + (1 - 2 * xi) * flip
        if sweep >= sweeps - samples:
            acc += x
    post = acc / samples
    return (post > 0.5).to(dt), post


def background_statistics(table: torch.Tensor, f: float, n_background: int, n_sets: int,
                          generator: torch.Generator) -> dict[str, tuple[float, float]]:
    """Empirical per-pattern ``v``, ``c`` and disjoint-pair covariance ``d`` of the background weights.

    Draws ``n_sets`` independent sets of ``n_background`` (= ``M - 1``) Bernoulli(``f``) patterns on 4
    neurons, stores them, and returns ``{"v", "c", "d"}`` -> ``(estimate, standard error)`` of
    ``Var W_01``, ``Cov(W_01, W_02)`` (one shared neuron) and ``Cov(W_01, W_23)`` (disjoint), each divided
    by ``n_background``. The standard errors are those of the mean of the centred products."""
    X = sample_patterns((n_sets, n_background, 4), f, generator)
    W = store(X, table.to(torch.float64))
    w = torch.stack([W[:, 0, 1], W[:, 0, 2], W[:, 2, 3]], -1)
    w = w - w.mean(0)
    out = {}
    for name, prod in (("v", w[:, 0] * w[:, 0]), ("c", w[:, 0] * w[:, 1]), ("d", w[:, 0] * w[:, 2])):
        est = float(prod.sum() / (n_sets - 1)) / n_background
        se = float(prod.std() / math.sqrt(n_sets)) / n_background
        out[name] = (est, se)
    return out
