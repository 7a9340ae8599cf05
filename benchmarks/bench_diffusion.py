"""Diffusion E4 benchmark: the cost of one U-Net network of ``fig_diffusion_memorisation_images`` at each scale.

The target trains one U-Net per (data set, K) by denoising score matching and then samples from it; neither cost
depends on K (K only sets which images the batches are drawn from). So the wall time of the target is
``networks x (iterations x t_train + (steps + 1) x t_sample)`` with ``networks = len(datasets) x len(ks)``, plus the
nearest-neighbour search (``samples x K x D``, negligible). This script measures, in one run on one device:

1. the device's square-GEMM rate (:mod:`gemm_rate`), the reference for the achieved rates;
2. ``t_train``: one training iteration as the run does it (:func:`assocmem.diffusion.train_dsm`: draw a batch,
   DSM loss, backward, Adam, EMA update): after an untimed warm-up, the time of ``1 + repeats`` iterations minus
   that of one (so that building Adam and the EMA copy cancels), divided by ``repeats``;
3. ``t_sample``: one reverse-SDE step of all ``samples`` states at once (one forward pass of the EMA network);
4. the FLOPs of both as PyTorch's counter sees them (convolutions and matrix products),

for the U-Net of every data set of the configured ``--scales`` (sizes read from ``config/config.yaml``: widths,
batch, image size, samples, iterations, steps). The images are random (the cost does not depend on the pixels),
so no data are needed. The JSON (``benchmarks/results/diffusion-<date>-<device>.json``) holds the measurements and
the projected wall time of one network and of the whole target on this device.

    python benchmarks/bench_diffusion.py --scales quick          # CPU, under a minute
    python benchmarks/bench_diffusion.py --scales quick paper    # paper U-Nets on the CPU: a few minutes
    python benchmarks/bench_diffusion.py --device cuda           # both scales on a GPU
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
from assocmem import diffusion
from assocmem.experiments.diffusion.memorisation_images import NAME
from assocmem.score_nets import UNet
from bench_retrieval import CpuMonitor, machine_info, summary, time_calls, write_result
from gemm_rate import counted_flops, square_gemm_tflops

REPO = Path(__file__).resolve().parents[1]
NATIVE = {"mnist": (1, 28), "fashion_mnist": (1, 28), "cifar10": (3, 32)}  # channels, side


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--scales", nargs="+", default=["quick", "paper"], choices=["test", "quick", "paper"])
    p.add_argument("--repeats", type=int, default=3,
                   help="timed training iterations and sampling steps (on a GPU use more, e.g. 20)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON file (default: benchmarks/results/diffusion-<date>-<device>.json)")
    return p.parse_args(argv)


def image_shape(dataset: str, image_size: int | None) -> tuple[int, int, int]:
    """``(C, H, W)`` of the run's images: the native size, average-pooled to ``image_size`` when that is smaller."""
    channels, side = NATIVE[dataset]
    side = side if image_size is None else min(side, image_size)
    return channels, side, side


def measure_network(params: dict, shape: tuple[int, int, int], dev: torch.device, repeats: int) -> dict:
    """Time and FLOPs of one training iteration and one sampling step of the run's U-Net for images ``shape``."""
    g = am_device.generator(0)
    net = UNet(g, shape[0], tuple(params["widths"]), n_freqs=params["n_freqs"], fourier_scale=params["fourier_scale"],
               sigma_min=params["sigma_min"], sigma_max=params["sigma_max"],
               sigma_data=params["sigma_data"]).to(dev)
    pool = torch.rand(max(64, params["batch"]), *shape, generator=g) * 2 - 1

    def draw(gen: torch.Generator) -> torch.Tensor:
        return pool[torch.randint(pool.shape[0], (1, params["batch"]), generator=gen)]

    def train(iterations: int) -> torch.nn.Module:
        return diffusion.train_dsm(net, draw, iterations=iterations, lr=params["lr"], ema_decay=params["ema_decay"],
                                   sigma_min=params["sigma_min"], sigma_max=params["sigma_max"], generator=g,
                                   device=dev, log_every=params["log_every"], progress=False)[0]

    ema = train(1)  # warm-up (and the EMA network used for sampling)
    # A call of train_dsm also builds Adam and the EMA copy: time 1 and 1 + repeats iterations and keep the difference.
    t_one = time_calls(lambda: train(1), dev, 0, 1)[0]
    t_more = time_calls(lambda: train(1 + repeats), dev, 0, 1)[0]
    t_train = {"setup_and_one_s": t_one, "setup_and_more_s": t_more, "iterations": repeats,
               "per_iteration_s": max(t_more - t_one, 0.0) / repeats}
    x = torch.randn(1, params["samples"], *shape, generator=g).to(dev) * params["sigma_max"]
    with torch.no_grad():
        t_sample = summary(time_calls(lambda: ema.score(x, params["sigma_max"]), dev, 1, repeats))
        sample_flops = counted_flops(lambda: ema.score(x, params["sigma_max"]))
    train_flops = counted_flops(lambda: train(1))
    return {"parameters": sum(p.numel() for p in net.parameters()), "train": t_train, "sample_step": t_sample,
            "train_flops_per_iteration": train_flops, "sample_flops_per_step": sample_flops}


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = am_device.resolve_device(args.device)
    cfg = am_config.load([REPO / "config" / "config.yaml"])
    started, t_start = _dt.datetime.now(), time.perf_counter()
    mon = CpuMonitor()
    mon.start()
    gemm = square_gemm_tflops(dev)
    mon.stop("gemm")
    rate = gemm["tflops"] * 1e12
    print(f"square GEMM ({gemm['n']}, float32): {gemm['tflops'] * 1e3:.1f} GFLOP/s on {am_device.describe(dev)}",
          flush=True)
    rows = []
    for scale in args.scales:
        params = cfg["experiments"][NAME][scale]
        networks = len(params["datasets"]) * len(params["ks"])
        for dataset in params["datasets"]:
            shape = image_shape(dataset, params["image_size"])
            mon.start()
            m = measure_network(params, shape, dev, args.repeats)
            mon.stop(f"{scale}/{dataset}")
            t_it, t_s = m["train"]["per_iteration_s"], m["sample_step"]["median_s"]
            one = params["iterations"] * t_it + (params["steps"] + 1) * t_s
            for key, flops, t in (("train", m["train_flops_per_iteration"], t_it),
                                  ("sample_step", m["sample_flops_per_step"], t_s)):
                if flops:
                    m[key]["gflops"] = flops / t / 1e9
                    m[key]["fraction_of_gemm"] = flops / t / rate
            rows.append({"scale": scale, "dataset": dataset, "image_shape": list(shape),
                         "widths": params["widths"], "batch": params["batch"], "samples": params["samples"],
                         "iterations": params["iterations"], "steps": params["steps"], **m,
                         "projected_network_s": one, "networks_in_target": networks})
            frac = m["train"].get("fraction_of_gemm")
            print(f"{scale:5s} {dataset:8s} {'x'.join(map(str, shape)):8s} widths {params['widths']}: "
                  f"train {t_it * 1e3:9.1f} ms/it"
                  + (f" ({frac:.0%} of GEMM)" if frac is not None else "")
                  + f", sample step {t_s * 1e3:9.1f} ms; one network {one / 60:8.1f} min "
                  f"({params['iterations']} it, {params['steps']} steps)", flush=True)
    totals = {}
    for scale in args.scales:
        per = [r for r in rows if r["scale"] == scale]
        ks = len(cfg["experiments"][NAME][scale]["ks"])
        totals[scale] = {"target_s": sum(r["projected_network_s"] for r in per) * ks, "shards": ks,
                         "shard_s": sum(r["projected_network_s"] for r in per)}
        print(f"{scale}: one shard (one K, every data set) {totals[scale]['shard_s'] / 60:.1f} min; the target "
              f"({ks} shards) {totals[scale]['target_s'] / 3600:.2f} h on this device")
    machine = machine_info(dev)
    machine["other_processes_cpu_fraction"] = mon.phases
    result = {
        "benchmark": "diffusion", "date": started.date().isoformat(), "started": started.isoformat(timespec="seconds"),
        "elapsed_s": time.perf_counter() - t_start, "device": str(dev), "machine": machine,
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "parameters": {"scales": args.scales, "repeats": args.repeats, "dtype": "float32",
                       "data": "random images in [-1, 1] of the run's shapes (the cost does not depend on pixels)"},
        "gemm": gemm, "networks": rows, "projection": totals,
        "projection_note": "network = iterations x train iteration + (steps + 1) x sampling step; a shard is one K "
                           "with every data set; nearest-neighbour search and data loading not counted",
    }
    out = write_result(result, "diffusion", dev, args.out)
    print(f"total {result['elapsed_s']:.1f} s; written to {out}")
    return result


if __name__ == "__main__":
    main()
