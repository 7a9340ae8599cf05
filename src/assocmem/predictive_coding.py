"""Hierarchical generative predictive-coding network (PCN) as an associative memory (Salvatori et al. 2021).

Layers ``l = 0`` (sensory) ... ``L`` (top), value nodes ``x_l`` ``(B, d_l)``; weights ``W_{l+1}`` ``(d_l, d_{l+1})``
(``net.weights[l]``). Prediction of layer ``l`` from the layer above ``mu_l = W_{l+1} f(x_{l+1})`` (``l < L``; the
prediction itself is linear, so a sensory layer in any range can be predicted), error ``eps_l = x_l - mu_l``,
energy ``F = sum_{l<L} 1/2 ||eps_l||^2`` per state (no prior on the top layer; :func:`energy`).

- **Inference** (:func:`infer`, weights fixed): ``steps`` simultaneous gradient steps
  ``x_l <- x_l - gamma dF/dx_l`` with ``dF/dx_l = eps_l - f'(x_l) * (eps_{l-1} W_l)`` (first term absent for the
  top layer, second for layer 0) on the free nodes: every hidden node, and the sensory nodes not held by the clamp
  mask. Hidden nodes start at zero (:func:`init_states`; ``rule="random"``: small Gaussian) in training and at
  recall alike.
- **Memorisation** (:func:`train`): per mini-batch, clamp ``x_0`` to the images, run ``t_train`` inference steps,
  then one local weight step on ``dF/dW_{l+1} = -eps_l f(x_{l+1})^T`` (batch mean; SGD or Adam); the energy on the
  stored set after inference is recorded every epoch (the trace the memorisation claim reads).
- **Recall** (:func:`recall`): from a noisy cue, the sensory layer clamped to ``c``, ``steps`` inference steps,
  ``c <- mu_0``, ``outer`` times; from a partial cue, only the known pixels clamped, the others free (starting
  from the cue's values), ``steps`` inference steps, the free sensory nodes read.

Images enter in pixel units; the network stores them minus an offset (the stored set's mean image when
``center=True``, else zero), added back at recall, so :func:`train` and :func:`recall` speak pixels.

Inference with a sensory clamp shared by the batch (all held, or one mask ``(d_0,)``) can run in the first hidden
layer's space (:func:`_infer_gram`): with ``G = W_1^T W_1`` the bottom error term is
``eps_0 W_1 = x_0 W_1 - f(x_1) G``, and the free sensory nodes, which relax as ``u <- (1 - gamma) u + gamma mu_0``,
are carried as ``u W_1`` and a running sum of ``f(x_1)``. It is the same iteration rearranged (equal up to rounding,
tested), ``O(d_1^2)`` per state and step instead of ``O(d_0 d_1)``; ``method="auto"`` uses it where that is cheaper.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

Tensor = torch.Tensor

ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "tanh": (torch.tanh, lambda x: 1.0 - torch.tanh(x) ** 2),
    "relu": (torch.relu, lambda x: (x > 0).to(x.dtype)),
    "linear": (lambda x: x, torch.ones_like),
}


@dataclass
class PCN:
    """A trained (or initial) network: ``weights[l]`` is ``W_{l+1}`` ``(d_l, d_{l+1})``, ``activation`` a key of
    :data:`ACTIVATIONS`, ``offset`` ``(d_0,)`` subtracted from images before they enter the sensory layer."""

    weights: list[Tensor]
    activation: str = "tanh"
    offset: Tensor | None = None

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    @property
    def f(self):
        return ACTIVATIONS[self.activation][0]

    @property
    def df(self):
        return ACTIVATIONS[self.activation][1]


def init_pcn(sizes: list[int], generator: torch.Generator, *, scale: float = 0.1, activation: str = "tanh",
             device=None, dtype=torch.float32) -> PCN:
    """Weights ``W_{l+1} ~ N(0, scale^2 / d_{l+1})`` drawn on the CPU from ``generator``; ``sizes`` = ``[d_0, ...,
    d_L]`` (sensory first)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    ws = [scale * torch.randn(sizes[l], sizes[l + 1], generator=generator, dtype=torch.float64) / sizes[l + 1] ** 0.5
          for l in range(len(sizes) - 1)]
    return PCN([w.to(device, dtype) for w in ws], activation)


def init_states(net: PCN, x0: Tensor, rule: str = "zero", generator: torch.Generator | None = None,
                std: float = 0.01) -> list[Tensor]:
    """Value nodes for sensory states ``x0`` ``(B, d_0)``: hidden layers zero (``rule="zero"``) or ``N(0, std^2)``
    (``rule="random"``, drawn on the CPU from ``generator``)."""
    B = x0.shape[0]
    xs = [x0]
    for d in net.sizes[1:]:
        if rule == "zero":
            xs.append(torch.zeros(B, d, device=x0.device, dtype=x0.dtype))
        elif rule == "random":
            xs.append((std * torch.randn(B, d, generator=generator, dtype=torch.float64)).to(x0.device, x0.dtype))
        else:
            raise ValueError(f"unknown hidden-node initialisation {rule!r} (zero, random)")
    return xs


def predictions(net: PCN, xs: list[Tensor]) -> list[Tensor]:
    """``mu_l = W_{l+1} f(x_{l+1})`` for ``l < L``, each ``(B, d_l)``."""
    return [net.f(xs[l + 1]) @ w.T for l, w in enumerate(net.weights)]


def errors(net: PCN, xs: list[Tensor]) -> list[Tensor]:
    """``eps_l = x_l - mu_l`` for ``l < L``."""
    return [x - mu for x, mu in zip(xs, predictions(net, xs))]


def energy(net: PCN, xs: list[Tensor]) -> Tensor:
    """``F = sum_{l<L} 1/2 ||eps_l||^2`` per state, ``(B,)``."""
    return sum(0.5 * (e**2).sum(-1) for e in errors(net, xs))


def state_grads(net: PCN, xs: list[Tensor], eps: list[Tensor] | None = None) -> list[Tensor]:
    """``dF/dx_l`` for every layer (the sensory one included; inference applies it to the free nodes only)."""
    eps = errors(net, xs) if eps is None else eps
    L = len(net.weights)
    out = []
    for l in range(L + 1):
        g = eps[l] if l < L else torch.zeros_like(xs[l])
        if l > 0:
            g = g - net.df(xs[l]) * (eps[l - 1] @ net.weights[l - 1])
        out.append(g)
    return out


def weight_grads(net: PCN, xs: list[Tensor], eps: list[Tensor] | None = None) -> list[Tensor]:
    """``dF/dW_{l+1} = -eps_l f(x_{l+1})^T``, averaged over the batch: the local (Hebbian-like) weight gradient."""
    eps = errors(net, xs) if eps is None else eps
    B = xs[0].shape[0]
    return [-(e.T @ net.f(x)) / B for e, x in zip(eps, xs[1:])]


def _clamp_mask(clamp: Tensor | None, x0: Tensor) -> Tensor | None:
    """``None`` when the whole sensory layer is held, else a boolean mask broadcastable to ``x0`` (True = held)."""
    if clamp is None:
        return None
    clamp = torch.as_tensor(clamp, device=x0.device).bool()
    if bool(clamp.all()):
        return None
    return clamp


def _infer_direct(net: PCN, xs: list[Tensor], steps: int, gamma: float, clamp: Tensor | None, trace: bool):
    xs = list(xs)
    energies = []
    for _ in range(steps):
        eps = errors(net, xs)
        if trace:
            energies.append(sum(0.5 * (e**2).sum(-1) for e in eps))
        g = state_grads(net, xs, eps)
        for l in range(1, len(xs)):
            xs[l] = xs[l] - gamma * g[l]
        if clamp is not None:
            xs[0] = torch.where(clamp, xs[0], xs[0] - gamma * g[0])
    if trace:
        energies.append(energy(net, xs))
    return xs, (torch.stack(energies) if trace else None)


def _infer_gram(net: PCN, xs: list[Tensor], steps: int, gamma: float, clamp: Tensor | None, trace: bool):
    """:func:`_infer_direct` rearranged in the first hidden layer's space (the module docstring); ``clamp`` is
    ``None`` or one mask ``(d_0,)`` for the whole batch."""
    W1 = net.weights[0]
    x0 = xs[0]
    G = W1.T @ W1
    if clamp is None:
        c_k, u0, G_free = x0, None, None
    else:
        free = ~clamp
        c_k = torch.where(clamp, x0, torch.zeros((), dtype=x0.dtype, device=x0.device))
        u0 = torch.where(free, x0, torch.zeros((), dtype=x0.dtype, device=x0.device))
        W_free = W1[free]
        G_free = W_free.T @ W_free
    cW = c_k @ W1
    a = u0 @ W1 if u0 is not None else None  # u W_1, the free sensory nodes seen from layer 1
    s = torch.zeros_like(xs[1]) if u0 is not None else None  # running sum: u_t = (1-gamma)^t u_0 + (s W_1^T)|free
    ck2 = (c_k**2).sum(-1)
    u2 = (u0**2).sum(-1) if u0 is not None else None
    upper = list(xs[1:])
    sub = PCN(net.weights[1:], net.activation) if len(net.weights) > 1 else None
    energies = []

    def bottom(f1):
        xW = cW + a if a is not None else cW
        e0W = xW - f1 @ G  # eps_0 W_1
        if not trace:
            return e0W, None
        x2 = ck2 + u2 if u2 is not None else ck2
        return e0W, 0.5 * (x2 - 2.0 * (xW * f1).sum(-1) + ((f1 @ G) * f1).sum(-1))

    for _ in range(steps):
        f1 = net.f(upper[0])
        e0W, e_bottom = bottom(f1)
        if sub is not None:
            eps_up = errors(sub, upper)
            g = state_grads(sub, upper, eps_up)
        else:
            eps_up, g = [], [torch.zeros_like(upper[0])]
        if trace:
            energies.append(e_bottom + sum(0.5 * (e**2).sum(-1) for e in eps_up))
        g[0] = g[0] - net.df(upper[0]) * e0W
        if a is not None:
            fG = f1 @ G_free
            if trace:
                u2 = (1 - gamma) ** 2 * u2 + 2 * gamma * (1 - gamma) * (a * f1).sum(-1) + gamma**2 * (fG * f1).sum(-1)
            a = (1 - gamma) * a + gamma * fG
            s = (1 - gamma) * s + gamma * f1
        upper = [x - gamma * gl for x, gl in zip(upper, g)]
    if trace:
        f1 = net.f(upper[0])
        _, e_bottom = bottom(f1)
        energies.append(e_bottom + (energy(sub, upper) if sub is not None else 0.0))
    if u0 is None:
        out0 = x0
    else:
        out0 = torch.where(clamp, x0, (1 - gamma) ** steps * u0 + s @ W1.T)
    return [out0] + upper, (torch.stack(energies) if trace else None)


def infer(net: PCN, xs: list[Tensor], steps: int, gamma: float, clamp: Tensor | None = None, *,
          trace: bool = False, method: str = "auto") -> tuple[list[Tensor], Tensor | None]:
    """``steps`` simultaneous gradient steps of size ``gamma`` on the free value nodes; return the new states and,
    with ``trace``, the energy per state before every step and after the last, ``(steps + 1, B)``.

    ``clamp``: boolean mask of the sensory nodes held at their values, ``(d_0,)`` or ``(B, d_0)``; ``None``: all held.
    ``method``: ``direct``, ``gram`` (a clamp shared by the batch only) or ``auto`` (``gram`` where it is the cheaper
    and applies).
    """
    clamp = _clamp_mask(clamp, xs[0])
    shared = clamp is None or clamp.ndim == 1
    if method == "auto":
        d0, d1 = net.sizes[:2]
        method = "gram" if shared and steps * xs[0].shape[0] * d0 > 2 * d1 * (d0 + xs[0].shape[0]) else "direct"
    if method == "gram":
        if not shared:
            raise ValueError("the gram method needs a sensory clamp shared by the batch ((d_0,) or None)")
        return _infer_gram(net, xs, steps, gamma, clamp, trace)
    if method != "direct":
        raise ValueError(f"unknown inference method {method!r} (auto, direct, gram)")
    return _infer_direct(net, xs, steps, gamma, clamp, trace)


# ----------------------------------------------------------------------------- memorisation


@dataclass
class _Adam:
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    t: int = 0
    m: list = field(default_factory=list)
    v: list = field(default_factory=list)

    def step(self, params: list[Tensor], grads: list[Tensor]) -> list[Tensor]:
        if not self.m:
            self.m = [torch.zeros_like(p) for p in params]
            self.v = [torch.zeros_like(p) for p in params]
        self.t += 1
        b1, b2 = self.betas
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            mh, vh = self.m[i] / (1 - b1**self.t), self.v[i] / (1 - b2**self.t)
            out.append(p - self.lr * mh / (vh.sqrt() + self.eps))
        return out


def to_sensory(net: PCN, images: Tensor) -> Tensor:
    """Images ``(B, d_0)`` in pixel units -> sensory values (minus the offset)."""
    return images if net.offset is None else images - net.offset


def from_sensory(net: PCN, x0: Tensor) -> Tensor:
    return x0 if net.offset is None else x0 + net.offset


def train(images: Tensor, sizes: list[int], *, epochs: int, batch: int, t_train: int, gamma: float, lr: float,
          generator: torch.Generator, optimizer: str = "sgd", init_scale: float = 0.1, activation: str = "tanh",
          center: bool = True, init_rule: str = "zero", progress: bool = True, desc: str = "PCN memorisation"
          ) -> tuple[PCN, list[dict]]:
    """Memorise ``images`` ``(N, d_0)`` (pixel units; device and dtype are theirs) in a PCN of hidden sizes
    ``sizes`` (``[d_1, ..., d_L]``). Per epoch the images are visited in a seeded random order, ``batch`` at a time:
    clamp, ``t_train`` inference steps from the initial hidden states (``init_rule``), one weight step (``sgd``:
    ``W <- W - lr dF/dW``; ``adam``). Return the network and the trace, one row per epoch: ``energy`` (mean ``F``
    per image after inference, before that batch's weight step), ``sensory_mse`` (mean ``eps_0^2`` per pixel)."""
    N, d0 = images.shape
    net = init_pcn([d0, *sizes], generator, scale=init_scale, activation=activation, device=images.device,
                   dtype=images.dtype)
    net.offset = images.mean(0) if center else None
    X = to_sensory(net, images)
    opt = _Adam(lr) if optimizer == "adam" else None
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"unknown optimizer {optimizer!r} (sgd, adam)")
    trace = []
    for epoch in tqdm(range(1, epochs + 1), desc=desc, unit="epoch", disable=not progress, mininterval=2):
        order = torch.randperm(N, generator=generator).to(images.device)
        F_sum, e0_sum = 0.0, 0.0
        for start in range(0, N, batch):
            xb = X[order[start:start + batch]]
            xs, _ = infer(net, init_states(net, xb, init_rule, generator), t_train, gamma, method="direct")
            eps = errors(net, xs)
            F_sum += float(sum(0.5 * (e**2).sum() for e in eps))
            e0_sum += float((eps[0] ** 2).sum())
            grads = weight_grads(net, xs, eps)
            if opt is None:
                net.weights = [w - lr * g for w, g in zip(net.weights, grads)]
            else:
                net.weights = opt.step(net.weights, grads)
        trace.append({"epoch": epoch, "energy": F_sum / N, "sensory_mse": e0_sum / (N * d0)})
        if not math.isfinite(F_sum):
            raise FloatingPointError(f"{desc}: the energy diverged at epoch {epoch} (lower lr or gamma)")
    return net, trace


# ----------------------------------------------------------------------------- recall


def recall(net: PCN, cues: Tensor, known: Tensor | None = None, *, steps: int, gamma: float, outer: int = 1,
           init_rule: str = "zero", generator: torch.Generator | None = None, method: str = "auto",
           trace: bool = False) -> tuple[Tensor, Tensor | None]:
    """Recall from ``cues`` ``(B, d_0)`` in pixel units; return the recalled images and, with ``trace``, the energy
    per cue at every inference step (outer iterations concatenated).

    ``known is None`` (a noisy cue): sensory layer clamped to ``c``, ``steps`` inference steps, ``c <- mu_0``, repeated
    ``outer`` times; the last ``mu_0`` is returned. ``known`` (``(d_0,)`` or ``(B, d_0)``, True on the known pixels;
    a partial cue): only those clamped, the rest free from the cue's values, ``steps`` steps; the sensory layer is
    returned (known pixels as cued, the others as inferred)."""
    x0 = to_sensory(net, cues)
    traces = []
    if known is None:
        for _ in range(outer):
            xs, tr = infer(net, init_states(net, x0, init_rule, generator), steps, gamma, trace=trace, method=method)
            x0 = predictions(net, xs)[0]
            traces.append(tr)
    else:
        xs, tr = infer(net, init_states(net, x0, init_rule, generator), steps, gamma, clamp=known, trace=trace,
                       method=method)
        traces.append(tr)
        # the known pixels are the cue's own (exactly: not shifted by the offset and back)
        return torch.where(known, cues, from_sensory(net, xs[0])), (torch.cat(traces) if trace else None)
    return from_sensory(net, x0), (torch.cat(traces) if trace else None)
