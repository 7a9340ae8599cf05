"""Synthetic stimulus set in the style of Miyashita (1988), as used by the CDAM paper.

Miyashita trained monkeys on 97 fractal pictures always shown in one fixed order; neurons in
temporal cortex came to respond similarly to pictures that were neighbours in that order. Here the
stimuli are ``p`` random patterns with i.i.d. U[0, 1) entries of dimension ``n`` and a seeded random
permutation fixes the learned presentation order.

Random numbers come from a CPU ``torch.Generator`` seeded with ``seed``; the patterns are drawn
first, then the order, so a seed always gives bit-identical tensors.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from .mirror import save_tensors, write_metadata

__all__ = ["make_miyashita", "prepare_miyashita", "sequence_distance"]


def make_miyashita(n_stimuli: int = 97, n_neurons: int = 1000, seed: int = 0) -> dict[str, torch.Tensor]:
    """Return ``patterns`` float32 (p, n), ``order`` int64 (p,) and ``position`` int64 (p,).

    ``order[k]`` is the stimulus shown at position ``k`` of the learned sequence and
    ``position[i]`` the position of stimulus ``i`` (the inverse permutation).
    """
    if n_stimuli < 1 or n_neurons < 1:
        raise ValueError(f"n_stimuli and n_neurons must be positive, got {n_stimuli} and {n_neurons}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    patterns = torch.rand((n_stimuli, n_neurons), generator=gen, dtype=torch.float32)
    order = torch.randperm(n_stimuli, generator=gen, dtype=torch.int64)
    position = torch.empty_like(order)
    position[order] = torch.arange(n_stimuli, dtype=torch.int64)
    return {"patterns": patterns, "order": order, "position": position}


def prepare_miyashita(
    out: str | os.PathLike[str], *, n_stimuli: int = 97, n_neurons: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Save :func:`make_miyashita` to ``out`` (torch.save dict) and its JSON metadata; return the metadata."""
    data = make_miyashita(n_stimuli=n_stimuli, n_neurons=n_neurons, seed=seed)
    save_tensors(data, out)
    meta = {
        "name": "miyashita",
        "format": "torch.save dict of tensors",
        "n_stimuli": n_stimuli,
        "n_neurons": n_neurons,
        "seed": seed,
        "distribution": "i.i.d. U[0, 1), float32, CPU torch.Generator; patterns drawn first, then the order",
        "tensors": {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")} for k, v in data.items()},
    }
    write_metadata(meta, out)
    return meta


def sequence_distance(position: torch.Tensor, cyclic: bool) -> torch.Tensor:
    """Distance of every pair of stimuli in the learned sequence, int64 (p, p).

    ``D[i, j] = |position[i] - position[j]|`` for a path (``cyclic=False``), and
    ``min(d, p - d)`` for a cycle where the last stimulus is followed by the first.
    """
    pos = position.to(torch.int64)
    d = (pos[:, None] - pos[None, :]).abs()
    if cyclic:
        d = torch.minimum(d, pos.numel() - d)
    return d
