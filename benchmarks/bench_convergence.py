"""Retrieval to convergence: updating only the states not yet converged vs updating the whole batch every step.

:func:`assocmem.dynamics.retrieve` freezes a state once no entry moves by more than ``tol``; for one memory set it
then leaves the frozen states out of the later updates. This benchmark measures what that saves on the MHN image
task (``fig_mhn_image_retrieval``): ``N`` stored CIFAR-10 (or MNIST) training images, centred and unit-norm, the
first ``Q`` of them cued (lower half masked, or Gaussian noise of relative norm 1), every beta of the grid as one
batch, up to ``max_steps`` updates. In the same run, on the same data:

- ``active``: ``retrieve(Xi, cue, beta, ...)``, the path the experiments take;
- ``whole`` (the baseline): the same call on a leading batch dimension of one memory set
  (``Xi[None]``, ``cue[None]``), which the engine runs the old way, every state every step.

It checks that both give the same steps and states (up to rounding) and reports each one's time, their ratio, and
the mean number of updates per state against the number of steps the loop runs (what bounds the saving).

    python benchmarks/bench_convergence.py                                  # CIFAR-10, N = 1000, one thread
    python benchmarks/bench_convergence.py --data resources/data/mnist.pt --n-stored 300
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import time
from pathlib import Path

import torch

from assocmem import corruption, dynamics
from assocmem import device as am_device
from assocmem.data import as_patterns, load_images
from assocmem.experiments.mhn.image_retrieval import to_patterns
from bench_retrieval import machine_info, summary, time_calls, write_result

BETAS = [1, 3, 10, 30, 100, 300, 1000, 3000, 10000]  # the quick and test grids of fig_mhn_image_retrieval


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("resources/data/cifar10.pt"),
                   help="prepared images (snakemake resources/data/cifar10.pt makes it)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")
    p.add_argument("--n-stored", type=int, default=1000)
    p.add_argument("--queries", type=int, default=500, help="cued stored images per beta")
    p.add_argument("--max-steps", type=int, default=30)
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None,
                   help="JSON file (default: benchmarks/results/convergence-<date>-<device>.json)")
    args = p.parse_args(argv)
    if not args.data.is_file():
        p.error(f"{args.data} not found: prepare it first (snakemake --cores 1 {args.data})")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = am_device.resolve_device(args.device)
    started, t_start = _dt.datetime.now(), time.perf_counter()
    images = load_images(args.data)["train_images"]
    g = am_device.generator(args.seed)
    shape = tuple(images.shape[1:])
    idx = torch.randperm(images.shape[0], generator=g)[:args.n_stored]
    centre = as_patterns(images, torch.float64).mean(0)
    Xi = to_patterns(images[idx], centre).float().to(dev)
    q = min(args.queries, args.n_stored)
    beta = torch.tensor(BETAS, dtype=torch.float32).repeat_interleave(q).to(dev)
    results = {}
    for kind in ("mask_half", "gaussian"):
        if kind == "mask_half":
            cue, known = corruption.mask_lower_half(Xi[:q].double().cpu(), shape)
        else:
            cue, known = corruption.gaussian_noise(Xi[:q].double().cpu(), 1.0, g), None
        cue = cue.float().to(dev).repeat(len(BETAS), 1)
        clamp = None if known is None else known.to(dev)
        kw = dict(max_steps=args.max_steps, tol=args.tol)

        def active():
            return dynamics.retrieve(Xi, cue, beta, clamp=clamp, **kw)

        def whole():
            return dynamics.retrieve(Xi[None], cue[None], beta, clamp=clamp, **kw)

        with torch.inference_mode():
            a, w = active(), whole()
            t_active = summary(time_calls(active, dev, 0, args.repeats))
            t_whole = summary(time_calls(whole, dev, 0, args.repeats))
        same_steps = bool(torch.equal(a.steps, w.steps[0]))
        diff = (a.state - w.state[0]).abs().max().item()
        results[kind] = {"active": t_active, "whole": t_whole, "speedup": t_whole["median_s"] / t_active["median_s"],
                         "mean_updates_per_state": a.steps.float().mean().item(),
                         "loop_steps": int(a.steps.max().item()), "same_steps": same_steps,
                         "max_abs_state_difference": diff}
        print(f"{kind:9s}: active {t_active['median_s']:.2f} s, whole batch {t_whole['median_s']:.2f} s, "
              f"ratio {results[kind]['speedup']:.2f}; mean updates {results[kind]['mean_updates_per_state']:.1f} of "
              f"{results[kind]['loop_steps']} steps; same steps {same_steps}, max |state difference| {diff:.2g}",
              flush=True)
        if not same_steps or diff > 1e-4:
            raise SystemExit("the two paths disagree")
    result = {
        "benchmark": "convergence", "date": started.date().isoformat(), "started": started.isoformat(timespec="seconds"),
        "elapsed_s": time.perf_counter() - t_start, "device": str(dev), "machine": machine_info(dev),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "parameters": {"data": args.data.name, "n_stored": args.n_stored, "queries": q, "betas": BETAS,
                       "max_steps": args.max_steps, "tol": args.tol, "repeats": args.repeats, "threads": args.threads,
                       "seed": args.seed, "dtype": "float32"},
        "results": results,
    }
    out = write_result(result, "convergence", dev, args.out)
    print(f"total {result['elapsed_s']:.1f} s; written to {out}")
    return result


if __name__ == "__main__":
    main()
