"""Retrieval benchmark: the batched core update against a plain per-query NumPy loop.

Measures, in one run on one machine:

1. the machine's float32 matrix-multiply rate (torch GEMMs of the two shapes the update uses);
2. a plain NumPy loop over a subset of queries, one query at a time
   (``s = Xi @ x``; stable softmax; ``x_new = Xi.T @ p``);
3. :func:`assocmem.dynamics.update` on all queries at once (chunked to bound memory);

checks that 2 and 3 agree on the shared queries, and reports per-query times, their ratio, the
achieved GFLOP/s of each and the batched update's fraction of the measured GEMM rate.

FLOP count used throughout: one update step of one query against ``N`` memories of dimension ``d``
is two matrix products, ``2*N*d`` FLOPs each, so ``4*N*d`` per query per step. The softmax
(``~N`` exponentials, sums and divisions per query) is *not* counted; it is ``O(N)`` against the
``O(N*d)`` products.

Run ``python benchmarks/bench_retrieval.py --help`` for the options. A benchmark, not a test: it is
run on demand and its numbers are kept under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from assocmem import device as am_device
from assocmem import dynamics

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark the batched retrieval update of assocmem against a per-query NumPy loop.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--device", default="auto", help="auto | cpu | cuda | cuda:N (the NumPy loop always runs on the CPU)"
    )
    p.add_argument("--n-stored", type=int, default=60000, help="number of stored patterns N")
    p.add_argument("--dim", type=int, default=784, help="pattern dimension d")
    p.add_argument("--queries", type=int, default=10000, help="number of queries B for the batched update")
    p.add_argument("--numpy-queries", type=int, default=200, help="queries run through the NumPy loop (the first ones)")
    p.add_argument("--steps", type=int, default=1, help="update steps per query (a fixed count; no convergence test)")
    p.add_argument("--beta", type=float, default=32.0, help="inverse temperature")
    p.add_argument(
        "--noise",
        type=float,
        default=0.5,
        help="query noise: norm of the added Gaussian vector relative to the unit pattern",
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=2048,
        help="queries per batched call; peak extra memory is about 3*chunk*N*4 bytes "
        "(~1.5 GB at the defaults). 0 = all queries in one call",
    )
    p.add_argument("--gemm-rows", type=int, default=None, help="rows of the baseline GEMM (default: the chunk size)")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up calls before each timed measurement")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of the full batched pass")
    p.add_argument(
        "--gemm-repeats",
        type=int,
        default=3,
        help="timed repeats of each baseline GEMM per block (one block before and one after the batched update)",
    )
    p.add_argument("--atol", type=float, default=1e-4, help="maximum allowed |numpy - batched| on the shared queries")
    p.add_argument(
        "--check-beta",
        type=float,
        default=12.0,
        help="second, untimed agreement check at this beta, where the softmax is spread over many memories "
        "(at the benchmark beta it is nearly one-hot, which makes agreement easy); 0 = skip",
    )
    p.add_argument("--check-queries", type=int, default=50, help="queries in the second agreement check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument(
        "--mnist",
        type=Path,
        default=None,
        help="optional prepared MNIST .pt file (keys train_images, test_images: uint8 (n,28,28)); "
        "stores train images and queries with test images instead of synthetic patterns",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON output (default: benchmarks/results/retrieval-<date>-<device>.json)",
    )
    p.add_argument("--no-save", action="store_true", help="print the table only; write no JSON")
    args = p.parse_args(argv)
    for name in ("n_stored", "dim", "queries", "steps", "repeats", "gemm_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.numpy_queries < 0 or args.chunk < 0 or args.warmup < 0:
        p.error("--numpy-queries, --chunk and --warmup must be non-negative")
    args.numpy_queries = min(args.numpy_queries, args.queries)
    return args


# --------------------------------------------------------------------------------------------
# timing helpers
# --------------------------------------------------------------------------------------------


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def time_calls(fn, dev: torch.device, warmup: int, repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    _sync(dev)
    times = []
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return times


def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "all_s": times}


def write_result(result: dict, name: str, dev: torch.device, out: Path | None = None) -> Path:
    """Write a benchmark's result as JSON to ``out``, by default ``benchmarks/results/<name>-<date>-<device>.json``
    (every benchmark keeps its numbers there)."""
    path = out or RESULTS_DIR / f"{name}-{_dt.date.today().isoformat()}-{dev.type}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def _unit_rows(a: torch.Tensor) -> torch.Tensor:
    return a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)


def make_data(args) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, str]:
    """Memories ``Xi`` (N, d), queries (B, d), the index of each query's source pattern (or None), a label."""
    g = am_device.generator(args.seed)
    if args.mnist is not None:
        blob = torch.load(args.mnist, map_location="cpu", weights_only=True)
        train = blob["train_images"].reshape(blob["train_images"].shape[0], -1).float()
        test = blob["test_images"].reshape(blob["test_images"].shape[0], -1).float()
        Xi = _unit_rows(train[: args.n_stored])
        if args.queries > test.shape[0]:
            raise SystemExit(f"--queries {args.queries} exceeds the {test.shape[0]} test images in {args.mnist}")
        queries = _unit_rows(test[: args.queries])
        args.n_stored, args.dim = Xi.shape
        return Xi.contiguous(), queries.contiguous(), None, f"MNIST ({args.mnist.name}): train stored, test queries"
    Xi = _unit_rows(torch.randn(args.n_stored, args.dim, generator=g, dtype=torch.float32))
    source = torch.randint(args.n_stored, (args.queries,), generator=g)
    noise = torch.randn(args.queries, args.dim, generator=g, dtype=torch.float32)
    queries = _unit_rows(Xi[source] + args.noise * _unit_rows(noise))
    label = f"synthetic unit-norm Gaussian patterns; queries = stored pattern + {args.noise} x unit noise, renormalised"
    return Xi.contiguous(), queries.contiguous(), source, label


# --------------------------------------------------------------------------------------------
# the three measurements
# --------------------------------------------------------------------------------------------


def gemm_block(Xi: torch.Tensor, rows: int, args, dev: torch.device) -> dict[str, list[float]]:
    """Times of float32 GEMMs with the operands and layouts of the update.

    ``scores``: (rows x d) @ (d x N), i.e. ``x @ Xi.T``; ``readout``: (rows x N) @ (N x d), i.e. ``w @ Xi``.
    """
    N, d = Xi.shape
    g = am_device.generator(args.seed + 1)
    a = torch.randn(rows, d, generator=g).to(dev)
    w = torch.softmax(torch.randn(rows, N, generator=g), dim=-1).to(dev)
    times = {}
    with torch.inference_mode():
        for name, fn in (("scores", lambda: a @ Xi.T), ("readout", lambda: w @ Xi)):
            times[name] = time_calls(fn, dev, max(args.warmup, 1), args.gemm_repeats)
    return times


def gemm_summary(blocks: dict[str, dict[str, list[float]]], rows: int, N: int, d: int) -> dict:
    """Pool the GEMM blocks measured before and after the batched update into one reference rate."""
    flops = 2.0 * rows * N * d
    out = {}
    for name, shape in (("scores", f"({rows}x{d}) @ ({d}x{N})"), ("readout", f"({rows}x{N}) @ ({N}x{d})")):
        pooled = [t for blk in blocks.values() for t in blk[name]]
        s = summary(pooled)
        s["shape"] = shape
        s["flops"] = flops
        s["gflops_median"] = flops / s["median_s"] / 1e9
        s["gflops_best"] = flops / s["min_s"] / 1e9
        s["gflops_median_by_block"] = {k: flops / statistics.median(blk[name]) / 1e9 for k, blk in blocks.items()}
        out[name] = s
    pair_med = out["scores"]["median_s"] + out["readout"]["median_s"]
    pair_min = out["scores"]["min_s"] + out["readout"]["min_s"]
    out["pair"] = {
        "description": "both GEMM shapes back to back: the update's two products without the softmax "
        "(the reference rate for the fractions); times pooled over the blocks measured before and after "
        "the batched update",
        "gflops_median": 2 * flops / pair_med / 1e9,
        "gflops_best": 2 * flops / pair_min / 1e9,
    }
    return out


class CpuMonitor:
    """Share of the machine's CPU time used by *other* processes during a phase (Linux ``/proc/stat``).

    Fraction = (all busy CPU time, steal included, minus this process's CPU time) /
    (wall time x CPU count). Near 0: the phase ran on a quiet machine; 0.5 on 2 cores: one core was
    taken by someone else. ``None`` where ``/proc/stat`` is unavailable.
    """

    def __init__(self):
        self.phases: dict[str, float | None] = {}
        self._t0 = None

    @staticmethod
    def _busy_s():
        try:
            with open("/proc/stat") as fh:
                f = [int(v) for v in fh.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = f
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own_s():
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def start(self):
        self._t0 = (time.perf_counter(), self._busy_s(), self._own_s())

    def stop(self, phase: str):
        wall0, busy0, own0 = self._t0
        wall, busy, own = time.perf_counter() - wall0, self._busy_s(), self._own_s() - own0
        if busy is None or busy0 is None or wall <= 0:
            self.phases[phase] = None
            return
        other = max(0.0, (busy - busy0) - own)
        self.phases[phase] = round(other / (wall * (os.cpu_count() or 1)), 3)


def numpy_update_loop(Xi_np: np.ndarray, Q_np: np.ndarray, beta: float, steps: int) -> tuple[np.ndarray, list[float]]:
    """One query at a time: ``s = Xi @ x``, stable softmax, ``x = Xi.T @ p``. Returns outputs and per-query seconds."""
    out = np.empty_like(Q_np)
    per_query = []
    for i in range(Q_np.shape[0]):
        t0 = time.perf_counter()
        x = Q_np[i]
        for _ in range(steps):
            s = beta * (Xi_np @ x)
            s -= s.max()
            p = np.exp(s)
            p /= p.sum()
            x = Xi_np.T @ p
        out[i] = x
        per_query.append(time.perf_counter() - t0)
    return out, per_query


def batched_pass(Xi: torch.Tensor, Q: torch.Tensor, out: torch.Tensor, beta: float, steps: int, chunk: int) -> None:
    """All queries through :func:`assocmem.dynamics.update`, ``chunk`` at a time, written into ``out``."""
    B = Q.shape[0]
    chunk = chunk or B
    for lo in range(0, B, chunk):
        x = Q[lo : lo + chunk]
        for _ in range(steps):
            x = dynamics.update(Xi, x, beta, similarity="dot", separation="softmax", eta=1.0)
        out[lo : lo + chunk] = x


def _weight_stats(Xi: torch.Tensor, Q: torch.Tensor, beta: float) -> dict:
    """How concentrated the first-step softmax is: mean largest weight and mean effective number of memories."""
    stats = []
    with torch.inference_mode():
        for lo in range(0, Q.shape[0], 256):
            w = dynamics.separation_weights(Xi, Q[lo : lo + 256], beta)
            stats.append(torch.stack([w.amax(dim=1), 1.0 / (w * w).sum(dim=1)], dim=1).cpu())
    s = torch.cat(stats).mean(dim=0)
    return {"mean_max_weight": float(s[0]), "mean_effective_memories": float(s[1])}


# --------------------------------------------------------------------------------------------
# metadata
# --------------------------------------------------------------------------------------------


def _cpu_model() -> str:
    name = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name or platform.machine()


def _numpy_blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except (TypeError, KeyError, AttributeError):  # numpy < 2 or an unusual build
        return "unknown"


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _peak_memory_mib(dev: torch.device) -> dict:
    """Peak resident memory of this process (whole run) and, on CUDA, peak allocated GPU memory."""
    peak = {}
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        peak["host_rss"] = round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)
    except (ImportError, OSError):
        pass
    if dev.type == "cuda":
        peak["gpu_allocated"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
    return peak


def machine_info(dev: torch.device) -> dict:
    info = {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_blas": "MKL" if torch.backends.mkl.is_available() else "other",
        "numpy_blas": _numpy_blas(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "device_name": am_device.describe(dev),
    }
    if dev.type == "cuda":
        props = torch.cuda.get_device_properties(dev)
        info["gpu"] = {
            "name": props.name,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
        }
    return info


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.3f} ms"
    return f"{s:.2f} s"


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = am_device.resolve_device(args.device)
    started = _dt.datetime.now()
    t_start = time.perf_counter()
    load_start = _loadavg()

    Xi_cpu, Q_cpu, source, data_label = make_data(args)
    N, d = Xi_cpu.shape
    B = Q_cpu.shape[0]
    chunk = min(args.chunk or B, B)
    gemm_rows = args.gemm_rows or chunk
    flops_per_query = 4.0 * N * d * args.steps
    print(
        f"assocmem retrieval benchmark: N={N} d={d} queries={B} numpy-queries={args.numpy_queries} "
        f"steps={args.steps} beta={args.beta} chunk={chunk} device={am_device.describe(dev)}",
        flush=True,
    )

    Xi = Xi_cpu.to(dev)
    Q = Q_cpu.to(dev)

    mon = CpuMonitor()

    # 1. GEMM baseline (first block; a second block follows the batched update)
    print("[1/3] GEMM baseline ...", flush=True)
    mon.start()
    gemm_blocks = {"before": gemm_block(Xi, gemm_rows, args, dev)}
    mon.stop("gemm_before")

    # 2. NumPy per-query loop (CPU; same float32 data)
    print(f"[2/3] NumPy loop over {args.numpy_queries} queries ...", flush=True)
    Xi_np = Xi_cpu.numpy()
    Q_np = Q_cpu[: args.numpy_queries].numpy()
    np_res = None
    mon.start()
    if args.numpy_queries:
        if args.warmup:
            numpy_update_loop(Xi_np, Q_np[:1], args.beta, args.steps)
        t0 = time.perf_counter()
        np_out, np_per_query = numpy_update_loop(Xi_np, Q_np, args.beta, args.steps)
        np_total = time.perf_counter() - t0
        np_mean = np_total / args.numpy_queries
        np_res = {
            "queries": args.numpy_queries,
            "total_s": np_total,
            "per_query_mean_s": np_mean,
            "per_query_median_s": statistics.median(np_per_query),
            "per_query_min_s": min(np_per_query),
            "gflops": flops_per_query / np_mean / 1e9,
        }
    mon.stop("numpy_loop")

    # 3. batched core update
    print(f"[3/3] batched dynamics.update over {B} queries, {args.repeats} repeats ...", flush=True)
    out = torch.empty_like(Q)
    mon.start()
    with torch.inference_mode():
        # warm-up on one chunk (allocator, thread pool, kernels), then full timed passes
        for _ in range(args.warmup):
            batched_pass(Xi, Q[:chunk], out[:chunk], args.beta, args.steps, chunk)
        times = time_calls(lambda: batched_pass(Xi, Q, out, args.beta, args.steps, chunk), dev, 0, args.repeats)
    mon.stop("batched")
    print("      GEMM baseline again ...", flush=True)
    mon.start()
    gemm_blocks["after"] = gemm_block(Xi, gemm_rows, args, dev)
    mon.stop("gemm_after")
    gemm = gemm_summary(gemm_blocks, gemm_rows, N, d)
    if np_res is not None:
        np_res["fraction_of_gemm"] = np_res["gflops"] / gemm["pair"]["gflops_median"]

    bt = summary(times)
    b_per_query_med = bt["median_s"] / B
    b_per_query_min = bt["min_s"] / B
    batched = {
        **bt,
        "queries": B,
        "chunk": chunk,
        "per_query_median_s": b_per_query_med,
        "per_query_min_s": b_per_query_min,
        "gflops_median": flops_per_query * B / bt["median_s"] / 1e9,
        "gflops_best": flops_per_query * B / bt["min_s"] / 1e9,
    }
    # reference rate: both GEMM shapes back to back (what the update would reach if the softmax were free)
    batched["fraction_of_gemm_median"] = batched["gflops_median"] / gemm["pair"]["gflops_median"]
    batched["fraction_of_gemm_best"] = batched["gflops_best"] / gemm["pair"]["gflops_best"]
    batched["fraction_of_scores_gemm_median"] = batched["gflops_median"] / gemm["scores"]["gflops_median"]

    # agreement and a retrieval sanity check
    out_cpu = out.cpu()
    agreement = None
    if np_res is not None:
        max_diff = float(np.abs(out_cpu[: args.numpy_queries].numpy() - np_out).max())
        agreement = {
            "beta": args.beta,
            "queries": args.numpy_queries,
            "max_abs_diff": max_diff,
            "atol": args.atol,
            **_weight_stats(Xi, Q[: args.numpy_queries], args.beta),
        }
    spread_check = None
    if args.check_beta and args.check_queries:
        k = min(args.check_queries, B)
        ref, _ = numpy_update_loop(Xi_np, Q_cpu[:k].numpy(), args.check_beta, args.steps)
        got = torch.empty_like(Q[:k])
        with torch.inference_mode():
            batched_pass(Xi, Q[:k], got, args.check_beta, args.steps, chunk)
        spread_check = {
            "beta": args.check_beta,
            "queries": k,
            "max_abs_diff": float(np.abs(got.cpu().numpy() - ref).max()),
            "atol": args.atol,
            **_weight_stats(Xi, Q[:k], args.check_beta),
        }
    quality = None
    if source is not None:
        cos = (_unit_rows(out_cpu) * Xi_cpu[source]).sum(dim=1)
        quality = {
            "mean_cosine_to_source": float(cos.mean()),
            "fraction_cosine_above_0.99": float((cos > 0.99).float().mean()),
            "mean_cosine_query_to_source": float((Q_cpu * Xi_cpu[source]).sum(dim=1).mean()),
        }

    ratios = {}
    if np_res is not None:
        ratios = {
            "speedup_median": np_res["per_query_mean_s"] / b_per_query_med,
            "speedup_best": np_res["per_query_min_s"] / b_per_query_min,
            "definition": "numpy per-query time / batched per-query time "
            "(median: numpy mean over its queries vs batched median repeat; best: fastest numpy query vs fastest batched repeat)",
        }

    elapsed = time.perf_counter() - t_start
    machine = machine_info(dev)
    machine["load_average_1_5_15min"] = {"start": load_start, "end": _loadavg()}
    machine["peak_memory_mib"] = _peak_memory_mib(dev)
    machine["other_processes_cpu_fraction"] = {
        **mon.phases,
        "definition": "(all busy CPU time on the machine, steal included, minus this process's CPU time) "
        "/ (phase wall time x CPU count); 0 = quiet machine, 0.5 on 2 CPUs = one CPU busy with other work",
    }
    result = {
        "benchmark": "retrieval",
        "date": started.date().isoformat(),
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": elapsed,
        "machine": machine,
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "device": str(dev),
        "parameters": {
            "n_stored": N,
            "dim": d,
            "queries": B,
            "numpy_queries": args.numpy_queries,
            "steps": args.steps,
            "beta": args.beta,
            "noise": args.noise,
            "chunk": chunk,
            "gemm_rows": gemm_rows,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "gemm_repeats": args.gemm_repeats,
            "seed": args.seed,
            "dtype": "float32",
            "similarity": "dot",
            "separation": "softmax",
            "eta": 1.0,
            "data": data_label,
        },
        "flop_count": {
            "per_query_per_step": 4.0 * N * d,
            "rule": "two matrix products of 2*N*d FLOPs each per query per step; softmax not counted",
        },
        "gemm": gemm,
        "numpy_loop": np_res,
        "batched": batched,
        "ratios": ratios,
        "agreement": agreement,
        "agreement_spread_softmax": spread_check,
        "retrieval_quality": quality,
    }

    print_table(result)
    if not args.no_save:
        path = write_result(result, "retrieval", dev, args.out)
        print(f"wrote {path}")

    for chk in (agreement, spread_check):
        if chk is not None and not chk["max_abs_diff"] < args.atol:
            raise SystemExit(
                f"FAIL: numpy and batched outputs differ by {chk['max_abs_diff']:.3g} >= {args.atol} "
                f"at beta={chk['beta']}"
            )
    return result


def print_table(r: dict) -> None:
    g, b, n, m, p = r["gemm"], r["batched"], r["numpy_loop"], r["machine"], r["parameters"]
    rows = [
        (
            "GEMM (scores) " + g["scores"]["shape"],
            _fmt_time(g["scores"]["median_s"]) + " / call",
            f"{g['scores']['gflops_median']:.1f}",
            "",
        ),
        (
            "GEMM (readout) " + g["readout"]["shape"],
            _fmt_time(g["readout"]["median_s"]) + " / call",
            f"{g['readout']['gflops_median']:.1f}",
            "",
        ),
        (
            "GEMM pair (both shapes, = reference)",
            "",
            f"{g['pair']['gflops_median']:.1f}",
            "reference; before/after: "
            + "/".join(
                f"{2 / sum(1 / g[k]['gflops_median_by_block'][blk] for k in ('scores', 'readout')):.0f}"
                for blk in g["scores"]["gflops_median_by_block"]
            ),
        ),
    ]
    if n is not None:
        rows.append(
            (
                f"NumPy loop ({n['queries']} queries)",
                _fmt_time(n["per_query_mean_s"]) + " / query",
                f"{n['gflops']:.1f}",
                f"{n['fraction_of_gemm']:.1%} of GEMM",
            )
        )
    rows.append(
        (
            f"batched update ({b['queries']} queries)",
            _fmt_time(b["per_query_median_s"]) + " / query",
            f"{b['gflops_median']:.1f}",
            f"{b['fraction_of_gemm_median']:.1%} of GEMM",
        )
    )
    w0 = max(len(x[0]) for x in rows) + 2
    print()
    print(
        f"machine: {m['processor']}, {m['cpu_count']} CPUs, torch threads {m['torch_threads']}; device {m['device_name']}"
    )
    print(f"versions: python {r['versions']['python']}, torch {r['versions']['torch']}, numpy {r['versions']['numpy']}")
    print(
        f"N={p['n_stored']} d={p['dim']} steps={p['steps']} beta={p['beta']} chunk={p['chunk']}; "
        f"FLOPs = 4*N*d per query per step (softmax not counted); times are medians"
    )
    print(f"{'measurement':<{w0}}{'time':>18}{'GFLOP/s':>10}  note")
    print("-" * (w0 + 18 + 10 + 20))
    for a, t, gf, note in rows:
        print(f"{a:<{w0}}{t:>18}{gf:>10}  {note}")
    print("-" * (w0 + 18 + 10 + 20))
    if r["ratios"]:
        print(
            f"speed-up batched vs NumPy loop (per query): {r['ratios']['speedup_median']:.1f}x "
            f"(best-vs-best {r['ratios']['speedup_best']:.1f}x)"
        )
    for a in (r["agreement"], r["agreement_spread_softmax"]):
        if a:
            print(
                f"agreement at beta={a['beta']:g} on {a['queries']} shared queries: max |numpy - batched| = "
                f"{a['max_abs_diff']:.2e} (atol {a['atol']:g}); softmax mean max weight {a['mean_max_weight']:.3f}, "
                f"effective memories {a['mean_effective_memories']:.1f}"
            )
    if r["retrieval_quality"]:
        q = r["retrieval_quality"]
        print(
            f"retrieval: mean cos(query, source) {q['mean_cosine_query_to_source']:.3f} -> "
            f"mean cos(output, source) {q['mean_cosine_to_source']:.4f}; "
            f"{q['fraction_cosine_above_0.99']:.1%} above 0.99"
        )
    oc = {k: v for k, v in m["other_processes_cpu_fraction"].items() if k != "definition"}
    if any(v is not None for v in oc.values()):
        print(
            "CPU share used by other processes per phase: "
            + ", ".join(f"{k} {v:.0%}" if v is not None else f"{k} n/a" for k, v in oc.items())
        )
    print(f"total benchmark time {r['elapsed_s']:.1f} s")


if __name__ == "__main__":
    main()
    sys.exit(0)
