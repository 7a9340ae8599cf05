"""Figure stage of ``fig_cdam_sequences``: per-setting means over seeds, claims, caption and figure from the run table
and the example traces alone (the model run, and what it computes, are described in
:mod:`assocmem.experiments.cdam_sequences`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import device as _device
from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, finish_target
from .sequences import (ADVANCE_MIN, AUTO_MIN_STAY, CLEAN_MIN, CLIPS, DISTRACT_MIN, METRICS, NAME, PAPER,
                             PAPER_KEY)


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Per (clip, kind, beta, eta, a, h): every score's mean over seeds, the sd of ``advanced`` and ``clean_frac``."""
    g = raw.groupby(["clip", "kind", "beta", "eta", "a", "h"], sort=True)
    out = g[list(METRICS)].mean()
    sd = g[["advanced", "clean_frac"]].std(ddof=0).add_suffix("_sd")
    return pd.concat([out, sd], axis=1).reset_index().assign(n_seeds=g["seed"].nunique().to_numpy())


def _row(table: pd.DataFrame, clip: str, kind: str, a: float, h: float, beta=None) -> pd.Series | None:
    sub = table[
        (table["clip"] == clip) & (table["kind"] == kind) & np.isclose(table["a"], a) & np.isclose(table["h"], h)
    ]
    if beta is not None:
        sub = sub[np.isclose(sub["beta"], beta)]
    return None if sub.empty else sub.iloc[0]


def evaluate_claims(table: pd.DataFrame, main_beta: float | None = None) -> list[Claim]:
    """Claims on the named settings at ``main_beta`` (default: the first beta of the table) and the distractor rows."""
    claims = []
    if main_beta is None:
        main_beta = float(table[table["kind"] == "named"]["beta"].iloc[0])
    clips = [c for c in CLIPS if c in set(table["clip"])]
    auto = [_row(table, c, "named", 1.0, 0.0, main_beta) for c in clips]
    claims.append(
        Claim(
            id="auto_association_stays_on_cue",
            statement="Auto-association (a, h) = (1, 0) never leaves the cued frame",
            paper_value="auto-association never leaves the cue",
            our_value="; ".join(
                f"{c}: argmax = cue at {r['stay']:.3f} of steps, {r['advanced']:.2f} frames advanced"
                for c, r in zip(clips, auto)
                if r is not None
            )
            or "(1, 0) not run",
            tolerance=f"fraction of steps on the cue >= {AUTO_MIN_STAY} for every clip",
            passed=bool(all(r is not None and r["stay"] >= AUTO_MIN_STAY for r in auto)),
        )
    )
    best = [_row(table, c, "named", -2.0, 3.0, main_beta) for c in clips]
    claims.append(
        Claim(
            id="clean_advance_at_minus2_3",
            statement="(a, h) = (-2, 3) advances through the clip one frame at a time and wraps around",
            paper_value="advances cleanly one frame at a time and wraps around",
            our_value="; ".join(
                f"{c}: {r['advanced']:.1f} frames in T, {r['clean_frac']:.2f} of changes +1, "
                f"{r['wraps']:.2f} wraps per run"
                for c, r in zip(clips, best)
                if r is not None
            ),
            tolerance=f">= {ADVANCE_MIN:g} frames advanced, >= {CLEAN_MIN} of argmax changes exactly +1, and some run "
            "wraps from the last frame to the first, for every clip",
            passed=bool(
                all(
                    r is not None and r["advanced"] >= ADVANCE_MIN and r["clean_frac"] >= CLEAN_MIN and r["wraps"] > 0
                    for r in best
                )
            ),
        )
    )
    weak = [_row(table, c, "named", -1.0, 3.0, main_beta) for c in clips]
    claims.append(
        Claim(
            id="weaker_antihebbian_advances_less",
            statement="(a, h) = (-1, 3) advances less than (-2, 3) (the paper's run got stuck mid-clip)",
            paper_value="(-1, 3) stuck oscillating in the middle of the clip; (-2, 3) advances",
            our_value="; ".join(
                f"{c}: {w['advanced']:.1f} vs {b['advanced']:.1f} frames "
                f"((-1, 3): {w['clean_frac']:.2f} of changes +1, {w['backward']:.1f} backward moves per run)"
                for c, w, b in zip(clips, weak, best)
                if w is not None and b is not None
            ),
            tolerance="fewer frames advanced at (-1, 3) than at (-2, 3) for every clip",
            passed=bool(
                all(w is not None and b is not None and w["advanced"] < b["advanced"] for w, b in zip(weak, best))
            ),
        )
    )
    dis = table[table["kind"] == "distractor"]
    dis_best = [_row(table, c, "distractor", -2.0, float(dis["h"].iloc[0]) if not dis.empty else 3.0) for c in clips]
    claims.append(
        Claim(
            id="sequence_resumes_after_distractors",
            statement="With distractors injected, the anti-Hebbian sequence setting (a = -2) keeps stepping to the "
            "correct successor (recall resumes from where the distractor left it)",
            paper_value=None,
            our_value="; ".join(
                f"{c}: {r['clean_frac']:.2f} of changes +1 ({r['advanced']:.1f} frames net; "
                f"{r['captured']:.2f} of distractors took the state over)"
                for c, r in zip(clips, dis_best)
                if r is not None
            )
            or "a = -2 not in the distractor sweep",
            tolerance=f">= {DISTRACT_MIN} of argmax changes outside injection steps are +1, for every clip",
            passed=bool(all(r is not None and r["clean_frac"] >= DISTRACT_MIN for r in dis_best)),
        )
    )
    return claims


# ----------------------------------------------------------------------------- figure and caption


def caption(params: dict, scale: str, verdict_text: str, device: str, failed: list[str] = ()) -> str:
    named = ", ".join(f"({a:g}, {h:g})" for a, h in params["ah_settings"])
    be = " and ".join(f"beta = {b:g}, eta = {e:g}" for b, e in params["beta_eta"])
    return (
        "CDAM temporal sequences on a directed cycle (Burns 2024, ICML; spec E4). SUBSTITUTION: the paper's two "
        "50-frame videos are not available; we use two clips generated here (seeded) from our data: a moving-MNIST "
        f"clip ({params['n_digits']} MNIST test digits on closed elliptical paths, {params['canvas']} x "
        f"{params['canvas']} canvas) and a smooth random RGB texture drifting one period diagonally. "
        f"{params['n_frames']} frames, {params['n_pixels']} sampled pixel-channels per frame in [0, 1]; "
        "M = A (directed "
        f"cycle, degree 1); kappa = {params['kappa']:g}, T = {params['steps']}, every frame cued with noise "
        f"{params['noise']:g}; {params['seeds']} seed(s) of cue noise. Top left: argmax frame over time for the cue "
        f"frame 0 ({named}; {be.split(' and ')[0]}). Top right: mean frames advanced per run for the named settings "
        f"at {be}. Bottom: frames advanced over the (a, h) grid ({be.split(' and ')[0]}); distractor test (project "
        f"protocol): every {params['distract_every']} steps sigma <- (1 - g) sigma + g xi_d, g = "
        f"{params['distract_gain']:g}, xi_d a frame p/4..3p/4 away; fraction of non-injection argmax changes that are "
        f"+1 vs a at h = {params['distract_h']:g}. Device: {device}. Verdict: {verdict_text}"
        + (f" (claims that did not hold: {', '.join(failed)}; see the JSON)." if failed else ".")
    )


def make_figure(table: pd.DataFrame, traces: dict, params: dict, caption_text: str):
    """The figure; ``traces``: per clip, the argmax frame of the cue at frame 0, one list per named setting (the
    run's ``cue0_traces``)."""
    plt, sns = pyplot()
    clips = [c for c in CLIPS if c in set(table["clip"])]
    fig, axes = plt.subplots(2, 2 + len(clips), figsize=(4 * (2 + len(clips)), 7.5))
    beta0, eta0 = params["beta_eta"][0]
    pal = sns.color_palette("colorblind", len(params["ah_settings"]))
    for ci, clip in enumerate(clips):
        ax = axes[0, ci]
        for j, (a, h) in enumerate(params["ah_settings"]):
            ax.plot(traces[clip][j], color=pal[j], lw=1.2, label=f"({a:g}, {h:g})", drawstyle="steps-post")
        ax.set_xlabel("step t")
        ax.set_ylabel("argmax frame (cue = frame 0)")
        ax.set_title(f"{clip.replace('_', ' ')}: beta={beta0:g}, eta={eta0:g}", fontsize=9)
        ax.legend(fontsize=6, title="(a, h)", title_fontsize=6)
    ax = axes[0, len(clips)]
    named = table[table["kind"] == "named"].copy()
    named["setting"] = [f"({a:g}, {h:g})" for a, h in zip(named["a"], named["h"])]
    named["run"] = [
        f"{c.replace('_', ' ')}, b={b:g}, e={e:g}" for c, b, e in zip(named["clip"], named["beta"], named["eta"])
    ]
    sns.barplot(data=named, x="setting", y="advanced", hue="run", ax=ax, errorbar=None)
    ax.set_ylabel("frames advanced in T steps")
    ax.set_xlabel("(a, h)")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=6)
    ax = axes[0, len(clips) + 1]
    named["clean"] = named["clean_frac"]
    sns.barplot(data=named, x="setting", y="clean", hue="run", ax=ax, errorbar=None, legend=False)
    ax.set_ylabel("fraction of argmax changes = +1 frame")
    ax.set_xlabel("(a, h)")
    ax.tick_params(axis="x", labelsize=7)
    for ci, clip in enumerate(clips):
        ax = axes[1, ci]
        g = table[(table["clip"] == clip) & (table["kind"] == "grid")]
        piv = g.pivot_table(index="h", columns="a", values="advanced").sort_index(ascending=False)
        sns.heatmap(
            piv,
            ax=ax,
            cmap="viridis",
            cbar_kws={"label": "frames advanced"},
            xticklabels=[f"{v:g}" for v in piv.columns],
            yticklabels=[f"{v:g}" for v in piv.index],
        )
        ax.set_xlabel("auto-association a")
        ax.set_ylabel("hetero-association h")
        ax.set_title(f"{clip.replace('_', ' ')}: frames advanced", fontsize=9)
    ax = axes[1, len(clips)]
    dis = table[table["kind"] == "distractor"]
    for k, (clip, sub) in enumerate(dis.groupby("clip")):
        sub = sub.sort_values("a")
        lab = clip.replace("_", " ")
        ax.errorbar(
            sub["a"],
            sub["clean_frac"],
            yerr=sub["clean_frac_sd"],
            marker="o",
            capsize=2,
            color=f"C{k}",
            label=f"{lab}: correct successor",
        )
        ax.plot(sub["a"], sub["captured"], ls="--", marker="x", color=f"C{k}", label=f"{lab}: distractor captured")
    ax.set_xlabel(f"auto-association a (h = {params['distract_h']:g})")
    ax.set_ylabel("fraction (changes / injections)")
    ax.set_title("with distractors", fontsize=9)
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    ax = axes[1, len(clips) + 1]
    for clip, sub in dis.groupby("clip"):
        sub = sub.sort_values("a")
        ax.errorbar(
            sub["a"], sub["advanced"], yerr=sub["advanced_sd"], marker="o", capsize=2, label=clip.replace("_", " ")
        )
    ax.set_xlabel(f"auto-association a (h = {params['distract_h']:g})")
    ax.set_ylabel("net frames advanced")
    ax.set_title("with distractors", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def write_figure(tr: TargetRun, runs: stages.Runs, out_prefix: Path, run_wall: float | None, data: str) -> dict:
    """The figure stage: summary table, claims, caption, figure and metadata from the raw run rows and the example
    traces (``runs.extras["cue0_traces"]``); ``data``: the prepared MNIST file the clips were made from."""
    params, config = tr.params, tr.config
    device = tr.device if isinstance(tr.device, str) else _device.describe(tr.device)
    table = summarize(runs.table)
    claims = evaluate_claims(table, params["beta_eta"][0][0])
    failed = [c.id for c in claims if not c.passed]
    return finish_target(
        tr,
        out_prefix,
        paper=PAPER,
        paper_key=PAPER_KEY,
        claims=claims,
        table=table,
        run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v, device, failed),
        figure=lambda cap: make_figure(table, runs.extras["cue0_traces"], params, cap),
        kappa=params["kappa"],
        data=data,
        substitutions=(
            "the paper's two 50-frame video clips (source unknown) are replaced by a moving-MNIST clip and a "
            "drifting random texture generated from MNIST test digits and a seeded generator; the "
            "distractor protocol is a project choice"
        ),
    )


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs, out_prefix, provenance["run_wall_time_s"],
                        provenance["data"]["mnist"])
