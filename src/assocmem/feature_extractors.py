"""Learned feature maps for table memories (:mod:`assocmem.entropic_am`): an encoder to feature vectors, a decoder back
to images and a classifier on the features, fitted on a training split.

- :class:`PCA` (:func:`fit_pca`): principal components from ``torch.linalg.eigh`` of the covariance (``N >= d``) or of
  the Gram matrix (``N < d``), both exact; signs fixed so that each component's largest entry is positive. Encoder:
  projection on the leading ``k`` components (nested: the first ``k' < k`` are the ``k'``-component PCA); decoder:
  the PCA inverse (reconstruction from the components).
- :class:`LinearClassifier` (:func:`train_logistic`): multinomial logistic regression on standardised features,
  full-batch Adam from zero weights with an L2 penalty (deterministic: no random draws).
- :class:`ConvAutoencoder` (:func:`train_autoencoder`): a small convolutional autoencoder (strided 3x3 convolutions
  down to ``n`` features, transposed convolutions back to a sigmoid image) with an MLP classifier head on the
  features, trained jointly on ``MSE(reconstruction) + class_weight * cross-entropy`` by minibatch Adam; weights and
  minibatch order come from seeded CPU generators, so a CPU rerun is bit-identical.

Every feature model offers ``encode(images) -> (B, n)``, ``decode(features) -> images`` and ``logits(features)``;
images are float ``(B, H, W, C)`` in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


# ----------------------------------------------------------------------------- PCA


@dataclass
class PCA:
    """``mean`` ``(d,)``, ``components`` ``(k, d)`` (orthonormal rows, by decreasing variance), ``variances`` ``(k,)``
    and the image ``shape`` the pixels are flattened from."""

    mean: torch.Tensor
    components: torch.Tensor
    variances: torch.Tensor
    shape: tuple[int, ...]

    def truncated(self, k: int) -> "PCA":
        """The ``k``-component PCA (the leading ``k`` components)."""
        return PCA(self.mean, self.components[:k], self.variances[:k], self.shape)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        x = images.reshape(images.shape[0], -1).to(self.components)
        return (x - self.mean) @ self.components.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z.to(self.components) @ self.components + self.mean).reshape(z.shape[0], *self.shape)


def fit_pca(images: torch.Tensor, k: int, dtype: torch.dtype = torch.float32) -> PCA:
    """The ``k``-component PCA of ``images`` ``(N, ...)`` (float, any device), exact, by ``torch.linalg.eigh``."""
    shape = tuple(images.shape[1:])
    x = images.reshape(images.shape[0], -1).to(dtype)
    N, d = x.shape
    if k > min(N, d):
        raise ValueError(f"k = {k} components need at least k images and pixels ({N}, {d})")
    mean = x.mean(0)
    xc = x - mean
    if N >= d:
        evals, evecs = torch.linalg.eigh(xc.T @ xc / N)
        comps = evecs.flip(-1)[:, :k].T
    else:  # eigenvectors of the Gram matrix map to the covariance's: v = X^T u / |X^T u|
        evals, evecs = torch.linalg.eigh(xc @ xc.T / N)
        comps = (xc.T @ evecs.flip(-1)[:, :k]).T
        comps = comps / comps.norm(dim=1, keepdim=True)
    variances = evals.flip(-1)[:k].clamp(min=0)
    sign = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    return PCA(mean, comps * sign, variances, shape)


# ----------------------------------------------------------------------------- logistic regression


@dataclass
class LinearClassifier:
    """Multinomial logistic regression on standardised features: ``logits = ((z - mu) / sd) W + b``."""

    mu: torch.Tensor
    sd: torch.Tensor
    W: torch.Tensor
    b: torch.Tensor

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return ((z.to(self.W) - self.mu) / self.sd) @ self.W + self.b

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits(z).argmax(-1)


def train_logistic(z: torch.Tensor, y: torch.Tensor, classes: int, *, steps: int, lr: float, weight_decay: float,
                   progress: bool = True, desc: str = "logistic") -> LinearClassifier:
    """Fit :class:`LinearClassifier` to features ``z`` ``(N, n)`` and labels ``y`` by ``steps`` full-batch Adam steps on
    the mean cross-entropy plus ``weight_decay/2 |W|^2``, from zero weights (no random draws: deterministic)."""
    mu = z.mean(0)
    sd = z.std(0).clamp(min=1e-8)
    x = (z - mu) / sd
    W = torch.zeros(z.shape[1], classes, dtype=z.dtype, device=z.device, requires_grad=True)
    b = torch.zeros(classes, dtype=z.dtype, device=z.device, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=lr)
    y = y.to(z.device)
    for _ in tqdm(range(steps), desc=desc, unit="step", disable=not progress, mininterval=2):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(x @ W + b, y) + 0.5 * weight_decay * (W * W).sum()
        loss.backward()
        opt.step()
    return LinearClassifier(mu, sd, W.detach(), b.detach())


# ----------------------------------------------------------------------------- convolutional autoencoder


def _init_from(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every parameter of ``module`` from ``generator`` (CPU): ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for
    weights and biases alike (fan-in from the weight of the layer the bias belongs to)."""
    for layer in module.modules():
        w = getattr(layer, "weight", None)
        if not isinstance(w, torch.Tensor) or w.ndim < 2:
            continue
        fan_in = w.shape[1] * (w[0, 0].numel() if w.ndim > 2 else 1)
        if isinstance(layer, nn.ConvTranspose2d):
            fan_in = w.shape[0] * w[0, 0].numel()
        bound = 1.0 / math.sqrt(fan_in)
        with torch.no_grad():
            w.copy_((2 * torch.rand(w.shape, generator=generator, dtype=torch.float64) - 1) * bound)
            if getattr(layer, "bias", None) is not None:
                layer.bias.copy_((2 * torch.rand(layer.bias.shape, generator=generator, dtype=torch.float64) - 1)
                                 * bound)


class ConvAutoencoder(nn.Module):
    """Encoder: 3x3 convolutions with stride 2 (``widths`` channels, ReLU, batch-free) from ``(C, H, W)`` down to
    ``H / 2^len(widths)``, then a linear map to ``n`` features. Decoder: the mirror image with transposed
    convolutions and a sigmoid output. Classifier head: ``n -> hidden -> classes`` MLP with ReLU."""

    def __init__(self, generator: torch.Generator, n: int, *, channels: int = 3, size: int = 32,
                 widths: tuple[int, ...] = (32, 64, 128), hidden: int = 256, classes: int = 10):
        super().__init__()
        self.size, self.channels, self.widths = size, channels, tuple(widths)
        side = size // 2 ** len(widths)
        if side * 2 ** len(widths) != size:
            raise ValueError(f"image size {size} must be divisible by 2^{len(widths)}")
        enc, c = [], channels
        for w in widths:
            enc += [nn.Conv2d(c, w, 3, stride=2, padding=1), nn.ReLU()]
            c = w
        self.encoder_conv = nn.Sequential(*enc)
        self.to_features = nn.Linear(c * side * side, n)
        self.from_features = nn.Linear(n, c * side * side)
        dec = []
        for i, w in enumerate(reversed((channels,) + tuple(widths[:-1]))):
            dec.append(nn.ConvTranspose2d(c, w, 3, stride=2, padding=1, output_padding=1))
            if i < len(widths) - 1:
                dec.append(nn.ReLU())
            c = w
        self.decoder_conv = nn.Sequential(*dec)
        self.classifier = nn.Sequential(nn.Linear(n, hidden), nn.ReLU(), nn.Linear(hidden, classes))
        self.side = side
        _init_from(self, generator)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2)
        return self.to_features(self.encoder_conv(x).flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.from_features(z)).reshape(z.shape[0], self.widths[-1], self.side, self.side)
        return torch.sigmoid(self.decoder_conv(h)).permute(0, 2, 3, 1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.classifier(z)

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits(z).argmax(-1)


def train_autoencoder(model: ConvAutoencoder, images: torch.Tensor, labels: torch.Tensor, *, epochs: int, batch: int,
                      lr: float, class_weight: float, generator: torch.Generator, device=None,
                      progress: bool = True, desc: str = "autoencoder") -> list[dict]:
    """Train ``model`` in place on ``images`` ``(N, H, W, C)`` in [0, 1] (CPU tensor; minibatches are moved to
    ``device``): minibatch Adam on ``MSE + class_weight * CE``, minibatch order from ``generator``. Returns the mean
    losses per epoch."""
    device = torch.device("cpu") if device is None else device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    log = []
    N = images.shape[0]
    dtype = next(model.parameters()).dtype
    bar = tqdm(total=epochs * math.ceil(N / batch), desc=desc, unit="batch", disable=not progress, mininterval=2)
    for epoch in range(epochs):
        order = torch.randperm(N, generator=generator)
        tot = {"mse": 0.0, "ce": 0.0}
        for a in range(0, N, batch):
            idx = order[a:a + batch]
            x = images[idx].to(device, dtype)
            y = labels[idx].to(device)
            z = model.encode(x)
            mse = F.mse_loss(model.decode(z), x)
            ce = F.cross_entropy(model.logits(z), y)
            opt.zero_grad(set_to_none=True)
            (mse + class_weight * ce).backward()
            opt.step()
            tot["mse"] += float(mse.detach()) * len(idx)
            tot["ce"] += float(ce.detach()) * len(idx)
            bar.update()
        log.append({"epoch": epoch + 1, "mse": tot["mse"] / N, "ce": tot["ce"] / N})
    bar.close()
    return log
