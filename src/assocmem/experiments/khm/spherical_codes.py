"""Optimal spherical codes in d = 3 against the bounds of Prop. 3.1, and the codes U-Hop+ finds
(target ``fig_spherical_code_bounds``; KHM spec, experiment 5 and the Tammes replication target).

Hu, Wu & Liu (NeurIPS 2024), Prop. 3.1: an optimal ``M``-point code on ``S^{d-1}`` has minimal separation
``Delta_min = 1 - cos theta_M`` between ``1/2 [sqrt(pi) Gamma((d+1)/2) / (M Gamma(d/2+1))]^(2/(d-1))`` and
``2 [2 sqrt(pi) Gamma((d+1)/2) / (M Gamma(d/2))]^(1/(d-1))`` (``2/(3M)`` and ``4/sqrt(M)`` at ``d = 3``).

Computed: for every ``M`` the "truth" ``theta_M`` (the known Tammes angles of the spec where given, else the best
code found by direct optimization of the points with restarts, labelled a lower estimate), both bounds, and the
minimum angle of the normalized features ``Phi(xi_mu) / |Phi(xi_mu)|`` after U-Hop+ stage I with ``D_Phi = 3``
(memories uniform on ``S^{pattern_dim - 1}``, Kaiming-normal ``W``, Adam). Substitutions: Tammes angles beyond the
spec's table are computed (no offline table); U-Hop+ uses a small ``tau`` (config) as the spec's "small tau".

Run without Snakemake::

    python -m assocmem run fig_spherical_code_bounds --config config/config.yaml
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...registry import PAPERS, Target
from ... import device as _device
from ... import kernelized as K
from ...sampling import sample_sphere
from ...results import begin_target
from ...stages import Runs

NAME = "khm_spherical_codes"
TARGET = "fig_spherical_code_bounds"
PAPER_KEY = "khm"
PAPER = PAPERS["khm"].citation
TARGET_SPECS = (
    Target("fig_spherical_code_bounds", PAPERS["khm"], NAME, __name__, data=(), threads=1,
           summary="Tammes angles in d = 3 between the Prop. 3.1 bounds"),
)
# Known Tammes angles (degrees) from the spec: proven optimal for M <= 14 and M = 24; M = 130 best known.
TAMMES = {4: 109.47, 5: 90.0, 6: 90.0, 7: 77.87, 8: 74.86, 9: 70.53, 10: 66.15, 11: 63.43, 12: 63.43, 13: 57.14,
          14: 55.67, 24: 43.69, 130: 18.51}
# The spec's Prop. 3.1 check values (truth, upper, lower) at d = 3.
SPEC_VALUES = {4: (1.333, 2.000, 0.167), 12: (0.553, 1.155, 0.0556), 24: (0.277, 0.816, 0.0278),
               130: (0.0517, 0.351, 0.00513)}


def _run_group(ms: list[int], params: dict, g_code: torch.Generator, g_uhop: torch.Generator) -> list[dict]:
    """Code search and U-Hop+ for the sizes ``ms`` as one padded batch each."""
    d, pd_ = 3, params["pattern_dim"]
    codes = K.best_codes(ms, d, restarts=params["restarts"], steps=params["code_steps"], generator=g_code,
                         lr=params["code_lr"], tau_start=params["code_tau"][0], tau_end=params["code_tau"][1])
    search = [float(K.min_angle_deg(P)) for P in codes]
    m_max = max(ms)
    Xi = sample_sphere((len(ms), m_max, pd_), g_uhop, torch.float64)
    valid = torch.arange(m_max)[None, :] < torch.tensor(ms)[:, None]
    W0 = K.kaiming_normal((len(ms), d, pd_), g_uhop, torch.float64)
    res = K.uhop_train(Xi, W0, steps=params["uhop_steps"], lr=params["uhop_lr"], tau=params["uhop_tau"], valid=valid)
    uhop = K.min_angle_deg(Xi, res.W, valid=valid).tolist()
    raw = K.min_angle_deg(Xi, W0, valid=valid).tolist()
    rows = []
    for k, M in enumerate(ms):
        known = M in TAMMES
        truth = TAMMES[M] if known else search[k]
        lower, upper = K.code_bounds(M, d)
        rows.append(dict(M=M, truth_source="known Tammes angle" if known else "best found (lower estimate)",
                         truth_angle_deg=truth, truth_delta=1 - math.cos(math.radians(truth)),
                         lower_bound=float(lower), upper_bound=float(upper), search_angle_deg=search[k],
                         uhop_angle_deg=uhop[k], uhop_delta=1 - math.cos(math.radians(uhop[k])), raw_angle_deg=raw[k],
                         uhop_loss_start=float(res.losses[0, k]), uhop_loss_end=float(res.losses[-1, k])))
    return rows


def run(params: dict, *, seed: int) -> pd.DataFrame:
    """One row per ``M``: truth angle and separation, its source, both bounds, search and U-Hop+ results.

    The sizes are split into ``groups`` of neighbouring ``M``; each group runs as one padded batch (the code search
    and U-Hop+ each one tensor program), so little work is spent on padding.
    """
    ms = sorted(params["ms"])
    g_code, g_uhop = _device.generator(seed * 7919 + 1), _device.generator(seed * 104_729 + 2)
    rows = []
    for group in np.array_split(np.array(ms), min(params["groups"], len(ms))):
        rows += _run_group([int(m) for m in group], params, g_code, g_uhop)
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: one row per ``M`` (:func:`run`); extras: the device it ran on (the CPU, whatever the config
    says). The figure is in :mod:`.khm_spherical_codes_figure`."""
    tr = begin_target(config, NAME, threads)
    return Runs(run(tr.params, seed=config["seed"]), {"device": _device.describe(torch.device("cpu"))})
