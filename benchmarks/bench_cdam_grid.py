"""CDAM grid benchmark: a 64 x 64 (a, h) grid on a 1,000-memory graph, all cues, as one batched job.

Measures, in one run on one machine:

1. the machine's matrix-multiply rate for the two GEMM shapes the CDAM update uses
   (``scores = sigma @ Xi.T``: ``(B, n) x (n, p)``; read-out ``w @ Xi`` and ``w @ (M Xi)``:
   ``(B, p) x (p, n)``), on the same batch size ``B``;
2. :func:`assocmem.cdam.run` on a chunk of the grid (``--settings-per-chunk`` settings x all ``p``
   cues in one batch) for ``--steps`` steps; the whole grid is ``grid^2 / settings-per-chunk`` such
   chunks, so its time is measured (``--full``) or extrapolated from the timed chunks;
3. a correctness check: the batched chunk equals one-setting-at-a-time runs on a few settings;
4. the same chunks in the coefficient form (``method="coefficients"``: the state as the decaying cue
   plus a combination of memories, ``4 p^2`` FLOP per state and step instead of ``6 p n``), reported
   as a speed-up over the state form measured in the same run, with the two forms' agreement.

FLOP count per state per step: one scores GEMM (``2 p n``) and two read-out GEMMs (``2 p n`` each),
so ``6 p n``; the softmax and element-wise work (``O(p + n)``) are not counted. The reference rate
is the three GEMMs run back to back on the same shapes ("GEMM triple"); the report gives the
update's fraction of it.

A benchmark, not a test: run on demand, numbers kept under ``benchmarks/results/``. Examples::

    python benchmarks/bench_cdam_grid.py                          # CPU: times 2 chunks, extrapolates
    python benchmarks/bench_cdam_grid.py --device cuda --full     # GPU: the whole 64 x 64 grid
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import statistics
import time
from pathlib import Path

import networkx as nx
import torch

from assocmem import cdam, graphs
from assocmem import device as am_device
from bench_retrieval import write_result


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--p", type=int, default=1000, help="memories (graph nodes); every memory is a cue")
    p.add_argument("--n", type=int, default=1000, help="pattern length")
    p.add_argument("--grid", type=int, default=64, help="grid x grid (a, h) settings")
    p.add_argument("--steps", type=int, default=100, help="update steps per run")
    p.add_argument("--settings-per-chunk", type=int, default=4, help="settings batched together (x p cues)")
    p.add_argument("--chunks", type=int, default=2, help="chunks timed when --full is not given")
    p.add_argument("--full", action="store_true", help="run the whole grid instead of extrapolating")
    p.add_argument("--gemm-repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="JSON file (default: benchmarks/results/cdam-grid-<date>-<device>.json)")
    return p.parse_args(argv)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _timed(fn, dev: torch.device) -> float:
    _sync(dev)
    t = time.perf_counter()
    fn()
    _sync(dev)
    return time.perf_counter() - t


def gemm_rate(B: int, p: int, n: int, dev, dtype, repeats: int) -> dict:
    """GFLOP/s of the update's three GEMMs on a batch of ``B`` states, back to back."""
    g = torch.Generator(device="cpu").manual_seed(1)
    sigma = torch.rand(B, n, generator=g).to(dev, dtype)
    Xi = torch.rand(p, n, generator=g).to(dev, dtype)
    w = torch.rand(B, p, generator=g).to(dev, dtype)

    def triple():
        sigma @ Xi.T
        w @ Xi
        w @ Xi

    triple()
    times = [_timed(triple, dev) for _ in range(repeats)]
    flops = 3 * 2 * B * p * n
    return {"batch": B, "median_s": statistics.median(times), "gflops": flops / statistics.median(times) / 1e9}


def main(argv=None) -> dict:
    args = parse_args(argv)
    dev = am_device.resolve_device(args.device)
    dtype = getattr(torch, args.dtype)
    G = nx.watts_strogatz_graph(args.p, 6, 0.1, seed=args.seed)
    A = torch.tensor(nx.to_numpy_array(G, weight=None), dtype=torch.float64)
    M = graphs.normalized_adjacency(A).to(dev, dtype)
    Xi = torch.rand(args.p, args.n, generator=am_device.generator(args.seed), dtype=torch.float64).to(dev, dtype)
    cues = cdam.noisy_cues(Xi.double().cpu(), 1.0, am_device.generator(args.seed + 1)).to(dev, dtype)
    grid = torch.linspace(-3.0, 3.0, args.grid, dtype=torch.float64)
    a_all, h_all = (v.reshape(-1) for v in torch.meshgrid(grid, grid, indexing="ij"))
    S, k = a_all.numel(), args.settings_per_chunk
    chunks = [(i, min(i + k, S)) for i in range(0, S, k)]
    B = k * args.p

    gemm_before = gemm_rate(B, args.p, args.n, dev, dtype, args.gemm_repeats)

    def run_chunk(lo, hi, steps=args.steps, method="state"):
        return cdam.run(Xi, M, cues, a_all[lo:hi], h_all[lo:hi], 1.0, eta=0.1, kappa=1.0, steps=steps,
                        method=method)

    run_chunk(0, k, steps=2)  # warm-up
    todo = chunks if args.full else chunks[: args.chunks]
    times = []
    for lo, hi in todo:
        times.append(_timed(lambda: run_chunk(lo, hi), dev))
    gemm_after = gemm_rate(B, args.p, args.n, dev, dtype, args.gemm_repeats)
    run_chunk(0, k, steps=2, method="coefficients")  # warm-up
    coef_times = [_timed(lambda: run_chunk(lo, hi, method="coefficients"), dev) for lo, hi in chunks[: args.chunks]]

    # Correctness: the batched chunk against one setting at a time (few steps, float64 on the CPU).
    check_steps = 10
    batched = cdam.run(Xi.double().cpu(), M.double().cpu(), cues.double().cpu(), a_all[:k], h_all[:k], 1.0,
                       steps=check_steps, method="state").state
    single = torch.stack([cdam.run(Xi.double().cpu(), M.double().cpu(), cues.double().cpu(), a_all[i:i + 1],
                                   h_all[i:i + 1], 1.0, steps=check_steps, method="state").state[0]
                          for i in range(k)])
    max_diff = (batched - single).abs().max().item()
    if max_diff > 1e-9:
        raise SystemExit(f"batched and one-at-a-time runs differ by {max_diff:.3g}")
    coef = cdam.run(Xi.double().cpu(), M.double().cpu(), cues.double().cpu(), a_all[:k], h_all[:k], 1.0,
                    steps=check_steps, method="coefficients").state
    forms_diff = (batched - coef).abs().max().item()
    if forms_diff > 1e-9:
        raise SystemExit(f"the state and coefficient forms differ by {forms_diff:.3g}")

    per_chunk = statistics.median(times)
    flops_chunk = 6 * B * args.p * args.n * args.steps
    gemm = statistics.mean([gemm_before["gflops"], gemm_after["gflops"]])
    achieved = flops_chunk / per_chunk / 1e9
    report = {
        "date": _dt.date.today().isoformat(),
        "device": am_device.describe(dev),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "dtype": args.dtype,
        "graph": f"Watts-Strogatz p={args.p}, k=6, rewiring 0.1; M = D^-1/2 A D^-1/2",
        "p": args.p, "n": args.n, "grid": f"{args.grid} x {args.grid} (a, h) in [-3, 3]^2", "steps": args.steps,
        "settings_per_chunk": k, "batch_states": B, "chunks_total": len(chunks), "chunks_timed": len(todo),
        "chunk_median_s": per_chunk,
        "grid_time_s": sum(times) if args.full else per_chunk * len(chunks),
        "grid_time_is": "measured" if args.full else "extrapolated from the timed chunks",
        "flop_per_state_step": 6 * args.p * args.n,
        "update_gflops": achieved,
        "gemm_triple_gflops": {"before": gemm_before["gflops"], "after": gemm_after["gflops"], "mean": gemm},
        "fraction_of_gemm": achieved / gemm,
        "check_max_abs_diff_batched_vs_single": max_diff,
        "coefficient_form": {
            "chunks_timed": len(coef_times),
            "chunk_median_s": statistics.median(coef_times),
            "speedup_vs_state_form": per_chunk / statistics.median(coef_times),
            "flop_per_state_step": 4 * args.p * args.p,
            "check_max_abs_diff_vs_state_form": forms_diff,
        },
    }
    out = write_result(report, "cdam-grid", dev, args.out)
    print(json.dumps(report, indent=2))
    print(f"written to {out}")
    return report


if __name__ == "__main__":
    main()
