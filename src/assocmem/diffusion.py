"""Diffusion models as associative memories (Hoover et al. 2023, *Memory in Plain Sight*).

For stored points ``X = {x_i}`` (``K`` rows) the Gaussian-smoothed empirical density
``p_sigma(x) = (1/K) sum_i N(x; x_i, sigma^2 I)`` has the score

    grad log p_sigma(x) = (sum_i softmax_i(-||x - x_i||^2 / (2 sigma^2)) x_i - x) / sigma^2,

so one Euler step of size ``sigma^2`` along it, ``x + sigma^2 grad log p_sigma(x)``, is exactly the Euclidean dense
associative memory update (:func:`assocmem.dynamics.update` with ``similarity="neg_sq_euclidean"``; its logits are
``-beta ||x - x_i||^2``, so ``beta = 1 / (2 sigma^2)``), and by Tweedie's formula the optimal denoiser
``E[x_0 | x_sigma = x]`` of data drawn uniformly from ``X``. :func:`empirical_score` is that call, not a second
softmax; :func:`log_density` is the density itself (the core's KDE energy plus its normalisation), which E1
differentiates with autograd to check the identity.

Also here, for any score function ``score(x, sigma)`` (the exact one above or a network of
:mod:`assocmem.score_nets`):

- the variance-exploding SDE sampler (:func:`sample`): a geometric ``sigma`` schedule from ``sigma_max`` to
  ``sigma_min``, Euler-Maruyama steps of the reverse SDE or Euler steps of the probability-flow ODE, and a final
  Tweedie denoising step ``x + sigma_min^2 score(x, sigma_min)``; batched over samples (and models), seeded;
- denoising score matching (:func:`dsm_loss`, :func:`train_dsm`): ``|| sigma s(x_0 + sigma eps, sigma) + eps ||^2``
  with ``sigma`` log-uniform on ``[sigma_min, sigma_max]``, Adam, and an exponential moving average of the weights
  (:class:`EMA`) that evaluation uses;
- the memorisation metrics (:func:`nearest`, :func:`memorisation_ratio`, :func:`near_sphere_fraction`): nearest
  stored point of every sample, in blocks of stored points.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from . import dynamics
from .energy import kde_energy

Score = Callable[[torch.Tensor, torch.Tensor | float], torch.Tensor]


def beta_of_sigma(sigma):
    """The inverse temperature of the Euclidean memory update that equals the smoothed point set's denoiser:
    ``beta = 1 / (2 sigma^2)`` (the update's logits are ``-beta ||x - x_i||^2``)."""
    return 1.0 / (2.0 * sigma**2)


def _per_state(sigma, x: torch.Tensor):
    """``sigma`` as a scalar or a column broadcastable against ``x`` ``(..., B, d)``."""
    s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    return s if s.ndim == 0 else s[..., None]


def empirical_score(X: torch.Tensor, x: torch.Tensor, sigma, memory_block: int | None = None) -> torch.Tensor:
    """Score ``grad log p_sigma(x)`` of the Gaussian-smoothed point set ``X`` ``(..., K, d)`` at states ``x``
    ``(..., B, d)``: ``(update(X, x, beta = 1/(2 sigma^2)) - x) / sigma^2`` with the core's Euclidean memory update.
    ``sigma``: a scalar or one value per state ``(B,)``. ``memory_block``: stored points per block (online
    log-sum-exp), for large ``K`` or small ``sigma``."""
    s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    mean = dynamics.update(X, x, beta_of_sigma(s), similarity="neg_sq_euclidean", memory_block=memory_block)
    return (mean - x) / _per_state(s, x) ** 2


def log_density(X: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``log p_sigma(x)`` ``(B,)`` of the Gaussian-smoothed point set ``X`` ``(K, d)``: the negative KDE energy
    (:func:`assocmem.energy.kde_energy`, log-sum-exp) times ``beta`` minus the normalisation
    ``log K + (d/2) log(2 pi sigma^2)``."""
    beta = beta_of_sigma(sigma)
    K, d = X.shape[-2], X.shape[-1]
    return -beta * kde_energy(X, x, beta) - math.log(K) - 0.5 * d * math.log(2.0 * math.pi * sigma**2)


def autograd_score(X: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``grad log p_sigma(x)`` by automatic differentiation of :func:`log_density` (the reference E1 checks the
    memory update against)."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(log_density(X, x, sigma).sum(), x)
    return grad


# ----------------------------------------------------------------------------- the VE-SDE sampler


def sigma_schedule(sigma_max: float, sigma_min: float, steps: int, dtype=torch.float64) -> torch.Tensor:
    """``steps`` noise levels, geometric from ``sigma_max`` down to ``sigma_min`` (both included)."""
    if steps < 2:
        raise ValueError("a schedule needs at least 2 noise levels")
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    return (sigma_max * (sigma_min / sigma_max) ** t).to(dtype)


def sample(score: Score, shape: Sequence[int], sigmas: torch.Tensor, generator: torch.Generator, *,
           method: str = "em", denoise: bool = True, device=None, dtype=torch.float32,
           keep: Sequence[int] = (), progress: bool = False) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Integrate the reverse VE-SDE from ``x ~ N(0, sigmas[0]^2 I)`` of ``shape`` (``(..., B, d)``) down the
    schedule ``sigmas`` with ``score(x, sigma)``; return the final states and the states before step ``i`` for
    each ``i`` in ``keep`` (``len(sigmas) - 1``: before the final denoising step).

    ``method="em"``: Euler-Maruyama, ``x <- x + (s_i^2 - s_{i+1}^2) score(x, s_i) + sqrt(s_i^2 - s_{i+1}^2) z``;
    ``"ode"``: the probability-flow ODE, ``x <- x + (s_i^2 - s_{i+1}^2) / 2 score(x, s_i)``. ``denoise``: end with
    the Tweedie step ``x <- x + s_min^2 score(x, s_min)`` (the posterior mean at ``s_min``). Noise is drawn on the
    CPU from ``generator`` and moved to ``device``.
    """
    if method not in ("em", "ode"):
        raise ValueError(f"unknown sampler {method!r}; choose 'em' or 'ode'")
    device = torch.device("cpu") if device is None else device
    sig = [float(s) for s in sigmas]
    x = (sig[0] * torch.randn(tuple(shape), generator=generator, dtype=dtype)).to(device)
    kept: dict[int, torch.Tensor] = {}
    for i in tqdm(range(len(sig) - 1), desc=f"sampling ({method})", unit="step", disable=not progress,
                  mininterval=2, leave=False):
        if i in keep:
            kept[i] = x.clone()
        var = sig[i] ** 2 - sig[i + 1] ** 2
        g = score(x, sig[i])
        if method == "em":
            z = torch.randn(tuple(shape), generator=generator, dtype=dtype).to(device)
            x = x + var * g + math.sqrt(var) * z
        else:
            x = x + 0.5 * var * g
    if len(sig) - 1 in keep:
        kept[len(sig) - 1] = x.clone()
    if denoise:
        x = x + sig[-1] ** 2 * score(x, sig[-1])
    return x, kept


# ----------------------------------------------------------------------------- denoising score matching


def sample_sigmas(shape: Sequence[int], sigma_min: float, sigma_max: float, generator: torch.Generator,
                  dtype=torch.float32) -> torch.Tensor:
    """Noise levels log-uniform on ``[sigma_min, sigma_max]`` (drawn on the CPU)."""
    u = torch.rand(tuple(shape), generator=generator, dtype=torch.float64)
    return (sigma_min * (sigma_max / sigma_min) ** u).to(dtype)


def dsm_loss(score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor,
             sigma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Denoising score matching ``mean || sigma s(x_0 + sigma eps, sigma) + eps ||^2`` over the batch axis ``-2``
    of flattened states (``x0``, ``eps``: ``(..., B, *feature)``; ``sigma``: ``(..., B)``); one value per leading
    index (per model)."""
    s = sigma.reshape(*sigma.shape, *([1] * (x0.ndim - sigma.ndim)))
    r = s * score_fn(x0 + s * eps, sigma) + eps
    return r.pow(2).flatten(sigma.ndim).sum(-1).mean(-1)


class EMA:
    """Exponential moving average of a module's parameters (and buffers copied), used for evaluation.

    Decay at update ``n`` (1-based): ``min(decay, (1 + n) / (10 + n))``, the usual warm-up, so that a run shorter
    than ``1 / (1 - decay)`` updates is not dominated by the initial weights.
    """

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = float(decay)
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for e, p in zip(self.module.parameters(), module.parameters()):
            e.mul_(d).add_(p.detach(), alpha=1.0 - d)
        for e, b in zip(self.module.buffers(), module.buffers()):
            e.copy_(b)


def train_dsm(net: torch.nn.Module, draw_batch: Callable[[torch.Generator], torch.Tensor], *, iterations: int,
              lr: float, ema_decay: float, sigma_min: float, sigma_max: float, generator: torch.Generator,
              device=None, log_every: int = 100, progress: bool = True, desc: str = "DSM"
              ) -> tuple[torch.nn.Module, list[dict]]:
    """Train the score network ``net`` (``net.score(x, sigma)``; ``net.models`` independent models stacked on the
    leading axis) by denoising score matching with Adam; return its EMA copy (for evaluation) and the loss log
    (mean loss per model over every ``log_every`` iterations).

    ``draw_batch(generator)`` returns clean data ``(models, B, *feature)`` on the CPU. The loss is the sum of the
    models' losses, so each model's gradient is that of its own loss, and Adam (elementwise) updates each model as
    if it were trained alone on the same draws (the draws themselves come from one generator for the stack).
    """
    device = torch.device("cpu") if device is None else device
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    ema = EMA(net, ema_decay)
    log, acc, n_acc = [], None, 0
    for it in tqdm(range(1, iterations + 1), desc=desc, unit="it", disable=not progress, mininterval=2):
        x0 = draw_batch(generator)
        sig = sample_sigmas(x0.shape[:2], sigma_min, sigma_max, generator, x0.dtype)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        x0, sig, eps = x0.to(device), sig.to(device), eps.to(device)
        per_model = dsm_loss(net.score, x0, sig, eps)
        opt.zero_grad(set_to_none=True)
        per_model.sum().backward()
        opt.step()
        ema.update(net)
        acc = per_model.detach() if acc is None else acc + per_model.detach()
        n_acc += 1
        if it % log_every == 0 or it == iterations:
            for m, v in enumerate((acc / n_acc).cpu().tolist()):
                log.append({"model": m, "iteration": it, "loss": v})
            acc, n_acc = None, 0
    return ema.module, log


# ----------------------------------------------------------------------------- memorisation metrics


def nearest(points: torch.Tensor, X: torch.Tensor, block: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from every row of ``points`` ``(P, d)`` to its nearest row of ``X`` ``(K, d)`` and that row's
    index, taking ``block`` rows of ``X`` at a time (all at once when ``None``). The search uses the matrix-product
    form of the distances in float64; the distance returned is then recomputed directly from the difference, so that
    a sample equal to a stored point is at distance 0, not at the ~1e-8 the product form leaves."""
    p = points.to(torch.float64)
    step = X.shape[0] if block is None else int(block)
    best = torch.full((p.shape[0],), math.inf, dtype=torch.float64, device=p.device)
    idx = torch.zeros(p.shape[0], dtype=torch.long, device=p.device)
    for start in range(0, X.shape[0], step):
        Xb = X[start:start + step].to(p.device, torch.float64)
        d, i = torch.cdist(p, Xb).min(dim=1)
        better = d < best
        best = torch.where(better, d, best)
        idx = torch.where(better, i + start, idx)
    return (p - X[idx.to(X.device)].to(p.device, torch.float64)).norm(dim=-1), idx


def memorisation_ratio(samples: torch.Tensor, X: torch.Tensor, reference: torch.Tensor,
                       block: int | None = None) -> dict[str, float]:
    """``rho`` = median nearest-neighbour distance of the samples to the training set ``X`` over that of the held-out
    ``reference`` points: about 0 when samples sit on stored points, about 1 when they are as close to the training
    set as fresh data are. Returns ``rho`` and both medians."""
    d_s = nearest(samples, X, block)[0].median().item()
    d_r = nearest(reference, X, block)[0].median().item()
    return {"rho": d_s / d_r, "median_nn_samples": d_s, "median_nn_reference": d_r}


def near_sphere_fraction(samples: torch.Tensor, radius: float = 1.0, tol: float = 0.1) -> float:
    """Fraction of samples within ``tol`` of the sphere (the circle in 2-D) of ``radius`` about the origin."""
    return float(((samples.to(torch.float64).norm(dim=-1) - radius).abs() < tol).double().mean())
