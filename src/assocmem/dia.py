"""DIA: one attention module shared by all residual blocks of a stage (Huang et al.; DIANet, AAAI 2020), beside a
plain residual backbone and one with per-block squeeze-and-excitation (SE).

Backbone (the CIFAR ResNets of He et al.): a 3x3 stem convolution of ``width`` channels, three **stages** of residual
blocks (``width``, ``2 width``, ``4 width`` planes; the second and third start with stride 2), global average pooling
and a linear classifier. A block adds its residual branch ``u_t`` to its skip (the identity, or a 1x1 convolution and
BatchNorm where the shape changes). Basic blocks (two 3x3 convolutions; depth ``6 n + 2``, ``n`` blocks per stage)
or bottleneck blocks (1x1, 3x3, 1x1 with expansion 4; depth ``9 n + 2``).

The attention of a block gates the branch, not the sum: ``out_t = ReLU(u_t * a_t + skip_t)`` with ``a_t in (0, 1)^C``
a channel gate computed from ``z_t = GAP(u_t)`` (the branch pooled before the skip is added):

- ``none``: ``a_t = 1`` (the plain backbone);
- ``se``: one squeeze-and-excitation module per block, ``a_t = sigmoid(W2 ReLU(W1 z_t))`` (``C -> C / r -> C``);
- ``dia``: one :class:`DIAUnit` per stage, shared by its blocks: an LSTM cell whose state carries over from block
  ``t - 1`` (``h_0 = c_0 = 0`` at each stage's first block); ``a_t = h_t = o * sigmoid(c_t)``;
- ``dia_reset`` (the spec's optional ablation E3): the same unit with its state reset at every block (no memory
  across depth).

The DIA unit: ``gates = f_ih(z_t) + f_hh(h_{t-1})`` in ``R^{4C}``, split into ``i, f, g, o``; ``i, f, o`` through a
sigmoid and ``g`` through tanh; ``c_t = f * c_{t-1} + i * g``; ``h_t = o * sigmoid(c_t)`` (sigmoid, not tanh, so that
``h_t`` is a gate in ``(0, 1)``). Each ``f`` is a bottleneck ``Linear(C -> C / r) -> ReLU -> Linear(C / r -> 4C)``.
DIA adds one unit per stage whatever the number of blocks; SE adds one module per block
(:func:`attention_parameters` counts them).

Weights are drawn from seeded CPU generators, the backbone's from one and the attention modules' from another, so
the three variants built from one seed share the same backbone initialisation. :func:`train` (SGD with momentum,
cosine or step learning rate, random crop and flip drawn from a seeded generator) and :func:`evaluate` (test accuracy
and, on request, every block's attention vectors) run on the CPU or a GPU unchanged; a CPU rerun is bit-identical.
:func:`within_stage_correlation` gives the Pearson correlation of the attention vectors of every pair of blocks of a
stage (spec E1).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import device as _device

VARIANTS = ("none", "se", "dia", "dia_reset")


def _uniform(shape, bound: float, generator: torch.Generator) -> torch.Tensor:
    return (2.0 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1.0) * bound


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """Seeded initialisation of every convolution, linear layer and BatchNorm in ``module`` (in module order):
    convolutions He-normal (fan out), linear layers ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (weights and biases),
    BatchNorm weight 1 and bias 0."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator, dtype=torch.float64)
                               * math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                m.weight.copy_(_uniform(m.weight.shape, bound, generator))
                m.bias.copy_(_uniform(m.bias.shape, bound, generator))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()


def bottleneck_mlp(c_in: int, hidden: int, c_out: int) -> nn.Sequential:
    """``Linear(c_in -> hidden) -> ReLU -> Linear(hidden -> c_out)``."""
    return nn.Sequential(nn.Linear(c_in, hidden), nn.ReLU(), nn.Linear(hidden, c_out))


class SE(nn.Module):
    """Squeeze-and-excitation on a pooled branch ``z`` ``(B, C)``: ``sigmoid(W2 ReLU(W1 z))``, ``C -> C / r -> C``."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        self.mlp = bottleneck_mlp(channels, max(channels // reduction, 1), channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(z))


class DIAUnit(nn.Module):
    """The DIA unit: an LSTM cell on pooled branches ``z`` ``(B, C)`` with bottleneck input and hidden maps and the
    output ``h = o * sigmoid(c)``. :meth:`forward` takes the state of the previous block (``None`` at a stage's first
    block: ``h = c = 0``) and returns the gate ``h`` and the new state ``(h, c)``."""

    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.f_ih = bottleneck_mlp(channels, hidden, 4 * channels)
        self.f_hh = bottleneck_mlp(channels, hidden, 4 * channels)

    def forward(self, z: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h_prev, c_prev = (torch.zeros_like(z), torch.zeros_like(z)) if state is None else state
        i, f, g, o = (self.f_ih(z) + self.f_hh(h_prev)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.sigmoid(c)
        return h, (h, c)


class BasicBranch(nn.Module):
    """Residual branch of a basic block: conv3x3 (stride) - BN - ReLU - conv3x3 - BN; ``planes`` channels out."""

    expansion = 1

    def __init__(self, c_in: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


class BottleneckBranch(nn.Module):
    """Residual branch of a bottleneck block: conv1x1 - BN - ReLU - conv3x3 (stride) - BN - ReLU - conv1x1 - BN;
    ``4 planes`` channels out."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        return self.bn3(self.conv3(h))


BRANCHES = {"basic": BasicBranch, "bottleneck": BottleneckBranch}


def blocks_per_stage(depth: int, block: str) -> int:
    """``n`` from the depth: ``6 n + 2`` (basic) or ``9 n + 2`` (bottleneck)."""
    per = 6 if block == "basic" else 9
    if (depth - 2) % per or depth < per + 2:
        raise ValueError(f"depth {depth} is not {per} n + 2 for {block} blocks")
    return (depth - 2) // per


class Stage(nn.Module):
    """A run of ``n`` residual blocks of one channel count with its attention (``none``, ``se``: one module per
    block, ``dia`` / ``dia_reset``: one unit for the stage)."""

    def __init__(self, c_in: int, planes: int, n: int, stride: int, block: str, attention: str, reduction: int,
                 se_reduction: int):
        super().__init__()
        branch = BRANCHES[block]
        self.c_out = planes * branch.expansion
        self.attention = attention
        self.branches = nn.ModuleList()
        self.skips = nn.ModuleList()
        c = c_in
        for t in range(n):
            s = stride if t == 0 else 1
            self.branches.append(branch(c, planes, s))
            self.skips.append(nn.Sequential(nn.Conv2d(c, self.c_out, 1, stride=s, bias=False),
                                            nn.BatchNorm2d(self.c_out)) if (s != 1 or c != self.c_out)
                              else nn.Identity())
            c = self.c_out
        self.se = nn.ModuleList([SE(self.c_out, se_reduction) for _ in range(n)]) if attention == "se" else None
        self.dia = DIAUnit(self.c_out, reduction) if attention in ("dia", "dia_reset") else None

    def backbone_modules(self) -> list[nn.Module]:
        return [*self.branches, *self.skips]

    def attention_modules(self) -> list[nn.Module]:
        return [m for m in (self.se, self.dia) if m is not None]

    def forward(self, x: torch.Tensor, record: list | None = None) -> torch.Tensor:
        state = None  # h_0 = c_0 = 0 at the stage's first block
        for t, (branch, skip) in enumerate(zip(self.branches, self.skips)):
            u = branch(x)
            if self.attention == "none":
                x = F.relu(u + skip(x))
                continue
            z = u.mean(dim=(2, 3))  # the branch pooled before the skip is added
            if self.se is not None:
                a = self.se[t](z)
            else:
                a, state = self.dia(z, None if self.attention == "dia_reset" else state)
            if record is not None:
                record.append(a.detach())
            x = F.relu(u * a[:, :, None, None] + skip(x))
        return x


class ResNet(nn.Module):
    """A CIFAR ResNet of ``depth`` with ``attention`` in ``VARIANTS``; stages of ``width``, ``2 width`` and ``4 width``
    planes. The backbone (stem, blocks, classifier) is drawn from ``generator`` and the attention modules from
    ``attention_generator`` (the same backbone for every variant built from one seed). ``reduction`` is the DIA
    unit's ratio ``r``, ``se_reduction`` SE's."""

    def __init__(self, attention: str = "none", *, depth: int = 20, width: int = 16, block: str = "basic",
                 classes: int = 10, reduction: int = 4, se_reduction: int = 4,
                 generator: torch.Generator | None = None, attention_generator: torch.Generator | None = None):
        super().__init__()
        if attention not in VARIANTS:
            raise ValueError(f"unknown attention {attention!r}; choose one of {VARIANTS}")
        n = blocks_per_stage(depth, block)
        self.attention, self.depth, self.block = attention, depth, block
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width))
        stages, c = [], width
        for k, planes in enumerate((width, 2 * width, 4 * width)):
            stages.append(Stage(c, planes, n, 1 if k == 0 else 2, block, attention, reduction, se_reduction))
            c = stages[-1].c_out
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(c, classes)
        g = generator if generator is not None else _device.generator(0)
        ga = attention_generator if attention_generator is not None else _device.generator(1)
        for m in (self.stem, *[b for s in self.stages for b in s.backbone_modules()], self.fc):
            init_weights(m, g)
        for s in self.stages:
            for m in s.attention_modules():
                init_weights(m, ga)

    def forward(self, x: torch.Tensor, record: list | None = None) -> torch.Tensor:
        """Logits ``(B, classes)``; with ``record`` a list, append one list per stage of its blocks' attention
        vectors ``(B, C)``."""
        x = F.relu(self.stem(x))
        for stage in self.stages:
            per_stage = None if record is None else []
            x = stage(x, per_stage)
            if record is not None:
                record.append(per_stage)
        return self.fc(x.mean(dim=(2, 3)))


def attention_parameters(model: ResNet) -> int:
    """Number of parameters in the attention modules (SE modules or DIA units) of ``model``."""
    return sum(p.numel() for s in model.stages for m in s.attention_modules() for p in m.parameters())


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- data and training


def to_tensor(images: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 images ``(N, H, W, 3)`` -> float ``(N, 3, H, W)`` standardised per channel (with ``mean`` and ``std``
    given, else those of ``images``); returns the images, mean and std."""
    x = images.permute(0, 3, 1, 2).to(torch.float32) / 255.0
    if mean is None:
        mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    return (x - mean[:, None, None]) / std[:, None, None], mean, std


def augment(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop (zero padding ``pad``, offsets uniform) and horizontal flip (probability 1/2) of a batch
    ``(B, C, H, W)``, one draw per image from ``generator`` (on the CPU), applied as one gather on ``x``'s device."""
    B, _, H, W = x.shape
    off = torch.randint(0, 2 * pad + 1, (B, 2), generator=generator).to(x.device)
    flip = (torch.rand(B, generator=generator) < 0.5).to(x.device)
    xp = F.pad(x, (pad, pad, pad, pad))
    rows = off[:, :1] + torch.arange(H, device=x.device)  # (B, H)
    cols = off[:, 1:] + torch.arange(W, device=x.device)  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(-1), cols)
    b = torch.arange(B, device=x.device)[:, None, None]
    return xp[b, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def learning_rate(step: int, total: int, steps_per_epoch: int, params: dict) -> float:
    """Learning rate at iteration ``step`` of ``total``: ``lr`` times a cosine from 1 to 0 (``schedule: cosine``) or
    a factor 0.1 after each of ``milestones`` (fractions of training; ``schedule: step``); 0.1 ``lr`` during the
    first ``warmup_epochs``."""
    lr = params["lr"]
    if step < params.get("warmup_epochs", 0) * steps_per_epoch:
        return 0.1 * lr
    if params["schedule"] == "cosine":
        return 0.5 * lr * (1.0 + math.cos(math.pi * step / total))
    return lr * 0.1 ** sum(step >= m * total for m in params["milestones"])


def train(model: ResNet, x: torch.Tensor, y: torch.Tensor, params: dict, generator: torch.Generator, *,
          progress: bool = True, desc: str = "DIA") -> list[dict]:
    """Train ``model`` on standardised images ``x`` ``(N, 3, H, W)`` and labels ``y`` (on the model's device) for
    ``epochs`` epochs of batches of ``batch`` (the last partial batch dropped): SGD with ``momentum``, ``nesterov``
    off, ``weight_decay``, the learning rate of :func:`learning_rate` set every iteration, random crop and flip
    (:func:`augment`). Shuffling and augmentation draw from ``generator``. Returns one log row per epoch (mean loss
    and accuracy on the augmented batches)."""
    n, bs = x.shape[0], params["batch"]
    steps = n // bs
    if steps == 0:
        raise ValueError(f"{n} training images is fewer than one batch of {bs}")
    total = steps * params["epochs"]
    opt = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=params["momentum"],
                          weight_decay=params["weight_decay"])
    log, step = [], 0
    bar = tqdm(total=total, desc=desc, unit="it", disable=not progress, mininterval=2)
    model.train()
    for epoch in range(params["epochs"]):
        order = torch.randperm(n, generator=generator).to(x.device)
        loss_sum = torch.zeros((), device=x.device)
        correct = torch.zeros((), device=x.device)
        for k in range(steps):
            idx = order[k * bs:(k + 1) * bs]
            xb = augment(x[idx], generator) if params["augment"] else x[idx]
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, total, steps, params)
            logits = model(xb)
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
            correct += (logits.detach().argmax(-1) == y[idx]).sum()
            step += 1
            bar.update()
        log.append({"epoch": epoch + 1, "train_loss": float(loss_sum / steps),
                    "train_accuracy": float(correct / (steps * bs))})
    bar.close()
    return log


@torch.no_grad()
def evaluate(model: ResNet, x: torch.Tensor, y: torch.Tensor, batch: int = 1000, record: int = 0
             ) -> tuple[float, list[list[torch.Tensor]] | None]:
    """Test accuracy of ``model`` in eval mode (BatchNorm running statistics) on ``x``, ``y``, ``batch`` images at a
    time; with ``record > 0`` also the attention vectors of the first ``record`` images, one list per stage of
    ``(record, C)`` tensors (one per block; on the CPU, float64), or ``None`` for the plain backbone."""
    model.eval()
    correct, per_batch = 0, []
    for start in range(0, x.shape[0], batch):
        rec = [] if start < record and model.attention != "none" else None
        logits = model(x[start:start + batch], rec)
        correct += int((logits.argmax(-1) == y[start:start + batch]).sum())
        if rec is not None:
            per_batch.append(rec)
    vectors = None
    if record > 0 and model.attention != "none":
        vectors = [[torch.cat([b[s][t] for b in per_batch]).double().cpu()[:record]
                    for t in range(len(per_batch[0][s]))] for s in range(len(per_batch[0]))]
    return correct / x.shape[0], vectors


def within_stage_correlation(vectors: list[torch.Tensor]) -> torch.Tensor:
    """Pearson correlation of the attention vectors of every pair of blocks of one stage: ``vectors`` holds one
    ``(P, C)`` tensor per block (``P`` images); for each image the correlation across the ``C`` channels of block
    ``i``'s and block ``j``'s vectors, averaged over the images. Returns the ``(n, n)`` matrix (ones on the diagonal;
    a constant vector correlates as 0)."""
    a = torch.stack(vectors)  # (n, P, C)
    a = a - a.mean(dim=-1, keepdim=True)
    a = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.einsum("ipc,jpc->ijp", a, a).mean(dim=-1)


def mean_off_diagonal(matrix: torch.Tensor) -> float:
    """Mean of the off-diagonal entries of a square matrix (nan for 1 x 1)."""
    n = matrix.shape[0]
    if n < 2:
        return float("nan")
    return float((matrix.sum() - matrix.diagonal().sum()) / (n * (n - 1)))


@torch.no_grad()
def initial_vectors(model: ResNet, x: torch.Tensor, batch: int = 1000) -> list[list[torch.Tensor]] | None:
    """The attention vectors of the untrained ``model`` on ``x``, as :func:`evaluate` returns them; BatchNorm uses
    each batch's statistics (its running statistics are not yet the data's), on a copy, so ``model`` is untouched."""
    if model.attention == "none":
        return None
    net = copy.deepcopy(model).train()
    per_batch = []
    for start in range(0, x.shape[0], batch):
        rec: list = []
        net(x[start:start + batch], rec)
        per_batch.append(rec)
    return [[torch.cat([b[s][t] for b in per_batch]).double().cpu() for t in range(len(per_batch[0][s]))]
            for s in range(len(per_batch[0]))]


def fit_and_test(attention: str, train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                 test_y: torch.Tensor, params: dict, *, seed: int, device: torch.device, dtype: torch.dtype,
                 record: int = 0, progress: bool = True) -> dict:
    """Build (from ``seed``: backbone, attention modules and training draws from three generators of their own),
    train and test one network; return its test accuracy, parameter counts, training log and, with ``record``, the
    attention vectors of the first ``record`` test images after training (``vectors``) and before
    (``initial_vectors``, :func:`initial_vectors`)."""
    g, ga, gt = (_device.generator(seed + k) for k in range(3))
    cl = torch.channels_last  # about 20% faster convolutions on a CPU; the same numbers on any layout up to rounding
    model = ResNet(attention, depth=params["depth"], width=params["width"], block=params["block"],
                   reduction=params["reduction"], se_reduction=params["se_reduction"], generator=g,
                   attention_generator=ga).to(device, dtype, memory_format=cl)
    test_x = test_x.to(device, dtype).contiguous(memory_format=cl)
    before = initial_vectors(model, test_x[:record], params["eval_batch"]) if record else None
    log = train(model, train_x.to(device, dtype).contiguous(memory_format=cl), train_y.to(device), params, gt,
                progress=progress, desc=f"DIA {attention} {params['depth']}/{params['width']}")
    acc, vectors = evaluate(model, test_x, test_y.to(device), params["eval_batch"], record)
    return {"accuracy": acc, "attention_parameters": attention_parameters(model),
            "parameters": count_parameters(model), "log": log, "vectors": vectors, "initial_vectors": before}
