"""Measured capacity of the kernelized Hopfield model against the feature dimension D_Phi, raw vs U-Hop+
(target ``fig_capacity_vs_feature_dim``; KHM spec, experiment 8, a project addition).

Hu, Wu & Liu (NeurIPS 2024): with normalized features the KHM stores the memories whose features form a
well-separated spherical code, and the optimal capacity grows exponentially in ``D_Phi`` (Prop. 3.1 turned into a
capacity bound). Two kinds of memory sets (``datasets``): ``sphere``, memories ``xi_mu`` uniform on ``S^{d-1}``
(``d = pattern_dim``); ``mnist``, ``M`` MNIST training images drawn without replacement for every draw (pixels
scaled to [0, 1], flattened and put on the unit sphere, ``d = 784``; no centring, so all their cosines are
positive and typically large: a highly correlated memory set). ``Phi(x) = W x`` maps the memories to ``D_Phi``
dimensions; the KHM retrieves ``T_Phi(x) = Xi^T softmax(beta cos(Phi(xi_mu), Phi(x)))`` (normalized
features, output in pattern space). ``M*`` is the largest ``M`` for which every memory of every draw is a fixed
point within ``tol`` after ``retrieval_steps`` updates (:func:`assocmem.capacity.capacity`, growth then bisection,
relative resolution ``resolution``). "raw": Kaiming-normal random ``W``; "U-Hop+": the same ``W`` after U-Hop+
stage I on each memory set (``uhop_steps`` Adam steps at ``uhop_lr``; on MNIST at ``mnist_uhop_lr``: Adam moves
every weight by about ``lr`` per step whatever the gradient's scale, while the Kaiming init's scale is
``sqrt(2 / d)``, so the step relative to the init grows like ``sqrt(d)``; at ``d = 784`` and the spheres' ``lr``
the first steps collapse all features onto one direction. ``mnist_uhop_lr = uhop_lr * sqrt(32 / 784)`` keeps the
relative step of the quick-scale spheres, ``d = 32``).

Theory curves: a memory is a fixed point within ``tol`` if ``2 (M - 1) exp(-beta Delta_min) <= tol`` (sufficient;
``|T(xi) - xi| <= 2 (1 - p_mu)`` for unit memories), i.e. ``Delta_min >= Delta_req(M) = ln(2 (M - 1) / tol) / beta``.
With Prop. 3.1, an optimal code in ``D_Phi`` dimensions meets this up to the largest ``M`` with
``lower(M, D_Phi) >= Delta_req(M)`` (guaranteed), and no code meets it beyond the largest ``M`` with
``upper(M, D_Phi) >= Delta_req(M)``. These curves depend on ``D_Phi`` only, so both panels show the same ones.

Claims: on the spherical patterns, ln M* of U-Hop+ is linear in ``D_Phi`` and U-Hop+ beats raw features at every
``D_Phi``; on MNIST, U-Hop+ beats raw features at every ``D_Phi``. The log-linear fit of the MNIST capacities is
reported (caption and JSON ``mnist_loglinear_fit``), not claimed: the spec's exponential law is for optimal codes
and its capacity experiment names no data set, and a fixed budget of U-Hop+ steps need not reach a good code of
highly correlated images. Beside the exponential fit, a power law (ln M* vs ln D_Phi) is fitted to the spherical
U-Hop+ capacities and reported (caption and JSON ``sphere_power_law_fit``): over the D_Phi we can run, it fits better.

Run without Snakemake::

    python -m assocmem run fig_capacity_vs_feature_dim

In shards (one data set each, e.g. on a GPU; a killed shard keeps its finished rows), then drawn together: see the
README ("Without Snakemake") for ``python -m assocmem.experiments.khm.capacity ... run`` and ``gather``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import cli
from ...registry import PAPERS, Target
from ... import capacity as _capacity
from ... import device as _device
from ... import kernelized as K
from ...data import as_patterns, load_images
from ...files import write_csv
from ...results import begin_target
from ...stages import Runs

NAME = "khm_capacity"
TARGET = "fig_capacity_vs_feature_dim"
PAPER_KEY = "khm"
DATASETS = ("sphere", "mnist")
_SEED_OFFSET = {"sphere": 0, "mnist": 100_003}  # the sphere rows keep the seeds they had before MNIST was added
PAPER = PAPERS["khm"].citation
TARGET_SPECS = (
    Target("fig_capacity_vs_feature_dim", PAPERS["khm"], NAME, __name__, threads=1,
           data=lambda p: ("mnist",) if "mnist" in p["datasets"] else (),
           summary="capacity M* of raw and U-Hop+ features vs D_Phi", shard_axis="datasets"),
)


def theory_capacity(D: int, beta: float, tol: float, m_cap: float = 1e15) -> tuple[float, float]:
    """(guaranteed, ceiling): largest ``M`` with ``lower(M, D)`` resp. ``upper(M, D) >= ln(2 (M-1)/tol)/beta``."""
    grid = np.unique(np.round(np.geomspace(2, m_cap, 4000)))
    req = np.log(2 * (grid - 1) / tol) / beta
    lower, upper = K.code_bounds(grid, D)
    ok_lo, ok_up = grid[lower >= req], grid[upper >= req]
    return (float(ok_lo.max()) if len(ok_lo) else 1.0, float(ok_up.max()) if len(ok_up) else 1.0)


def feature_map(D: int, params: dict, seed: int, train: bool):
    """``Xi (R, M, d) -> (W, None)``: Kaiming-normal ``W`` from a fixed seed, optionally after U-Hop+ stage I."""

    def build(Xi: torch.Tensor):
        W0 = K.kaiming_normal((Xi.shape[0], D, Xi.shape[-1]), _device.generator(seed), Xi.dtype).to(Xi.device)
        if not train:
            return W0, None
        res = K.uhop_train(Xi, W0, steps=params["uhop_steps"], lr=params["uhop_lr"], tau=params["uhop_tau"],
                           block=params.get("block"))
        return res.W, None

    return build


def mnist_generator(images: torch.Tensor, dtype=torch.float32, device: torch.device | str = "cpu"):
    """Memory sets of ``M`` distinct images of ``images`` (``(N, ...)``, uint8), ``R`` draws: ``(R, M, d)``.

    Each draw picks its ``M`` images without replacement (the ``M`` largest of ``n`` seeded uniforms); pixels go to
    [0, 1] (:func:`assocmem.data.as_patterns`) and every pattern is scaled to unit norm, as the spherical memories are.
    """
    n = images.shape[0]

    def make(M: int, R: int, generator: torch.Generator) -> torch.Tensor:
        if M > n:
            raise ValueError(f"M = {M} memories asked for, only {n} images")
        idx = torch.rand((R, n), generator=generator).topk(M, dim=-1).indices  # a uniform M-subset per draw
        x = as_patterns(images[idx.reshape(-1)], dtype).reshape(R, M, -1)
        return (x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)).to(device)

    return make


def run(params: dict, *, seed: int, data_path: Path | None = None, device=torch.device("cpu"),
        dtype=torch.float32, checkpoint: Path | None = None) -> pd.DataFrame:
    """One row per (data, features, D_Phi): ``M*``, whether ``m_max`` capped it, and every size tested.

    ``params["datasets"]`` (default ``["sphere"]``) picks the memory sets; ``mnist`` needs ``data_path`` (a prepared
    MNIST file, :func:`assocmem.data.load_images`). With ``checkpoint``, the rows finished so far are rewritten to
    that CSV after every row, so a long run that is killed keeps them.
    """
    rows = []
    for data in params.get("datasets", ["sphere"]):
        m_max = params["m_max"]
        if data == "sphere":
            make = _capacity.sphere_generator(params["pattern_dim"], dtype=dtype, device=device)
        elif data == "mnist":
            if data_path is None:
                raise ValueError("the mnist capacity rows need data_path (a prepared MNIST file)")
            images = load_images(data_path)["train_images"]
            make = mnist_generator(images, dtype=dtype, device=device)
            m_max = min(m_max, images.shape[0])
        else:
            raise ValueError(f"unknown dataset {data!r}; choose from {DATASETS}")
        off = _SEED_OFFSET[data]
        fparams = dict(params, uhop_lr=params.get("mnist_uhop_lr", params["uhop_lr"])) if data == "mnist" else params
        for kind in ("raw", "U-Hop+"):
            prev = None
            for D in params["feature_dims"]:
                retr = _capacity.kernel_retriever(feature_map(D, fparams, seed * 31 + D + off, kind == "U-Hop+"),
                                                  separation="softmax", normalize=True,
                                                  cue_block=params.get("block"))
                res = _capacity.capacity(make, retr, beta=params["beta"], steps=params["retrieval_steps"],
                                         tol=params["tol"], draws=params["draws"], m_max=m_max,
                                         seed=seed * 1009 + D + off, m_start=prev, growth=params["growth"],
                                         resolution=params["resolution"], desc=f"capacity {data} {kind} D={D}")
                prev = max(res.m_star, 2)
                lo, up = theory_capacity(D, params["beta"], params["tol"])
                rows.append({"data": data, "features": kind, "D_Phi": D, "m_star": res.m_star, "capped": res.capped,
                             "theory_guaranteed": lo, "theory_ceiling": up,
                             "tested": ";".join(f"{m}:{v:.3f}" for m, v in sorted(res.tested.items()))})
                if checkpoint is not None:
                    write_csv(pd.DataFrame(rows), checkpoint)
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: one row per (data, features, D_Phi) (:func:`run`); the figure is in :mod:`.khm_capacity_figure`."""
    tr = begin_target(config, NAME, threads)
    return Runs(run(tr.params, seed=config["seed"], data_path=data.get("mnist"), device=tr.device))


def run_target(config: dict, data_path: Path, out_prefix: Path, threads: int | None = None) -> dict:
    """Run and draw in one call, keeping the finished rows in ``<out_prefix>.partial.csv`` until the figure is
    written (so a killed run keeps them; ``gather`` can draw them)."""
    from .capacity_figure import write_figure

    tr = begin_target(config, NAME, threads)
    partial = Path(out_prefix).with_name(Path(out_prefix).name + ".partial.csv")
    table = run(tr.params, seed=config["seed"], data_path=Path(data_path), device=tr.device, checkpoint=partial)
    run_wall = time.perf_counter() - tr.started
    meta = write_figure(tr, table, out_prefix, run_wall)
    partial.unlink(missing_ok=True)
    return meta


def main(argv: list[str] | None = None) -> None:
    from .capacity_figure import gather_target

    p = cli.parser(__name__, __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the experiment and write the figure, table and metadata")
    p_run.add_argument("--data", type=Path, default=Path("resources/data/mnist.pt"), help="prepared MNIST file")
    p_run.add_argument("--out-prefix", type=Path, default=Path("results") / PAPER_KEY / TARGET)
    p_run.add_argument("--threads", type=int, default=None)
    p_fig = sub.add_parser("gather", help="draw the target from shard runs (their <prefix>.csv and .json)")
    p_fig.add_argument("shards", type=Path, nargs="+", help="shard prefixes, e.g. results/khm/runs/sphere/" + TARGET)
    p_fig.add_argument("--out-prefix", type=Path, default=Path("results") / PAPER_KEY / TARGET)
    args = p.parse_args(argv)
    cfg = cli.load_config(p, args)
    if args.command == "run":
        cli.print_summary(run_target(cfg, args.data, args.out_prefix, args.threads))
    else:
        cli.print_summary(gather_target(cfg, args.shards, args.out_prefix))


if __name__ == "__main__":
    main()
