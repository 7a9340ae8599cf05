"""Capacity-search benchmark: the cost of the capacity experiments at each configured scale.

The capacity targets (``fig_capacity_vs_feature_dim``: bisection over M for raw and U-Hop+ features;
``fig_kde_capacity``: a grid over N for two bandwidths and two start types) are the heavy part of the
capacity issue. This script times each experiment's model run (no figure, no files) at the scales
asked for, on one device, and records the sizes that drive the cost, so that the quick-scale cost
measured on a laptop can be set against the paper-scale cost measured on a GPU.

Timings are wall-clock seconds of one run each (these searches take seconds to hours; repeats would
not change the picture). A scale's run is skipped with a note when ``--max-seconds`` has already been
spent, so a CPU run of ``--scales paper`` stops rather than runs for hours.

Each run reports the matrix-multiply FLOPs it performs (PyTorch's FLOP counter, in a second, untimed run of
the same work; skipped when the timed run took longer than ``--count-below`` seconds) and, with the device's
square-GEMM rate measured in the same run (:mod:`gemm_rate`), the fraction of that rate it reaches.
``khm_capacity`` runs its MNIST rows when ``--mnist`` names a prepared MNIST file, else the sphere rows alone.

Examples::

    python benchmarks/bench_capacity.py                                  # test and quick, CPU
    python benchmarks/bench_capacity.py --device cuda --scales quick paper
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import time
from pathlib import Path

import torch

from assocmem import config as am_config
from assocmem import device as am_device
from assocmem.experiments.kde import capacity as kde_capacity
from assocmem.experiments.khm import capacity as khm_capacity
from bench_retrieval import write_result
from gemm_rate import counted_flops, square_gemm_tflops

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = {"khm_capacity": khm_capacity, "kde_capacity": kde_capacity}
SIZE_KEYS = {"khm_capacity": ("pattern_dim", "feature_dims", "draws", "m_max"),
             "kde_capacity": ("dims", "sigmas", "n_grid", "seeds", "n_probes")}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--scales", nargs="+", default=["test", "quick"], choices=["test", "quick", "paper"])
    p.add_argument("--experiments", nargs="+", default=sorted(EXPERIMENTS), choices=sorted(EXPERIMENTS))
    p.add_argument("--max-seconds", type=float, default=1800.0, help="skip further runs once this much is spent")
    p.add_argument("--count-below", type=float, default=60.0,
                   help="count FLOPs (a second, untimed run) only for runs faster than this many seconds")
    p.add_argument("--mnist", type=Path, default=REPO / "resources" / "data" / "mnist.pt",
                   help="prepared MNIST file for khm_capacity's MNIST rows (absent: sphere rows only)")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON file (default: benchmarks/results/capacity-<date>-<device>.json)")
    return p.parse_args(argv)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def main(argv=None) -> dict:
    args = parse_args(argv)
    dev = am_device.resolve_device(args.device)
    cfg = am_config.load([REPO / "config" / "config.yaml"])
    gemm = square_gemm_tflops(dev)
    print(f"square GEMM ({gemm['n']}, {gemm['dtype']}): {gemm['tflops']:.2f} TFLOP/s")
    rows, spent = [], 0.0
    for scale in args.scales:
        for name in args.experiments:
            params = cfg["experiments"][name][scale]
            sizes = {k: params[k] for k in SIZE_KEYS[name] if k in params}
            if spent > args.max_seconds:
                rows.append(dict(experiment=name, scale=scale, sizes=sizes, wall_s=None,
                                 note=f"skipped: {spent:.0f} s already spent (--max-seconds)"))
                continue
            kwargs = dict(seed=cfg["seed"], device=dev, dtype=torch.float32)
            note = None
            if name == "kde_capacity":
                kwargs["progress"] = False
            elif "mnist" in params.get("datasets", []):
                if args.mnist.is_file():
                    kwargs["data_path"] = args.mnist
                else:
                    params = dict(params, datasets=[d for d in params["datasets"] if d != "mnist"])
                    note = f"MNIST rows skipped: {args.mnist} not found"
            sizes["datasets"] = params.get("datasets")
            _sync(dev)
            t = time.perf_counter()
            EXPERIMENTS[name].run(params, **kwargs)
            _sync(dev)
            wall = time.perf_counter() - t
            spent += wall
            flops = counted_flops(lambda: EXPERIMENTS[name].run(params, **kwargs)) if wall < args.count_below else None
            row = dict(experiment=name, scale=scale, sizes=sizes, wall_s=round(wall, 2), matmul_flops=flops)
            if flops is not None:
                row["tflops"] = round(flops / wall / 1e12, 4)
                row["fraction_of_gemm"] = round(flops / wall / 1e12 / gemm["tflops"], 4)
            if note:
                row["note"] = note
            rows.append(row)
            print(f"{name:14s} {scale:6s} {wall:9.2f} s" + (f"  {row['fraction_of_gemm']:.1%} of GEMM" if flops else ""))
    report = {"date": _dt.date.today().isoformat(), "device": am_device.describe(dev),
              "platform": platform.platform(), "torch": torch.__version__, "dtype": "float32", "gemm": gemm, "runs": rows}
    out = write_result(report, "capacity", dev, args.out)
    print(f"written to {out}")
    return report


if __name__ == "__main__":
    main()
