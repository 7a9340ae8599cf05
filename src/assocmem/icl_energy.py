"""In-context learning of energy functions (Schaeffer, Khona & Koyejo 2024; the second half of Schaeffer et al. 2024,
*Bridging Associative Memory and Probabilistic Modeling*).

A small causal (GPT-2 style) transformer reads a sequence of 2-D points ``x_0, ..., x_{T-1}`` and outputs at
position ``t`` a scalar energy ``E(x_t | x_<t)``: an energy landscape conditioned on the points seen so far, with no
weight update. The energy of an arbitrary point ``y`` under a context is read by appending ``y`` at the position
after the context. Here any number of such *query* points are evaluated in one pass: a query at position ``p``
attends to the context tokens at positions ``< p`` and to itself (never to other queries), which is exactly the
same computation as appending it alone, for every query at once (cost ``O(Q T)``, not ``O((Q + T)^2)``).

Pieces:

- :func:`sample_gmm` / :func:`sample_points` / :func:`gmm_log_prob`: random 2-D Gaussian mixtures (1..K components,
  means uniform in a square, rotated anisotropic covariances, Dirichlet(1) weights), their samples and exact
  log-densities;
- :class:`EnergyTransformer`: the model (pre-LayerNorm blocks, learned positional embeddings, GELU MLPs, N(0, 0.02)
  initialisation drawn from a seeded generator), with :meth:`EnergyTransformer.context` (the causal pass over the
  context, returning its energies and every layer's keys and values) and :meth:`EnergyTransformer.query_energy`;
- :func:`langevin_negatives`: short-run Langevin MCMC on ``E(. | x_<t)`` from uniform noise on the box
  ``mean +- box * std`` of each sequence; each step adds Gaussian noise of scale ``s`` and then moves by ``s / 2``
  times the gradient, whose norm is clipped per point; the result is detached;
- :func:`contrastive_loss`: ``mean E(real) - mean E(neg) + alpha (mean E(real)^2 + mean E(neg)^2)`` (the regulariser
  is the mean of the squared energies);
- :func:`train`: the seeded training loop (fresh mixtures every step, progress bar);
- :func:`box_grid`: the evaluation grid over a context's box (rank correlations: :func:`assocmem.stats.spearman`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

# ----------------------------------------------------------------------------- Gaussian-mixture contexts


@dataclass
class GMM:
    """A batch of 2-D Gaussian mixtures with up to ``K`` components: ``means`` ``(B, K, 2)``, ``chol`` ``(B, K, 2, 2)``
    (lower Cholesky factors of the covariances), ``log_weights`` ``(B, K)`` (``-inf`` for absent components) and
    ``n_components`` ``(B,)``."""

    means: torch.Tensor
    chol: torch.Tensor
    log_weights: torch.Tensor
    n_components: torch.Tensor

    def to(self, device=None, dtype=None) -> "GMM":
        return GMM(self.means.to(device, dtype), self.chol.to(device, dtype), self.log_weights.to(device, dtype),
                   self.n_components.to(device))

    def index(self, idx) -> "GMM":
        return GMM(self.means[idx], self.chol[idx], self.log_weights[idx], self.n_components[idx])


def sample_gmm(batch: int, components: tuple[int, int], mean_range: float, std_range: tuple[float, float],
               generator: torch.Generator, dtype=torch.float64) -> GMM:
    """``batch`` random mixtures: ``K`` uniform in ``components = (k_min, k_max)``; means uniform in
    ``[-mean_range, mean_range]^2``; each covariance ``R diag(s1^2, s2^2) R^T`` with ``s1, s2`` uniform in
    ``std_range`` and a uniform rotation ``R``; weights Dirichlet(1) over the present components. Drawn on the CPU."""
    k_min, k_max = components
    k = torch.randint(k_min, k_max + 1, (batch,), generator=generator)
    means = (2 * torch.rand(batch, k_max, 2, generator=generator, dtype=dtype) - 1) * mean_range
    lo, hi = std_range
    s = lo + (hi - lo) * torch.rand(batch, k_max, 2, generator=generator, dtype=dtype)
    ang = 2 * math.pi * torch.rand(batch, k_max, generator=generator, dtype=dtype)
    c, si = torch.cos(ang), torch.sin(ang)
    R = torch.stack([torch.stack([c, -si], -1), torch.stack([si, c], -1)], -2)  # (B, K, 2, 2)
    cov = R @ torch.diag_embed(s**2) @ R.mT
    chol = torch.linalg.cholesky(cov)
    e = -torch.log(torch.rand(batch, k_max, generator=generator, dtype=dtype))  # Exp(1): normalised -> Dirichlet(1)
    present = torch.arange(k_max)[None, :] < k[:, None]
    e = torch.where(present, e, torch.zeros((), dtype=dtype))
    log_w = torch.where(present, torch.log(e / e.sum(-1, keepdim=True)), torch.full((), -math.inf, dtype=dtype))
    return GMM(means, chol, log_w, k)


def sample_points(gmm: GMM, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` i.i.d. points from each mixture: ``(B, n, 2)`` (CPU)."""
    B, K = gmm.log_weights.shape
    comp = torch.multinomial(gmm.log_weights.exp(), n, replacement=True, generator=generator)  # (B, n)
    z = torch.randn(B, n, 2, generator=generator, dtype=gmm.means.dtype)
    mu = torch.gather(gmm.means, 1, comp[..., None].expand(B, n, 2))
    L = torch.gather(gmm.chol, 1, comp[..., None, None].expand(B, n, 2, 2))
    return mu + (L @ z[..., None])[..., 0]


def gmm_log_prob(x: torch.Tensor, gmm: GMM) -> torch.Tensor:
    """``log p(x)`` of points ``x`` ``(B, P, 2)`` under mixture ``b`` of the batch: ``(B, P)``."""
    diff = x[:, :, None, :] - gmm.means[:, None]  # (B, P, K, 2)
    L = gmm.chol[:, None].expand(*diff.shape[:3], 2, 2)
    z = torch.linalg.solve_triangular(L, diff[..., None], upper=False)[..., 0]
    log_det = torch.log(torch.diagonal(gmm.chol, dim1=-2, dim2=-1)).sum(-1)  # (B, K) = 1/2 log det cov
    comp = -0.5 * (z**2).sum(-1) - log_det[:, None] - math.log(2 * math.pi)
    return torch.logsumexp(comp + gmm.log_weights[:, None], dim=-1)


def context_box(points: torch.Tensor, box: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sequence, the box ``mean +- box * std`` of its points ``(B, n, 2)`` (per coordinate): ``(lo, hi)``,
    each ``(B, 2)``."""
    m, s = points.mean(1), points.std(1)
    return m - box * s, m + box * s


def box_grid(points: torch.Tensor, box: float, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A regular ``n x n`` grid over each sequence's :func:`context_box`: ``(B, n * n, 2)`` (row-major in y, then x)
    and the axes ``xs``, ``ys`` ``(B, n)``."""
    lo, hi = context_box(points, box)
    t = torch.linspace(0, 1, n, dtype=points.dtype, device=points.device)
    xs = lo[:, :1] + (hi - lo)[:, :1] * t
    ys = lo[:, 1:] + (hi - lo)[:, 1:] * t
    gx = xs[:, None, :].expand(-1, n, n)
    gy = ys[:, :, None].expand(-1, n, n)
    return torch.stack([gx, gy], -1).reshape(points.shape[0], n * n, 2), xs, ys


# ----------------------------------------------------------------------------- the transformer


def _normal(shape, std: float, generator: torch.Generator) -> torch.Tensor:
    return std * torch.randn(shape, generator=generator, dtype=torch.float64)


class EnergyTransformer(nn.Module):
    """Causal transformer ``x_{0..T-1} -> E(x_t | x_<t)`` for points in ``dim`` dimensions.

    Token ``t`` = ``W_in x_t + b_in + pos[t]``; ``layers`` pre-LayerNorm blocks (multi-head self-attention with
    ``heads`` heads, then a GELU MLP of ``4 width``); a final LayerNorm and a linear read-out to one number.
    Weights ``N(0, 0.02^2)``, the residual projections ``N(0, (0.02 / sqrt(2 layers))^2)`` (GPT-2), biases 0, LayerNorm
    gains 1; all drawn from ``generator``.
    """

    def __init__(self, generator: torch.Generator, *, max_len: int, width: int = 64, layers: int = 2, heads: int = 4,
                 dim: int = 2):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.max_len, self.width, self.n_layers, self.heads, self.dim = max_len, width, layers, heads, dim
        std, res_std = 0.02, 0.02 / math.sqrt(2 * layers)
        P = nn.Parameter
        self.w_in = P(_normal((dim, width), std, generator).float())
        self.b_in = P(torch.zeros(width))
        self.pos = P(_normal((max_len, width), std, generator).float())
        self.ln1 = nn.ParameterList([P(torch.ones(2, width)) for _ in range(layers)])  # gain, bias
        self.ln2 = nn.ParameterList([P(torch.ones(2, width)) for _ in range(layers)])
        with torch.no_grad():
            for p in (*self.ln1, *self.ln2):
                p[1].zero_()
        self.w_qkv = nn.ParameterList([P(_normal((width, 3 * width), std, generator).float()) for _ in range(layers)])
        self.b_qkv = nn.ParameterList([P(torch.zeros(3 * width)) for _ in range(layers)])
        self.w_o = nn.ParameterList([P(_normal((width, width), res_std, generator).float()) for _ in range(layers)])
        self.b_o = nn.ParameterList([P(torch.zeros(width)) for _ in range(layers)])
        self.w_fc = nn.ParameterList([P(_normal((width, 4 * width), std, generator).float()) for _ in range(layers)])
        self.b_fc = nn.ParameterList([P(torch.zeros(4 * width)) for _ in range(layers)])
        self.w_pr = nn.ParameterList([P(_normal((4 * width, width), res_std, generator).float())
                                      for _ in range(layers)])
        self.b_pr = nn.ParameterList([P(torch.zeros(width)) for _ in range(layers)])
        self.ln_f = P(torch.stack([torch.ones(width), torch.zeros(width)]))
        self.w_out = P(_normal((width, 1), std, generator).float())
        self.b_out = P(torch.zeros(1))

    # -- pieces
    def _ln(self, h: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(h, (self.width,), p[0], p[1])

    def _heads(self, h: torch.Tensor) -> torch.Tensor:  # (B, n, width) -> (B, H, n, width / H)
        B, n, _ = h.shape
        return h.reshape(B, n, self.heads, -1).transpose(1, 2)

    def _merge(self, h: torch.Tensor) -> torch.Tensor:  # (B, H, n, dh) -> (B, n, width)
        B, H, n, dh = h.shape
        return h.transpose(1, 2).reshape(B, n, H * dh)

    def _qkv(self, i: int, h: torch.Tensor):
        q, k, v = (self._ln(h, self.ln1[i]) @ self.w_qkv[i] + self.b_qkv[i]).split(self.width, dim=-1)
        return self._heads(q), self._heads(k), self._heads(v)

    def _mlp_residual(self, i: int, h: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        h = h + self._merge(att) @ self.w_o[i] + self.b_o[i]
        return h + F.gelu(self._ln(h, self.ln2[i]) @ self.w_fc[i] + self.b_fc[i]) @ self.w_pr[i] + self.b_pr[i]

    def _read_out(self, h: torch.Tensor) -> torch.Tensor:
        return (self._ln(h, self.ln_f) @ self.w_out + self.b_out)[..., 0]

    # -- the two passes
    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """The causal pass over a context ``x`` ``(B, T, dim)``: the energies ``E(x_t | x_<t)`` ``(B, T)`` and each
        layer's keys and values ``(B, H, T, dh)`` (what :meth:`query_energy` attends to)."""
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(f"context of {T} points is longer than the model's {self.max_len} positions")
        h = x @ self.w_in + self.b_in + self.pos[:T]
        kv = []
        for i in range(self.n_layers):
            q, k, v = self._qkv(i, h)
            kv.append((k, v))
            h = self._mlp_residual(i, h, F.scaled_dot_product_attention(q, k, v, is_causal=True))
        return self._read_out(h), kv

    def query_energy(self, kv: list[tuple[torch.Tensor, torch.Tensor]], y: torch.Tensor,
                     position: torch.Tensor | int) -> torch.Tensor:
        """Energies ``E(y_q | x_<p_q)`` ``(B, Q)`` of query points ``y`` ``(B, Q, dim)``, query ``q`` placed at
        position ``p_q`` (``position``: an int for all, or ``(Q,)``) after the context whose keys and values ``kv``
        :meth:`context` returned: it attends to the context tokens at positions ``< p_q`` and to itself."""
        Q = y.shape[1]
        pos = torch.as_tensor(position, device=y.device).expand(Q)
        if int(pos.max()) >= self.max_len:
            raise ValueError(f"query position {int(pos.max())} is beyond the model's {self.max_len} positions")
        h = y @ self.w_in + self.b_in + self.pos[pos]
        for i, (kc, vc) in enumerate(kv):
            q, k, v = self._qkv(i, h)
            scale = 1.0 / math.sqrt(q.shape[-1])
            s_ctx = (q @ kc.mT) * scale  # (B, H, Q, T)
            T = kc.shape[-2]
            hidden = torch.arange(T, device=y.device)[None, :] >= pos[:, None]  # (Q, T): not yet seen
            s_ctx = s_ctx.masked_fill(hidden, -math.inf)
            s_self = (q * k).sum(-1, keepdim=True) * scale
            w = torch.softmax(torch.cat([s_ctx, s_self], -1), dim=-1)
            att = w[..., :T] @ vc + w[..., T:] * v
            h = self._mlp_residual(i, h, att)
        return self._read_out(h)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, position=None):
        """``E(x_t | x_<t)`` ``(B, T)``, and with queries ``y`` also their energies (:meth:`query_energy`)."""
        e, kv = self.context(x)
        return e if y is None else (e, self.query_energy(kv, y, position))


# ----------------------------------------------------------------------------- training


def langevin_negatives(model: EnergyTransformer, kv, start: torch.Tensor, position, *, steps: int, s: float,
                       grad_clip: float, generator: torch.Generator) -> torch.Tensor:
    """``steps`` Langevin steps on ``E(. | context)`` (queries at ``position``, the context given by its keys and
    values ``kv``) from ``start`` ``(B, Q, dim)``: ``y <- y + s xi``, then ``y <- y - (s / 2) clip(grad E)`` with each
    point's gradient norm clipped to ``grad_clip``. The noise is drawn on the CPU from ``generator``. Returns the
    detached end points."""
    kv = [(k.detach(), v.detach()) for k, v in kv]
    y = start.detach()
    for _ in range(steps):
        noise = torch.randn(y.shape, generator=generator, dtype=torch.float64).to(y.device, y.dtype)
        y = (y + s * noise).requires_grad_(True)
        (g,) = torch.autograd.grad(model.query_energy(kv, y, position).sum(), y)
        norm = g.norm(dim=-1, keepdim=True)
        g = g * torch.clamp(grad_clip / (norm + 1e-12), max=1.0)
        y = (y - 0.5 * s * g).detach()
    return y


def contrastive_loss(e_real: torch.Tensor, e_neg: torch.Tensor, alpha: float) -> tuple[torch.Tensor, dict]:
    """Contrastive divergence with energy-magnitude regularisation:
    ``mean E(real) - mean E(neg) + alpha (mean E(real)^2 + mean E(neg)^2)``; returns the loss and its parts."""
    gap = e_real.mean() - e_neg.mean()
    reg = (e_real**2).mean() + (e_neg**2).mean()
    loss = gap + alpha * reg
    return loss, {"loss": loss.detach(), "gap": gap.detach(), "e_real": e_real.detach().mean(),
                  "e_neg": e_neg.detach().mean(), "rms_real": (e_real.detach() ** 2).mean().sqrt(),
                  "rms_neg": (e_neg.detach() ** 2).mean().sqrt()}


def draw_sequences(batch: int, length: int, p: dict, generator: torch.Generator) -> tuple[torch.Tensor, GMM]:
    """``batch`` sequences of ``length`` points, each from a fresh mixture drawn with the parameters ``p``
    (``components``, ``mean_range``, ``std_range``): points ``(B, length, 2)`` float64 on the CPU and the mixtures."""
    gmm = sample_gmm(batch, tuple(p["components"]), p["mean_range"], tuple(p["std_range"]), generator)
    return sample_points(gmm, length, generator), gmm


def train(model: EnergyTransformer, p: dict, *, generator: torch.Generator, device=None, dtype=torch.float32,
          progress: bool = True, desc: str = "ICL-EBM") -> list[dict]:
    """Train ``model`` in place with Adam (learning rate ``p["lr"]``, parameter-gradient norm clipped to
    ``p["clip_norm"]``) for ``p["steps"]`` steps on batches of ``p["batch"]`` sequences of ``p["context_len"]``
    points, each from a fresh random mixture. Each position ``t`` gets one negative: Langevin
    (:func:`langevin_negatives`, ``p["langevin_steps"]`` steps of scale ``p["langevin_s"]``) on ``E(. | x_<t)`` from
    uniform noise on the sequence's box ``mean +- p["init_box"] std``. Returns the log: the loss parts averaged over
    every ``p["log_every"]`` steps."""
    device = torch.device("cpu") if device is None else device
    opt = torch.optim.Adam(model.parameters(), lr=p["lr"])
    T = p["context_len"]
    position = torch.arange(T, device=device)
    log, acc, n_acc = [], None, 0
    for it in tqdm(range(1, p["steps"] + 1), desc=desc, unit="step", disable=not progress, mininterval=2):
        x, _ = draw_sequences(p["batch"], T, p, generator)
        lo, hi = context_box(x, p["init_box"])
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype)
        start = lo[:, None] + (hi - lo)[:, None] * u
        x, start = x.to(device, dtype), start.to(device, dtype)
        with torch.no_grad():
            _, kv = model.context(x)
        neg = langevin_negatives(model, kv, start, position, steps=p["langevin_steps"], s=p["langevin_s"],
                                 grad_clip=p["langevin_grad_clip"], generator=generator)
        e_real, kv = model.context(x)
        e_neg = model.query_energy(kv, neg, position)
        loss, parts = contrastive_loss(e_real, e_neg, p["alpha"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), p["clip_norm"])
        opt.step()
        parts = torch.stack(list(parts.values()))
        acc = parts if acc is None else acc + parts
        n_acc += 1
        if it % p["log_every"] == 0 or it == p["steps"]:
            vals = (acc / n_acc).cpu().tolist()
            log.append({"step": it, **dict(zip(["loss", "gap", "e_real", "e_neg", "rms_real", "rms_neg"], vals))})
            acc, n_acc = None, 0
    return log


# ----------------------------------------------------------------------------- evaluation


@torch.no_grad()
def grid_energy(model: EnergyTransformer, context: torch.Tensor, grid: torch.Tensor, visible: int | None = None,
                block: int = 16) -> torch.Tensor:
    """``E(y | x_<visible)`` for the grid points ``grid`` ``(C, P, 2)`` of each context ``(C, T, 2)``: every query
    placed at position ``visible`` (default ``T``: right after the whole context), so it sees the first ``visible``
    context points; ``block`` contexts at a time. Returns ``(C, P)``."""
    out = []
    visible = context.shape[1] if visible is None else visible
    for i in range(0, context.shape[0], block):
        _, kv = model.context(context[i:i + block])
        out.append(model.query_energy(kv, grid[i:i + block], visible))
    return torch.cat(out)
