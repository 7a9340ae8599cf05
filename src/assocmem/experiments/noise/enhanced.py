"""Noise-enhanced recall in a clustered constraint network (targets ``fig_noise_error_vs_epsilon``,
``fig_noise_surface``, ``fig_noise_recall_time``, ``fig_noise_learned_vs_constructed``).

Karbasi, Salavati, Shokrollahi and Varshney, *Noise-Enhanced Associative Memories* (NeurIPS 2013).
The model is :mod:`assocmem.constraint_network`: ``n`` integer pattern neurons, patterns ``x = u G`` in a
subspace, ``L`` overlapping clusters of constraint neurons orthogonal to every stored pattern, recall by
noisy bit flipping inside clusters (pattern-neuron noise ``upsilon``, constraint-neuron noise ``nu``,
threshold ``phi``) and sequential peeling over clusters. External errors: ``err_bits`` neurons get
+-1 or +-2, ``epsilon = err_bits / n``.

One simulation run (``run``) covers the four figures: the sweep over ``err_bits x upsilon x nu`` and the
surface over ``upsilon x nu`` at ``surface_err_bits``, all settings and test patterns as one batch, plus
the density-evolution (DE) curves; with ``compare_constructions`` also the sweep's ``nu = 0`` settings on
the same network with learned and with constructed constraints, on the same cues. Figures: final bit
error rate (BER) and pattern error rate (PER) vs ``epsilon`` with the DE curve; PER/BER over
``upsilon x nu``; peeling rounds vs ``epsilon`` per ``upsilon``; learned vs constructed constraints.

Substitutions (stated in every caption): at quick scale the constraints are exact sparse null-space
vectors of each cluster's generator block (``construction: null_space``); ``construction: learned`` (the
paper scale) learns them with the paper's rule (``fig_noise_learned_vs_constructed`` shows the two side by
side); a cluster's output is accepted when all its constraints are satisfied (the authors' code compares
with the true pattern: ``oracle: true`` reproduces that, as an ablation only); error positions are drawn
without replacement; a noiseless row whose state stops changing is stopped early and its
rounds are counted as ``max_rounds`` (as if it had run them all). Quick scale: fewer iterations, rounds
and test patterns than the paper.

The four targets share one run, ``noise_recall`` (one model-run job for all four); at the paper scale each network
is a shard of its own, one job each (every network draws from a generator of its own). Run without Snakemake (the
shared run, then one figure; ``figure`` redraws from the kept run)::

    python -m assocmem run fig_noise_error_vs_epsilon
    python -m assocmem figure fig_noise_surface
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...registry import PAPERS, Target, axis_values
from ... import constraint_network as cn
from ... import device as _device
from ...results import begin_target
from ...stages import Runs

NAME = "noise_enhanced"
PAPER_KEY = "noise"
PAPER = PAPERS["noise"].citation
# Four targets drawn from one run (one model-run job; at the paper scale one shard per network).
TARGET_SPECS = tuple(
    Target(name, PAPERS["noise"], NAME, __name__, run="noise_recall", data=(), threads=1, summary=summary,
           shard_axis="networks")
    for name, summary in (
        ("fig_noise_error_vs_epsilon", "final error vs initial error rate for several internal noise levels"),
        ("fig_noise_surface", "final error over (upsilon, nu)"),
        ("fig_noise_recall_time", "rounds to converge"),
        ("fig_noise_learned_vs_constructed", "constraints learned by the paper's rule vs constructed"),
    )
)
TARGETS = tuple(t.name for t in TARGET_SPECS)
# Project tolerances (the paper shows curves, not numbers).
LOW_PER = 0.05  # "error near zero"
GAIN = 0.2  # a "substantial" drop (or rise) in PER
NO_HELP = 0.05  # constraint noise "does not help": PER drops by at most this much
DE_SLACK = 0.005  # DE may undercut the simulated BER by at most this much
AGREE = 0.1  # learned and constructed constraints "agree on recall": PER within this at every setting


def constraints(params: dict, kind: str, G: torch.Tensor, members: torch.Tensor, sizes: torch.Tensor,
                generator: torch.Generator) -> tuple[torch.Tensor, dict]:
    """Constraint weights of one network, built as exact null-space vectors or learned with the paper's rule
    from ``learn.train_patterns`` fresh patterns; and statistics to report."""
    G_active = G[: params["k_random"]]
    stats = {}
    if kind == "null_space":
        W = cn.construct_constraints(G_active, members, sizes, generator)
    else:
        lp = params["learn"]
        u = cn.messages(lp["train_patterns"], params["k"], params["k_random"], generator)
        Xc = cn.cluster_patterns(cn.patterns(u, G), members)
        W, stats = cn.learn_constraints(Xc, members < params["n"], sizes - params["k_random"], lp, generator,
                                        progress=True)
        stats.pop("kept_per_cluster")
        fresh = cn.messages(lp["train_patterns"], params["k"], params["k_random"], generator)
        stats["heldout_max_residual"] = float(
            torch.einsum("pln,lmn->plm", cn.cluster_patterns(cn.patterns(fresh, G), members), W).abs().max())
    d = cn.degrees(W)
    rows = (W != 0).any(-1)
    stats.update(w_min=cn.w_min(W), mean_degree=float(d[members < params["n"]].double().mean()),
                 constraints=int(rows.sum()), mean_support=float((W != 0).sum(-1)[rows].double().mean()))
    return W, stats


def build_network(params: dict, generator: torch.Generator) -> tuple[dict, dict]:
    """Generator, clusters and constraints (``params['construction']``) of one network instance, and statistics."""
    G = cn.generator_matrix(params["n"], params["k"], params["col_degree"], generator)
    members, sizes = cn.make_clusters(params["n"], params["L"], params["clusters_per_neuron"], generator)
    W, stats = constraints(params, params["construction"], G, members, sizes, generator)
    stats.update(cluster_size_min=int(sizes.min()), cluster_size_max=int(sizes.max()))
    return dict(G=G, members=members, sizes=sizes, W=W), stats


def other_construction(params: dict) -> str:
    return "learned" if params["construction"] == "null_space" else "null_space"


def settings(params: dict) -> pd.DataFrame:
    """Every simulated setting: the sweep grid and the surface grid."""
    sweep = [("sweep", e, u, v) for e in params["err_bits"] for u in params["upsilon"] for v in params["nu"]]
    surf = [("surface", params["surface_err_bits"], u, v) for u in params["surface_upsilon"]
            for v in params["surface_nu"]]
    return pd.DataFrame(sweep + surf, columns=["grid", "err_bits", "upsilon", "nu"])


def simulate(net: dict, grid: pd.DataFrame, params: dict, generator: torch.Generator, device, dtype,
             cue_generator: torch.Generator | None = None) -> pd.DataFrame:
    """Recall ``test_patterns`` corrupted patterns for every setting of ``grid`` in one batch; test patterns
    and cues come from ``cue_generator`` when given (to pair two networks on the same cues)."""
    P = params["test_patterns"]
    gc = generator if cue_generator is None else cue_generator
    u = cn.messages(P, params["k"], params["k_random"], gc)
    X = cn.patterns(u, net["G"]).repeat(len(grid), 1)
    rep = lambda col: torch.tensor(grid[col].to_numpy(), dtype=torch.float64).repeat_interleave(P)
    cue = cn.corrupt(X, rep("err_bits").long(), gc, params["max_amp"])
    res = cn.recall(cue.to(device, dtype), net["W"], net["members"], rep("upsilon"), rep("nu"), phi=params["phi"],
                    max_iter=params["max_iter"], max_rounds=params["max_rounds"], generator=generator,
                    accept_tol=params["accept_tol"], oracle=X.to(device, dtype) if params["oracle"] else None,
                    progress=True)
    wrong = (res.state.cpu().double() != X)
    rounds = torch.where(res.converged.cpu(), res.rounds.cpu(), torch.full_like(res.rounds.cpu(), params["max_rounds"]))
    per_row = pd.DataFrame(dict(setting=np.repeat(np.arange(len(grid)), P), pattern_error=wrong.any(1).double().numpy(),
                                bit_error=wrong.double().mean(1).numpy(), rounds=rounds.double().numpy(),
                                rounds_converged=torch.where(res.converged.cpu(), res.rounds.cpu().double(),
                                                             torch.tensor(float("nan"))).numpy(),
                                converged=res.converged.cpu().double().numpy()))
    agg = per_row.groupby("setting").agg(per=("pattern_error", "mean"), ber=("bit_error", "mean"),
                                         rounds=("rounds", "mean"), rounds_sd=("rounds", "std"),
                                         rounds_converged=("rounds_converged", "mean"),
                                         converged=("converged", "mean"), n_patterns=("pattern_error", "size"))
    return pd.concat([grid.reset_index(drop=True), agg.reset_index(drop=True)], axis=1)


def theory(net: dict, params: dict) -> pd.DataFrame:
    """DE curves: final BER vs epsilon for every (upsilon, nu) of the sweep."""
    eps = np.linspace(0, max(params["err_bits"]) / params["n"] * 1.05, 43)
    rows = []
    for ups in params["upsilon"]:
        for nu in params["nu"]:
            p_c = cn.cluster_success_probability(net["W"], net["sizes"], ups, nu, params["phi"])
            ber = cn.density_evolution(eps, net["sizes"], params["clusters_per_neuron"], p_c)
            rows += [dict(upsilon=ups, nu=nu, epsilon=e, ber_theory=b, p_c=p_c) for e, b in zip(eps, ber)]
    return pd.DataFrame(rows)


def run(params: dict, *, seed: int, device=None, dtype=torch.float32) -> tuple[pd.DataFrame, dict]:
    """All networks (``networks``: a count, or one shard's list of network indices), the simulation grid and the DE
    curves; one tidy frame (``kind`` = simulation / theory) and each network's statistics by its index. Network
    ``i`` draws from a generator of its own, so its rows do not depend on the other networks."""
    device = torch.device("cpu") if device is None else device
    frames, stats = [], {}
    grid = settings(params)
    for net_id in axis_values(params, "networks"):
        g = _device.generator(seed * 1_000_003 + net_id)
        net, st = build_network(params, g)
        sim = simulate(net, grid, params, g, device, dtype)
        sim["construction"] = params["construction"]
        th = theory(net, params)
        sims = [sim]
        if params["compare_constructions"]:
            # both constructions on the same network and the same cues, the sweep's nu = 0 settings
            other = other_construction(params)
            W, st[other] = constraints(params, other, net["G"], net["members"], net["sizes"], g)
            cmp_grid = grid[(grid["grid"] == "sweep") & (grid["nu"] == 0)].assign(grid="compare")
            cue_seed = int(torch.randint(0, 2**31, (1,), generator=g))
            for kind, Wk in ((params["construction"], net["W"]), (other, W)):
                sims.append(simulate(dict(net, W=Wk), cmp_grid, params, g, device, dtype,
                                     cue_generator=_device.generator(cue_seed)).assign(construction=kind))
        for f, kind in ((pd.concat(sims, ignore_index=True), "simulation"), (th, "theory")):
            f["kind"], f["network"] = kind, net_id
            if kind == "simulation":
                f["epsilon"] = f["err_bits"] / params["n"]
            frames.append(f)
        stats[str(net_id)] = st
    return pd.concat(frames, ignore_index=True), dict(networks=stats)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run shared by the four targets: :func:`run`, and the dtype it used (integer states must stay exact:
    bfloat16 runs in float32). The figures are in :mod:`.enhanced_figure`."""
    tr = begin_target(config, NAME, threads)
    dtype = torch.float32 if tr.dtype == torch.bfloat16 else tr.dtype
    raw, stats = run(tr.params, seed=config["seed"], device=tr.device, dtype=dtype)
    return Runs(raw, dict(dtype=str(dtype), **stats))
