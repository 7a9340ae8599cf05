"""The device's own matrix-multiply rate, measured in the same run as a benchmark, as its reference.

``square_gemm_tflops(dev, dtype)`` times ``n x n @ n x n`` products (warm-ups first, synchronized on a GPU)
and returns TFLOP/s (``2 n^3`` FLOP per product). Benchmarks report their achieved rate as a fraction of it.
"""

from __future__ import annotations

import statistics
import time

import torch


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def square_gemm_tflops(dev: torch.device, dtype=torch.float32, n: int | None = None, repeats: int = 10) -> dict:
    """Median TFLOP/s of ``repeats`` ``n x n`` products (default ``n``: 8192 on a GPU, 2048 on a CPU)."""
    n = n or (8192 if dev.type == "cuda" else 2048)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g, dtype=dtype).to(dev)
    b = torch.randn(n, n, generator=g, dtype=dtype).to(dev)
    for _ in range(3):
        a @ b
    _sync(dev)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        _sync(dev)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"n": n, "dtype": str(dtype).replace("torch.", ""), "repeats": repeats, "median_s": med,
            "tflops": 2 * n**3 / med / 1e12,
            "tf32_allowed": bool(torch.backends.cuda.matmul.allow_tf32) if dev.type == "cuda" else None}


def counted_flops(fn) -> int:
    """Matrix-multiply FLOPs of ``fn()`` as PyTorch's FLOP counter sees them (run once, untimed)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())
