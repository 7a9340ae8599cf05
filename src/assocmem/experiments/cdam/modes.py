"""Four-mode phase diagram of CDAM over (a, h) and beta (target ``fig_cdam_modes``; CDAM spec E2).

Burns (ICML 2024) describes four modes of recall -- auto-association, narrow hetero-association, wide
hetero-association and neutral quiescence -- as the auto-association strength ``a`` and the
hetero-association strength ``h`` vary. The paper's figure and formulas were not available; the
boundaries drawn here are *derived* in the large-n, argmax limit (:func:`assocmem.cdam.theory_modes`):
cued at ``mu``, auto if ``a > max(0, h max_nu M[mu, nu])``; quiescent if ``a <= 0`` and
``a + h lambda_max(M) <= 0``; narrow if ``0 < a`` otherwise; wide if ``a <= 0 < a + h lambda_max(M)``.
These are conditions on fixed points. Two things they do not cover, seen in the simulations: a mixture
of the cue and its neighbours is also a fixed point for some ``a < 0`` (on a cycle down to
``a / h = (1 - sqrt 5) / 4``) but drifts away from the cue there, so the narrow/wide line stays at
``a = 0``; and at large ``beta n`` a moving (travelling) state can keep a memory above threshold just
inside the quiescent region.

Simulation: one U[0,1] pattern of ``n`` units per node of each memory graph (cycle, Zachary's karate
club, Tutte graph, Erdos-Renyi and Watts-Strogatz random graphs), undirected ``M = D^-1/2 A D^-1/2``,
every node cued with uniform noise, ``steps`` updates; the (a, h, beta) grid and all cues are one
batch (:func:`assocmem.cdam.run`). Each run is classified from its final state
(:func:`assocmem.cdam.classify_modes`, a project choice): the recalled set is the memories whose
correlation with the final state is within ``margin`` of the largest; quiescent if no memory correlates
above ``threshold``; auto if the recalled set is the cue alone; narrow if it holds the cue and lies
within the cue's closed neighbourhood; wide otherwise (it reaches >= 2 steps, or the cue dropped out).
The table also records the spec's features (correlation with the cue, graph distance of the most
correlated memory, memories above ``threshold``, max correlation).
A second prediction runs the large-n overlap dynamics (:func:`assocmem.cdam.overlap_dynamics`) at the
same effective inverse temperature ``beta n / 12`` and classifies them by the same rules.

Claims (project tolerance ``MIN_AGREEMENT``): away from the boundaries (the theory's mode unchanged
when a and h move by ``boundary_margin``) the simulated mode matches the theory for >= 0.9 of (cell,
cue) runs, pooled and for each mode alone; all four modes occur; the large-n overlap dynamics predict
the simulated mode for >= 0.9 of all runs. The (a, h, beta) grid and every cue of a graph run as one
batch; loops remain over graphs and seeds only (settings are split into chunks only above
``max_batch_states``, for the paper scale on one GPU). The model run can be sharded by graph (shard axis
``graphs``): seeds depend on the graph, not on which others run, and the large-n check runs with the cycle.

Run without Snakemake::

    python -m assocmem run fig_cdam_modes --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ...registry import PAPERS, Target
from ... import cdam
from ... import device as _device
from ... import graphs as _graphs
from ...results import begin_target
from ...stages import Runs

NAME = "cdam_modes"
TARGET = "fig_cdam_modes"
PAPER_KEY = "cdam"
PAPER = PAPERS["cdam"].citation
TARGET_SPECS = (
    Target("fig_cdam_modes", PAPERS["cdam"], NAME, __name__, data=(), threads=4,
           summary="E2: four-mode phase diagram over (a, h) and beta on five graphs", shard_axis="graphs"),
)
GRAPHS = ("cycle", "karate", "tutte", "erdos_renyi", "watts_strogatz")  # seeds use the position here
MIN_AGREEMENT = 0.9  # project tolerance: simulated mode == theory away from the boundaries
VAR_U01 = 1.0 / 12.0  # variance of a U[0,1] unit


def make_graph(name: str, params: dict, seed: int) -> torch.Tensor:
    """Adjacency ``(p, p)`` (float64) of the spec's graph ``name`` (:mod:`assocmem.graphs`) with its sizes from
    ``params``; random graphs are seeded and connected."""
    p = params["p_random"]
    if name == "cycle":
        return _graphs.cycle_graph(params["p_cycle"])
    if name == "karate":
        return _graphs.karate_club()
    if name == "tutte":
        return _graphs.tutte()
    if name == "erdos_renyi":
        return _graphs.erdos_renyi(p, params["er_edge_prob"], seed)
    if name == "watts_strogatz":
        return _graphs.watts_strogatz(p, params["ws_k"], params["ws_rewire"], seed)
    raise ValueError(f"unknown graph {name!r}")


def grid(params: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The (beta, a, h) grid flattened to settings, beta-major: ``a``, ``h``, ``beta`` each ``(S,)``."""
    b, a, h = torch.meshgrid(*(torch.tensor(params[k], dtype=torch.float64) for k in ("betas", "a_values", "h_values")),
                             indexing="ij")
    return a.reshape(-1), h.reshape(-1), b.reshape(-1)


def interior(M: torch.Tensor, a: torch.Tensor, h: torch.Tensor, margin: float) -> torch.Tensor:
    """``(S, p)``: True where the theory's mode is unchanged at (a +- margin, h +- margin) (away from boundaries)."""
    th = cdam.theory_modes(M, a, h)
    same = torch.ones_like(th, dtype=torch.bool)
    for da in (-margin, 0.0, margin):
        for dh in (-margin, 0.0, margin):
            same &= cdam.theory_modes(M, a + da, h + dh) == th
    return same


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype, suffix: str = "") -> pd.DataFrame:
    """One row per (graph, seed, beta, a, h, cue): simulated, theory and overlap-dynamics modes and features.

    ``suffix`` is appended to the graph names in the table (the large-n check's rows)."""
    a, h, beta = grid(params)
    frames = []
    bar = tqdm(total=len(params["graphs"]) * params["seeds"], desc=f"{NAME}{suffix}", unit="graph", mininterval=2)
    for name in params["graphs"]:
        for s in range(params["seeds"]):
            bar.update()
            A = make_graph(name, params, seed * 100 + s)
            gi = GRAPHS.index(name)  # seeds depend on the graph, not on which others run (shards agree)
            p = A.shape[0]
            M = _graphs.normalized_adjacency(A)
            dist = _graphs.graph_distance(A)
            gen = _device.generator(seed * 100_003 + 1_000 * gi + s)
            Xi = torch.rand(p, params["n"], generator=gen, dtype=torch.float64)
            cues = cdam.noisy_cues(Xi, params["noise"], gen)
            Xd, Md = Xi.to(device, dtype), M.to(device, dtype)
            # One batch of S * p states; split into chunks of settings only when it exceeds max_batch_states
            # (paper scale on one GPU).
            per = max(1, params["max_batch_states"] // p)
            corr = torch.cat([
                cdam.run(Xd, Md, cues.to(device, dtype), a[i:i + per], h[i:i + per], beta[i:i + per],
                         eta=params["eta"], kappa=params["kappa"], steps=params["steps"],
                         keep_state=False).final_correlations
                for i in range(0, len(a), per)])  # (S, C, p)
            sim = cdam.classify_modes(corr, dist, threshold=params["threshold"], margin=params["margin"])
            beta_eff = beta * params["n"] * VAR_U01
            c = cdam.overlap_dynamics(M, torch.eye(p, dtype=torch.float64), a, h, beta_eff=beta_eff,
                                      eta=params["eta"], kappa=params["kappa"], steps=params["steps"])
            red = cdam.classify_modes(cdam.overlap_correlations(c), dist, threshold=params["threshold"],
                                      margin=params["margin"])
            th = cdam.theory_modes(M, a, h)
            inside = interior(M, a, h, params["boundary_margin"])
            corr = corr.double().cpu()
            idx = torch.arange(p)
            S = len(a)
            frames.append(pd.DataFrame(dict(
                graph=name + suffix, n=params["n"], seed=s, beta=beta.repeat_interleave(p).numpy(),
                a=a.repeat_interleave(p).numpy(),
                h=h.repeat_interleave(p).numpy(), cue=idx.repeat(S).numpy(),
                sim_mode=sim.reshape(-1).numpy(), theory_mode=th.reshape(-1).numpy(),
                overlap_mode=red.reshape(-1).numpy(), interior=inside.reshape(-1).numpy(),
                cue_corr=corr[:, idx, idx].reshape(-1).numpy(), max_corr=corr.amax(-1).reshape(-1).numpy(),
                argmax_distance=dist[idx, corr.argmax(-1)].reshape(-1).numpy(),
                n_above=(corr > params["threshold"]).sum(-1).reshape(-1).numpy(),
            )))
    bar.close()
    return pd.concat(frames, ignore_index=True)


LARGE_N = "cycle_large_n"


def run_large_n(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype) -> pd.DataFrame:
    """The large-n check: the cycle at ``large_n`` units per pattern on a coarse (a, h) grid at one beta,
    ``beta * n`` held at ``large_n_beta_n`` (the theory is the large-n limit at fixed effective temperature)."""
    sub = {**params, "graphs": ["cycle"], "n": params["large_n"], "a_values": params["large_n_a_values"],
           "h_values": params["large_n_h_values"], "betas": [params["large_n_beta_n"] / params["large_n"]]}
    return run(sub, seed=seed + 7, device=device, dtype=dtype, suffix="_large_n")


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: one row per (graph, seed, beta, a, h, cue), graph by graph, the large-n check's rows right
    after the cycle's (:func:`run`, :func:`run_large_n`), so that a shard of one graph holds all of that graph's
    rows; the figure is in :mod:`.cdam_modes_figure`."""
    tr = begin_target(config, NAME, threads)
    params, dev, dtype = tr.params, tr.device, tr.dtype
    frames = []
    for name in params["graphs"]:
        frames.append(run({**params, "graphs": [name]}, seed=config["seed"], device=dev, dtype=dtype))
        if name == "cycle":
            frames.append(run_large_n(params, seed=config["seed"], device=dev, dtype=dtype))
    return Runs(pd.concat(frames, ignore_index=True))
