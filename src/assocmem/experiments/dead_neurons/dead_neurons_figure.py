"""Figure stage of ``fig_dead_neurons``: the five claims, caption and figure from the run table alone (the model runs
are described in :mod:`assocmem.experiments.dead_neurons.dead_neurons`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, finish_target
from .dead_neurons import NAME, PAPER, PAPER_KEY

EPS = float(np.finfo(np.float64).eps)
# Tolerances: the spec's where it gives one, else project choices stated in the claims.
MAX_INCREASE = 1e-10  # E1: largest one-step increase of E (spec)
MAX_RESIDUAL = 1e-8  # E1: final fixed-point residual (spec)
REL_E_INVARIANCE = 1e-12  # E2: |E_after - E_before| <= this * max(1, |E|) (project; scaled by |E| as the spec says)
MAX_DH = 1e-6  # E2: |dh| at the end of the relaxation (spec)
RATE_TOL = 1e-12  # E3: dV/dt <= bound + RATE_TOL * max(1, |bound|) (project: rounding of the closed forms)
STRICT_ULPS = 100  # E3: a step must strictly lower V where the bound predicts a drop above this many ulps of V
MAX_SPECTRUM_GAP = 1e-10  # E4 (spec)
MAX_PAIR_DIST = 1e-6  # E5 (spec)


def _summary(table: pd.DataFrame, which: str) -> pd.Series:
    return table[(table["kind"] == "summary") & (table["which"] == which)].iloc[0]


def evaluate_claims(table: pd.DataFrame, params: dict) -> list[Claim]:
    e1, e2s, e4 = _summary(table, "e1"), _summary(table, "e2"), _summary(table, "e4")
    n_dead = int(e1["n_dead"])
    has_dead = n_dead >= 1
    dead_note = f"{n_dead} dead unit(s) at the fixed point (network draw at seed offset {int(e1['seed_offset'])})"
    claims = [Claim(
        id="energy_non_increasing",
        statement="E1: the energy E never increases along the explicit Euler trajectory, which reaches a fixed point",
        paper_value="dE/dt = -tau_v vdot^T H_v vdot - tau_h hdot^T H_h hdot <= 0 (Krotov & Hopfield 2021)",
        our_value=f"largest one-step increase {e1['max_increase']:.3g}; final residual {e1['residual']:.3g}; "
                  f"{dead_note}",
        tolerance=f"largest increase < {MAX_INCREASE:g} and final residual < {MAX_RESIDUAL:g} (spec)",
        passed=bool(e1["max_increase"] < MAX_INCREASE and e1["residual"] < MAX_RESIDUAL),
    )]

    tr = table[table["kind"] == "e2_trace"].sort_values("step")
    E0 = float(e2s["E_before"])
    scale = max(1.0, abs(E0))
    e_change = float(max(abs(e2s["E_after"] - E0), (tr["E"] - E0).abs().max()))
    below = tr[tr["dh"] < MAX_DH]
    first = int(below["step"].iloc[0]) if len(below) else None
    dh_end = float(tr["dh"].iloc[-1])
    claims.append(Claim(
        id="dead_shift_leaves_energy_unchanged",
        statement=f"E2: shifting every dead unit by -{params['shift']:g} leaves E unchanged (E is flat along dead "
                  f"coordinates) while the dynamics moves the units back",
        paper_value="E is constant on the half-line of each dead unit; the state still moves (Fanaskov & Oseledets)",
        our_value=f"E = {E0:.12g}; largest |E - E_before| over the shift and the relaxation {e_change:.3g}; |dh| "
                  f"{float(tr['dh'].iloc[0]):g} -> {dh_end:.3g} after {int(tr['step'].iloc[-1])} steps (first below "
                  f"{MAX_DH:g} at step {first}; spec: about 1,540)",
        tolerance=f"|E change| <= {REL_E_INVARIANCE:g} * max(1, |E|), |dh| starts at the shift and ends < {MAX_DH:g}; "
                  f">= 1 dead unit",
        passed=bool(has_dead and e_change <= REL_E_INVARIANCE * scale
                    and abs(float(tr["dh"].iloc[0]) - params["shift"]) <= 1e-12 * params["shift"]
                    and dh_end < MAX_DH),
    ))

    V = tr["V"].to_numpy()
    dV = np.diff(V)
    predicted = params["dt"] * np.abs(tr["bound"].to_numpy()[:-1])
    must = predicted > STRICT_ULPS * EPS * np.maximum(1.0, np.abs(V[:-1]))
    strict = bool(np.all(dV[must] < 0)) and bool(np.all(dV <= 4 * EPS * np.maximum(1.0, np.abs(V[:-1]))))
    excess = (tr["dV_dt"] - tr["bound"]).to_numpy()
    rate_ok = bool(np.all(excess <= RATE_TOL * np.maximum(1.0, tr["bound"].abs().to_numpy())))
    claims.append(Claim(
        id="lyapunov_strictly_decreasing",
        statement=f"E3: V = E + (c/2)||h - xi g(v)||^2 (c = {params['c_fraction']:g} c_max) strictly decreases along "
                  f"the E2 trajectory, where E is flat, and dV/dt obeys the derived bound",
        paper_value="a Lyapunov function without flat regions exists (remedy 4; V here is the project's construction "
                    "for symmetric weights, not necessarily the paper's)",
        our_value=f"V {V[0]:.6g} -> {V[-1]:.6g}; strict drop at {int(must.sum())}/{len(must)} steps where the bound "
                  f"predicts one above {STRICT_ULPS} ulps (all strict: {bool(np.all(dV[must] < 0))}), largest step "
                  f"change elsewhere {dV[~must].max() if (~must).any() else float('nan'):.3g}; "
                  f"max(dV/dt - bound) = {excess.max():.3g}; c = {float(e2s['c']):.4g}, c_max = {float(e2s['c_max']):.4g}",
        tolerance=f"dV < 0 at every step where dt * |bound| > {STRICT_ULPS} ulp(V), |dV| within 4 ulp elsewhere, and "
                  f"dV/dt <= bound + {RATE_TOL:g} * max(1, |bound|) at every step (project criteria: the ulp "
                  f"thresholds separate rounding from decrease)",
        passed=bool(has_dead and strict and rate_ok and must.sum() > 0 and V[-1] < V[0]),
    ))

    claims.append(Claim(
        id="jacobian_spectrum_splits",
        statement="E4: at the fixed point eig(J) = eig(J_live) plus -1/tau_h once per dead unit (stability is decided "
                  "on the live block, the range of the Hessian)",
        paper_value="linear stability need only be checked on the range of the Hessian (remedy 2)",
        our_value=f"largest matched eigenvalue distance {float(e4['spectrum_gap']):.3g}; {dead_note}; largest real "
                  f"part {float(e4['max_re']):.4g}",
        tolerance=f"< {MAX_SPECTRUM_GAP:g} (spec), >= 1 dead unit",
        passed=bool(has_dead and e4["spectrum_gap"] < MAX_SPECTRUM_GAP),
    ))

    e5 = table[table["kind"] == "e5_end"]
    fp, ex = e5[e5["which"] == "fixed_point"], e5[e5["which"] == "e1_start"]
    d_fp = float(fp["max_pair_dist"].max())
    d_ex = float(ex["max_pair_dist"].max()) if len(ex) else float("nan")
    claims.append(Claim(
        id="flat_region_in_one_basin",
        statement=f"E5: {len(fp)} starts differing only in the dead coordinates (uniform on [-{params['dead_range']:g}, "
                  f"0]) all reach one steady state",
        paper_value="a stable steady state touching a flat region has the whole region in its basin (remedy 3)",
        our_value=f"max pairwise distance of the end states {d_fp:.3g} (largest distance to the E1 fixed point "
                  f"{float(fp['dist_to_fixed_point'].max()):.3g}); extra, from E1's random start with the dead "
                  f"coordinates redrawn: {d_ex:.3g}",
        tolerance=f"< {MAX_PAIR_DIST:g} (spec), >= 1 dead unit",
        passed=bool(has_dead and len(fp) >= 2 and d_fp < MAX_PAIR_DIST),
    ))
    return claims


def sweep_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per K of the sweep: networks, the fraction with >= 1 dead unit, the mean dead fraction, the largest residual."""
    sw = table[table["kind"] == "sweep"]
    if sw.empty:
        return pd.DataFrame(columns=["K", "networks", "frac_with_dead", "mean_dead_fraction", "max_residual"])
    return (sw.groupby("K").apply(lambda g: pd.Series({
        "networks": len(g), "frac_with_dead": float((g["n_dead"] > 0).mean()),
        "mean_dead_fraction": float((g["n_dead"] / g.name).mean()), "max_residual": float(g["residual"].max())}),
        include_groups=False).reset_index())


def caption(params: dict, scale: str, table: pd.DataFrame, verdict_text: str) -> str:
    e1 = _summary(table, "e1")
    sw = sweep_table(table)
    sweep = ("; sweep (" + ", ".join(f"K = {int(r.K)}: {r.frac_with_dead:.0%} of {int(r.networks)}"
                                      for r in sw.itertuples()) + " random networks have >= 1 dead unit)"
             if len(sw) else "; no sweep at this scale")
    return (
        f"Dead neurons in the Krotov-Hopfield two-layer Lagrangian model (Fanaskov & Oseledets 2025, spec E1-E5), "
        f"float64. N_v = {params['n_v']}, K = {params['k']}, xi and I standard normal, L_v = sum log cosh v "
        f"(g = tanh), L_h = 1/2 sum ReLU(h)^2, tau_v = {params['tau_v']:g}, tau_h = {params['tau_h']:g}, explicit Euler "
        f"dt = {params['dt']:g}, {params['steps']} steps. Network: the first seed offset whose fixed point has a dead "
        f"unit (offset {int(e1['seed_offset'])}, {int(e1['n_dead'])} dead). (a) E1: E(t) - E* and the residual. "
        f"(b) E2: dead units shifted by -{params['shift']:g}: |dh| and ||h - xi g(v)|| relax while E stays at "
        f"E* (c). (c) E3: V = E + (c/2)||h - xi g(v)||^2, c = {params['c_fraction']:g} c_max. (d) -dV/dt and its "
        f"bound. (e) E4: eigenvalues of J (full) and of its live block. (f) E5: distance of the end states of "
        f"{params['n_starts']} starts differing only in the dead coordinates from the E1 fixed point{sweep}. "
        f"Scale '{scale}'. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, params: dict, caption_text: str):
    plt, sns = pyplot()
    col = sns.color_palette("colorblind", 6)
    fig, axes = plt.subplots(2, 4, figsize=(16, 7.2))
    ax = axes[0, 0]
    e1 = table[table["kind"] == "e1_trace"].sort_values("step")
    e_star = float(_summary(table, "e1")["E"])
    ax.plot(e1["t"], (e1["E"] - e_star).clip(lower=1e-17), color=col[0], label="E(t) - E*")
    ax.plot(e1["t"], e1["residual"].clip(lower=1e-17), color=col[1], label="residual ||(vdot, hdot)||")
    ax.axhline(MAX_RESIDUAL, color="0.5", ls=":", lw=0.8, label=f"{MAX_RESIDUAL:g}")
    ax.set_yscale("log")
    ax.set_xlabel("time t (units of tau)")
    ax.set_ylabel("energy gap / residual")
    ax.set_title("(a) E1: energy descent", fontsize=9)
    ax.legend(fontsize=7)

    tr = table[table["kind"] == "e2_trace"].sort_values("step")
    ax = axes[0, 1]
    ax.plot(tr["t"], tr["dh"], color=col[2], label="|dh| (dead units)")
    ax.plot(tr["t"], tr["gap"], color=col[3], ls="--", label="||h - xi g(v)||")
    ax.axhline(MAX_DH, color="0.5", ls=":", lw=0.8, label=f"{MAX_DH:g}")
    ax.set_yscale("log")
    ax.set_xlabel("time after the shift (units of tau)")
    ax.set_ylabel("distance")
    ax.set_title("(b) E2: dead units relax", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[0, 2]
    ax.plot(tr["t"], tr["E"], color=col[0], label="E (flat)")
    ax.plot(tr["t"], tr["V"], color=col[4], label="V = E + (c/2)||h - xi g||^2")
    ax.set_xlabel("time after the shift (units of tau)")
    ax.set_ylabel("energy")
    ax.set_title("(c) E2/E3: E vs Lyapunov V", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[0, 3]
    ax.plot(tr["t"], (-tr["dV_dt"]).clip(lower=1e-30), color=col[4], label="-dV/dt")
    ax.plot(tr["t"], (-tr["bound"]).clip(lower=1e-30), color="0.3", ls="--", label="-bound")
    ax.set_yscale("log")
    ax.set_xlabel("time after the shift (units of tau)")
    ax.set_ylabel("rate of decrease (1/tau)")
    ax.set_title("(d) E3: dV/dt <= bound", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[1, 0]
    eig = table[table["kind"] == "eig"]
    full, live = eig[eig["which"] == "full"], eig[eig["which"] == "live"]
    ax.scatter(full["re"], full["im"], s=60, facecolors="none", edgecolors=col[0], label="eig(J) full")
    ax.scatter(live["re"], live["im"], s=20, marker="x", color=col[1], label="eig(J_live)")
    ax.axvline(-1.0 / params["tau_h"], color="0.5", ls=":", lw=0.8, label="-1/tau_h")
    ax.set_xlabel("Re lambda (1/tau)")
    ax.set_ylabel("Im lambda (1/tau)")
    ax.set_title("(e) E4: Jacobian spectrum", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[1, 1]
    e5 = table[table["kind"] == "e5_end"]
    for (which, lab), c in zip((("fixed_point", "from the fixed point"), ("e1_start", "from E1's start (extra)")),
                               col[2:4]):
        g = e5[e5["which"] == which]
        ax.scatter(g["h_dead_start"], g["dist_to_fixed_point"].clip(lower=1e-17), s=8, color=c, label=lab)
    ax.axhline(MAX_PAIR_DIST, color="0.5", ls=":", lw=0.8, label=f"{MAX_PAIR_DIST:g}")
    ax.set_yscale("log")
    ax.set_xlabel("lowest dead coordinate at the start")
    ax.set_ylabel("end-state distance to the E1 fixed point")
    ax.set_title("(f) E5: one steady state", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[1, 2]
    sw = sweep_table(table)
    if len(sw):
        x = np.arange(len(sw))
        ax.bar(x - 0.2, sw["frac_with_dead"], 0.4, color=col[0], label=">= 1 dead unit")
        ax.bar(x + 0.2, sw["mean_dead_fraction"], 0.4, color=col[1], label="mean fraction of units dead")
        ax.set_xticks(x, [f"K = {int(k)}" for k in sw["K"]])
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "sweep not run at this scale", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("fraction of random networks / units")
    ax.set_title("sweep: random networks (optional)", fontsize=9)
    axes[1, 3].axis("off")
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def write_figure(tr: TargetRun, runs: stages.Runs, out_prefix: Path, run_wall: float | None) -> dict:
    params, config = tr.params, tr.config
    table = runs.table
    claims = evaluate_claims(table, params)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], table, v),
        figure=lambda cap: make_figure(table, params, cap), dtype="torch.float64",
        data="synthetic: standard normal weights, inputs and starts", substitutions="none (spec E1-E5 and its sweep)",
        network_draw=runs.extras, sweep=sweep_table(table).to_dict(orient="records"),
    )


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs, out_prefix, provenance["run_wall_time_s"])
