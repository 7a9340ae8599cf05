"""Range of recall on a cycle of memories (target ``fig_cdam_antihebbian_range``; CDAM spec E1).

Burns (ICML 2024), *Semantically-correlated memories in a dense associative model*: p memories on an
undirected cycle, the CDAM update ``sigma <- sigma + eta (softmax(beta sigma Xi^T) Q - kappa xi_bar -
sigma)`` with targets ``Q = a Xi + h M Xi`` (rows; ``M`` the symmetrically normalized adjacency). Run
from every memory as a noisy cue, the final states ("attractors") reached from memories ``d`` steps
apart on the graph are correlated when the hetero-association reaches that far. Auto-association
``(a, h) = (1, 0)`` gives uncorrelated attractors; anti-Hebbian settings (``a < 0``) spread further.

Protocol: for each seed, ``p`` i.i.d. U[0,1] patterns of ``n`` units; cues ``xi_mu + noise (U[0,1) -
1/2)``, one noise draw per cue shared by every (a, h) setting (a paired comparison); every setting
runs as one batch (:func:`assocmem.cdam.run`); ``kappa`` as configured (default 1, as the author's
released figures). Read-out: the attractor matrix (Pearson correlation between final states) averaged
over the pairs at each graph distance; mean and sd over seeds of these per-seed means.

Run without Snakemake::

    python -m assocmem run fig_cdam_antihebbian_range --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import cdam
from ... import device as _device
from ... import graphs as _graphs
from ...results import begin_target
from ...stages import Runs

NAME = "cdam_antihebbian_range"
TARGET = "fig_cdam_antihebbian_range"
PAPER_KEY = "cdam"
PAPER = PAPERS["cdam"].citation
TARGET_SPECS = (
    Target("fig_cdam_antihebbian_range", PAPERS["cdam"], NAME, __name__, data=(), threads=4,
           summary="E1: attractor correlation vs graph distance on a 30-cycle"),
)

# Author's released curve values (single unseeded run, read off the released figure; spec E1):
# setting (a, h) -> {graph distance: mean attractor correlation}.
AUTHOR_VALUES: dict[tuple[float, float], dict[int, float]] = {
    (1.0, 0.0): {1: 0.0},
    (0.5, 0.5): {1: 0.65, 2: 0.1},
    (-0.5, 1.5): {1: 0.75, 2: 0.55, 3: 0.3, 4: 0.1},
    (-2.0, 3.0): {1: 0.65, 2: 0.5, 3: 0.45, 4: 0.3, 5: 0.15, 6: 0.0},
}
# Project tolerances (the paper gives curves, not tolerances).
AUTO_MAX_ABS = 0.15  # |corr at d=1| for auto-association
ANTI_MIN_D1 = 0.3  # corr at d=1 for the anti-Hebbian settings
RANGE_LEVEL = 0.2  # range = largest d reached with mean corr > this at every d' <= d
AUTHOR_MAX_MAD = 0.15  # mean |ours - author| over the distances the author's values give, per setting


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype) -> dict:
    """Run every seed; return per-seed attractor curves and the first seed's recorded dynamics.

    Returns ``curves`` (tidy per-seed DataFrame: seed, a, h, distance, corr, corr_sd_pairs, n_pairs),
    ``attractors`` ``(S, p, p)`` and ``correlations`` ``(T + 1, S, p, p)`` (state-memory correlation,
    cue x memory) and ``mean_activity`` ``(T + 1, S)`` (mean over cues) of seed 0.
    """
    p, n = params["p"], params["n"]
    settings = torch.tensor(params["settings"], dtype=torch.float64)
    A = _graphs.cycle_graph(p)
    M = _graphs.normalized_adjacency(A).to(device, dtype)
    dist = _graphs.graph_distance(A)
    rows, first = [], {}
    for s in range(params["seeds"]):
        g = _device.generator(seed * 100_003 + s)
        Xi64 = torch.rand(p, n, generator=g, dtype=torch.float64)
        cues = cdam.noisy_cues(Xi64, params["noise"], g)
        Xi = Xi64.to(device, dtype)
        res = cdam.run(Xi, M, cues.to(device, dtype), settings[:, 0], settings[:, 1], params["beta"],
                       eta=params["eta"], kappa=params["kappa"], steps=params["steps"], record=(s == 0))
        att = cdam.attractor_matrix(res.state).double().cpu()
        mean, sd, count = cdam.correlation_by_distance(att, dist, params["max_distance"])
        for k, (a, h) in enumerate(settings.tolist()):
            for d in range(params["max_distance"] + 1):
                rows.append(dict(seed=s, a=a, h=h, distance=d, corr=mean[k, d].item(),
                                 corr_sd_pairs=sd[k, d].item(), n_pairs=int(count[d])))
        if s == 0:
            first = dict(attractors=att, correlations=res.correlations.double().cpu(),
                         mean_activity=res.mean_activity.double().mean(-1).cpu())
    return dict(curves=pd.DataFrame(rows), **first)


def figure_extras(first: dict, params: dict) -> dict:
    """What the figure draws of seed 0 (:func:`run`'s ``first``), as JSON lists: ``attractors`` ``(S, p, p)``; the
    state-memory correlations (cue x memory) of the time-course setting at each snapshot step, ``snapshots``
    ``{t: (p, p)}``; those of cue 0 at the end, ``final_cue0`` ``(S, p)``; and ``mean_activity`` ``(T + 1, S)``."""
    settings = [tuple(s) for s in params["settings"]]
    ts = tuple(params["timecourse_setting"])
    kt = settings.index(ts) if ts in settings else 0
    corr = first["correlations"]
    return dict(attractors=first["attractors"].tolist(),
                snapshots={str(t): corr[t, kt].tolist() for t in params["snapshot_steps"] if t <= params["steps"]},
                final_cue0=corr[-1, :, 0].tolist(), mean_activity=first["mean_activity"].tolist())


# ----------------------------------------------------------------------------- entry point


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: the per-seed curves (:func:`run`) and, in the extras, seed 0's dynamics
    (:func:`figure_extras`); the figure is in :mod:`.cdam_antihebbian_range_figure`."""
    tr = begin_target(config, NAME, threads)
    out = run(tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(out["curves"], figure_extras(out, tr.params))
