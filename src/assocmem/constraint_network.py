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


def _learn_rows(Xc: torch.Tensor, w: torch.Tensor, eligible: torch.Tensor, params: dict, generator: torch.Generator,
                done: torch.Tensor | None = None, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The paper's rule on a stack of constraint vectors ``w (L, m, n_max)``, each on its own ``eligible`` slots.

    Per step, for a random pattern ``x`` (one per cluster): ``y = x^T w``;
    ``w <- w - alpha_t y (x - y w / |w|^2) - beta0 Gamma(w, theta_t)``, ``alpha_t = alpha' / |x|^2``, where
    ``Gamma`` keeps the entries with ``|w_i| < theta_t``; entries below 1e-3 are zeroed every step. After each
    epoch the entries below ``prune`` are zeroed and ``w`` is renormalised to unit norm (a project choice: the
    rule alone can shrink ``w`` to the trivial ``w = 0``); ``alpha'`` halves every 200 epochs (floor 5e-4),
    ``theta`` shrinks by ``theta_decay`` every 3 epochs. A row stops when ``max |x^T w| < stop_tol`` over the
    training set at two epoch ends in a row; rows already ``done`` are left alone. An epoch is as many
    steps as there are training patterns, drawn with replacement. Returns ``w``, the final residuals ``max_x |x^T w|``
    ``(L, m)`` and the epochs run.
    """
    P = Xc.shape[0]
    zero = torch.zeros((), dtype=Xc.dtype)
    inv_norm2 = 1.0 / Xc.pow(2).sum(-1).clamp_min(1e-12)  # (P, L)
    alpha, theta, beta0 = params["alpha0"], params["theta0"], params["beta0"]
    hits = torch.zeros(w.shape[:2], dtype=torch.long)
    done = torch.zeros(w.shape[:2], dtype=torch.bool) if done is None else done.clone()
    epochs = 0
    for epoch in tqdm(range(params["epochs"]), desc="learn constraints (epochs)", disable=not progress, leave=False):
        update = eligible & (~done)[..., None]
        for i in torch.randint(0, P, (P,), generator=generator).tolist():
            x = Xc[i][:, None, :]  # (L, 1, n)
            y = (x * w).sum(-1, keepdim=True)  # (L, m, 1)
            a = (alpha * inv_norm2[i])[:, None, None]
            new = w - a * y * (x - y / (w * w).sum(-1, keepdim=True).clamp_min(1e-12) * w)
            new = new - beta0 * w * (w.abs() < theta)
            new.masked_fill_(new.abs() < 1e-3, 0.0)
            w = torch.where(update, new, w)
        w = torch.where(update & (w.abs() < params["prune"]), zero, w)
        w = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        res = torch.einsum("pln,lmn->plm", Xc, w).abs().amax(0)
        hits = torch.where(res < params["stop_tol"], hits + 1, torch.zeros_like(hits))
        done |= hits >= 2
        epochs = epoch + 1
        if (epoch + 1) % 200 == 0:
            alpha = max(alpha / 2, 5e-4)
        if (epoch + 1) % 3 == 0:
            theta = theta * params["theta_decay"]
        if bool(done.all()):
            break
    return w, torch.einsum("pln,lmn->plm", Xc, w).abs().amax(0), epochs


def _random_positive(eligible: torch.Tensor, generator: torch.Generator, dtype) -> torch.Tensor:
    """Random positive unit-norm vectors on the ``eligible`` slots (the paper's initialisation)."""
    w = torch.rand(eligible.shape, generator=generator, dtype=dtype) * eligible
    return w / w.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def learn_constraints(Xc: torch.Tensor, valid: torch.Tensor, m: torch.Tensor | int, params: dict,
                      generator: torch.Generator, progress: bool = False) -> tuple[torch.Tensor, dict]:
    """Constraints learned with the paper's iterative rule (:func:`_learn_rows`), one at a time per cluster.

    ``Xc``: training sub-patterns ``(P, L, n_max)``; ``valid``: ``(L, n_max)`` real (non-padded) slots;
    ``m``: constraints to learn per cluster (a number, or one per cluster). The ``L`` clusters are
    independent and learn side by side; within a cluster constraint ``i`` starts from a random positive
    unit vector after constraints ``1 .. i-1`` are settled. Degree spreading (the paper's ``d_max``): a
    neuron already connected to ``d_max`` or more kept constraints of its cluster is left out of the next
    one with probability ``exclude_prob`` (the probability is a project choice; the paper says "randomly").
    Without spreading (``exclude_prob = 0``) the constraints of a cluster never interact, so they are
    learned side by side as one batch, which is the same rule and much faster. A learned vector is kept
    when ``max |x^T w| < keep_tol`` on the training set and it is not a near-duplicate (``|cos| >= 0.99``)
    of a kept one.

    Returns ``W (L, m', n_max)`` (kept rows first, zero rows after) and statistics: epochs, the share of
    the attempted constraints kept, kept per cluster, the largest kept residual.
    """
    P, L, n_max = Xc.shape
    dtype = Xc.dtype
    m = torch.as_tensor(m).expand(L).long()
    m_max = int(m.max())
    d_max, p_ex = params["d_max"], params["exclude_prob"]
    kept = [[] for _ in range(L)]
    degree = torch.zeros(L, n_max, dtype=torch.long)
    epochs = []

    def keep(ell: int, w: torch.Tensor, r: float) -> bool:
        if r < params["keep_tol"] and all(abs(float(w @ k)) < 0.99 for k in kept[ell]):
            kept[ell].append(w)
            return True
        return False

    if p_ex == 0:
        eligible = valid[:, None, :].expand(L, m_max, n_max)
        attempted = torch.arange(m_max)[None, :] < m[:, None]
        w, res, ep = _learn_rows(Xc, _random_positive(eligible, generator, dtype), eligible, params, generator,
                                 done=~attempted, progress=progress)
        for ell in range(L):
            for i in attempted[ell].nonzero().flatten().tolist():
                keep(ell, w[ell, i], float(res[ell, i]))
        epochs.append(ep)
    else:
        for i in tqdm(range(m_max), desc="learn constraints", disable=not progress, leave=False):
            crowded = (degree >= d_max) & (torch.rand(L, n_max, generator=generator) < p_ex)
            eligible = (valid & ~crowded)[:, None, :]
            w, res, ep = _learn_rows(Xc, _random_positive(eligible, generator, dtype), eligible, params, generator,
                                     done=(i >= m)[:, None])
            epochs.append(ep)
            for ell in range(L):
                if i < int(m[ell]) and keep(ell, w[ell, 0], float(res[ell, 0])):
                    degree[ell] += (w[ell, 0] != 0).long()
    n_kept = torch.tensor([len(k) for k in kept])
    out = torch.zeros(L, max(1, int(n_kept.max())), n_max, dtype=dtype)
    for ell in range(L):
        if kept[ell]:
            out[ell, : len(kept[ell])] = torch.stack(kept[ell])
    res_kept = torch.einsum("pln,lmn->plm", Xc, out).abs().amax(0)[out.abs().sum(-1) > 0]
    stats = dict(learn_epochs=int(sum(epochs)), kept_fraction=float(n_kept.sum() / m.sum()),
                 kept_per_cluster=n_kept.tolist(),
                 max_residual_kept=float(res_kept.max()) if res_kept.numel() else float("nan"))
    return out, stats


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
