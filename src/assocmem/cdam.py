"""Correlated Dense Associative Memory (CDAM; Burns, ICML 2024) as pure, batched tensor functions.

Conventions (see ``shared/papers/cdam.md`` (beside the repository)):

- **Memories are rows.** ``Xi`` has shape ``(p, n)``: row ``mu`` is memory ``xi_mu``. The paper
  stores them as the columns of an ``n x p`` matrix; ours is its transpose, matching the rest of
  ``assocmem`` (``dynamics``, ``similarity``). Likewise the hetero-associative targets ``Q`` are the
  rows of a ``(p, n)`` matrix (the paper's ``n x p`` ``Q`` transposed), and states are rows ``(B, n)``.
- **Memory graph.** ``A[mu, nu]`` is the weight of the edge ``mu -> nu``. Undirected graphs and the
  directed cycle use ``M = D^-1/2 A D^-1/2`` (:func:`assocmem.graphs.normalized_adjacency`, ``D`` = row sums);
  the automaton uses the raw ``A``. The graphs themselves are built by :mod:`assocmem.graphs`.
- **Targets.** ``Q[mu] = a * xi_mu + h * sum_nu M[mu, nu] xi_nu`` -- the memory plus its graph
  successors (edges followed forwards; in the paper's column form ``Q = a Xi + h Xi M^T``). ``a`` is
  the auto-association strength, ``h`` the hetero-association strength; anti-Hebbian = ``a < 0``.
- **Update.** ``sigma <- sigma + eta * (softmax(beta * sigma Xi^T) Q - kappa * xi_bar - sigma)``
  with ``xi_bar`` the mean memory. ``kappa`` defaults to 1: the paper's text writes ``1/n`` but all the
  author's released figures were made with 1, and with ``kappa = 1`` the target has mean activity ~0
  exactly when ``a + h * rowsum(M) = 1`` (why sweeps hold ``a + h = 1``).
- **ICLR special case.** The earlier single-weight form is ``a = b``, ``h = 1 - b``, no leak
  (``eta = 1``, the state is replaced) and no mean term (``kappa = 0``): :func:`iclr_step`.
- **Batched settings.** :func:`run` takes ``a``, ``h`` and ``beta`` as 1-d tensors of ``S`` settings
  and runs every (setting, cue) pair as one batch of ``S * C`` states, setting-major; there is no
  Python loop over settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from . import corruption
from . import dynamics
from . import separation as _separation


# ----------------------------------------------------------------------------- model


def hetero_targets(Xi: torch.Tensor, M: torch.Tensor, a, h) -> torch.Tensor:
    """Targets ``Q`` with rows ``a * xi_mu + h * sum_nu M[mu, nu] xi_nu``.

    ``a`` and ``h`` are scalars (result ``(p, n)``) or 1-d tensors of ``S`` settings (result
    ``(S, p, n)``).
    """
    a = torch.as_tensor(a, dtype=Xi.dtype, device=Xi.device)
    h = torch.as_tensor(h, dtype=Xi.dtype, device=Xi.device)
    MXi = M.to(Xi.dtype) @ Xi
    if a.ndim == 0 and h.ndim == 0:
        return a * Xi + h * MXi
    return a.reshape(-1, 1, 1) * Xi + h.reshape(-1, 1, 1) * MXi


def step(sigma: torch.Tensor, Xi: torch.Tensor, Q: torch.Tensor, beta, eta: float = 0.1, kappa: float = 1.0,
         xi_bar: torch.Tensor | None = None) -> torch.Tensor:
    """One CDAM update of states ``sigma`` ``(B, n)``.

    ``Q`` is ``(p, n)`` (shared) or ``(B, p, n)`` (one target set per state); ``beta`` is a scalar or
    ``(B,)``. ``xi_bar`` defaults to the mean memory. The softmax is :func:`dynamics.separation_weights`
    (dot similarity, numerically stable softmax).
    """
    w = dynamics.separation_weights(Xi, sigma, beta)  # (B, p)
    target = w @ Q if Q.ndim == 2 else torch.einsum("bp,bpn->bn", w, Q)
    if xi_bar is None:
        xi_bar = Xi.mean(dim=0)
    return sigma + eta * (target - kappa * xi_bar - sigma)


def iclr_step(sigma: torch.Tensor, Xi: torch.Tensor, M: torch.Tensor, b: float, beta) -> torch.Tensor:
    """The ICLR-2024 form: ``sigma <- softmax(beta * sigma Xi^T) Q`` with ``a = b``, ``h = 1 - b``.

    No leak (``eta = 1``: the state is replaced) and no mean term (``kappa = 0``).
    """
    return step(sigma, Xi, hetero_targets(Xi, M, b, 1.0 - b), beta, eta=1.0, kappa=0.0)


def pearson(states: torch.Tensor, Xi: torch.Tensor) -> torch.Tensor:
    """Pearson correlation across neurons of every state ``(..., n)`` with every memory ``(p, n)``: ``(..., p)``."""
    s = states - states.mean(dim=-1, keepdim=True)
    x = Xi - Xi.mean(dim=-1, keepdim=True)
    s = s / s.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return s @ x.T


def attractor_matrix(final_states: torch.Tensor) -> torch.Tensor:
    """``(..., p, p)`` Pearson correlation between the final states ``(..., p, n)`` reached from each cue."""
    s = final_states - final_states.mean(dim=-1, keepdim=True)
    s = s / s.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return s @ s.transpose(-1, -2)


def noisy_cues(Xi: torch.Tensor, noise: float, generator: torch.Generator, cue_index=None) -> torch.Tensor:
    """``sigma(0) = xi_cue + noise * (U[0,1) - 1/2)`` for every memory (or those in ``cue_index``)."""
    cues = Xi if cue_index is None else Xi[cue_index]
    return corruption.uniform_noise(cues, noise, generator) if noise else cues.clone()


@dataclass
class Run:
    """Result of :func:`run`.

    ``state``: final states ``(S, C, n)`` (setting-major), or None when ``keep_state=False``;
    ``final_correlations``: ``(S, C, p)`` Pearson correlation of the final state with every memory;
    ``correlations``: ``(T + 1, S, C, p)`` the same after each step (index 0 = the cue), when requested;
    ``mean_activity``: ``(T + 1, S, C)`` mean over neurons of the state, when requested;
    ``winners``: ``(T + 1, S, C)`` the memory most correlated with the state after each step, when requested.
    """

    state: torch.Tensor | None
    final_correlations: torch.Tensor
    correlations: torch.Tensor | None = None
    mean_activity: torch.Tensor | None = None
    winners: torch.Tensor | None = None


# A between-step push: ``perturb(t, corr)`` sees the correlations ``(S * C, p)`` after step ``t`` and returns None or
# ``(targets, gain)``: every state moves to ``(1 - gain) sigma + gain xi_target`` (``targets``: ``(S * C,)``).
Perturb = Callable[[int, torch.Tensor], "tuple[torch.Tensor, float] | None"]


def run(Xi: torch.Tensor, M: torch.Tensor, cues: torch.Tensor, a, h, beta, *, eta=0.1,
        kappa: float = 1.0, steps: int = 100, record: bool = False, keep_state: bool = True,
        method: str = "auto", record_winners: bool = False, perturb: Perturb | None = None) -> Run:
    """Iterate :func:`step` ``steps`` times from ``cues`` ``(C, n)`` for every setting ``(a[s], h[s], beta[s])``.

    ``a``, ``h``, ``beta`` and ``eta`` are scalars or 1-d of a common length ``S`` (scalars broadcast). The
    ``S * C`` states form one batch; targets are not materialised per setting. ``perturb`` (see :data:`Perturb`)
    is asked after every step whether to push the states toward memories (a distractor), before that step's
    correlations are recorded; ``record_winners`` keeps only the most correlated memory per step (cheap where the
    full ``correlations`` would not fit).

    ``method`` picks one of two exact forms of the same dynamics (equal up to rounding; tested):

    - ``"state"`` iterates the states ``(S * C, n)``: ``softmax(.) Q = a * (w Xi) + h * (w M Xi)``, which
      equals :func:`step` with :func:`hetero_targets`; a step costs ``O(p n)`` per state.
    - ``"coefficients"`` uses that every update adds a combination of memories to the decaying cue, so
      ``sigma(t) = c(t) sigma(0) + z(t) Xi`` with ``c(t) = (1 - eta)^t`` and coefficients ``z`` ``(S * C, p)``:
      ``z <- (1 - eta) z + eta (a w + h w M - kappa / p)`` with ``w = softmax(beta u)`` and overlaps
      ``u = Xi sigma = c(t) Xi sigma(0) + z Xi Xi^T`` (a push scales ``c`` and ``z`` by ``1 - gain`` and adds
      ``gain`` to the target's coefficient). A step costs ``O(p^2)`` per state, and correlations come from ``u``,
      the state's mean and its norm, all ``O(p^2)``.
    - ``"auto"`` (default) takes the coefficient form when ``p < n``.

    Where the dynamics are chaotic (strongly anti-Hebbian settings at large ``beta n``) the two forms, like
    float32 and float64, part ways after a few dozen steps; both are faithful to the update rule.
    """
    dt, dev = Xi.dtype, Xi.device
    per_setting_eta = not isinstance(eta, (int, float))
    a, h, beta = (torch.as_tensor(v, dtype=dt, device=dev).reshape(-1) for v in (a, h, beta))
    eta_t = torch.as_tensor(eta, dtype=dt, device=dev).reshape(-1)
    S = max(a.numel(), h.numel(), beta.numel(), eta_t.numel())
    a, h, beta, eta_t = (v.expand(S) if v.numel() == 1 else v for v in (a, h, beta, eta_t))
    if not (a.numel() == h.numel() == beta.numel() == eta_t.numel() == S):
        raise ValueError("a, h, beta and eta must be scalars or 1-d of the same length")
    if method not in ("auto", "state", "coefficients"):
        raise ValueError(f"method must be 'auto', 'state' or 'coefficients', not {method!r}")
    C, n = cues.shape
    p = Xi.shape[0]
    if method == "auto":
        method = "coefficients" if p < n else "state"
    M = M.to(dt).to(dev)
    cues = cues.to(dt).to(dev)
    a_rows, h_rows = a.repeat_interleave(C)[:, None], h.repeat_interleave(C)[:, None]
    beta_rows = beta.repeat_interleave(C)
    # a scalar eta stays a Python number (its powers (1 - eta)^t are then exact in double, as before per-setting eta)
    eta_rows = eta_t.repeat_interleave(C)[:, None] if per_setting_eta else float(eta)
    run_form = _run_coefficients if method == "coefficients" else _run_state
    state, final, corr, mean, win = run_form(Xi, M, cues, S, a_rows, h_rows, beta_rows, eta_rows, kappa, steps,
                                             record, keep_state, record_winners, perturb)
    return Run(
        state=state.view(S, C, n) if state is not None else None,
        final_correlations=final.view(S, C, p),
        correlations=torch.stack(corr).view(steps + 1, S, C, p) if record else None,
        mean_activity=torch.stack(mean).view(steps + 1, S, C) if record else None,
        winners=torch.stack(win).view(steps + 1, S, C) if record_winners else None,
    )


def _run_state(Xi, M, cues, S, a_rows, h_rows, beta_rows, eta, kappa, steps, record, keep_state, record_winners,
               perturb):
    """The state-space form of :func:`run`: iterate ``sigma`` ``(S * C, n)``."""
    MXi = M @ Xi
    xi_bar = Xi.mean(dim=0)
    sigma = cues.repeat(S, 1)  # rows [s*C:(s+1)*C] use setting s
    track = record or record_winners or perturb is not None
    r = pearson(sigma, Xi) if track else None
    corr = [r] if record else None
    mean = [sigma.mean(-1)] if record else None
    win = [r.argmax(-1)] if record_winners else None
    for t in range(1, steps + 1):
        w = dynamics.separation_weights(Xi, sigma, beta_rows)
        target = a_rows * (w @ Xi) + h_rows * (w @ MXi)
        sigma = sigma + eta * (target - kappa * xi_bar - sigma)
        if track:
            r = pearson(sigma, Xi)
        push = perturb(t, r) if perturb is not None else None
        if push is not None:
            d, gain = push
            sigma = (1 - gain) * sigma + gain * Xi[d]
            r = pearson(sigma, Xi)
        if record:
            corr.append(r)
            mean.append(sigma.mean(-1))
        if record_winners:
            win.append(r.argmax(-1))
    final = r if track else pearson(sigma, Xi)
    return (sigma if keep_state else None), final, corr, mean, win


def _run_coefficients(Xi, M, cues, S, a_rows, h_rows, beta_rows, eta, kappa, steps, record, keep_state,
                      record_winners, perturb):
    """The coefficient form of :func:`run`: iterate the memory coefficients ``z`` ``(S * C, p)`` of the state
    ``c cue + z Xi`` (``c = (1 - eta)^t``, a number or one per state ``(S * C, 1)``)."""
    p, n = Xi.shape
    G = Xi @ Xi.T  # (p, p) memory overlaps
    xi_mean = Xi.mean(dim=-1)  # (p,)
    xi_norm = ((Xi - xi_mean[:, None]) ** 2).sum(-1).sqrt().clamp_min(1e-12)  # (p,) centred norms
    u0 = (cues @ Xi.T).repeat(S, 1)  # (S * C, p) overlaps of the cues
    cue_mean = cues.mean(-1).repeat(S)
    cue_sq = (cues * cues).sum(-1).repeat(S)
    rows = torch.arange(u0.shape[0], device=u0.device)

    def pearson_and_mean(u, z, zG, c):
        """Pearson correlation with every memory and mean over neurons of the states ``c cue + z Xi``."""
        c = c[:, 0] if isinstance(c, torch.Tensor) else c
        s_mean = c * cue_mean + z @ xi_mean
        s_sq = c * c * cue_sq + 2 * c * (z * u0).sum(-1) + (z * zG).sum(-1)  # |sigma|^2
        s_norm = (s_sq - n * s_mean * s_mean).clamp_min(0).sqrt().clamp_min(1e-12)  # centred norm
        return (u - n * s_mean[:, None] * xi_mean) / (s_norm[:, None] * xi_norm), s_mean

    z, c = torch.zeros_like(u0), 1.0
    u = u0
    track = record or record_winners or perturb is not None
    corr, mean, win = [], [], []
    if track:
        r, s_mean = pearson_and_mean(u, z, torch.zeros_like(z), c)
        corr.append(r)
        mean.append(s_mean)
        win.append(r.argmax(-1))
    for t in range(1, steps + 1):
        w = _separation.get("softmax")(beta_rows[:, None] * u)
        z = (1 - eta) * z + eta * (a_rows * w + h_rows * (w @ M) - kappa / p)
        c = c * (1 - eta)
        zG = z @ G
        u = c * u0 + zG
        if track or t == steps:
            r, s_mean = pearson_and_mean(u, z, zG, c)
        push = perturb(t, r) if perturb is not None else None
        if push is not None:
            d, gain = push
            z, c = (1 - gain) * z, (1 - gain) * c
            z[rows, d] += gain
            zG = z @ G
            u = c * u0 + zG
            r, s_mean = pearson_and_mean(u, z, zG, c)
        if record:
            corr.append(r)
            mean.append(s_mean)
        if record_winners:
            win.append(r.argmax(-1))
    if steps == 0 and not track:
        r, _ = pearson_and_mean(u, z, torch.zeros_like(z), c)
    state = c * cues.repeat(S, 1) + z @ Xi if keep_state else None
    return state, r, corr, mean, win


def recall_range(corr_by_distance, level: float) -> int:
    """The range of recall: the largest graph distance ``d >= 1`` such that the mean attractor correlation is at
    least ``level`` at every distance ``1..d`` (0 if none). ``corr_by_distance[d]`` is the mean correlation at
    distance ``d``; entry 0 (the cue's own memory) is not looked at."""
    r = 0
    for c in list(corr_by_distance)[1:]:
        if not c >= level:
            break
        r += 1
    return r


def correlation_by_distance(attractors: torch.Tensor, dist: torch.Tensor, max_distance: int):
    """Mean, sd and count of off-diagonal attractor correlations at each graph distance ``0..max_distance``.

    ``attractors`` is ``(..., p, p)``; returns three tensors ``(..., max_distance + 1)``. Distance 0 is
    the diagonal (always 1). Distances with no pair give NaN.
    """
    means, sds, counts = [], [], []
    for d in range(max_distance + 1):
        mask = dist == d
        vals = attractors[..., mask]
        counts.append(int(mask.sum()))
        means.append(vals.mean(-1) if vals.shape[-1] else torch.full(vals.shape[:-1], float("nan")))
        sds.append(vals.std(-1, unbiased=False) if vals.shape[-1] else torch.full(vals.shape[:-1], float("nan")))
    return torch.stack(means, -1), torch.stack(sds, -1), torch.tensor(counts)


# ----------------------------------------------------------------------------- theory: the four modes

# Mode codes of :func:`theory_modes` and :func:`classify_modes`.
MODES = ("auto", "narrow", "wide", "quiescent")
AUTO, NARROW, WIDE, QUIESCENT = range(4)


def _settings(a, h, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    a, h = (torch.as_tensor(v, dtype=dtype).reshape(-1) for v in (a, h))
    S = max(a.numel(), h.numel())
    a, h = (v.expand(S) if v.numel() == 1 else v for v in (a, h))
    if a.numel() != h.numel():
        raise ValueError("a and h must be scalars or 1-d of the same length")
    return a, h


def coupling_top_eigenvalue(M: torch.Tensor, a, h) -> torch.Tensor:
    """Largest eigenvalue of ``K = a I + h M`` for every setting: ``a + max(h lambda_max(M), h lambda_min(M))``.

    ``M`` must be symmetric (undirected graph); returns ``(S,)``.
    """
    M = M.to(torch.float64).cpu()
    if not torch.allclose(M, M.T):
        raise ValueError("the four-mode theory is derived for symmetric M (undirected graphs)")
    lam = torch.linalg.eigvalsh(M)
    a, h = _settings(a, h)
    return a + torch.maximum(h * lam[-1], h * lam[0])


def theory_modes(M: torch.Tensor, a, h) -> torch.Tensor:
    """The four modes (*derived*, large n and argmax limit) for every setting and cue: ``(S, p)`` codes of :data:`MODES`.

    In the large-n limit the state is ``sigma = sum_nu c_nu xi_nu`` and the softmax sees only ``c``
    (see :func:`overlap_dynamics`); in the argmax limit a fixed point mixes memories ``w`` (a probability
    vector) with equal coefficients ``c = K w = lambda`` on its support, so ``lambda = w^T K w``. Cued at
    ``mu`` (target ``a e_mu + h M[mu]``):

    - auto-association: ``a + h M[mu, mu] > max(0, max_{nu != mu} h M[mu, nu])`` -- the cue stays the argmax;
    - quiescence: otherwise, if ``a <= 0`` and ``lambda_max(K) <= 0`` -- every fixed point has
      ``lambda = w^T K w <= 0``: no memory keeps a positive overlap;
    - narrow hetero-association: otherwise, if ``a > 0`` -- the mixture of the cue and its strongest
      successor is a fixed point (its other neighbours get less than the mixture's own coefficient);
    - wide hetero-association: otherwise (``a <= 0 < lambda_max(K)``) -- any small support is left for
      its neighbours, and the state spreads over many graph steps.
    """
    a, h = _settings(a, h)
    M64 = M.to(torch.float64).cpu()
    p = M64.shape[0]
    hM = h[:, None, None] * M64  # (S, p, p)
    off = hM.masked_fill(torch.eye(p, dtype=torch.bool), float("-inf")).amax(-1) if p > 1 else torch.zeros(len(a), p)
    self_ = a[:, None] + torch.diagonal(hM, dim1=-2, dim2=-1)
    lam = coupling_top_eigenvalue(M64, a, h)[:, None].expand(-1, p)
    a_ = a[:, None].expand(-1, p)
    modes = torch.full((len(a), p), WIDE, dtype=torch.long)
    modes[a_ > 0] = NARROW
    modes[(a_ <= 0) & (lam <= 0)] = QUIESCENT
    modes[self_ > off.clamp_min(0.0)] = AUTO
    return modes


def overlap_dynamics(M: torch.Tensor, c0: torch.Tensor, a, h, *, beta_eff=None, eta: float = 0.1,
                     kappa: float = 1.0, steps: int = 100) -> torch.Tensor:
    """Large-n CDAM dynamics of the coefficients ``c`` of ``sigma = sum_nu c_nu xi_nu`` (*derived*).

    For i.i.d. patterns with variance ``v`` per unit, ``xi_mu . sigma = n (mean(xi)^2 sum(c) + v c_mu) +
    O(sqrt n)``; the first term is common to all memories, so the softmax sees ``beta n v c``. The update
    becomes ``c <- c + eta * (K^T w - kappa / p - c)`` with ``K = a I + h M``, ``w = softmax(beta_eff * c)``
    and ``beta_eff = beta * n * v``; ``beta_eff=None`` is the argmax limit (ties shared equally). The
    Pearson correlation of the state with memory ``mu`` is ``c_mu / ||c||`` (:func:`overlap_correlations`).

    ``c0`` is ``(C, p)`` (the cue ``xi_mu`` is ``e_mu``; uniform cue noise has no overlap in the limit);
    ``a``, ``h`` (and ``beta_eff``) scalars or ``(S,)``. Returns the final coefficients ``(S, C, p)``.
    """
    a, h = _settings(a, h, c0.dtype)
    S, (C, p) = len(a), c0.shape
    Mt = M.to(c0.dtype)
    if beta_eff is not None:
        b = torch.as_tensor(beta_eff, dtype=c0.dtype).reshape(-1)
        b = (b.expand(S) if b.numel() == 1 else b)[:, None, None]
    c = c0[None].expand(S, C, p).clone()
    for _ in range(steps):
        if beta_eff is None:
            top = c.amax(-1, keepdim=True)
            w = (c >= top - 1e-12 * top.abs().clamp_min(1.0)).to(c.dtype)
            w = w / w.sum(-1, keepdim=True)
        else:
            w = torch.softmax(b * c, dim=-1)
        target = a[:, None, None] * w + h[:, None, None] * (w @ Mt)  # row form of K^T w
        c = c + eta * (target - kappa / p - c)
    return c


def overlap_correlations(c: torch.Tensor) -> torch.Tensor:
    """Large-n Pearson correlation ``c_mu / ||c||`` of the state with every memory (centred i.i.d. patterns)."""
    return c / c.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def classify_modes(corr: torch.Tensor, dist: torch.Tensor, *, threshold: float = 0.2,
                   margin: float = 0.1) -> torch.Tensor:
    """Mode of every run from the final correlations ``corr`` ``(..., C, p)`` of its state with the memories.

    Run ``c`` was cued with memory ``c``; ``dist`` is the ``(p, p)`` graph distance. The *recalled set* is
    the memories whose correlation is within ``margin`` of the largest (in the argmax limit, the support of
    the fixed-point mixture, whose coefficients are equal). Rules, in order: **quiescent** if no memory
    correlates above ``threshold``; **auto** if the recalled set is the cue alone; **narrow** if it holds
    the cue and lies within the cue's closed neighbourhood (graph distance <= 1); **wide** otherwise (it
    reaches >= 2 steps, or the cue has dropped out of it: the self-inhibition of ``a < 0``). Returns
    codes of :data:`MODES` ``(..., C)``.
    """
    C = corr.shape[-2]
    idx = torch.arange(C, device=corr.device)
    cue = corr[..., idx, idx]
    others = corr.clone()
    others[..., idx, idx] = float("-inf")
    d = dist[:C].to(corr.device)  # (C, p)
    recalled = corr >= corr.amax(-1, keepdim=True) - margin
    far = (d > 1) | (d < 0)
    modes = torch.full(corr.shape[:-1], WIDE, dtype=torch.long, device=corr.device)
    modes[~(recalled & far).any(-1) & recalled[..., idx, idx]] = NARROW
    modes[cue - others.amax(-1) >= margin] = AUTO
    modes[corr.amax(-1) <= threshold] = QUIESCENT
    return modes.cpu()


def overlap_energy(q: torch.Tensor, M: torch.Tensor, a: float, h: float, beta_eff: float) -> torch.Tensor:
    """Energy of the large-n overlap dynamics (*derived*; spec "Energy"), for one setting ``(a, h)``.

    ``E(q) = 1/2 q^T K^-1 q - (1/B) log sum_mu exp(B q_mu)`` with ``K = a I + h M`` and ``B = beta_eff``.
    ``q`` holds the overlaps ``(..., p)``; with the coefficients ``c`` of :func:`overlap_dynamics`,
    ``q = c + kappa / p`` (the softmax ignores the common shift). Stationary points satisfy
    ``q = K softmax(B q)``, the fixed points of the dynamics, and along the continuous-time dynamics
    ``dE/dt = -(q - K w)^T K^-1 (q - K w) <= 0``. This needs ``M`` symmetric and ``K`` positive definite
    (``a > |h|`` for a normalized ``M``); with anti-Hebbian ``a < 0`` no such energy exists, and a
    ``ValueError`` says so.
    """
    Md = M.to(q.dtype)
    if not torch.allclose(Md, Md.T):
        raise ValueError("the overlap energy needs a symmetric memory graph M")
    K = a * torch.eye(Md.shape[0], dtype=q.dtype, device=q.device) + h * Md
    if torch.linalg.eigvalsh(K).min() <= 0:
        raise ValueError(f"K = a I + h M is not positive definite for (a, h) = ({a:g}, {h:g}): no energy exists")
    quad = 0.5 * (q * torch.linalg.solve(K, q.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return quad - torch.logsumexp(beta_eff * q, dim=-1) / beta_eff
