"""The Krotov-Hopfield (2016) dense associative memory classifier and continual-learning methods on top of it.

Model (Krotov & Hopfield 2016, *Dense associative memory for pattern recognition*; as used by McAlister, Robins &
Szymanski 2025 for sequential learning). A state ``sigma`` in ``{-1, +1}^N`` holds ``P`` binarised pixels followed by
``C`` class units (MNIST: ``N = 784 + 10``). ``K`` learned memories ``xi`` (rows of a ``(K, N)`` matrix, entries in
``[-1, 1]``) define the energy ``E(sigma) = -sum_mu F_n(xi_mu . sigma)`` with the rectified polynomial
``F_n(z) = max(z, 0)^n`` (:func:`rect_poly`, :func:`energy`).

**Classification** is one energy-difference step of the class units. The pixels are clamped; class unit ``alpha`` is
set to ``+1`` and to ``-1`` while every other class unit holds the fixed "off" value ``-1``, and

    y_alpha = tanh( sum_mu [F_n(s xi_mu . sigma^(alpha+)) - F_n(s xi_mu . sigma^(alpha-))] ),   s = 1 / (N T),

the prediction being ``argmax_alpha y_alpha``. **Rescaling (stated wherever it matters):** dot products are divided
by ``N`` before ``F_n`` (``s = 1 / (N T)`` instead of K&H's ``beta = 1 / T``), so every argument lies in
``[-1/T, 1/T]`` and nothing overflows at large ``n``; it is the K&H model at temperature ``N T``. The tanh argument is
``s^n (E(sigma^(alpha-)) - E(sigma^(alpha+)))``, the energy difference of the two class-unit states
(:func:`class_scores` vs :func:`energy`; a unit test).

**Shared work** (:func:`class_scores`): with ``a_mu = xi_mu[pixels] . sigma[pixels]`` and ``S_mu`` the sum of
``xi_mu``'s class part, ``xi_mu . sigma^(alpha-) = a_mu - S_mu`` and ``xi_mu . sigma^(alpha+) = a_mu - S_mu +
2 xi_mu,alpha``: one ``B x P`` by ``P x K`` product serves all ``2 C`` class-unit evaluations.

**Training** (K&H appendix): targets ``t_alpha`` in ``{-1, +1}`` (one-hot mapped to +-1), loss
``mean_items sum_alpha (y_alpha - t_alpha)^(2m)``, its exact gradient in closed form (:func:`loss_and_grad`, checked
against autograd in the tests); the velocity ``v <- p v + grad`` is normalised per memory (row) by its largest
absolute entry and ``xi <- clamp(xi - lr v / max|v_mu|, -1, 1)`` (:func:`kh_step`; a variant normalises the gradient
before the momentum instead); ``lr = lr0 * decay^epoch``. Only class units are scored (pixels always clamped), but
every entry of ``xi`` is trained. Memories start uniform on ``[low, high)`` (:func:`init_memories`); with +-1 pixels
a range on the positive side only (the author's ``[0, 1)``) leaves every rectified unit off for every image, so
nothing trains.

**Continual-learning methods** (:data:`METHODS`, a strategy table of small pure functions; :func:`train_tasks` runs
a sequence of tasks with one of them):

- ``naive``: train on each task in turn;
- ``rehearsal``: a buffer keeps a fixed fraction of every finished task's training items (drawn at random); each
  epoch of task ``t`` shuffles the buffer in with the task's items, so each batch mixes them in proportion;
- ``pseudorehearsal``: before task ``t`` as many random binary pixel patterns as the rehearsal buffer would hold
  (each pixel on with the training images' mean on-rate) are labelled by the network (its argmax, as a +-1 one-hot
  target) and mixed in like rehearsal items;
- ``ewc``: penalty ``(lambda / 2) sum_tasks sum_i I_i (xi_i - xi*_i)^2`` with ``I`` the diagonal empirical Fisher
  information (mean squared per-item gradient of the class-unit loss, :func:`fisher_diagonal`) at the end of each
  task and ``xi*`` the memories then; one model per ``lambda``, trained side by side on the same batches;
- ``agem``: the step's gradient is projected so as not to increase the loss on a reference sample of the episodic
  memory (the rehearsal buffer) when the two gradients disagree (:func:`agem_project`);
- ``gem``: one such constraint per earlier task (a reference sample of its buffer items each), solved as the small
  QP of Lopez-Paz & Ranzato 2017 through its dual, ``min_v 1/2 v^T G G^T v + g^T G^T v, v >= 0``, a non-negative
  least-squares problem solved exactly by the Lawson-Hanson active-set method (:func:`gem_dual`; tested against
  brute-force enumeration of the active sets).

Every function takes a stack of ``M`` models (``xi`` of shape ``(M, K, N)``) trained side by side on the same items;
pixels ``(B, P)`` are shared by the stack or given per model ``(M, B, P)``. Random numbers come from seeded CPU
generators (:func:`assocmem.device.generator`), so a CPU rerun is bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from . import device as _device

N_CLASSES = 10
OFF = -1.0  # the value every class unit other than the scored one holds, in training and testing alike


# ----------------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------------


def binarise(images: torch.Tensor, threshold: float = 0.5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Images ``(B, ...)`` (uint8 is scaled to [0, 1]) flattened to pixel states in ``{-1, +1}``: ``+1`` where the
    scaled intensity is at least ``threshold``."""
    flat = images.reshape(images.shape[0], -1)
    x = flat.double() / 255.0 if images.dtype == torch.uint8 else flat.double()
    return torch.where(x >= threshold, 1.0, -1.0).to(dtype)


def _ipow(r: torch.Tensor, k: int) -> torch.Tensor:
    """``r ** k`` for an integer ``k >= 0`` by repeated squaring (a few vectorised products, no ``pow`` calls)."""
    if k == 0:
        return torch.ones_like(r)
    out, base = None, r
    while k:
        if k & 1:
            out = base if out is None else out * base
        k >>= 1
        if k:
            base = base * base
    return out


def rect_poly(z: torch.Tensor, n: int) -> torch.Tensor:
    """The rectified polynomial ``F_n(z) = max(z, 0)^n`` (integer ``n >= 1``)."""
    return _ipow(z.clamp(min=0), int(n))


def energy(xi: torch.Tensor, sigma: torch.Tensor, n: int, scale: float = 1.0) -> torch.Tensor:
    """``E(sigma) = -sum_mu F_n(scale * xi_mu . sigma)`` for memories ``xi`` ``(..., K, N)`` and full states ``sigma``
    ``(..., B, N)``; returns ``(..., B)``. (Applied per memory and summed, not to the summed dot products.)"""
    return -rect_poly(scale * sigma @ xi.transpose(-1, -2), n).sum(-1)


def full_states(pixels: torch.Tensor, alpha: int, value: float, n_classes: int = N_CLASSES) -> torch.Tensor:
    """Full states ``(B, P + C)``: the pixels, class unit ``alpha`` at ``value`` and every other class unit off."""
    cls = torch.full((pixels.shape[0], n_classes), OFF, dtype=pixels.dtype, device=pixels.device)
    cls[:, alpha] = value
    return torch.cat([pixels, cls], dim=-1)


def scale_of(n_units: int, temperature: float) -> float:
    """The factor ``s = 1 / (N T)`` applied to every dot product before ``F_n`` (the stated rescaling)."""
    return 1.0 / (n_units * temperature)


def _pixel_dots(xi: torch.Tensor, pixels: torch.Tensor, n_pix: int) -> torch.Tensor:
    """``a = pixels . xi[:, :, :P]`` as ``(M, B, K)``; one flat product when the pixels are shared by the stack."""
    M, K, _ = xi.shape
    xp = xi[..., :n_pix]
    if pixels.dim() == 2:
        return (pixels @ xp.reshape(M * K, n_pix).T).reshape(pixels.shape[0], M, K).transpose(0, 1)
    return pixels @ xp.transpose(-1, -2)


def preactivations(xi: torch.Tensor, pixels: torch.Tensor, temperature: float):
    """``u- (M, B, K)``, ``u+ (M, B, K, C)`` and ``s``: the scaled dot products of the memories with the two states of
    each class unit (the shared-work trick); ``u-`` is the state with every class unit off."""
    n_pix = pixels.shape[-1]
    s = scale_of(xi.shape[-1], temperature)
    cls = xi[..., n_pix:]  # (M, K, C)
    u_minus = s * (_pixel_dots(xi, pixels, n_pix) - cls.sum(-1)[:, None, :])
    u_plus = u_minus[..., None] + (2 * s) * cls[:, None, :, :]
    return u_minus, u_plus, s


def class_scores(xi: torch.Tensor, pixels: torch.Tensor, n: int, temperature: float) -> torch.Tensor:
    """The tanh argument ``h (M, B, C)``: ``sum_mu [F_n(u+) - F_n(u-)]`` for every class unit, every other class
    unit off. ``xi`` is ``(M, K, P + C)``."""
    u_minus, u_plus, _ = preactivations(xi, pixels, temperature)
    return rect_poly(u_plus, n).sum(-2) - rect_poly(u_minus, n).sum(-1)[..., None]


def predict(xi: torch.Tensor, pixels: torch.Tensor, n: int, temperature: float, block: int = 1000) -> torch.Tensor:
    """Predicted classes ``(M, B)`` (``argmax_alpha y_alpha``), ``block`` items at a time."""
    return torch.cat([class_scores(xi, pixels[i:i + block], n, temperature).argmax(-1)
                      for i in range(0, pixels.shape[-2], block)], dim=-1)


def accuracy(xi: torch.Tensor, pixels: torch.Tensor, labels: torch.Tensor, n: int, temperature: float,
             block: int = 1000) -> torch.Tensor:
    """Fraction of items classified correctly, per model ``(M,)``."""
    return (predict(xi, pixels, n, temperature, block) == labels).double().mean(-1)


def targets_pm1(labels: torch.Tensor, dtype: torch.dtype, n_classes: int = N_CLASSES) -> torch.Tensor:
    """One-hot targets mapped to ``{-1, +1}``: ``(B, C)``."""
    return 2.0 * torch.nn.functional.one_hot(labels.long(), n_classes).to(dtype) - 1.0


def _backward_pieces(xi, pixels, targets, n, temperature, loss_power):
    """Forward pass and the per-item pieces of the gradient: ``y``, the per-item loss, ``dL/du-`` ``(M, B, K)`` and
    ``dL/du+`` ``(M, B, K, C)`` of the per-item loss (not averaged)."""
    u_minus, u_plus, s = preactivations(xi, pixels, temperature)
    r_minus, r_plus = u_minus.clamp(min=0), u_plus.clamp(min=0)
    if n >= 2:
        p_minus, p_plus = _ipow(r_minus, n - 1), _ipow(r_plus, n - 1)
    else:
        p_minus, p_plus = (u_minus > 0).to(xi.dtype), (u_plus > 0).to(xi.dtype)
    h = (p_plus * r_plus).sum(-2) - (p_minus * r_minus).sum(-1)[..., None]  # (M, B, C)
    y = torch.tanh(h)
    diff = y - targets
    loss = diff.pow(2 * loss_power).sum(-1)  # (M, B)
    e = (2 * loss_power) * diff.pow(2 * loss_power - 1) * (1 - y * y)  # dL_b / dh_b,alpha
    g_plus = (n * p_plus) * e[:, :, None, :]  # dL_b / du+_b,mu,alpha
    g_u_minus = g_plus.sum(-1) - (n * p_minus) * e.sum(-1)[..., None]  # dL_b / du-_b,mu (u+ moves with u-)
    return y, loss, g_u_minus, g_plus, s


def loss_and_grad(xi: torch.Tensor, pixels: torch.Tensor, targets: torch.Tensor, n: int, temperature: float,
                  loss_power: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mean loss ``(M,)``, its exact gradient with respect to ``xi`` ``(M, K, P + C)`` and the number of items
    classified correctly ``(M,)``; targets ``(B, C)`` or ``(M, B, C)`` in ``[-1, 1]``."""
    n_pix = pixels.shape[-1]
    y, loss, g_um, g_up, s = _backward_pieces(xi, pixels, targets, n, temperature, loss_power)
    B = pixels.shape[-2]
    c = (s / B) * g_um  # dL / da  (M, B, K)
    M, K = xi.shape[0], xi.shape[1]
    if pixels.dim() == 2:  # one flat product for the whole stack
        g_pix = (c.permute(0, 2, 1).reshape(M * K, B) @ pixels).reshape(M, K, n_pix)
    else:
        g_pix = c.transpose(-1, -2) @ pixels
    g_cls = (-(s / B) * g_um.sum(-2))[..., None] + (2 * s / B) * g_up.sum(-3)
    labels = targets.argmax(-1)
    correct = (y.argmax(-1) == labels).sum(-1)
    return loss.mean(-1), torch.cat([g_pix, g_cls], dim=-1), correct


def fisher_diagonal(xi: torch.Tensor, pixels: torch.Tensor, targets: torch.Tensor, n: int, temperature: float,
                    loss_power: int = 1, block: int = 500) -> torch.Tensor:
    """The diagonal empirical Fisher information of the class-unit loss: the mean over items of the squared
    per-item gradient, ``(M, K, P + C)``, computed ``block`` items at a time. Per item the pixel gradient is the rank-one
    ``dL/da_mu * sigma_i``, so its square averages to ``(dL/da)^2 . sigma^2`` (one product, no per-item tensors)."""
    M, K, N = xi.shape
    n_pix = pixels.shape[-1]
    out = torch.zeros(M, K, N, dtype=xi.dtype, device=xi.device)
    total = pixels.shape[-2]
    for i in range(0, total, block):
        x, t = pixels[..., i:i + block, :], targets[..., i:i + block, :]
        _, _, g_um, g_up, s = _backward_pieces(xi, x, t, n, temperature, loss_power)
        c2 = (s * g_um) ** 2
        out[..., :n_pix] += c2.transpose(-1, -2) @ (x * x)
        out[..., n_pix:] += ((-s * g_um)[..., None] + (2 * s) * g_up).pow(2).sum(-3)
    return out / total


def _row_normalised(v: torch.Tensor) -> torch.Tensor:
    """Each row divided by its largest absolute entry (a zero row stays zero)."""
    peak = v.abs().amax(-1, keepdim=True)
    return torch.where(peak > 0, v / torch.where(peak > 0, peak, torch.ones_like(peak)), 0.0)


NORMALISATIONS = ("velocity", "gradient")


def kh_step(xi: torch.Tensor, velocity: torch.Tensor, grad: torch.Tensor, lr: float, momentum: float,
            normalise: str = "velocity") -> tuple[torch.Tensor, torch.Tensor]:
    """One K&H update, then ``xi`` clamped to ``[-1, 1]``.

    ``normalise="velocity"`` (the spec's reading of the author's code): ``v <- momentum v + grad`` and each memory
    (row) moves by ``lr v_mu / max_i |v_mu,i|``. The step's size does not depend on ``v``'s scale, so a memory whose
    gradient has become exactly zero keeps moving at full speed along its decaying velocity until that underflows.
    ``normalise="gradient"``: ``v <- momentum v + grad_mu / max_i |grad_mu,i|`` and ``xi <- xi - lr v``, which comes
    to rest when the gradient vanishes."""
    if normalise == "velocity":
        velocity = momentum * velocity + grad
        step = _row_normalised(velocity)
    elif normalise == "gradient":
        velocity = momentum * velocity + _row_normalised(grad)
        step = velocity
    else:
        raise ValueError(f"normalise must be one of {NORMALISATIONS}, not {normalise!r}")
    return (xi - lr * step).clamp(-1.0, 1.0), velocity


# ----------------------------------------------------------------------------------------------------------------
# Gradient projections (A-GEM, GEM)
# ----------------------------------------------------------------------------------------------------------------


def agem_project(grad: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """A-GEM: where ``<g, g_ref> < 0`` (per model), ``g - (<g, g_ref> / <g_ref, g_ref>) g_ref``; else ``g``.
    ``grad``, ``ref``: ``(M, ...)``."""
    g, r = grad.flatten(1), ref.flatten(1)
    dot, rr = (g * r).sum(-1), (r * r).sum(-1)
    coef = torch.where((dot < 0) & (rr > 0), dot / torch.where(rr > 0, rr, torch.ones_like(rr)), 0.0)
    return (g - coef[:, None] * r).reshape(grad.shape)


def gem_dual(Q: torch.Tensor, p: torch.Tensor, max_iter: int = 50, tol: float = 1e-12) -> torch.Tensor:
    """``argmin_{v >= 0} 1/2 v^T Q v + p^T v`` for PSD ``Q`` ``(M, k, k)``, ``p`` ``(M, k)``, model by model: the
    Lawson-Hanson active-set method for non-negative least squares, in Gram form (with ``Q = G G^T`` and
    ``p = G g`` this is ``min_v>=0 ||G^T v + g||^2``); exact after finitely many steps (``max_iter`` bounds the outer
    loop). Subproblems are solved by least squares, so a singular ``Q`` (parallel constraints) is fine."""
    out = torch.zeros_like(p)
    k = p.shape[-1]
    for m in range(p.shape[0]):
        A, b = Q[m], p[m]
        scale = float(A.diagonal().abs().max()) or 1.0
        v = torch.zeros_like(b)
        passive = torch.zeros(k, dtype=torch.bool, device=p.device)
        for _ in range(max_iter):
            w = -(A @ v + b)
            w_free = torch.where(passive, torch.full_like(w, -float("inf")), w)
            if bool(passive.all()) or float(w_free.max()) <= tol * scale:
                break
            passive[int(w_free.argmax())] = True
            for _ in range(k + 1):
                idx = passive.nonzero()[:, 0]
                z = torch.zeros_like(b)
                z[idx] = torch.linalg.lstsq(A[idx][:, idx], -b[idx, None]).solution[:, 0]
                if bool((z[idx] > 0).all()):
                    v = z
                    break
                neg = idx[z[idx] <= 0]
                alpha = float((v[neg] / (v[neg] - z[neg])).min())
                v = v + alpha * (z - v)
                passive &= v > tol
                v = torch.where(passive, v, torch.zeros_like(v))
        out[m] = v
    return out


def gem_project(grad: torch.Tensor, refs: torch.Tensor, max_iter: int = 50) -> torch.Tensor:
    """GEM: the gradient closest to ``grad`` ``(M, ...)`` whose inner product with every reference gradient
    ``refs`` ``(M, k, ...)`` (one per earlier task) is non-negative; ``g~ = g + G^T v`` with ``v`` from the dual
    (:func:`gem_dual`). Unchanged where no constraint is violated."""
    M, k = refs.shape[:2]
    g, G = grad.reshape(M, -1), refs.reshape(M, k, -1)
    p = (G @ g[..., None])[..., 0]
    if bool((p >= 0).all()):
        return grad
    v = gem_dual(G @ G.transpose(-1, -2), p, max_iter)
    return (g + (v[:, None, :] @ G)[:, 0]).reshape(grad.shape)


# ----------------------------------------------------------------------------------------------------------------
# Sequential training with a continual-learning method
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class Task:
    """One task: training and test pixels ``(B, P)`` in ``{-1, +1}`` and labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


@dataclass
class Settings:
    """What training needs besides the tasks: vertex ``n``, memories ``K``, temperature ``T``, loss power ``m``,
    batch, epochs per task, learning rate and its per-epoch decay (restarted at every task), momentum, the memories'
    uniform initial range, the buffer fraction (rehearsal, pseudorehearsal, A-GEM, GEM), EWC lambdas, reference
    items per constraint (A-GEM, GEM), the GEM dual solver's iteration bound."""

    n: int
    memories: int
    temperature: float
    loss_power: int = 1
    batch: int = 128
    epochs: int = 20
    lr: float = 0.1
    lr_decay: float = 0.999
    momentum: float = 0.6
    init: tuple[float, float] = (-1.0, 1.0)
    buffer_fraction: float = 0.1
    ewc_lambdas: tuple[float, ...] = (1.0,)
    ref_items: int = 256
    gem_iterations: int = 50
    fisher_block: int = 500
    normalise: str = "velocity"


@dataclass
class State:
    """What a method keeps between tasks."""

    buffer_x: list[torch.Tensor] = field(default_factory=list)  # one entry per finished task
    buffer_y: list[torch.Tensor] = field(default_factory=list)
    pseudo_counts: list[int] = field(default_factory=list)  # pseudorehearsal: buffer sizes it stands in for
    fisher: torch.Tensor | None = None  # EWC: sum over tasks of I
    anchor: torch.Tensor | None = None  # EWC: sum over tasks of I * xi*
    on_rate: float = 0.5  # pseudorehearsal: mean on-rate of the training pixels seen


@dataclass(frozen=True)
class Method:
    """A continual-learning method as three small functions (None: nothing to do):
    ``extra(state, xi, cfg, task_index, generator) -> (pixels, targets)`` items mixed into every epoch;
    ``adjust(grad, xi, state, cfg, generator) -> grad`` applied to each step's gradient;
    ``after(state, xi, task, cfg, generator)`` run when a task is finished. ``models``: models in the stack."""

    extra: Callable | None = None
    adjust: Callable | None = None
    after: Callable | None = None
    models: Callable[[Settings], int] = lambda cfg: 1


def _keep_buffer(state: State, xi, task: Task, cfg: Settings, g: torch.Generator) -> None:
    """Keep ``buffer_fraction`` of the task's training items, drawn at random (the episodic memory)."""
    n_keep = max(1, round(cfg.buffer_fraction * task.train_x.shape[0]))
    idx = torch.randperm(task.train_x.shape[0], generator=g)[:n_keep].to(task.train_x.device)
    state.buffer_x.append(task.train_x[idx])
    state.buffer_y.append(task.train_y[idx])


def _buffer_items(state: State, xi, cfg: Settings, t: int, g: torch.Generator):
    if not state.buffer_x:
        return None
    x = torch.cat(state.buffer_x)
    return x, targets_pm1(torch.cat(state.buffer_y), x.dtype)


def _note_on_rate(state: State, xi, task: Task, cfg: Settings, g: torch.Generator) -> None:
    """Pseudorehearsal keeps no real items: only the pixels' mean on-rate and the buffer size it stands in for."""
    seen = len(state.pseudo_counts)  # tasks finished before this one
    rate = float((task.train_x > 0).double().mean())
    state.on_rate = (state.on_rate * seen + rate) / (seen + 1) if seen else rate
    state.pseudo_counts.append(max(1, round(cfg.buffer_fraction * task.train_x.shape[0])))


def _pseudo_items(state: State, xi, cfg: Settings, t: int, g: torch.Generator):
    """Random binary pixel patterns labelled by the network before the task (per model: targets ``(M, B, C)``)."""
    if not state.pseudo_counts:
        return None
    count = sum(state.pseudo_counts)
    n_pix = xi.shape[-1] - N_CLASSES
    on = torch.rand(count, n_pix, generator=g) < state.on_rate
    x = torch.where(on, 1.0, -1.0).to(device=xi.device, dtype=xi.dtype)
    labels = predict(xi, x, cfg.n, cfg.temperature)  # (M, count)
    return x, targets_pm1(labels, xi.dtype)


def _ewc_after(state: State, xi, task: Task, cfg: Settings, g: torch.Generator) -> None:
    F = fisher_diagonal(xi, task.train_x, targets_pm1(task.train_y, xi.dtype), cfg.n, cfg.temperature,
                        cfg.loss_power, cfg.fisher_block)
    state.fisher = F if state.fisher is None else state.fisher + F
    state.anchor = F * xi if state.anchor is None else state.anchor + F * xi


def ewc_penalty_grad(xi: torch.Tensor, fisher: torch.Tensor, anchor: torch.Tensor,
                     lambdas: torch.Tensor) -> torch.Tensor:
    """Gradient of ``sum_tasks (lambda / 2) sum_i I_i (xi_i - xi*_i)^2`` given ``fisher = sum I`` and
    ``anchor = sum I xi*``; ``lambdas`` ``(M,)``, one per model."""
    return lambdas.to(xi)[:, None, None] * (fisher * xi - anchor)


def _ewc_adjust(grad, xi, state: State, cfg: Settings, g):
    if state.fisher is None:
        return grad
    return grad + ewc_penalty_grad(xi, state.fisher, state.anchor, torch.tensor(cfg.ewc_lambdas, dtype=xi.dtype))


def _reference(state: State, tasks: list[int], xi, cfg: Settings, g: torch.Generator):
    """A reference sample (``ref_items``, without replacement where the buffer allows) of the buffer of ``tasks``."""
    x = torch.cat([state.buffer_x[k] for k in tasks])
    y = torch.cat([state.buffer_y[k] for k in tasks])
    idx = torch.randperm(x.shape[0], generator=g)[:cfg.ref_items].to(x.device)
    return x[idx], targets_pm1(y[idx], xi.dtype)


def _agem_adjust(grad, xi, state: State, cfg: Settings, g):
    if not state.buffer_x:
        return grad
    x, t = _reference(state, list(range(len(state.buffer_x))), xi, cfg, g)
    _, ref, _ = loss_and_grad(xi, x, t, cfg.n, cfg.temperature, cfg.loss_power)
    return agem_project(grad, ref)


def _gem_adjust(grad, xi, state: State, cfg: Settings, g):
    if not state.buffer_x:
        return grad
    refs = []
    for k in range(len(state.buffer_x)):
        x, t = _reference(state, [k], xi, cfg, g)
        refs.append(loss_and_grad(xi, x, t, cfg.n, cfg.temperature, cfg.loss_power)[1])
    return gem_project(grad, torch.stack(refs, dim=1), cfg.gem_iterations)


METHODS: dict[str, Method] = {
    "naive": Method(),
    "rehearsal": Method(extra=_buffer_items, after=_keep_buffer),
    "pseudorehearsal": Method(extra=_pseudo_items, after=_note_on_rate),
    "ewc": Method(adjust=_ewc_adjust, after=_ewc_after, models=lambda cfg: len(cfg.ewc_lambdas)),
    "agem": Method(adjust=_agem_adjust, after=_keep_buffer),
    "gem": Method(adjust=_gem_adjust, after=_keep_buffer),
}


def memory_seed(seed: int) -> int:
    """The seed of the initial memories of a run seeded with ``seed`` (:func:`train_tasks`)."""
    return seed * 1_000_003 + 1


def init_memories(models: int, memories: int, n_units: int, low: float, high: float, seed: int,
                  dtype: torch.dtype, device) -> torch.Tensor:
    """``(models, K, N)`` memories uniform on ``[low, high)``; every model of the stack starts from the same draw."""
    g = _device.generator(seed)
    xi = low + (high - low) * torch.rand(memories, n_units, generator=g, dtype=torch.float64)
    return xi.to(device=device, dtype=dtype).expand(models, memories, n_units).clone()


def train_tasks(tasks: list[Task], method: str, cfg: Settings, *, seed: int, on_task_end: Callable | None = None,
                progress: bool = True, desc: str = "") -> tuple[torch.Tensor, list[dict]]:
    """Train a stack of models (one, or one per EWC lambda) on ``tasks`` in order with ``method``; after each task
    test every task. Returns the final memories and the records: per task and epoch the training loss and accuracy
    (``kind = epoch``), and per finished task the test accuracy on every task (``kind = test``); ``model`` indexes
    the stack. ``on_task_end(task_index, xi)`` is called after each task's tests.

    Random streams (all seeded from ``seed``, independent of the method, so every method sees the same task items in
    the same order): the memories' initial draw; per task and epoch the item order; per task the method's draws
    (buffer choice, pseudo-items, reference samples)."""
    m = METHODS[method]
    dtype, dev = tasks[0].train_x.dtype, tasks[0].train_x.device
    n_units = tasks[0].train_x.shape[-1] + N_CLASSES
    M = m.models(cfg)
    xi = init_memories(M, cfg.memories, n_units, *cfg.init, seed=memory_seed(seed), dtype=dtype, device=dev)
    state = State()
    records: list[dict] = []
    steps_per_epoch = [-(-(t.train_x.shape[0]) // cfg.batch) for t in tasks]
    bar = tqdm(total=cfg.epochs * sum(steps_per_epoch), desc=desc or method, unit="step", disable=not progress,
               mininterval=2, leave=False)
    for ti, task in enumerate(tasks):
        g_method = _device.generator(seed * 1_000_003 + 7919 * (ti + 1) + 101)
        extra = m.extra(state, xi, cfg, ti, g_method) if m.extra else None
        x_all, t_all = task.train_x, targets_pm1(task.train_y, dtype)
        if extra is not None:
            ex, et = extra
            if et.dim() == 3:  # per-model targets (pseudorehearsal): broadcast the task's targets over the stack
                t_all = torch.cat([t_all.expand(M, *t_all.shape), et], dim=1)
            else:
                t_all = torch.cat([t_all, et])
            x_all = torch.cat([x_all, ex])
            bar.total += cfg.epochs * (-(-x_all.shape[0] // cfg.batch) - steps_per_epoch[ti])
            bar.refresh()
        velocity = torch.zeros_like(xi)
        n_items = x_all.shape[0]
        for epoch in range(cfg.epochs):
            lr = cfg.lr * cfg.lr_decay ** epoch
            order = torch.randperm(n_items, generator=_device.generator(
                seed * 1_000_003 + 7919 * (ti + 1) + 31 * epoch)).to(dev)
            loss_sum = torch.zeros(M, dtype=torch.float64, device=dev)  # summed on the device: no sync per step
            correct = torch.zeros(M, dtype=torch.float64, device=dev)
            for i in range(0, n_items, cfg.batch):
                idx = order[i:i + cfg.batch]
                loss, grad, ok = loss_and_grad(xi, x_all[idx], t_all[..., idx, :], cfg.n, cfg.temperature,
                                               cfg.loss_power)
                if m.adjust:
                    grad = m.adjust(grad, xi, state, cfg, g_method)
                xi, velocity = kh_step(xi, velocity, grad, lr, cfg.momentum, cfg.normalise)
                loss_sum += loss.double() * idx.shape[0]
                correct += ok.double()
                bar.update()
            loss_sum, correct = loss_sum.cpu(), correct.cpu()
            for k in range(M):
                records.append({"kind": "epoch", "model": k, "after_task": ti + 1, "epoch": epoch + 1,
                                "train_loss": float(loss_sum[k] / n_items),
                                "train_accuracy": float(correct[k] / n_items)})
        for tj, other in enumerate(tasks):
            acc = accuracy(xi, other.test_x, other.test_y, cfg.n, cfg.temperature).cpu()
            for k in range(M):
                records.append({"kind": "test", "model": k, "after_task": ti + 1, "task": tj + 1,
                                "accuracy": float(acc[k])})
        if on_task_end is not None:
            on_task_end(ti, xi)
        if m.after:
            m.after(state, xi, task, cfg, g_method)
    bar.close()
    return xi, records
