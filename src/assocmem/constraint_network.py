"""Clustered constraint networks for patterns in a subspace, with noisy bit-flipping recall.

Karbasi, Salavati, Shokrollahi and Varshney, *Noise-Enhanced Associative Memories* (NeurIPS 2013).
Notation of the paper: ``n`` integer pattern neurons, patterns ``x = u G`` with message ``u`` in
``{0, 1}^k`` and a sparse 0/1 generator ``G`` (``k x n``, column degree ``col_degree``); ``L`` overlapping
clusters, cluster ``l`` holding ``n_l`` pattern neurons and constraint neurons with weights ``W^(l)``
(``W^(l) x^(l) = 0`` for every stored pattern). Recall: noisy bit flipping inside a cluster (constraint
noise ``nu``, pattern noise ``upsilon``, flip threshold ``phi``; Alg. 1) and sequential peeling over the
clusters (Alg. 2).

Tensor layout. Cluster members are padded to ``n_max`` with the index ``n`` (a dummy neuron that is
always 0 and has no weights); weights are ``W`` of shape ``(L, m_max, n_max)``, zero where absent. Test
patterns are a batch ``(B, n)``; ``upsilon`` and ``nu`` may be one value per batch row, so a grid of noise
settings is a batch dimension. Random numbers are drawn on the CPU from seeded generators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

CLIP_LOW, CLIP_HIGH = -10.0, 100.0


# ----------------------------------------------------------------------------- patterns and network


def generator_matrix(n: int, k: int, col_degree: int, generator: torch.Generator) -> torch.Tensor:
    """Random 0/1 generator ``G`` (``k x n``): every column has ``col_degree`` ones in random rows."""
    scores = torch.rand(n, k, generator=generator)
    rows = scores.argsort(dim=1)[:, :col_degree]
    G = torch.zeros(n, k, dtype=torch.float64)
    G.scatter_(1, rows, 1.0)
    return G.T.contiguous()


def messages(count: int, k: int, k_random: int, generator: torch.Generator) -> torch.Tensor:
    """Messages ``u`` (``count x k``): the first ``k_random`` bits random, the rest 0 (the authors' code
    fills 17 of 20 positions from a random index; how the other 3 are set is undocumented)."""
    u = torch.zeros(count, k, dtype=torch.float64)
    u[:, :k_random] = torch.randint(0, 2, (count, k_random), generator=generator).double()
    return u


def patterns(u: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Patterns ``x = u G`` with integer entries in ``{0, ..., col_degree}``."""
    return u @ G


def make_clusters(n: int, L: int, per_neuron: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pattern neuron joins ``per_neuron`` random clusters.

    Returns ``members`` (``L x n_max``, sorted neuron indices padded with ``n``) and ``sizes`` (``L,``).
    """
    joined = torch.rand(n, L, generator=generator).argsort(dim=1)[:, :per_neuron]
    M = torch.zeros(L, n, dtype=torch.bool)
    M[joined.T.reshape(-1), torch.arange(n).repeat(per_neuron)] = True
    sizes = M.sum(1)
    n_max = int(sizes.max())
    members = torch.full((L, n_max), n, dtype=torch.long)
    for ell in range(L):
        idx = M[ell].nonzero().flatten()
        members[ell, : len(idx)] = idx
    return members, sizes


def cluster_patterns(X: torch.Tensor, members: torch.Tensor) -> torch.Tensor:
    """Sub-patterns ``x^(l)`` of a batch ``(B, n)``: shape ``(B, L, n_max)``, 0 at padded slots."""
    Xp = torch.cat([X, torch.zeros(X.shape[0], 1, dtype=X.dtype, device=X.device)], dim=1)
    return Xp[:, members]


def construct_constraints(G: torch.Tensor, members: torch.Tensor, sizes: torch.Tensor, generator: torch.Generator,
                          support_extra: int = 0) -> torch.Tensor:
    """Exact sparse null-space constraints, ``W`` of shape ``(L, m_max, n_max)``, rows of unit norm.

    ``G`` holds only the message rows that vary (the patterns span its row space). Cluster ``l`` gets
    ``m_l = n_l - rank(G_l)`` constraints; each is the null vector of ``G_l`` restricted to a support of
    ``rank(G_l) + 1 + support_extra`` columns, chosen among the least-connected neurons so far (random tie
    break, in the spirit of the authors' ``d_max`` rule), so every ``w`` is exact (``G_l w = 0`` to rounding)
    and sparse, and degrees are spread.
    """
    L, n_max = members.shape
    Gn = G.numpy()
    m_max = int((sizes - 1).max())
    W = np.zeros((L, m_max, n_max))
    m_used = 0
    for ell in range(L):
        nl = int(sizes[ell])
        Gl = Gn[:, members[ell, :nl].numpy()]
        r = int(np.linalg.matrix_rank(Gl))
        s = min(nl, r + 1 + support_extra)
        degree = np.zeros(nl)
        for i in range(nl - r):
            key = degree + torch.rand(nl, generator=generator).numpy()
            S = np.sort(np.argsort(key)[:s])
            _, _, vt = np.linalg.svd(Gl[:, S])
            w = vt[-1]
            w[np.abs(w) < 1e-9] = 0.0
            w /= np.linalg.norm(w)
            W[ell, i, S] = w
            degree[S[w != 0]] += 1
        m_used = max(m_used, nl - r)
    return torch.from_numpy(W[:, :m_used]).clone()


def learn_constraints(Xc: torch.Tensor, valid: torch.Tensor, m: int, params: dict, generator: torch.Generator,
                      progress: bool = False) -> tuple[torch.Tensor, dict]:
    """The paper's iterative learning rule, for ``m`` constraints per cluster at once.

    ``Xc``: training sub-patterns ``(P, L, n_max)``; ``valid``: ``(L, n_max)`` real (non-padded) slots.
    Per step, for a random pattern ``x`` (one per cluster): ``y = x^T w``;
    ``w <- w - alpha_t y (x - y w / |w|^2) - beta0 Gamma(w, theta_t)``, ``alpha_t = alpha' / |x|^2``, where
    ``Gamma`` keeps entries with ``|w_i| < theta_t``; entries below 1e-3 are zeroed each step. After each
    epoch entries below ``prune`` are zeroed and ``w`` is renormalised to unit norm (a project choice: the
    rule alone can shrink ``w`` to the trivial ``w = 0``); ``alpha'`` decays every 200 epochs (floor
    5e-4), ``theta`` every 3 epochs. A constraint stops when ``max |x^T w| < stop_tol`` on the training set
    at two epoch ends in a row. ``params['batch']`` patterns are averaged per step (1 = the paper's rule).
    The constraints of a cluster learn in parallel from different random positive inits (the paper learns
    them one after another); near-duplicates are removed afterwards. Returns ``W (L, m', n_max)`` (kept
    rows only: ``max |x^T w| < keep_tol``) and statistics.

    Status: on small clusters (tests) this converges in ~10 epochs and recalls like the constructed constraints;
    on the paper's network (clusters of ~40 neurons, 17-dim data) with 200 training patterns only ~15% of
    the constraints converge in 150 epochs and they collapse onto a few distinct sparse vectors, so the
    experiments use :func:`construct_constraints`.
    """
    P, L, n_max = Xc.shape
    dtype = Xc.dtype
    allowed = valid[:, None, :].expand(L, m, n_max)
    w = torch.rand(L, m, n_max, generator=generator, dtype=dtype) * allowed
    w = w / w.norm(dim=-1, keepdim=True)
    alpha, theta = params["alpha0"], params["theta0"]
    beta0, batch = params["beta0"], params["batch"]
    hits = torch.zeros(L, m, dtype=torch.long)
    done = torch.zeros(L, m, dtype=torch.bool)
    epochs = 0
    steps = max(1, P // batch)
    for epoch in tqdm(range(params["epochs"]), desc="learn constraints", disable=not progress, leave=False):
        order = torch.randint(0, P, (steps, batch), generator=generator)
        active = (~done)[..., None]
        for t in range(steps):
            x = Xc[order[t]]  # (b, L, n)
            y = torch.einsum("bln,lmn->blm", x, w)
            a = alpha / (x.pow(2).sum(-1, keepdim=True).clamp_min(1e-12))  # (b, L, 1)
            wn2 = w.pow(2).sum(-1).clamp_min(1e-12)  # (L, m)
            grad = (a[..., None] * y[..., None] * (x[:, :, None, :] - (y / wn2)[..., None] * w)).mean(0)
            gamma = torch.where(w.abs() < theta, w, torch.zeros((), dtype=dtype))
            w = torch.where(active & allowed, w - grad - beta0 * gamma, w)
            w = torch.where(w.abs() < 1e-3, torch.zeros((), dtype=dtype), w)
        w = torch.where(active & (w.abs() < params["prune"]), torch.zeros((), dtype=dtype), w)
        w = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        res = torch.einsum("pln,lmn->plm", Xc, w).abs().amax(0)
        ok = res < params["stop_tol"]
        hits = torch.where(ok, hits + 1, torch.zeros_like(hits))
        done |= hits >= 2
        epochs = epoch + 1
        if (epoch + 1) % 200 == 0:
            alpha = max(alpha / 2, 5e-4)
        if (epoch + 1) % 3 == 0:
            theta = theta * params["theta_decay"]
        if bool(done.all()):
            break
    res = torch.einsum("pln,lmn->plm", Xc, w).abs().amax(0)
    keep = res < params["keep_tol"]
    out = torch.zeros_like(w)
    n_kept = torch.zeros(L, dtype=torch.long)
    for ell in range(L):
        rows = []
        for i in keep[ell].nonzero().flatten().tolist():
            if all(abs(float(w[ell, i] @ r)) < 0.99 for r in rows):
                rows.append(w[ell, i])
        if rows:
            out[ell, : len(rows)] = torch.stack(rows)
        n_kept[ell] = len(rows)
    m_kept = max(1, int(n_kept.max()))
    stats = dict(epochs=epochs, converged_fraction=float(done.float().mean()), kept_per_cluster=n_kept.tolist(),
                 max_residual_kept=float(res[keep].max()) if bool(keep.any()) else float("nan"))
    return out[:, :m_kept].contiguous(), stats


def degrees(W: torch.Tensor) -> torch.Tensor:
    """``d_j``: number of non-zero weights of each pattern neuron inside its cluster, ``(L, n_max)``."""
    return (W != 0).sum(1)


def w_min(W: torch.Tensor) -> float:
    """Smallest non-zero ``|w|`` (governs how much constraint noise a single error survives)."""
    nz = W.abs()[W != 0]
    return float(nz.min()) if nz.numel() else float("nan")


# ----------------------------------------------------------------------------- corruption


def corrupt(X: torch.Tensor, err_bits: torch.Tensor, generator: torch.Generator, max_amp: int = 3) -> torch.Tensor:
    """Add ``+-1 .. +-(max_amp - 1)`` to ``err_bits[b]`` distinct random neurons of each row ``b`` (drawn
    without replacement, unlike the authors' code)."""
    B, n = X.shape
    err_bits = torch.as_tensor(err_bits).expand(B)
    order = torch.rand(B, n, generator=generator).argsort(1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n).expand(B, n))
    hit = rank < err_bits[:, None]
    amp = torch.randint(1, max_amp, (B, n), generator=generator).double()
    sign = torch.randint(0, 2, (B, n), generator=generator).double() * 2 - 1
    return X + (hit * amp * sign).to(X.dtype)


# ----------------------------------------------------------------------------- recall


@dataclass
class Recall:
    """Result of :func:`recall`: final states ``(B, n)``, rounds used ``(B,)``, whether the last round had
    every cluster satisfied ``(B,)`` (the network's own stopping rule), and intra-cluster iterations ``(B,)``."""

    state: torch.Tensor
    rounds: torch.Tensor
    converged: torch.Tensor
    iterations: torch.Tensor


def _uniform(shape, amp: torch.Tensor, generator: torch.Generator, dtype, device) -> torch.Tensor:
    """``U[-amp, amp]`` with ``amp`` broadcast from the leading (batch) dimension."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64).to(device, dtype)
    return (2 * u - 1) * amp.view(-1, *([1] * (len(shape) - 1)))


def cluster_bit_flip(xs: torch.Tensor, W: torch.Tensor, sgnW: torch.Tensor, deg: torch.Tensor, upsilon: torch.Tensor,
                     nu: torch.Tensor, phi: float, max_iter: int, generator: torch.Generator,
                     accept_tol: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Alg. 1 (noisy bit flipping) on one cluster for a batch of sub-patterns ``xs (b, n_max)``.

    Constraint neurons: ``s = W x + v``, ``v ~ U[-nu, nu]``; ``c = sign(s)``, 0 where ``|s| < psi = nu + 1e-3``.
    Pattern neurons: ``g = (sign(W)^T c) / d + u``, ``u ~ U[-upsilon, upsilon]``; where ``|g| >= phi``,
    ``x <- x - sign(g)``; states clipped to [-10, 100]. A row stops once all its constraint neurons are
    silent. Returns the final ``xs``, ``ok`` (every constraint satisfied, ``max |W x| < accept_tol``,
    checked without internal noise) and the iterations used per row.
    """
    b = xs.shape[0]
    psi = (nu + 1e-3)[:, None]
    running = torch.ones(b, dtype=torch.bool, device=xs.device)
    iters = torch.zeros(b, dtype=torch.long, device=xs.device)
    m = W.shape[0]
    deterministic = (upsilon == 0) & (nu == 0)
    for _ in range(max_iter):
        s = xs @ W.T + _uniform((b, m), nu, generator, xs.dtype, xs.device)
        c = torch.where(s.abs() < psi, torch.zeros((), dtype=xs.dtype, device=xs.device), s.sign())
        running &= (c != 0).any(1)
        if not bool(running.any()):
            break
        iters += running.long()
        g = (c @ sgnW) / deg + _uniform(xs.shape, upsilon, generator, xs.dtype, xs.device)
        flip = (g.abs() >= phi) & running[:, None]
        xs = (xs - flip * g.sign()).clamp(CLIP_LOW, CLIP_HIGH)
        running &= ~(deterministic & ~flip.any(1))  # a noiseless row that flipped nothing is stuck for good
    ok = (xs @ W.T).abs().amax(1) < accept_tol
    return xs, ok, iters


def recall(cue: torch.Tensor, W: torch.Tensor, members: torch.Tensor, upsilon, nu, *, phi: float = 0.95,
           max_iter: int = 80, max_rounds: int = 40, generator: torch.Generator, accept_tol: float = 1e-3,
           oracle: torch.Tensor | None = None, progress: bool = False) -> Recall:
    """Alg. 2 (sequential peeling): rounds visit clusters 1..L in order, run Alg. 1 on the cluster's
    sub-pattern and keep the result only if the cluster succeeded (all its constraints satisfied),
    otherwise revert; a row stops after a round in which every cluster succeeded.

    ``oracle`` (the true patterns ``(B, n)``), when given, replaces "constraints satisfied" by "the
    sub-pattern equals the true one", as in the authors' public code: an ablation only, a network has
    no access to it. On a CPU run it with one thread (``torch.set_num_threads(1)``): the work is many small
    tensor operations, and thread hand-offs cost more than they save. A noiseless row (``upsilon = nu = 0``) whose state did not change over a round is
    stopped early: its later rounds would repeat exactly.
    """
    B, n = cue.shape
    L = members.shape[0]
    dev, dtype = cue.device, cue.dtype
    upsilon = torch.as_tensor(upsilon, dtype=dtype, device=dev).expand(B).clone()
    nu = torch.as_tensor(nu, dtype=dtype, device=dev).expand(B).clone()
    deterministic = (upsilon == 0) & (nu == 0)
    X = torch.cat([cue.clone(), torch.zeros(B, 1, dtype=dtype, device=dev)], dim=1)
    Xo = None if oracle is None else torch.cat([oracle, torch.zeros(B, 1, dtype=dtype, device=dev)], dim=1)
    W = W.to(dev, dtype)
    sgnW = W.sign()
    deg = degrees(W).clamp_min(1).to(dtype)
    members = members.to(dev)
    rounds = torch.zeros(B, dtype=torch.long, device=dev)
    iterations = torch.zeros(B, dtype=torch.long, device=dev)
    active = torch.ones(B, dtype=torch.bool, device=dev)
    converged = torch.zeros(B, dtype=torch.bool, device=dev)
    for _ in tqdm(range(max_rounds), desc="peeling rounds", disable=not progress, leave=False):
        rows = active.nonzero().flatten()
        if len(rows) == 0:
            break
        rounds[rows] += 1
        before = X[rows].clone()
        all_ok = torch.ones(len(rows), dtype=torch.bool, device=dev)
        for ell in range(L):
            idx = members[ell]
            xs = X[rows][:, idx]
            res = (xs @ W[ell].T).abs().amax(1)
            dirty = (res >= accept_tol).nonzero().flatten()
            if len(dirty) == 0:
                continue
            r = rows[dirty]
            new, ok, it = cluster_bit_flip(xs[dirty], W[ell], sgnW[ell], deg[ell], upsilon[r], nu[r], phi, max_iter,
                                           generator, accept_tol)
            iterations[r] += it
            if Xo is not None:
                ok = (new == Xo[r][:, idx]).all(1)
            keep = torch.where(ok[:, None], new, xs[dirty])
            sub = X[r]
            sub[:, idx] = keep
            sub[:, n] = 0.0
            X[r] = sub
            all_ok[dirty] &= ok
        converged[rows] = all_ok
        stuck = deterministic[rows] & (X[rows] == before).all(1)
        active[rows] = ~all_ok & ~stuck
    return Recall(state=X[:, :n], rounds=rounds, converged=converged, iterations=iterations)


# ----------------------------------------------------------------------------- density evolution


def flip_probability(f: torch.Tensor, upsilon: float, phi: float) -> torch.Tensor:
    """P(|f + u| >= phi) for ``u ~ U[-upsilon, upsilon]`` and ``|f| <= 1``: ``clip((upsilon - phi + |f|) /
    (2 upsilon), 0, 1)``; without noise, 1 if ``|f| >= phi`` else 0."""
    f = f.abs()
    if upsilon == 0:
        return (f >= phi).double()
    return ((upsilon - phi + f) / (2 * upsilon)).clamp(0, 1)


def miss_probability(wmin: float, nu: float) -> float:
    """pi: probability that a constraint misses a single violation, ``max(0, (nu - max(0, w_min - psi)) / (2 nu))``."""
    if nu == 0:
        return 0.0
    psi = nu + 1e-3
    return max(0.0, (nu - max(0.0, wmin - psi)) / (2 * nu))


def cluster_success_probability(W: torch.Tensor, sizes: torch.Tensor, upsilon: float, nu: float, phi: float) -> float:
    """P_c: probability that a cluster removes a single external error, averaged over clusters and over the
    corrupted neuron. One bit-flipping pass with a single error at neuron ``j``: the constraints touching
    ``j`` fire (each missing it with probability ``pi``, entering the corrupted neuron's feedback as a
    binomial thinning); ``j`` is fixed with probability ``P(flip | f_j)`` (``1 - P22``); a clean neuron ``i``
    receives ``f_ij = sum_c sign(W_ci) sign(W_cj) / d_i`` over the constraints it shares with ``j`` and flips
    with probability ``P21 = P(flip | f_ij)`` (all shared constraints taken as reporting: a bound).
    ``P_c = mean_(l, j) (1 - P22) prod_(i != j) (1 - P21)``.
    """
    pi = miss_probability(w_min(W), nu)
    S = W.sign().double()  # (L, m, n_max)
    deg = (S != 0).sum(1).double()  # (L, n_max)
    total, count = 0.0, 0
    for ell in range(W.shape[0]):
        nl = int(sizes[ell])
        s = S[ell, :, :nl]
        d = deg[ell, :nl]
        shared = (s.T @ s) / d.clamp_min(1)[:, None]  # f_ij for clean i (row) and error j (column)
        p21 = flip_probability(shared, upsilon, phi)
        p21.fill_diagonal_(0.0)
        p21[d == 0] = 0.0 if upsilon < phi else p21[d == 0]
        stay_clean = (1 - p21).prod(0)  # per corrupted j
        fixed = torch.zeros(nl, dtype=torch.float64)
        for j in range(nl):
            dj = int(d[j])
            if dj == 0:
                continue
            kk = torch.arange(dj + 1, dtype=torch.float64)
            pk = torch.tensor([math.comb(dj, int(x)) for x in kk], dtype=torch.float64) * (1 - pi) ** kk * pi ** (dj - kk)
            fixed[j] = (pk * flip_probability(kk / dj, upsilon, phi)).sum()
        total += float((fixed * stay_clean).sum())
        count += nl
    return total / count


def density_evolution(eps: np.ndarray, sizes: torch.Tensor, per_neuron: int, p_c: float,
                      iters: int = 200) -> np.ndarray:
    """Final bit-error rate predicted by ``z_(t+1) = eps lambda(1 - P_c rho(1 - z_t))``.

    ``lambda(x) = x^(per_neuron - 1)`` (every pattern neuron joins ``per_neuron`` clusters) and ``rho`` the
    edge-perspective degree distribution of the clusters (``rho_i`` proportional to ``i`` times the number of
    clusters of size ``i``, ``rho(x) = sum rho_i x^(i-1)``). Returns the fixed point's BER,
    ``eps (1 - P_c rho(1 - z))^per_neuron``, per ``eps``.
    """
    sz = sizes.double().numpy()
    vals, counts = np.unique(sz, return_counts=True)
    rho = vals * counts / (vals * counts).sum()

    def rho_f(x):
        return (rho * np.power.outer(x, vals - 1)).sum(-1)

    eps = np.asarray(eps, dtype=float)
    z = eps.copy()
    for _ in range(iters):
        z = eps * (1 - p_c * rho_f(1 - z)) ** (per_neuron - 1)
    return eps * (1 - p_c * rho_f(1 - z)) ** per_neuron
