"""Score networks for denoising score matching (:mod:`assocmem.diffusion`): a stack of independent MLPs for points
(the spec's 4 x 128 SiLU MLP) and a small U-Net for images. Both condition on the noise level through a Fourier
embedding of ``t = log(sigma / sigma_min) / log(sigma_max / sigma_min)`` and return the score as the network's
output divided by ``sigma`` (``score(x, sigma) = net(x, sigma) / sigma``), so that the denoising loss
``|| sigma s + eps ||^2 = || net + eps ||^2`` is equally conditioned at every noise level.

Every weight is drawn from a seeded CPU generator (one per model), so a model's initial weights do not depend on
the other models stacked beside it, and in :func:`assocmem.diffusion.train_dsm` each model gets the gradient of its
own loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def noise_time(sigma: torch.Tensor, sigma_min: float, sigma_max: float) -> torch.Tensor:
    """``t = log(sigma / sigma_min) / log(sigma_max / sigma_min)``: 0 at ``sigma_min``, 1 at ``sigma_max``."""
    return torch.log(sigma / sigma_min) / math.log(sigma_max / sigma_min)


def fourier_features(t: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Random Fourier embedding ``[sin(2 pi f t), cos(2 pi f t)]`` of ``t`` ``(..., B)`` with frequencies ``freqs``
    broadcastable to ``(..., 1, F)``; returns ``(..., B, 2F)``."""
    a = 2.0 * math.pi * t[..., None] * freqs
    return torch.cat([torch.sin(a), torch.cos(a)], dim=-1)


def _uniform(shape, bound: float, generator: torch.Generator) -> torch.Tensor:
    return (2.0 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1.0) * bound


class StackedMLP(nn.Module):
    """``models`` independent MLP score networks for ``d``-dimensional points, evaluated as one batched job.

    Per model: input ``[x, fourier(t)]`` (``2 * n_freqs`` embedding features, frequencies ``N(0, fourier_scale^2)``),
    ``layers`` hidden layers of ``hidden`` units with SiLU, a linear output of ``d``; weights and biases
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``. States ``(models, B, d)``.
    """

    def __init__(self, generators: list[torch.Generator], dim: int, *, hidden: int = 128, layers: int = 4,
                 n_freqs: int = 32, fourier_scale: float = 16.0, sigma_min: float, sigma_max: float):
        super().__init__()
        self.models, self.dim = len(generators), dim
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        sizes = [dim + 2 * n_freqs] + [hidden] * layers + [dim]
        per_model = []
        for g in generators:
            freqs = fourier_scale * torch.randn(n_freqs, generator=g, dtype=torch.float64)
            ws = []
            for a, b in zip(sizes[:-1], sizes[1:]):
                ws.append((_uniform((a, b), 1 / math.sqrt(a), g), _uniform((1, b), 1 / math.sqrt(a), g)))
            per_model.append((freqs, ws))
        self.register_buffer("freqs", torch.stack([f for f, _ in per_model])[:, None, :].float())
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([ws[i][0] for _, ws in per_model]).float()) for i in range(len(sizes) - 1)])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([ws[i][1] for _, ws in per_model]).float()) for i in range(len(sizes) - 1)])

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The network's output ``(models, B, d)`` (``-eps`` estimate) at states ``x`` and noise levels ``sigma``
        ``(models, B)``."""
        t = noise_time(sigma, self.sigma_min, self.sigma_max)
        h = torch.cat([x, fourier_features(t, self.freqs.to(x.dtype))], dim=-1)
        n = len(self.weights)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < n - 1:
                h = F.silu(h)
        return h

    def score(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """``net(x, sigma) / sigma``; ``sigma`` a scalar or ``(models, B)``."""
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[:-1])
        return self(x, s) / s[..., None]


def _groups(c: int) -> int:
    return math.gcd(c, 8)


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(_groups(cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.e = nn.Linear(emb, cout)
        self.n2, self.c2 = nn.GroupNorm(_groups(cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        r = self.c1(F.silu(self.n1(h))) + self.e(e)[:, :, None, None]
        r = self.c2(F.silu(self.n2(r)))
        return self.skip(h) + r


class UNet(nn.Module):
    """A small U-Net score network for images ``(C, H, W)`` (one model; ``models = 1``).

    Levels of widths ``widths`` (one residual block each, GroupNorm, SiLU, the noise embedding added per block),
    a stride-2 convolution between levels, a middle block, and an upward path that concatenates each level's
    skip; ``H`` and ``W`` need not be powers of two (upsampling goes to the skip's size).

    Preconditioned as in Karras et al. (2022, EDM): the network ``F`` sees ``c_in x`` and gives the denoiser
    ``D(x) = c_skip x + c_out F``, with ``c_in = 1 / sqrt(sigma^2 + sigma_data^2)``,
    ``c_skip = sigma_data^2 / (sigma^2 + sigma_data^2)``, ``c_out = sigma sigma_data / sqrt(sigma^2 + sigma_data^2)``
    (unit-variance input and target at every noise level; a CPU-sized net learns far faster than with a bare
    ``-eps`` output). :meth:`forward` returns the ``-eps`` estimate ``(D(x) - x) / sigma``, which is divided by
    ``sigma`` once more for the score (Tweedie: ``score = (D(x) - x) / sigma^2``), as for the MLP.
    States ``(1, B, C, H, W)``.
    """

    models = 1

    def __init__(self, generator: torch.Generator, channels: int, widths: tuple[int, ...] = (16, 32), *,
                 n_freqs: int = 16, fourier_scale: float = 16.0, sigma_min: float, sigma_max: float,
                 sigma_data: float = 0.5):
        super().__init__()
        self.sigma_min, self.sigma_max, self.sigma_data = float(sigma_min), float(sigma_max), float(sigma_data)
        emb = 4 * widths[0]
        self.register_buffer("freqs", (fourier_scale * torch.randn(n_freqs, generator=generator,
                                                                   dtype=torch.float64)).float())
        self.emb = nn.Linear(2 * n_freqs, emb)
        self.inp = nn.Conv2d(channels, widths[0], 3, padding=1)
        self.downs = nn.ModuleList()
        self.pools = nn.ModuleList()
        prev = widths[0]
        for i, w in enumerate(widths):
            self.downs.append(_ResBlock(prev, w, emb))
            if i < len(widths) - 1:
                self.pools.append(nn.Conv2d(w, w, 3, stride=2, padding=1))
            prev = w
        self.mid = _ResBlock(prev, prev, emb)
        self.ups = nn.ModuleList()
        for i, w in enumerate(widths):
            below = widths[i + 1] if i < len(widths) - 1 else widths[-1]
            self.ups.append(_ResBlock(below + w, w, emb))
        self.out_norm = nn.GroupNorm(_groups(widths[0]), widths[0])
        self.out = nn.Conv2d(widths[0], channels, 3, padding=1)
        with torch.no_grad():  # seeded initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for convs and linears
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    fan_in = m.weight[0].numel()
                    m.weight.copy_(_uniform(m.weight.shape, 1 / math.sqrt(fan_in), generator))
                    m.bias.copy_(_uniform(m.bias.shape, 1 / math.sqrt(fan_in), generator))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The ``-eps`` estimate ``(D(x) - x) / sigma`` ``(1, B, C, H, W)`` at states ``x`` ``(1, B, C, H, W)`` and
        noise levels ``sigma`` ``(1, B)``."""
        lead, img = x.shape[:2], x.shape[2:]
        xb, sb = x.reshape(-1, *img), sigma.reshape(-1, 1, 1, 1)
        norm = torch.sqrt(sb**2 + self.sigma_data**2)
        c_in, c_skip, c_out = 1.0 / norm, self.sigma_data**2 / norm**2, sb * self.sigma_data / norm
        e = F.silu(self.emb(fourier_features(noise_time(sb.reshape(-1), self.sigma_min, self.sigma_max),
                                             self.freqs)))
        h = self.inp(xb * c_in)
        skips = []
        for i, block in enumerate(self.downs):
            h = block(h, e)
            skips.append(h)
            if i < len(self.pools):
                h = self.pools[i](h)
        h = self.mid(h, e)
        for i in reversed(range(len(self.ups))):
            if h.shape[-2:] != skips[i].shape[-2:]:
                h = F.interpolate(h, size=skips[i].shape[-2:], mode="nearest")
            h = self.ups[i](torch.cat([h, skips[i]], dim=1), e)
        denoised = c_skip * xb + c_out * self.out(F.silu(self.out_norm(h)))
        return ((denoised - xb) / sb).reshape(*lead, *img)

    def score(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """``net(x, sigma) / sigma``; ``sigma`` a scalar or ``(1, B)``."""
        s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).expand(x.shape[:2])
        return self(x, s) / s.reshape(*s.shape, 1, 1, 1)
