"""Figure stage of ``fig_pcn_width``: claims, caption and figure (fraction retrieved vs N per width) from the run
table alone (the run is described in :mod:`.width`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .common import CIFAR_NOTE
from .retrieval_figure import n_axis
from .width import NAME, PAPER, PAPER_KEY

CUE_LABELS = {"noise": "noisy cue", "mask": "bottom half masked"}
# Project tolerances, fixed before the first quick run: monotone within SLACK along each axis, and a change of at
# least VISIBLE somewhere along it (so that a flat grid, all 1 or all 0, does not pass).
SLACK = 0.05
VISIBLE = 0.1


def summarize(raw: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per (width, N, corruption): fraction retrieved and mean/median MSE; per (width, N): the PCN's final energy and
    sensory error (``kind = summary`` / ``training``), and the energy traces (``kind = trace``)."""
    rec = raw[raw["kind"] == "recall"]
    rows = []
    for (d, N, kind), g in rec.groupby(["width", "N", "corruption"], sort=True):
        rows.append({"kind": "summary", "width": int(d), "N": int(N), "corruption": kind,
                     "fraction_retrieved": float((g["mse"] < threshold).mean()), "mean_mse": float(g["mse"].mean()),
                     "median_mse": float(g["mse"].median()), "n_images": len(g)})
    tr = raw[raw["kind"] == "trace"]
    for (d, N), g in tr.groupby(["width", "N"], sort=True):
        last = g.sort_values("epoch").iloc[-1]
        rows.append({"kind": "training", "width": int(d), "N": int(N), "final_energy": float(last["energy"]),
                     "final_sensory_mse": float(last["sensory_mse"])})
    return pd.concat([pd.DataFrame(rows), tr], ignore_index=True)


def grid(table: pd.DataFrame, kind: str = "noise") -> pd.DataFrame:
    """Fraction retrieved, widths as rows and N as columns."""
    s = table[(table["kind"] == "summary") & (table["corruption"] == kind)]
    return s.pivot(index="width", columns="N", values="fraction_retrieved").sort_index().sort_index(axis=1)


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    g = grid(table)
    claims = []
    falls_each = [all(b <= a + SLACK for a, b in zip(row[:-1], row[1:])) for row in g.to_numpy()]
    drop = (g.iloc[:, 0] - g.iloc[:, -1]) if g.shape[1] >= 2 else pd.Series(dtype=float)
    claims.append(Claim(
        id="retrieval_falls_with_n",
        statement="The fraction of stored images retrieved from noisy cues falls as the number stored N grows, at "
                  "every width",
        paper_value="fraction retrieved falls with N (spec: expected trend, unverified against the paper)",
        our_value="; ".join(f"d = {d}: " + ", ".join(f"{v:.2f}" for v in row) for d, row in zip(g.index, g.to_numpy()))
                  + f" at N = {', '.join(map(str, g.columns))}",
        tolerance=f"non-increasing along N within {SLACK:g} at every width, and a fall of >= {VISIBLE:g} from the "
                  f"smallest to the largest N at one width at least",
        passed=bool(g.shape[1] >= 2 and all(falls_each) and (drop >= VISIBLE).any()),
    ))
    gt = g.T
    rises_each = [all(b >= a - SLACK for a, b in zip(col[:-1], col[1:])) for col in gt.to_numpy()]
    rise = (g.iloc[-1] - g.iloc[0]) if g.shape[0] >= 2 else pd.Series(dtype=float)
    claims.append(Claim(
        id="retrieval_rises_with_width",
        statement="The fraction of stored images retrieved from noisy cues rises with the width d of the hidden "
                  "layer, at every N",
        paper_value="fraction retrieved rises with width (spec: expected trend, unverified against the paper)",
        our_value="; ".join(f"N = {N}: " + ", ".join(f"{v:.2f}" for v in col) for N, col in zip(gt.index, gt.to_numpy()))
                  + f" at d = {', '.join(map(str, g.index))}",
        tolerance=f"non-decreasing along d within {SLACK:g} at every N, and a rise of >= {VISIBLE:g} from the "
                  f"smallest to the largest d at one N at least",
        passed=bool(g.shape[0] >= 2 and all(rises_each) and (rise >= VISIBLE).any()),
    ))
    return claims


def caption(params: dict, scale: str, table: pd.DataFrame, fidelity: str, verdict_text: str) -> str:
    gm = grid(table, "mask")
    mask = "; ".join(f"d = {d}: " + ", ".join(f"{v:.2f}" for v in row) for d, row in zip(gm.index, gm.to_numpy()))
    reduction = {
        "quick": (f" Quick scale: widths {params['widths']} and N = {', '.join(map(str, params['n_stored']))} instead "
                  f"of the spec's d = 512, 1024, 2048 and N = 50-1000 (the paper block): at 3072 inputs a width of "
                  f"2048 costs 16 times the quick PCN; small widths put the capacity limit inside the CPU budget. "
                  f"Training as in fig_pcn_retrieval (mini-batch SGD, lr {params['lr']:g}, batch {params['batch']}, "
                  f"{params['epochs']} epochs, images centred by the stored set's mean; chosen after first runs)."),
        "test": " Test scale: a tiny run for the test suite.",
    }.get(scale, "")
    return (
        f"Spec E3: fraction of N stored images retrieved (per-pixel MSE < {params['threshold']:g}, [0, 1] units) by "
        f"PCNs [3072, d, {params['latent']}] ({params['activation']}, hidden nodes zero-initialised) of hidden width "
        f"d. Left: noisy cues (Gaussian std {params['noise_std']:g}; {params['outer']} outer iterations c <- mu_0 of "
        f"{params['t_noise']} inference steps, gamma {params['gamma']:g}), the claims' cue type; middle: bottom half "
        f"masked (top half clamped, {params['t_mask']} steps; error on the hidden half; fractions {mask}); right: "
        f"the PCN's sensory error per pixel on the stored set at the end of training. {CIFAR_NOTE}; the data file is "
        f"a {fidelity}.{reduction} Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, params: dict, caption_text: str):
    plt, sns = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    widths = sorted(table.loc[table["kind"] == "summary", "width"].unique())
    colors = dict(zip(widths, sns.color_palette("viridis", len(widths))))
    s = table[table["kind"] == "summary"]
    for ax, kind in zip(axes[:2], ("noise", "mask")):
        for d in widths:
            g = s[(s["width"] == d) & (s["corruption"] == kind)].sort_values("N")
            ax.plot(g["N"], g["fraction_retrieved"], marker="o", color=colors[d], label=f"d = {d}")
        n_axis(ax, s["N"].unique())
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("stored images N")
        ax.set_ylabel(f"fraction retrieved (MSE < {params['threshold']:g})")
        ax.set_title(CUE_LABELS[kind], fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[2]
    t = table[table["kind"] == "training"]
    for d in widths:
        g = t[t["width"] == d].sort_values("N")
        ax.plot(g["N"], g["final_sensory_mse"], marker="o", color=colors[d], label=f"d = {d}")
    ax.axhline(params["threshold"], color="0.3", ls=":", lw=0.8, label="retrieval threshold")
    n_axis(ax, s["N"].unique())
    ax.set_yscale("log")
    ax.set_xlabel("stored images N")
    ax.set_ylabel("final sensory error per pixel (stored set)")
    ax.set_title("memorisation at the end of training", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    add_caption(fig, caption_text, width=190)
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    tr = stages.figure_run(config, NAME, provenance)
    params = tr.params
    table = summarize(runs.table, params["threshold"])
    claims = evaluate_claims(table)
    fidelity = runs.extras.get("cifar10_fidelity", "JPEG re-encoding (lossy)")
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"],
        caption=lambda v: caption(params, config["scale"], table, fidelity, v),
        figure=lambda cap: make_figure(table, params, cap),
        data=f"CIFAR-10 training images ({fidelity})",
        substitutions=f"{CIFAR_NOTE}; quick scale at small widths and N, as stated in the caption",
    )
