"""Figure stage of ``fig_capacity_vs_feature_dim``: claims, caption and figure from the run table alone (the model
run, and what it computes, are described in :mod:`assocmem.experiments.khm_capacity`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ... import stages, stats
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, begin_target, finish_target, read_shards, shard_devices, shard_summary
from .capacity import DATASETS, NAME, PAPER, PAPER_KEY


def _rows(table: pd.DataFrame, data: str) -> pd.DataFrame:
    """The rows of one dataset (a table without a ``data`` column is all ``sphere``)."""
    if "data" not in table.columns:
        return table if data == "sphere" else table.iloc[:0]
    return table[table["data"] == data]


def capacity_fit(table: pd.DataFrame, data: str, features: str = "U-Hop+",
                 log_x: bool = False) -> tuple[float, float, int]:
    """Slope and R^2 of ln M* against D_Phi (against ln D_Phi, a power law, with ``log_x``) for one dataset and feature
    kind, over the uncapped D_Phi with M* >= 2 (:func:`assocmem.stats.loglinear_fit`, nan below 3 points); and how
    many uncapped D_Phi."""
    t = _rows(table, data)
    t = t[(t["features"] == features) & ~t["capped"].astype(bool)]
    fit = t[t["m_star"] >= 2]
    x = fit["D_Phi"].to_numpy(float)
    slope, _, r2 = stats.loglinear_fit(np.log(x) if log_x else x, fit["m_star"].to_numpy(float), min_points=3)
    return slope, r2, len(t)


def _raises_claim(t: pd.DataFrame, claim_id: str, statement: str) -> Claim:
    u = t[t["features"] == "U-Hop+"].set_index("D_Phi")
    r = t[t["features"] == "raw"].set_index("D_Phi")
    common = u.index.intersection(r.index)
    # A capped M* is only a lower bound: never count a capped raw M* as beaten.
    better = (u.loc[common, "m_star"] > r.loc[common, "m_star"]) & ~r.loc[common, "capped"].astype(bool)
    return Claim(
        id=claim_id,
        statement=statement,
        paper_value="U-Hop+ raises the capacity",
        our_value="; ".join(f"D={D}: {int(r.loc[D, 'm_star'])} -> {int(u.loc[D, 'm_star'])}" for D in common),
        tolerance="M*(U-Hop+) > M*(raw) at every D_Phi",
        passed=bool(len(common) > 0 and better.all()),
    )


def evaluate_claims(table: pd.DataFrame, params: dict) -> list[Claim]:
    """Sphere: ln M* linear in D_Phi (U-Hop+) and U-Hop+ > raw; MNIST: U-Hop+ > raw (for the datasets present)."""
    claims = []
    sphere = _rows(table, "sphere")
    if len(sphere):
        u = sphere[sphere["features"] == "U-Hop+"]
        # A capped M* is only a lower bound: leave it out of the fit.
        slope, r2, n = capacity_fit(sphere, "sphere")
        power, power_r2, _ = capacity_fit(sphere, "sphere", log_x=True)
        claims.append(Claim(
            id="log_capacity_linear_in_feature_dim",
            statement="log M* grows linearly with D_Phi (capacity exponential in the feature dimension), U-Hop+ "
                      "features, random spherical patterns",
            paper_value="optimal capacity exponential in D_Phi (Prop. 3.1 / capacity theorem)",
            our_value=f"ln M* vs D_Phi: slope {slope:.3f}, R^2 {r2:.3f} over {n} uncapped D_Phi; "
                      f"M* = {u['m_star'].tolist()} (for comparison, a power law: ln M* vs ln D_Phi has slope "
                      f"{power:.2f}, R^2 {power_r2:.3f})",
            tolerance=f"slope > 0 and R^2 >= {params['min_r2']}",
            passed=bool(n >= 3 and slope > 0 and r2 >= params["min_r2"]),
        ))
        claims.append(_raises_claim(sphere, "uhop_raises_capacity",
                                    "U-Hop+ features store more memories than raw (random) features at every D_Phi, "
                                    "random spherical patterns"))
    mnist = _rows(table, "mnist")
    if len(mnist):
        claims.append(_raises_claim(mnist, "uhop_raises_capacity_mnist",
                                    "U-Hop+ raises the capacity on MNIST at every D_Phi (M random training images "
                                    "per memory set)"))
    return claims


def mnist_fit_note(table: pd.DataFrame) -> str:
    """The log-linear fit of the MNIST U-Hop+ capacities (reported, not a claim); empty without MNIST rows."""
    if not len(_rows(table, "mnist")):
        return ""
    slope, r2, n = capacity_fit(table, "mnist")
    return f"MNIST U-Hop+ ln M* vs D_Phi: slope {slope:.3f}, R^2 {r2:.3f} over {n} uncapped D_Phi (not a claim)"


def caption(params: dict, scale: str, verdict_text: str, note: str = "") -> str:
    datasets = params.get("datasets", ["sphere"])
    data_text = " and ".join(
        {"sphere": f"random spherical patterns (uniform on S^{params['pattern_dim'] - 1})",
         "mnist": "MNIST (M random training images per draw, pixels in [0, 1] put on the unit sphere, d = 784, "
                  "highly correlated)"}[d] for d in datasets)
    return (
        f"Capacity of the kernelized Hopfield model (Hu, Wu & Liu 2024) against the feature dimension D_Phi; "
        f"memories: {data_text}. Phi(x) = W x with normalized features, softmax retrieval at "
        f"beta = {params['beta']:g}, {params['retrieval_steps']} update(s); M* = largest M with every memory of "
        f"{params['draws']} random draws a fixed point within {params['tol']:g} (bisection, relative resolution "
        f"{params['resolution']:g}). raw: Kaiming-normal W; U-Hop+: {params['uhop_steps']} Adam steps, lr "
        f"{params['uhop_lr']:g}"
        + (f" (MNIST: {params.get('mnist_uhop_lr', params['uhop_lr']):g}, lr scaled by sqrt(32/784) like the "
           f"Kaiming init scale sqrt(2/d))" if "mnist" in datasets else "")
        + f", tau {params['uhop_tau']:g}. Dashed: Prop. 3.1 with the sufficient condition "
        f"2(M-1)exp(-beta Delta_min) <= tol (lower bound: optimal codes guaranteed to store; upper bound: no code "
        f"meets the condition beyond); they depend on D_Phi only. "
        + (f"{note}. " if note else "")
        + f"Scale '{scale}'. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, params: dict, caption_text: str):
    plt, sns = pyplot()
    datasets = [d for d in DATASETS if len(_rows(table, d))]
    titles = {"sphere": f"random spherical patterns (d = {params['pattern_dim']})", "mnist": "MNIST images (d = 784)"}
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.0 * len(datasets), 4), squeeze=False)
    for ax, data in zip(axes[0], datasets):
        t_all = _rows(table, data)
        for kind, color in (("raw", "C7"), ("U-Hop+", "C2")):
            t = t_all[t_all["features"] == kind]
            ax.plot(t["D_Phi"], t["m_star"].clip(lower=1), "o-", color=color,
                    label=f"measured M*, {kind} features" + (" (0 drawn at 1)" if kind == "raw" else ""))
        t = t_all[t_all["features"] == "U-Hop+"]
        ax.plot(t["D_Phi"], t["theory_ceiling"], "--", color="C3", label="Prop. 3.1 upper bound (no code beyond)")
        ax.plot(t["D_Phi"], t["theory_guaranteed"], "--", color="C0",
                label="Prop. 3.1 lower bound (optimal code stores)")
        ax.set(yscale="log", xlabel="feature dimension D_Phi", ylabel="capacity M* (memories stored)",
               title=titles[data])
        ax.set_ylim(0.8, max(10.0, 5 * table["m_star"].max()))
        ax.legend(fontsize=7)
    fig.tight_layout()
    add_caption(fig, caption_text, width=85 * len(datasets))
    return fig


def power_law_note(table: pd.DataFrame) -> str:
    """The power-law fit (ln M* vs ln D_Phi) of the spherical U-Hop+ capacities beside the exponential one (reported,
    not a claim); empty without sphere rows."""
    if not len(_rows(table, "sphere")):
        return ""
    slope, r2, n = capacity_fit(table, "sphere")
    power, power_r2, _ = capacity_fit(table, "sphere", log_x=True)
    return (f"Spherical U-Hop+ M* over {n} D_Phi: a power law (ln M* vs ln D_Phi, exponent {power:.2f}) fits with "
            f"R^2 {power_r2:.3f}, the exponential (ln M* vs D_Phi) with R^2 {r2:.3f} (not a claim)")


def write_figure(tr: TargetRun, table: pd.DataFrame, out_prefix: Path, run_wall: float | None, note: str = "",
                 **extra) -> dict:
    """The figure stage: claims, caption, figure and metadata from the run table alone (``note``: one more sentence
    for the caption)."""
    params, config = tr.params, tr.config
    claims = evaluate_claims(table, params)
    fit_note = mnist_fit_note(table)
    power_note = power_law_note(table)
    datasets = [d for d in DATASETS if len(_rows(table, d))]
    with_mnist = "mnist" in datasets
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(dict(params, datasets=datasets), config["scale"], v,
                                  ". ".join(x for x in (power_note, fit_note, note) if x)),
        figure=lambda cap: make_figure(table, params, cap),
        dtype=torch.float32,
        data="synthetic: memories uniform on the sphere" + ("; MNIST training images (offline, exact)"
                                                             if with_mnist else ""),
        retrieval_features="normalized Phi(x) = W x",
        mnist_loglinear_fit=fit_note or None,
        sphere_power_law_fit=power_note or None,
        substitutions="project addition (not a paper figure)" + (
            "; MNIST: random subsets of M training images, pixels in [0, 1] scaled to unit norm (not centred)"
            if with_mnist else "; MNIST not run"),
        **extra,
    )


def gather_target(config: dict, shards: list[Path], out_prefix: Path) -> dict:
    """Draw the target from shard runs (e.g. the sphere and MNIST rows run apart on a GPU): their tables are
    concatenated, and each shard's device, wall time and completeness go into the metadata."""
    tables, metas = read_shards(shards)
    tr = begin_target(config, NAME)
    tr = TargetRun(config=config, params=tr.params, device=shard_devices(metas),
                   dtype=tr.dtype, started=tr.started)
    walls = [m.get("run_wall_time_s") for m in metas]
    table = pd.concat(tables, ignore_index=True)
    cut = [f"The {t['data'].iloc[-1]} run was cut before it finished: its {t['features'].iloc[-1]} rows stop at D_Phi "
           f"= {int(t['D_Phi'].iloc[-1])}" for t, m in zip(tables, metas) if m.get("partial") and len(t)]
    return write_figure(tr, table, out_prefix, max(walls) if all(w is not None for w in walls) else None,
                        note="; ".join(cut), shards=shard_summary(shards, metas))


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs.table, out_prefix,
                        provenance["run_wall_time_s"])
