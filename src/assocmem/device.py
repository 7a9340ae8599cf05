"""Device, dtype and random-number choices, made once for a whole run.

``resolve_device("auto")`` is CUDA when it is available, else the CPU; ``resolve_dtype("auto")`` is float32. The
environment variables ``ASSOCMEM_DEVICE`` and ``ASSOCMEM_DTYPE`` are applied to the configuration before it gets
here, with one precedence everywhere (command line > environment > config file; :func:`assocmem.config.
apply_environment`).

Random numbers are always drawn on the CPU from a seeded ``torch.Generator`` and then moved to the
device, so a given seed gives the same draws on every device and a CPU rerun is bit-identical.
"""

from __future__ import annotations

import torch

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def resolve_device(preference: str | None = "auto") -> torch.device:
    """Return the device to run on: ``preference``, or for ``auto`` CUDA when available, else the CPU."""
    pref = preference
    if pref in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(pref)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {pref!r} was requested but CUDA is not available on this machine")
    return device


def resolve_dtype(preference: str | None = "auto") -> torch.dtype:
    """Return the floating dtype for model tensors (``float32`` unless overridden)."""
    pref = "float32" if preference in (None, "", "auto") else preference
    if pref not in _DTYPES:
        raise ValueError(f"unknown dtype {pref!r}; choose one of {sorted(_DTYPES)}")
    return _DTYPES[pref]


def generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed``; draw with it, then ``.to(device)``."""
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    return g


def describe(device: torch.device) -> str:
    """Human-readable name of a device for result metadata."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu ({torch.get_num_threads()} threads)"
