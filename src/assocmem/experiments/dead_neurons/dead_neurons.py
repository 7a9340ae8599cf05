"""Dead neurons in the Krotov-Hopfield Lagrangian model (target ``fig_dead_neurons``).

Fanaskov & Oseledets (2025), *Associative memory and dead neurons* (arXiv 2410.13866), spec experiments E1-E5 on
the two-layer model of :mod:`assocmem.lagrangian` (``L_v = sum log cosh v``, ``L_h = 1/2 sum ReLU(h)^2``), float64:

- E1: one network (``N_v``, ``K``, ``xi`` and ``I`` standard normal), explicit Euler from a random start; the energy
  at every step, the final residual and the dead hidden units (``h* <= 0``). The network draw is the first seed
  offset ``0, 1, ...`` whose fixed point has at least one dead unit (candidates are integrated as one batch); the
  offset is recorded, so a draw without dead units is reported, not hidden.
- E2: every dead unit shifted by ``-shift`` at the fixed point; ``E`` before / after and the relaxation of
  ``|h - xi g(v)|`` over ``relax_steps`` Euler steps.
- E3: the Lyapunov candidate ``V = E + (c/2)||h - xi g(v)||^2`` (``c = c_fraction * c_max``) along the E2
  trajectory, with its closed-form rate and the derived bound at every step.
- E4: eigenvalues of the closed-form Jacobian at the fixed point, full vs the live block.
- E5: ``n_starts`` starts equal to the fixed point except in the dead coordinates (uniform on ``[-dead_range, 0]``)
  integrated ``steps`` steps as one batch; and, as an extra not in the spec, ``n_starts`` starts equal to E1's
  random start except in the dead coordinates.
- Sweep (optional, ``sweep_networks > 0``): ``sweep_networks`` random networks per ``K`` of ``sweep_k``, one random
  start each, as one batch per ``K``: the number of dead units at the end state and the residual.

The run table has one row per recorded point, ``kind`` telling which experiment; the claims are tested in
:mod:`.dead_neurons_figure`.

Run without Snakemake::

    python -m assocmem run fig_dead_neurons --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment

from ... import device as _device
from ... import lagrangian as lg
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs

NAME = "dead_neurons"
TARGET = "fig_dead_neurons"
PAPER_KEY = "dead_neurons"
PAPER = PAPERS["dead_neurons"].citation
TARGET_SPECS = (
    Target("fig_dead_neurons", PAPERS["dead_neurons"], NAME, __name__, data=(), threads=1,
           summary="dead ReLU units: flat energy, Lyapunov fix, spectrum split, basins"),
)
DTYPE = torch.float64  # the claims are exact statements checked to rounding: float64 whatever the config says
CANDIDATES = 16  # network draws integrated together while looking for one with a dead unit


def draw_networks(seed: int, offsets: range, nv: int, k: int, device) -> tuple[torch.Tensor, ...]:
    """``xi`` ``(B, K, N_v)``, ``I`` ``(B, N_v)`` and a random start ``(v0, h0)`` for each seed offset (each from
    its own generator, so a draw does not depend on which batch it is in)."""
    xs, Is, vs, hs = [], [], [], []
    for o in offsets:
        g = _device.generator(seed * 1_000_003 + 7919 * o + k)
        xs.append(torch.randn(k, nv, generator=g, dtype=DTYPE))
        Is.append(torch.randn(nv, generator=g, dtype=DTYPE))
        vs.append(torch.randn(nv, generator=g, dtype=DTYPE))
        hs.append(torch.randn(k, generator=g, dtype=DTYPE))
    return tuple(torch.stack(t).to(device) for t in (xs, Is, vs, hs))


def match_spectra(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest distance between two multisets of (complex) eigenvalues under the best one-to-one matching."""
    cost = (a[:, None] - b[None, :]).abs().cpu().numpy()
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].max())


def run(params: dict, *, seed: int, device, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    nv, k, dt, steps = params["n_v"], params["k"], params["dt"], params["steps"]
    tau = dict(tau_v=params["tau_v"], tau_h=params["tau_h"], feature=params["feature"], hidden=params["hidden"])
    every = params["record_every"]
    rows: list[dict] = []

    # E1: the first network draw whose fixed point has a dead unit.
    chosen = None
    for start in range(0, params["max_draws"], CANDIDATES):
        offs = range(start, min(start + CANDIDATES, params["max_draws"]))
        xi, I, v0, h0 = draw_networks(seed, offs, nv, k, device)
        m = lg.Model(xi, I, **tau)
        v, h, _, _ = lg.euler(m, v0, h0, dt, steps, progress=progress, desc=f"{NAME} draws")
        has_dead = lg.dead_units(h).any(-1).cpu()
        if has_dead.any():
            i = int(has_dead.nonzero()[0])
            chosen = (offs[i], xi[i], I[i], v0[i], h0[i])
            break
    if chosen is None:
        raise RuntimeError(f"no network among {params['max_draws']} draws has a dead unit at its fixed point")
    offset, xi, I, v0, h0 = chosen
    m = lg.Model(xi, I, **tau)
    v_star, h_star, tv, th = lg.euler(m, v0, h0, dt, steps, record_every=1, progress=progress, desc=f"{NAME} E1")
    E = lg.energy(m, tv, th)
    dE = E[1:] - E[:-1]
    res = lg.residual(m, tv, th)
    for s in range(0, steps + 1, every):
        rows.append({"kind": "e1_trace", "step": s, "t": s * dt, "E": float(E[s]), "residual": float(res[s])})
    dead = lg.dead_units(h_star)
    n_dead = int(dead.sum())
    extras = {"seed_offset": int(offset), "n_dead": n_dead, "dead_units": dead.nonzero().flatten().tolist(),
              "h_star": h_star.tolist(), "draws_without_dead_unit": int(offset)}

    # E2 + E3: shift the dead units, relax; E, V, its rate and the bound at every step.
    c = params["c_fraction"] * float(lg.c_max(m))
    h_shift = h_star - params["shift"] * dead.to(DTYPE)
    _, _, rv, rh = lg.euler(m, v_star, h_shift, dt, params["relax_steps"], record_every=1)
    E2 = lg.energy(m, rv, rh)
    V2 = lg.lyapunov(m, rv, rh, c)
    dV = lg.lyapunov_rate(m, rv, rh, c)
    bound = lg.lyapunov_bound(m, rv, rh, c)
    gap = lg.hidden_gap(m, rv, rh)
    dev = (rh - h_star).abs().max(-1).values  # |dh| over the dead units (the others do not move)
    for s in range(params["relax_steps"] + 1):
        rows.append({"kind": "e2_trace", "step": s, "t": s * dt, "E": float(E2[s]), "V": float(V2[s]),
                     "dV_dt": float(dV[s]), "bound": float(bound[s]), "dh": float(dev[s]),
                     "gap": float(gap[s].norm())})

    # E4: the spectrum at the fixed point, full vs live block.
    J = lg.jacobian(m, v_star, h_star)
    ev_full = torch.linalg.eigvals(J)
    ev_live = torch.linalg.eigvals(lg.live_block(J, nv, dead))
    union = torch.cat([ev_live, torch.full((n_dead,), -1.0 / params["tau_h"], dtype=ev_live.dtype,
                                           device=ev_live.device)])
    for which, ev in (("full", ev_full), ("live", ev_live)):
        for e in ev.cpu():
            rows.append({"kind": "eig", "which": which, "re": float(e.real), "im": float(e.imag)})

    # E5: starts differing only in dead coordinates (from the fixed point; extra: from E1's start).
    g = _device.generator(seed * 1_000_003 + 31)
    n = params["n_starts"]
    u = -params["dead_range"] * torch.rand(2, n, k, generator=g, dtype=DTYPE).to(device)
    hs = torch.stack([h_star, h0]).unsqueeze(1).expand(2, n, k)
    hs = torch.where(dead, u, hs)
    vs = torch.stack([v_star, v0]).unsqueeze(1).expand(2, n, nv)
    ve, he, _, _ = lg.euler(m, vs, hs, dt, steps, progress=progress, desc=f"{NAME} E5")
    ends = torch.cat([ve, he], -1)
    for j, origin in enumerate(("fixed_point", "e1_start")):
        d_to_star = (ends[j] - torch.cat([v_star, h_star])).norm(dim=-1)
        pair = torch.cdist(ends[j], ends[j], compute_mode="donot_use_mm_for_euclid_dist").max(-1).values
        res_end = lg.residual(m, ve[j], he[j])
        for i in range(n):
            rows.append({"kind": "e5_end", "which": origin, "start": i, "dist_to_fixed_point": float(d_to_star[i]),
                         "max_pair_dist": float(pair[i]), "residual": float(res_end[i]),
                         "h_dead_start": float(hs[j, i][dead].min())})

    rows.append({"kind": "summary", "which": "e1", "max_increase": float(dE.max()), "E": float(E[-1]),
                 "residual": float(res[-1]), "n_dead": n_dead, "seed_offset": int(offset)})
    rows.append({"kind": "summary", "which": "e2", "E_before": float(lg.energy(m, v_star, h_star)),
                 "E_after": float(E2[0]), "dh": float(dev[0]), "c": c, "c_max": float(lg.c_max(m)),
                 "n_dead": n_dead})
    rows.append({"kind": "summary", "which": "e4", "spectrum_gap": match_spectra(ev_full, union),
                 "max_re": float(ev_full.real.max()), "n_dead": n_dead})

    # Optional sweep over random networks.
    for K in (params["sweep_k"] if params["sweep_networks"] else []):
        xi_s, I_s, v_s, h_s = draw_networks(seed + 1, range(params["sweep_networks"]), nv, K, device)
        ms = lg.Model(xi_s, I_s, **tau)
        ve_s, he_s, _, _ = lg.euler(ms, v_s, h_s, dt, params["sweep_steps"], progress=progress,
                                    desc=f"{NAME} sweep K={K}")
        nd = lg.dead_units(he_s).sum(-1).cpu()
        rs = lg.residual(ms, ve_s, he_s).cpu()
        for i in range(params["sweep_networks"]):
            rows.append({"kind": "sweep", "K": K, "network": i, "n_dead": int(nd[i]), "residual": float(rs[i])})
    return pd.DataFrame(rows), extras


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model runs E1-E5 (and the sweep) of :func:`run`; the figure is in :mod:`.dead_neurons_figure`."""
    tr = begin_target(config, NAME, threads)
    table, extras = run(tr.params, seed=config["seed"], device=tr.device)
    return Runs(table, extras)
