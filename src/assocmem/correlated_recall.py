"""Recall as inference in a classical binary memory, with and without synaptic correlations.

Savin, Dayan & Lengyel (NIPS 2013), "Correlations strike back (again): the case of associative memory
retrieval". Notation of the paper spec:

- ``N`` binary neurons, ``M`` patterns ``x^t`` in {0,1}^N with i.i.d. Bernoulli(``f``) entries.
- Storage by a local additive rule ``W_ij = sum_t Omega(x_i^t, x_j^t)``, ``Omega`` a 2x2 table indexed
  ``[pre, post]`` (``W_ij`` is the synapse from presynaptic ``i`` to postsynaptic ``j``), kept as an ``(N, N)``
  matrix with a zero diagonal. Symmetric tables (Hebb ``ab``, covariance ``(a - f)(b - f)``, Hopfield
  ``(2a - 1)(2b - 1)``) give ``W = W^T``; the gated ones (presynaptic ``a (b - f)``, postsynaptic ``(a - f) b``)
  do not: ``W_ij != W_ji``, ordered pairs.
- Cue ``x~``: 1 -> 0 with probability ``r1``, 0 -> 1 with probability ``r0``.
- Storage likelihood of the target ``x``: the residual ``R = W - (M - 1) E[Omega] - Omega(x)`` is Gaussian
  with covariance ``(M - 1) C``. Symmetric rules, over unordered pairs: ``C = (v - 2c) I + c B B^T`` (``B`` the
  pair-neuron incidence matrix), ``v = Var Omega``, ``c`` the covariance of two synapses sharing one neuron.
  Asymmetric rules, over ordered pairs: ``v`` (same synapse), ``c_pre`` / ``c_post`` (sharing the presynaptic /
  the postsynaptic neuron), ``c_x`` (one synapse's post is the other's pre), ``rho`` (the reciprocal pair
  ``W_ji``), 0 (disjoint), all exact expectations over Bernoulli(f) (:func:`rule_statistics`).
- Any asymmetric table has ``Omega(a, b) - Omega(b, a) = delta (b - a)`` (``delta = t01 - t10``), so
  ``W - W^T = delta (n_j - n_i)`` is a gradient of the neurons' activity counts: ``C`` over ordered pairs is
  singular (rank ``N(N-1)/2 + N - 1``; ``v - rho = c_pre + c_post - 2 c_x``), every residual lies in its support,
  and the exact quadratic form is ``r^T C^+ r``. Split ``R`` into its symmetric part ``(R + R^T)/2`` over
  unordered pairs (covariance ``(v_u - 2 c_u) I + c_u B B^T`` with ``v_u = (v + rho)/2``,
  ``c_u = (c_pre + c_post + 2 c_x)/4``, Woodbury as above) and the antisymmetric part, carried by
  ``zeta = (s - s')/(sqrt(2) N)`` (``s``, ``s'`` the row and column sums of ``R``); given the symmetric part,
  ``zeta`` is Gaussian with mean ``lambda Pi B^T r_s`` and covariance ``sigma Pi`` (``Pi = I - 11^T/N``,
  ``lambda = kappa_x / (2 alpha)``, ``sigma = kappa_a - kappa_x^2 (N - 2) / (2 alpha)``,
  ``kappa_x = (c_pre - c_post)/2``, ``kappa_a = (c_pre + c_post - 2 c_x)/2``, ``alpha = a_u + c_u (N - 2)``).
- The *aware* decoder uses this covariance; the *naive* decoder its diagonal ``(M - 1) v I`` (over unordered
  pairs for symmetric rules, ordered pairs for asymmetric ones). Both reduce to one quadratic form in five
  statistics of ``R`` (:func:`decoder_constants`): ``Q = [A S2 + Bx X2 + sum_k (hrr s_k^2 + 2 hrc s_k s'_k
  + hcc s'_k^2) + g T^2] / (M - 1)`` with ``S2 = sum R_ij^2``, ``X2 = sum R_ij R_ji``, ``T = sum R``, so no
  pairs x pairs matrix is ever formed (for symmetric rules this is the Woodbury form ``[sum_pairs r^2 -
  (c/alpha)(|s|^2 - gamma T^2)] / ((M - 1)(v - 2c))``, ``gamma = c / (alpha + c N)``).
- Inference: systematic-scan Gibbs sampling of ``p(x | W, x~)``, every trial an independent chain in one
  batch; the estimate is the majority of the last ``samples`` sweeps (ties go to 0).

Everything is batched over chains (leading dimension ``B``); random numbers come from a seeded CPU
generator and are moved to the device.
"""

from __future__ import annotations

import math

import torch

RULES = ("hebb", "covariance", "hopfield", "pre_gated", "post_gated")


def rule_table(rule: str, f: float, dtype=torch.float64) -> torch.Tensor:
    """``Omega`` as a ``(2, 2)`` table ``[pre, post]`` for coding level ``f``.

    Gated rules (the spec's tables are unverified; these are the usual ones): presynaptically gated
    ``Omega(a, b) = a (b - f)`` (plasticity only when the presynaptic neuron is active), postsynaptically gated
    ``Omega(a, b) = (a - f) b``."""
    if rule == "hebb":
        t = [[0.0, 0.0], [0.0, 1.0]]
    elif rule == "covariance":
        t = [[f * f, -f * (1 - f)], [-f * (1 - f), (1 - f) ** 2]]
    elif rule == "hopfield":
        t = [[1.0, -1.0], [-1.0, 1.0]]
    elif rule == "pre_gated":
        t = [[0.0, 0.0], [-f, 1 - f]]
    elif rule == "post_gated":
        t = [[0.0, -f], [0.0, 1 - f]]
    else:
        raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")
    return torch.tensor(t, dtype=dtype)


def rule_statistics(table: torch.Tensor, f: float) -> dict[str, float]:
    """Exact per-pattern statistics of ``Omega`` for Bernoulli(f) entries ``a, b, c'`` (independent).

    ``mean = E[Omega]``, ``v = Var Omega(a, b)`` (same synapse), ``c_pre = Cov(Omega(a, b), Omega(a, c'))
    = Var_a E[Omega(a, b) | a]`` (shared presynaptic neuron), ``c_post = Cov(Omega(a, b), Omega(c', b))
    = Var_b E[Omega(a, b) | b]`` (shared postsynaptic neuron), ``c_x = Cov(Omega(a, b), Omega(b, c'))
    = Cov_b(E[Omega(a, b) | b], E[Omega(b, c') | b])`` (one synapse's post is the other's pre),
    ``rho = Cov(Omega(a, b), Omega(b, a))`` (reciprocal pair) and ``delta = t01 - t10`` (0 for a symmetric
    table, where ``c_pre = c_post = c_x = c`` and ``rho = v``). ``c`` is ``c_pre`` (the symmetric-rule name)."""
    p = torch.tensor([1 - f, f], dtype=torch.float64)
    t = table.to(torch.float64)
    mean = float(p @ t @ p)
    v = float(p @ (t - mean) ** 2 @ p)
    cond_pre, cond_post = t @ p, p @ t  # E[Omega(a, b) | a], E[Omega(a, b) | b]
    c_pre = float(p @ (cond_pre - mean) ** 2)
    c_post = float(p @ (cond_post - mean) ** 2)
    c_x = float(p @ ((cond_pre - mean) * (cond_post - mean)))
    rho = float(p @ ((t - mean) * (t.T - mean)) @ p)
    delta = float(t[0, 1] - t[1, 0])
    return {"mean": mean, "v": v, "c": c_pre, "c_pre": c_pre, "c_post": c_post, "c_x": c_x, "rho": rho, "delta": delta}


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


def chain_statistics(stats: list[dict[str, float]], index: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-chain statistic tensors ``{key: (B,)}`` from a list of :func:`rule_statistics` dicts and ``index``."""
    return {key: torch.tensor([s[key] for s in stats], dtype=torch.float64)[index] for key in stats[0]}


def decoder_constants(st: dict, m, n: int, aware) -> dict[str, torch.Tensor]:
    """Per-chain coefficients of the quadratic form ``Q = r^T Sigma^-1 r`` (see the module docstring).

    ``st`` holds broadcastable tensors (or floats) ``v, c_pre, c_post, c_x, rho, delta`` from
    :func:`rule_statistics` (e.g. via :func:`chain_statistics`); ``m`` the patterns stored and ``aware``
    (bool) the decoder. Returns ``A, Bx, hrr, hrc, hcc, g, m1`` with
    ``Q = [A S2 + Bx X2 + sum_k (hrr s_k^2 + 2 hrc s_k s'_k + hcc s'_k^2) + g T^2] / m1`` where ``S2 = sum R_ij^2``,
    ``X2 = sum R_ij R_ji``, ``s``/``s'`` the row/column sums of the residual matrix ``R``, ``T = sum R`` and
    ``m1 = M - 1``. Raises if the aware ``Sigma`` is not positive definite (on its support)."""
    t = {key: torch.as_tensor(st[key], dtype=torch.float64) for key in ("v", "c_pre", "c_post", "c_x", "rho", "delta")}
    v, cp, cq, cx, rho = t["v"], t["c_pre"], t["c_post"], t["c_x"], t["rho"]
    m = torch.as_tensor(m, dtype=torch.float64)
    aware = torch.as_tensor(aware, dtype=torch.bool)
    asym = t["delta"] != 0
    shape = torch.broadcast_shapes(v.shape, m.shape, aware.shape, asym.shape)
    v, cp, cq, cx, rho, m, aware, asym = (x.expand(shape) for x in (v, cp, cq, cx, rho, m, aware, asym))
    # any asymmetric table has W_ij - W_ji = delta (n_j - n_i): the antisymmetric part is a gradient, and
    # v - rho = c_pre + c_post - 2 c_x (Sigma is singular on the circulations); check it
    if bool((asym & ((v - rho - (cp + cq - 2 * cx)).abs() > 1e-12 * v.abs().clamp_min(1e-300))).any()):
        raise ValueError("statistics of an asymmetric table must satisfy v - rho = c_pre + c_post - 2 c_x")
    # symmetric part Rs = (R + R^T) / 2 over unordered pairs: variance v_u, shared-neuron covariance c_u
    v_u = torch.where(asym, (v + rho) / 2, v)
    c_u = torch.where(asym, (cp + cq + 2 * cx) / 4, cp)
    a_u = v_u - 2 * c_u
    if bool((aware & (a_u <= 0)).any()):
        raise ValueError("the background covariance is not positive definite (v_u - 2 c_u <= 0)")
    a_s = torch.where(a_u > 0, a_u, torch.ones_like(a_u))
    alpha = a_s + c_u * (n - 2)
    gamma = c_u / (alpha + c_u * n)
    k = c_u / (alpha * a_s)
    A, Bx = 1 / (4 * a_s), 1 / (4 * a_s)
    hrr, hrc, hcc, g = -k / 4, -k / 4, -k / 4, k * gamma
    # antisymmetric part, given the symmetric one: zeta = (s - s') / (sqrt(2) N) regressed on (s + s') / sqrt(2)
    kx, ka = (cp - cq) / 2, (cp + cq - 2 * cx) / 2
    den = 2 * alpha  # = alpha_s + kappa_s (N - 2) with alpha_s = 2 a_u, kappa_s = 2 c_u
    lam = kx / den
    sig = ka - kx * kx * (n - 2) / den
    if bool((aware & asym & (sig <= 0)).any()):
        raise ValueError("the background covariance of the antisymmetric part is not positive definite")
    e = torch.where(asym, 1 / (2 * torch.where(sig > 0, sig, torch.ones_like(sig))), torch.zeros_like(sig))
    p, q = 1 / n - lam, 1 / n + lam
    hrr, hrc, hcc, g = hrr + e * p * p, hrc - e * p * q, hcc + e * q * q, g - 4 * e * lam * lam / n
    zero = torch.zeros(shape, dtype=torch.float64)
    # naive: Sigma's diagonal, (M - 1) v I over ordered pairs (asymmetric) or over unordered pairs (symmetric,
    # where R = R^T and S2 / (2 v) = (S2 + X2) / (4 v))
    naive_A, naive_Bx = torch.where(asym, 1 / v, 1 / (4 * v)), torch.where(asym, zero, 1 / (4 * v))
    pairs = {"A": (A, naive_A), "Bx": (Bx, naive_Bx), "hrr": (hrr, zero), "hrc": (hrc, zero), "hcc": (hcc, zero),
             "g": (g, zero)}
    out = {key: torch.where(aware, aw, nv) for key, (aw, nv) in pairs.items()}
    out["m1"] = m - 1
    return out


def quadratic_form(R: torch.Tensor, k: dict[str, torch.Tensor]) -> torch.Tensor:
    """``r^T Sigma^-1 r`` for residual matrices ``R`` ``(B, N, N)`` (zero diagonal; symmetric for symmetric rules)."""
    S2 = (R * R).sum((-1, -2))
    X2 = (R * R.transpose(-1, -2)).sum((-1, -2))
    sr, sc = R.sum(-1), R.sum(-2)
    T = sr.sum(-1)
    per = (k["hrr"][:, None] * sr * sr + 2 * k["hrc"][:, None] * sr * sc + k["hcc"][:, None] * sc * sc).sum(-1)
    return (k["A"] * S2 + k["Bx"] * X2 + per + k["g"] * T * T) / k["m1"]


def incidence(n: int, dtype=torch.float64) -> torch.Tensor:
    """Pair-neuron incidence matrix ``B`` ``(N (N - 1) / 2, N)``, pairs in ``torch.triu_indices`` order."""
    i, j = torch.triu_indices(n, n, 1)
    B = torch.zeros(len(i), n, dtype=dtype)
    B[torch.arange(len(i)), i] = 1.0
    B[torch.arange(len(i)), j] = 1.0
    return B


def dense_covariance(n: int, v: float, c: float, m: int) -> torch.Tensor:
    """The pairs x pairs background covariance ``Sigma`` of a symmetric rule (tests and small N only)."""
    B = incidence(n)
    return (m - 1) * ((v - 2 * c) * torch.eye(len(B), dtype=B.dtype) + c * B @ B.T)


def ordered_pairs(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pre, post)`` indices of the ``N (N - 1)`` ordered pairs ``i != j`` (row-major order)."""
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    off = i != j
    return i[off], j[off]


def dense_covariance_ordered(n: int, st: dict[str, float], m: int) -> torch.Tensor:
    """The ordered-pairs background covariance ``Sigma`` ``(N(N-1), N(N-1))`` of any table (tests, small N only):
    ``v`` (same synapse), ``rho`` (reciprocal), ``c_pre`` (shared presynaptic neuron), ``c_post`` (shared
    postsynaptic neuron), ``c_x`` (one synapse's post is the other's pre), 0 (disjoint), times ``M - 1``."""
    i, j = ordered_pairs(n)
    Ip, Jp = i[:, None], j[:, None]
    Kp, Lp = i[None, :], j[None, :]
    S = torch.zeros(len(i), len(i), dtype=torch.float64)
    S[(Ip == Kp) & (Jp != Lp)] = st["c_pre"]
    S[(Jp == Lp) & (Ip != Kp)] = st["c_post"]
    S[((Ip == Lp) & (Jp != Kp)) | ((Jp == Kp) & (Ip != Lp))] = st["c_x"]
    S[(Ip == Lp) & (Jp == Kp)] = st["rho"]
    S[(Ip == Kp) & (Jp == Lp)] = st["v"]
    return (m - 1) * S


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


def flip_constants(om: dict[str, torch.Tensor], k: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-chain constants of :func:`flip_change` (state-independent; computed once per chain batch)."""
    A, Bx, hrr, hrc, hcc, g = (k[key] for key in ("A", "Bx", "hrr", "hrc", "hcc", "g"))
    p, o, q = om["p"], om["o"], om["q"]
    # coefficients of [R_row, R_col, sr, sc] . e_r and . e_c in m1 * dQ
    coef_r = torch.stack((2 * A, 2 * Bx, 2 * hrc, 2 * hcc), -1)
    coef_c = torch.stack((2 * Bx, 2 * A, 2 * hrr, 2 * hrc), -1)
    # (A + hcc) sum e_r^2 + (A + hrr) sum e_c^2 + 2 (Bx + hrc) sum e_r e_c = K0 (N - 1) + K1 n1
    K0 = (A + hcc) * p * p + (A + hrr) * o * o + 2 * (Bx + hrc) * p * o
    K1 = (A + hcc) * (2 * p + q) * q + (A + hrr) * (2 * o + q) * q + 2 * (Bx + hrc) * (p + o + q) * q
    return {"S": p[:, None] * coef_r + o[:, None] * coef_c, "Sx": q[:, None] * (coef_r + coef_c), "K0": K0,
            "K1": K1, "qrr": hrr + g, "qrc": hrc + g, "qcc": hcc + g}


def flip_change(W_row, W_col, sr, sc, T, x, i: int, bg, om, k, fc=None):
    """Change of ``Q`` when ``x_i`` flips, for every chain: ``(dQ, (ar, br, Dr), (ac, bc, Dc), dT)``.

    ``W_row``/``W_col`` ``(B, N)`` are row and column ``i`` of the weights, ``sr``/``sc`` ``(B, N)`` the row and
    column sums of the current residual ``R``, ``T`` ``(B,)`` its total, ``bg`` ``(B,)`` the background mean
    ``(M - 1) E[Omega]``, ``om`` from :func:`omega_coefficients`, ``k`` from :func:`decoder_constants` and
    ``fc`` from :func:`flip_constants` (computed when not given). Only row and column ``i`` of ``R`` change,
    by ``e_r_j = -d (p + q x_j)`` and ``e_c_j = -d (o + q x_j)`` (``d = 1 - 2 x_i``, ``j != i``); since ``x_j`` is
    binary every sum over ``j`` reduces to the sums and the dot products with ``x`` of ``W_row, W_col, sr, sc``
    (``O(N)`` per chain). The flip changes ``sr_j`` by ``ar + br x_j`` and ``sc_j`` by ``ac + bc x_j``
    (``j != i``), ``sr_i`` by ``Dr``, ``sc_i`` by ``Dc`` and ``T`` by ``dT``."""
    fc = flip_constants(om, k) if fc is None else fc
    n0 = x.shape[-1] - 1
    xi = x[:, i]
    d = 1 - 2 * xi  # +1 when x_i goes 0 -> 1
    p, o, q, t00 = om["p"], om["o"], om["q"], om["t00"]
    Z = torch.stack((W_row, W_col, sr, sc), 1)  # (B, 4, N)
    tot, dot = Z.sum(-1), (Z * x.unsqueeze(1)).sum(-1)
    sri, sci = sr[:, i], sc[:, i]
    n1 = x.sum(-1) - xi  # sum over j != i of x_j (W_ii = 0)
    base_r, slope_r = bg + t00 + p * xi, o + q * xi  # R_ij = W_ij - base_r - slope_r x_j
    base_c, slope_c = bg + t00 + o * xi, p + q * xi  # R_ji = W_ji - base_c - slope_c x_j
    # sums over j != i of [R_ij, R_ji, sr_j, sc_j] and of the same times x_j
    S = tot - torch.stack((base_r * n0 + slope_r * n1, base_c * n0 + slope_c * n1, sri, sci), -1)
    Sx = dot - torch.stack(((base_r + slope_r) * n1, (base_c + slope_c) * n1, sri * xi, sci * xi), -1)
    ur, uc = p * n0 + q * n1, o * n0 + q * n1  # Dr = -d ur, Dc = -d uc
    lin = -d * ((S * fc["S"]).sum(-1) + (Sx * fc["Sx"]).sum(-1)
                + 2 * (sri * (k["hrr"] * ur + k["hrc"] * uc) + sci * (k["hrc"] * ur + k["hcc"] * uc)
                       + k["g"] * T * (ur + uc)))
    quad = fc["K0"] * n0 + fc["K1"] * n1 + (fc["qrr"] * ur + 2 * fc["qrc"] * uc) * ur + fc["qcc"] * uc * uc
    dQ = (lin + quad) / k["m1"]
    Dr, Dc = -d * ur, -d * uc
    return dQ, (-d * o, -d * q, Dr), (-d * p, -d * q, Dc), Dr + Dc


def flip_change_symmetric(W_i, s, T, x, i: int, bg, om, k):
    """:func:`flip_change` for symmetric tables (``R`` symmetric, ``sr = sc = s``): ``(dQ, e, D)``, cheaper.

    ``e`` ``(B, N)`` is the residual change on the pairs ``(i, j)`` (``e_i = 0``) and ``D = sum_j e_j``; the flip
    changes ``s_j`` by ``e_j`` (``j != i``), ``s_i`` by ``D`` and ``T`` by ``2 D``. Uses ``1 / a = 2 (A + Bx)``,
    ``H = hrr + 2 hrc + hcc`` and ``g`` of :func:`decoder_constants`."""
    xi = x[:, i]
    d = 1 - 2 * xi
    r_i = W_i - (bg + om["t00"] + om["p"] * xi)[:, None] - (om["o"] + om["q"] * xi)[:, None] * x
    e = -(d * om["p"])[:, None] - (d * om["q"])[:, None] * x
    e[:, i] = 0.0
    D = e.sum(-1)
    inv_a, H = 2 * (k["A"] + k["Bx"]), k["hrr"] + 2 * k["hrc"] + k["hcc"]
    ee = (e * e).sum(-1)
    main = inv_a * (2 * (r_i * e).sum(-1) + ee) + H * (2 * (s * e).sum(-1) + ee + (2 * s[:, i] + D) * D)
    dQ = (main + 4 * k["g"] * D * (T + D)) / k["m1"]
    return dQ, e, D


def gibbs_decode(W: torch.Tensor, cue: torch.Tensor, start: torch.Tensor, table: torch.Tensor, mean: torch.Tensor,
                 consts: dict[str, torch.Tensor], m: torch.Tensor, f: float, r1: float, r0: float, *, sweeps: int,
                 samples: int, generator: torch.Generator, w_index: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Gibbs-sample ``p(x | W, x~)`` for a batch of chains; return the majority estimate and the posterior mean.

    ``W`` ``(B, N, N)`` weights (zero diagonal; ``W[b, i, j]`` from presynaptic ``i`` to postsynaptic ``j``),
    ``cue`` ``(B, N)``, ``start`` ``(B, N)`` initial states, ``table`` ``(B, 2, 2)`` per-chain ``Omega``
    (symmetric or not), ``mean`` ``(B,)`` ``E[Omega]``, ``consts`` from :func:`decoder_constants` (``(B,)``
    each), ``m`` ``(B,)`` patterns stored. Sites are visited in order ``0..N-1`` each sweep; flipping ``x_i``
    changes the residual only in row and column ``i``, so each site costs ``O(N)`` per chain
    (:func:`flip_change`). With ``w_index`` ``(B,)``, ``W`` is ``(G, N, N)`` and chain ``b`` reads
    ``W[w_index[b]]`` (chains share weight matrices).
    """
    Bsz, N = cue.shape
    dev, dt = W.device, W.dtype
    k = {key: val.to(dev, dt) for key, val in consts.items()}
    om = {key: val.to(dev, dt) for key, val in omega_coefficients(table).items()}
    bg = ((m - 1) * mean).to(dev, dt)
    x = start.to(dev, dt).clone()
    widx = torch.arange(Bsz, device=dev) if w_index is None else w_index.to(dev)
    R = (W[widx] - bg[:, None, None] - pair_omega(x, table.to(dev, dt))) * (1 - torch.eye(N, dtype=dt, device=dev))
    sr, sc = R.sum(-1), R.sum(-2)
    T = sr.sum(-1)
    del R
    symmetric = bool((table - table.transpose(-1, -2)).abs().max() == 0)  # then R is symmetric: cheaper updates
    WT = W if symmetric else W.transpose(-1, -2).contiguous()  # columns of W as rows
    fc = flip_constants(om, k)
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
            if symmetric:
                dQ, e, D = flip_change_symmetric(W[:, i, :].index_select(0, widx), sr, T, x, i, bg, om, k)
                flip = (u[i] < torch.sigmoid(-0.5 * dQ + (1 - 2 * xi) * h[:, i])).to(dt)
                sr.addcmul_(e, flip[:, None])
                sr[:, i] += D * flip
                T += 2 * D * flip
                x[:, i] = xi + (1 - 2 * xi) * flip
                continue
            dQ, (ar, br, Dr), (ac, bc, Dc), dT = flip_change(
                W[:, i, :].index_select(0, widx), WT[:, i, :].index_select(0, widx), sr, sc, T, x, i, bg, om, k,
                fc)
            flip = (u[i] < torch.sigmoid(-0.5 * dQ + (1 - 2 * xi) * h[:, i])).to(dt)
            sri, sci = sr[:, i] + flip * Dr, sc[:, i] + flip * Dc
            sr.add_((flip * ar)[:, None]).addcmul_(x, (flip * br)[:, None])
            sc.add_((flip * ac)[:, None]).addcmul_(x, (flip * bc)[:, None])
            sr[:, i], sc[:, i] = sri, sci
            T += dT * flip
            x[:, i] = xi + (1 - 2 * xi) * flip
        if sweep >= sweeps - samples:
            acc += x
    post = acc / samples
    return (post > 0.5).to(dt), post


STAT_SYNAPSES = {"v": (0, 1), "c_pre": (0, 2), "c_post": (2, 1), "c_x": (1, 2), "rho": (1, 0), "d": (2, 3)}


def background_statistics(table: torch.Tensor, f: float, n_background: int, n_sets: int,
                          generator: torch.Generator) -> dict[str, tuple[float, float]]:
    """Empirical per-pattern covariances of the background weight ``W_01`` with the synapses of
    :data:`STAT_SYNAPSES`.

    Draws ``n_sets`` independent sets of ``n_background`` (= ``M - 1``) Bernoulli(``f``) patterns on 4
    neurons, stores them, and returns ``{name: (estimate, standard error)}`` of ``Var W_01`` (``v``),
    ``Cov(W_01, W_02)`` (shared presynaptic neuron, ``c_pre``; also ``c``, the symmetric-rule name),
    ``Cov(W_01, W_21)`` (shared postsynaptic neuron, ``c_post``), ``Cov(W_01, W_12)`` (``c_x``),
    ``Cov(W_01, W_10)`` (reciprocal, ``rho``) and ``Cov(W_01, W_23)`` (disjoint, ``d``), each divided by
    ``n_background``. The standard errors are those of the mean of the centred products."""
    X = sample_patterns((n_sets, n_background, 4), f, generator)
    W = store(X, table.to(torch.float64))
    w = torch.stack([W[:, i, j] for i, j in STAT_SYNAPSES.values()], -1)
    w = w - w.mean(0)
    out = {}
    for col, name in enumerate(STAT_SYNAPSES):
        prod = w[:, 0] * w[:, col]
        est = float(prod.sum() / (n_sets - 1)) / n_background
        se = float(prod.std() / math.sqrt(n_sets)) / n_background
        out[name] = (est, se)
    out["c"] = out["c_pre"]
    return out
