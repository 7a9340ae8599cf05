"""DrDAM vs MrDAM benchmark: the time and memory of one descent step for Q queries, against the number K of memories.

Measures, in one run on one device (float32):

1. the device's square-GEMM rate (:mod:`gemm_rate`), the reference for every achieved rate;
2. one MrDAM step ``x <- x - alpha * grad E(x)`` (:func:`assocmem.random_features.mr_grad`, i.e. the core's
   ``neg_sq_euclidean`` softmax update) for every K in the grid: ``4 Q K D`` matrix-multiply FLOPs;
3. one DrDAM step at fixed Y and D, twice: with Omega regenerated from its seed block by block (what the model holds:
   ``parts * Y`` numbers of ``T`` plus one ``block x (D + 1)`` block of Omega and b) and with Omega held whole
   (``Y (D + 1)`` more numbers, no regeneration): ``4 Q D Y`` FLOPs (two GEMMs, ``Q x D @ D x Y`` and
   ``Q x Y @ Y x D``; the spec's "about 6 Q D Y" counts more than the GEMMs). A DrDAM step does not depend on K
   (K enters only the one-off write, ``O(K D Y)``, timed here per memory), so it is timed once.

The crossover K is where MrDAM's step becomes slower than DrDAM's (log-log interpolation between grid points; None
if it lies outside the grid). Memory: the bytes of the tensors each model holds (MrDAM ``K * D``; DrDAM as above),
their crossover ``K = held_DrDAM / D``, and on CUDA the measured peak (``torch.cuda.max_memory_allocated`` during
one step, minus what was allocated before it: the step's workspace). Counting convention: Y is the number of
random frequencies (rows of Omega); SinCos stores ``2Y`` numbers, and the held bytes count all ``2Y``.

    python benchmarks/bench_drdam.py --quick                 # CPU, < 1 minute
    python benchmarks/bench_drdam.py --device cuda           # D = 3072, Y = 100,000, K up to 2^19
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import platform
import time
from pathlib import Path

import torch

from assocmem import device as am_device
from assocmem import random_features as rf
from bench_retrieval import CpuMonitor, machine_info, summary, time_calls, write_result
from gemm_rate import counted_flops, square_gemm_tflops

QUICK = dict(D=256, Y=16384, Q=32, Ks=[2**i for i in range(8, 18)], repeats=5)
FULL = dict(D=3072, Y=100_000, Q=64, Ks=[2**i for i in range(10, 20)], repeats=5)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--quick", action="store_true", help=f"small sizes for a CPU check: {QUICK}")
    p.add_argument("--D", type=int, help=f"pattern dimension (default {FULL['D']}, quick {QUICK['D']})")
    p.add_argument("--Y", type=int, help=f"random frequencies (default {FULL['Y']}, quick {QUICK['Y']})")
    p.add_argument("--Q", type=int, help=f"queries per step (default {FULL['Q']}, quick {QUICK['Q']})")
    p.add_argument("--Ks", type=int, nargs="+", help="memory counts for MrDAM (default powers of 2, see --quick)")
    p.add_argument("--repeats", type=int, help="timed repeats per measurement (default 5)")
    p.add_argument("--kind", default="sincos", choices=sorted(rf.KINDS))
    p.add_argument("--block", type=int, default=4096, help="rows of Omega per block")
    p.add_argument("--beta", type=float, default=10.0)
    p.add_argument("--alpha", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--out", type=Path, default=None, help="JSON file (default: benchmarks/results/drdam-<date>-<device>.json)")
    args = p.parse_args(argv)
    for k, v in (QUICK if args.quick else FULL).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return args


def _crossover(Ks: list[int], t_mr: list[float], t_dr: float) -> int | None:
    """Smallest K (log-log interpolated) at which MrDAM's step time reaches ``t_dr``; None outside the grid."""
    if t_mr[0] >= t_dr:
        return None
    for (k0, t0), (k1, t1) in zip(zip(Ks, t_mr), zip(Ks[1:], t_mr[1:])):
        if t1 >= t_dr:
            s = (math.log(t_dr) - math.log(t0)) / (math.log(t1) - math.log(t0))
            return round(math.exp(math.log(k0) + s * (math.log(k1) - math.log(k0))))
    return None


def _measure(step, dev, warmup, repeats) -> dict:
    """Median/min seconds of ``step()`` and, on CUDA, its workspace: peak allocated during it minus allocated before."""
    out = summary(time_calls(step, dev, warmup, repeats))
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        before = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        step()
        torch.cuda.synchronize(dev)
        out["cuda_workspace_bytes"] = torch.cuda.max_memory_allocated(dev) - before
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = am_device.resolve_device(args.device)
    started, t_start = _dt.datetime.now(), time.perf_counter()
    D, Y, Q, Ks, nb = args.D, args.Y, args.Q, sorted(args.Ks), 4  # nb: bytes per float32
    print(f"DrDAM vs MrDAM: D={D} Y={Y} Q={Q} K={Ks[0]}..{Ks[-1]} kind={args.kind} device={am_device.describe(dev)}",
          flush=True)
    mon = CpuMonitor()
    mon.start()
    gemm = square_gemm_tflops(dev)
    mon.stop("gemm")
    print(f"square GEMM ({gemm['n']}, float32): {gemm['tflops'] * 1e3:.1f} GFLOP/s", flush=True)

    g = am_device.generator(args.seed)
    Xi = rf.to_unit_box((torch.rand(Ks[-1], D, generator=g) > 0.5).float()).to(dev)  # binary memories, unit box
    x = (Xi[:Q] + 0.2 / math.sqrt(D) * torch.randn(Q, D, generator=g).to(dev)).contiguous()
    f = rf.Features(args.kind, Y, D, args.beta, seed=args.seed, block=args.block)

    with torch.inference_mode():
        mon.start()
        kw = Ks[0]
        t_write = summary(time_calls(lambda: rf.write(f, Xi[:kw]), dev, 1, args.repeats))
        T = rf.write(f, Xi[:kw])
        omega_all = list(rf.omega_blocks(f, torch.float32, dev))
        dr = {"regenerated": _measure(lambda: x - args.alpha * rf.grad(f, T, x), dev, 1, args.repeats),
              "held": _measure(lambda: x - args.alpha * rf.grad(f, T, x, omega=omega_all), dev, 1, args.repeats)}
        mon.stop("drdam")
        dr["regenerated"]["held_bytes"] = (f.size + min(args.block, Y) * (D + 1)) * nb
        dr["held"]["held_bytes"] = (f.size + Y * (D + 1)) * nb
        omega_all = None  # free it before the MrDAM runs
        dr_flops = 4 * Q * D * Y
        counted = counted_flops(lambda: rf.grad(f, T, x))
        for name, r in dr.items():
            r["gflops"] = dr_flops / r["median_s"] / 1e9
            r["fraction_of_gemm"] = r["gflops"] / (gemm["tflops"] * 1e3)
            print(f"DrDAM step, Omega {name:11s}: {r['median_s'] * 1e3:9.2f} ms  {r['gflops']:8.1f} GFLOP/s  "
                  f"holds {r['held_bytes'] / 2**20:8.1f} MiB", flush=True)

        mon.start()
        mr = []
        for K in Ks:
            Xk = Xi[:K]
            r = _measure(lambda: x - args.alpha * rf.mr_grad(Xk, x, args.beta), dev, 1, args.repeats)
            r.update(K=K, held_bytes=K * D * nb, gflops=4 * Q * K * D / r["median_s"] / 1e9)
            r["fraction_of_gemm"] = r["gflops"] / (gemm["tflops"] * 1e3)
            mr.append(r)
            print(f"MrDAM step, K={K:8d}: {r['median_s'] * 1e3:9.2f} ms  {r['gflops']:8.1f} GFLOP/s  "
                  f"holds {r['held_bytes'] / 2**20:8.1f} MiB", flush=True)
        mon.stop("mrdam")
        mr_counted = counted_flops(lambda: rf.mr_grad(Xi[:Ks[0]], x, args.beta))
        rel_err = float((rf.grad(f, T, x) - rf.mr_grad(Xi[:kw], x, args.beta)).norm()
                        / rf.mr_grad(Xi[:kw], x, args.beta).norm())

    t_mr = [r["median_s"] for r in mr]
    crossover = {name: {"time_K": _crossover(Ks, t_mr, r["median_s"]), "memory_K": r["held_bytes"] / (D * nb)}
                 for name, r in dr.items()}
    for name, c in crossover.items():
        print(f"crossover, Omega {name}: time K* = {c['time_K']}, memory K* = {c['memory_K']:.0f}")
    machine = machine_info(dev)
    machine["other_processes_cpu_fraction"] = mon.phases
    if dev.type == "cuda":
        machine["tf32_allowed"] = bool(torch.backends.cuda.matmul.allow_tf32)
    result = {
        "benchmark": "drdam", "date": started.date().isoformat(), "started": started.isoformat(timespec="seconds"),
        "elapsed_s": time.perf_counter() - t_start, "device": str(dev), "machine": machine,
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "parameters": {"D": D, "Y": Y, "Q": Q, "Ks": Ks, "kind": args.kind, "block": args.block, "beta": args.beta,
                       "alpha": args.alpha, "seed": args.seed, "repeats": args.repeats, "quick": args.quick,
                       "dtype": "float32", "data": "random binary memories in {0, 1/sqrt(D)}; queries = the first Q "
                       "memories + N(0, (0.2/sqrt(D))^2) noise"},
        "counting": {"Y": "random frequencies (rows of Omega)", "stored_numbers_T": f.size,
                     "note": f"{args.kind} stores parts * Y = {f.size} numbers; held bytes count all of them"},
        "flop_count": {"mrdam_per_step": "4 Q K D", "drdam_per_step": "4 Q D Y", "drdam_value": dr_flops,
                       "drdam_counted_by_torch": counted, "mrdam_value_at_K0": 4 * Q * Ks[0] * D,
                       "mrdam_counted_by_torch_at_K0": mr_counted},
        "gemm": gemm,
        "drdam_write": {**t_write, "memories": kw, "per_memory_s": t_write["median_s"] / kw},
        "drdam_step": dr, "mrdam_step": mr, "crossover": crossover,
        "sanity": {"relative_gradient_error": rel_err, "K": kw,
                   "note": "|grad DrDAM - grad MrDAM| / |grad MrDAM| at the benchmark's queries: a check that both "
                   "steps compute the same model, not an accuracy study"},
    }
    out = write_result(result, "drdam", dev, args.out)
    print(f"sanity: |grad DrDAM - grad MrDAM| / |grad MrDAM| = {rel_err:.3g} at K={kw}; "
          f"total {result['elapsed_s']:.1f} s; written to {out}")
    return result


if __name__ == "__main__":
    main()
