"""Figure stage of the three sequential-learning targets: claims, captions and figures from the shared run table
(the model run is described in :mod:`assocmem.experiments.sequential_learning.sequential`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .sequential import NAME, PAPER, PAPER_KEY

# Project tolerances (the paper states trends, no numbers), fixed before the first quick run.
SINGLE_TASK_MIN = 0.80  # accuracy on task 1 right after it, every n
FORGETTING_MIN = 0.30  # naive: task-1 accuracy drop from the end of task 1 to the end of the last task, every n
PROXY_GAIN = 0.10  # prototype proxy: largest n minus smallest n
IDENTITY_TOL = 1e-9  # tanh argument vs energy difference, relative to the largest |difference|, float64
UNSTABLE_MIN = 0.05  # GEM / A-GEM: largest training-accuracy drawdown at an intermediate n at least this ...
UNSTABLE_RATIO = 2.0  # ... and this many times the larger of the two extreme n's
METHOD_ORDER = ("naive", "rehearsal", "pseudorehearsal", "ewc", "agem", "gem")
METHOD_TEXT = (
    "Methods: naive = tasks in turn; rehearsal = a buffer keeps a random {frac:.0%} of every finished task's training "
    "items and each epoch shuffles it in with the task's items; pseudorehearsal = as many random binary patterns "
    "(pixels on at the training images' mean on-rate) labelled by the network (argmax, as a +-1 one-hot target) "
    "before the task, mixed in alike; EWC = penalty (lambda/2) sum_tasks sum_i I_i (xi_i - xi*_i)^2, I the "
    "diagonal empirical Fisher of the class-unit loss at the end of each task, one model per lambda on the same "
    "batches; A-GEM / GEM = the step's gradient projected so as not to increase the loss on {ref} reference items of "
    "the same buffer (A-GEM: one averaged constraint; GEM: one per earlier task, the QP solved through its dual).")
MODEL_TEXT = (
    "Model: Krotov-Hopfield 2016 DAM classifier, K = {K} memories, F_n(z) = max(z, 0)^n, class unit alpha scored at "
    "+-1 with every other class unit off (-1) in training and testing; dot products divided by N = 794 (a change "
    "of temperature, so nothing overflows) with T_n = {ts:g} (n/2)^{tp:g} and loss power m = {m} (both chosen from a "
    "single-task scan on held-out training items before any sequential run: under this rescaling the author's "
    "T = 1.1 trained at no n, and m = 3 was accurate over a wider range of T than the author's m = 1), memories uniform on [{lo:g}, {hi:g}) (the author's [0, 1) leaves every "
    "rectified unit off for +-1 pixels), batch {batch}, lr {lr:g} x {decay:g}^epoch restarted per task, momentum "
    "{mom:g} with the {norm} normalised per memory, clamp to [-1, 1]. Data: MNIST binarised at {thr:g} (of [0, 1]), "
    "the same {tr} training / {te} test images in every task, task 1 unpermuted, tasks 2-{T} fixed random pixel "
    "permutations; {epochs} epochs per task; {seeds} replicate(s).")


def series_label(method: str, lam: float) -> str:
    return f"ewc lambda={lam:g}" if method == "ewc" else method


def _series(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(series=[series_label(m, lam) for m, lam in zip(df["method"], df["lam"])])


def _series_order(labels) -> list[str]:
    def key(s):
        m = s.split(" ")[0]
        lam = float(s.split("=")[1]) if "=" in s else 0.0
        return (METHOD_ORDER.index(m) if m in METHOD_ORDER else 99, lam)
    return sorted(set(labels), key=key)


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Per (n, series, seed): mean accuracy over all tasks after the last task, mean forgetting over tasks 1..T-1
    (best accuracy on task j after learning it minus the final one), task-1 accuracy after task 1 and at the end, and
    the training-accuracy drawdown (largest drop below the running best within a task, tasks >= 2)."""
    test = _series(raw[raw["kind"] == "test"])
    epochs = _series(raw[raw["kind"] == "epoch"])
    last = int(test["after_task"].max())
    out = []
    for (n, series, seed), g in test.groupby(["n", "series", "seed"], sort=True):
        acc = g.pivot_table(index="after_task", columns="task", values="accuracy")
        final = acc.loc[last]
        forget = [acc.loc[j:, j].max() - final[j] for j in acc.columns if j < last]
        e = epochs[(epochs["n"] == n) & (epochs["series"] == series) & (epochs["seed"] == seed)
                   & (epochs["after_task"] >= 2)]
        draw = [float((s.cummax() - s).max()) for _, s in
                e.sort_values("epoch").groupby("after_task")["train_accuracy"]]
        out.append({"n": n, "series": series, "method": g["method"].iloc[0], "lam": g["lam"].iloc[0], "seed": seed,
                    "final_mean_accuracy": float(final.mean()), "mean_forgetting": float(np.mean(forget)),
                    "task1_after_task1": float(acc.loc[1, 1]), "task1_final": float(final[1]),
                    "drawdown": float(np.mean(draw)) if draw else float("nan"), "tasks": last})
    return pd.DataFrame(out)


def _by_n(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean over replicates: rows n, columns series."""
    return summary.groupby(["n", "series"])[column].mean().unstack("series")


def best_ewc(summary: pd.DataFrame) -> pd.Series:
    """Per n, the EWC lambda with the highest mean final accuracy (selected on the same test accuracies it is then
    compared by: an optimistic choice for EWC)."""
    ewc = summary[summary["method"] == "ewc"]
    if ewc.empty:
        return pd.Series(dtype=float)
    m = ewc.groupby(["n", "lam"])["final_mean_accuracy"].mean().reset_index()
    return m.loc[m.groupby("n")["final_mean_accuracy"].idxmax()].set_index("n")["lam"]


# ---------------------------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------------------------


def claims_accuracy(summary: pd.DataFrame) -> list[Claim]:
    first = summary.groupby("n")["task1_after_task1"].min()
    naive = summary[summary["method"] == "naive"].groupby("n")[["task1_after_task1", "task1_final"]].mean()
    drop = naive["task1_after_task1"] - naive["task1_final"]
    last = int(summary["tasks"].max())
    return [
        Claim(id="single_task_accuracy",
              statement="Right after task 1 the DAM classifies task 1 well above chance at every n",
              paper_value="single-task sanity (spec; project tolerance)",
              our_value="task-1 test accuracy after task 1 (lowest over methods and replicates): "
                        + ", ".join(f"n={n}: {v:.3f}" for n, v in first.items()),
              tolerance=f">= {SINGLE_TASK_MIN:.2f} at every n", passed=bool(len(first) and (first >= SINGLE_TASK_MIN).all())),
        Claim(id="naive_forgets",
              statement=f"Naive sequential training forgets: task-1 accuracy drops by more than "
                        f"{FORGETTING_MIN * 100:.0f} points between the end of task 1 and the end of task {last}",
              paper_value="naive training forgets earlier tasks (abstract); size: project tolerance",
              our_value=("drop (mean over replicates): " + ", ".join(f"n={n}: {v:.3f}" for n, v in drop.items()))
              if len(drop) else "no naive cells",
              tolerance=f"> {FORGETTING_MIN:.2f} at every n", passed=bool(len(drop) and (drop > FORGETTING_MIN).all())),
    ]


def claims_forgetting(summary: pd.DataFrame) -> list[Claim]:
    final = _by_n(summary, "final_mean_accuracy")
    lam = best_ewc(summary)
    last = int(summary["tasks"].max())
    parts, ok = [], []
    for n in final.index:
        r = final.loc[n].get("rehearsal", np.nan)
        nv = final.loc[n].get("naive", np.nan)
        e = final.loc[n].get(series_label("ewc", lam[n]), np.nan) if n in lam.index else np.nan
        ok.append(bool(r > e >= nv))
        parts.append(f"n={n}: {r:.3f} > {e:.3f} (lambda={lam.get(n, float('nan')):g}) >= {nv:.3f}")
    claims = [Claim(
        id="rehearsal_beats_ewc_beats_naive",
        statement=f"After task {last}, mean accuracy over all tasks ranks rehearsal > EWC >= naive at every n",
        paper_value="rehearsal-based methods are the most effective; regularisation helps (abstract); ranking: spec",
        our_value="rehearsal > EWC (best lambda per n, chosen on these accuracies) >= naive, mean over replicates: "
                  + "; ".join(parts),
        tolerance="strict > and >= at every n (no slack)", passed=bool(ok and all(ok)))]
    draw = _by_n(summary, "drawdown")
    ns = sorted(draw.index)
    for method in ("agem", "gem"):
        if method not in draw.columns or len(ns) < 3:
            continue
        d = draw[method]
        inner = d.loc[ns[1:-1]]
        edge = max(d.loc[ns[0]], d.loc[ns[-1]])
        claims.append(Claim(
            id=f"{method}_unstable_at_intermediate_n",
            statement=f"{method.upper()} training is unstable at intermediate n but not at the extremes",
            paper_value="gradient-projection methods become unstable at intermediate interaction vertices (abstract)",
            our_value="training-accuracy drawdown (mean over tasks >= 2 and replicates): "
                      + ", ".join(f"n={n}: {v:.3f}" for n, v in d.items())
                      + f"; largest intermediate {inner.max():.3f} (n={inner.idxmax()}), extremes {edge:.3f}",
            tolerance=f"largest intermediate >= {UNSTABLE_MIN:g} and >= {UNSTABLE_RATIO:g} x the larger extreme "
                      "(project criterion)",
            passed=bool(inner.max() >= UNSTABLE_MIN and inner.max() >= UNSTABLE_RATIO * edge)))
    return claims


def claims_memories(raw: pd.DataFrame) -> list[Claim]:
    prox = raw[(raw["kind"] == "memory_proxy") & (raw["stage"] == "after task 1")].groupby("n")["proxy"].mean()
    ident = raw[raw["kind"] == "identity"]["identity_rel_error"]
    gain = float(prox.iloc[-1] - prox.iloc[0]) if len(prox) >= 2 else float("nan")
    return [
        Claim(id="memories_prototype_like_at_large_n",
              statement="The learned memories are feature-like at small n and prototype-like at large n",
              paper_value="feature-like memories at small n, prototype-like at large n (abstract; Krotov & Hopfield 2016)",
              our_value="project proxy (mean correlation of a task-1 training item with its winning memory), after "
                        "task 1: " + ", ".join(f"n={n}: {v:.3f}" for n, v in prox.items())
                        + f"; largest n minus smallest n: {gain:+.3f}",
              tolerance=f">= {PROXY_GAIN:+.2f} (project proxy and tolerance)",
              passed=bool(len(prox) >= 2 and gain >= PROXY_GAIN)),
        Claim(id="tanh_argument_is_energy_difference",
              statement="The class unit's tanh argument equals s^n (E(sigma^(alpha-)) - E(sigma^(alpha+))), the energy "
                        "difference of its two states",
              paper_value="one energy-difference step of the class units (K&H 2016; spec)",
              our_value=f"largest relative difference on the trained memories (float64): {ident.max():.1e}"
              if len(ident) else "not computed",
              tolerance=f"<= {IDENTITY_TOL:g}", passed=bool(len(ident) and ident.max() <= IDENTITY_TOL)),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Captions and figures
# ---------------------------------------------------------------------------------------------------------------


def _context(params: dict, raw: pd.DataFrame, scale: str) -> str:
    lo, hi = params["init"]
    return MODEL_TEXT.format(
        K=params["memories"], ts=params["temperature_scale"], tp=params["temperature_power"], m=params["loss_power"],
        lo=lo, hi=hi, batch=params["batch"], lr=params["lr"], decay=params["lr_decay"], mom=params["momentum"],
        norm="velocity (momentum buffer)" if params["normalise"] == "velocity" else "gradient",
        thr=params["threshold"], tr=params["train_items"], te=params["test_items"], T=params["tasks"],
        epochs=params["epochs"], seeds=raw["seed"].nunique()) + f" Scale '{scale}'."


def _quick_note(scale: str) -> str:
    return (" Reduced from the paper (60,000 / 10,000 items, 11 n, 100 epochs, 3 seeds, all methods): the spec's quick "
            "plan." if scale != "paper" else "")


def caption_accuracy(params, raw, scale, verdict) -> str:
    return ("Sequential learning of permuted-MNIST tasks in the dense associative memory (McAlister et al. 2025). "
            "Test accuracy on every task (colour) after each task (x), per method (rows) and interaction vertex n "
            "(columns), mean over replicates; a task's line starts when it is learned. "
            + METHOD_TEXT.format(frac=params["buffer_fraction"], ref=params["ref_items"]) + " "
            + _context(params, raw, scale) + _quick_note(scale) + f" Verdict: {verdict}.")


def caption_forgetting(params, raw, scale, verdict) -> str:
    return ("Mean test accuracy over all tasks after the last task (left), mean forgetting of tasks 1..T-1 (best "
            "accuracy on a task after learning it minus its final accuracy; middle) and the training-accuracy "
            "drawdown within a task (largest drop below its running best, tasks >= 2; right, the project's "
            "instability index) vs interaction vertex n, per method; mean over replicates. EWC is claimed at its "
            "best lambda per n, chosen on these same accuracies (an optimistic choice). "
            + METHOD_TEXT.format(frac=params["buffer_fraction"], ref=params["ref_items"]) + " "
            + _context(params, raw, scale) + _quick_note(scale) + f" Verdict: {verdict}.")


def caption_memories(params, raw, scale, verdict) -> str:
    return ("Pixel parts of the learned memories after task 1 (unpermuted MNIST), the most used first (by the number "
            "of task-1 training items each one wins: the largest F_n term), at the smallest and largest n; colour "
            "-1 (blue) to +1 (red); counts above each. Saturated inverse digits (red background) are memories switched "
            "off for every item; with the velocity-normalised step they keep moving along their decaying momentum. "
            "Right: the project's prototype proxy, the mean Pearson correlation between a task-1 training item and "
            "its winning memory (high: the answering memory looks like the item, a prototype; low: feature-like), "
            "for the initial and the trained memories. " + _context(params, raw, scale) + _quick_note(scale)
            + f" Verdict: {verdict}.")


def figure_accuracy(raw: pd.DataFrame, caption: str):
    plt, sns = pyplot()
    test = _series(raw[raw["kind"] == "test"])
    series = _series_order(test["series"])
    ns = sorted(test["n"].unique())
    T = int(test["task"].max())
    colors = sns.color_palette("viridis", T)
    fig, axes = plt.subplots(len(series), len(ns), figsize=(max(10.0, 1.9 * len(ns) + 1.2), 1.5 * len(series) + 0.6),
                             squeeze=False, sharex=True, sharey=True)
    mean = test.groupby(["series", "n", "after_task", "task"])["accuracy"].mean()
    for i, s in enumerate(series):
        for j, n in enumerate(ns):
            ax = axes[i, j]
            for task in range(1, T + 1):
                try:
                    v = mean.loc[(s, n)].xs(task, level="task")
                except KeyError:
                    continue
                v = v[v.index >= task]
                ax.plot(v.index, v.values, marker=".", color=colors[task - 1], lw=1, label=f"task {task}")
            ax.axhline(0.1, color="0.6", ls=":", lw=0.7)
            ax.set_ylim(0, 1)
            ax.set_xticks(range(1, T + 1))
            if i == 0:
                ax.set_title(f"n = {n}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{s}\ntest accuracy", fontsize=7)
            if i == len(series) - 1:
                ax.set_xlabel("after task", fontsize=7)
    axes[0, -1].legend(fontsize=5, loc="lower left")
    fig.tight_layout()
    add_caption(fig, caption, width=int(15.5 * fig.get_figwidth()))
    return fig


def figure_forgetting(summary: pd.DataFrame, caption: str):
    plt, sns = pyplot()
    series = _series_order(summary["series"])
    colors = dict(zip(series, sns.color_palette("colorblind", len(series))))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, col, label in zip(axes, ("final_mean_accuracy", "mean_forgetting", "drawdown"),
                              ("mean test accuracy after the last task", "mean forgetting (fraction of test items)",
                               "training-accuracy drawdown")):
        m = _by_n(summary, col)
        for s in series:
            if s in m.columns:
                ls = "--" if s.startswith("ewc") else "-"
                ax.plot(m.index, m[s], marker="o", ls=ls, color=colors[s], label=s)
        ax.set_xscale("log")
        ns = sorted(summary["n"].unique())
        ax.set_xticks(ns)
        ax.set_xticklabels([str(n) for n in ns], fontsize=7)
        ax.minorticks_off()
        ax.set_xlabel("interaction vertex n")
        ax.set_ylabel(label)
    axes[0].axhline(0.1, color="0.6", ls=":", lw=0.8, label="chance")
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    add_caption(fig, caption, width=int(15.5 * fig.get_figwidth()))
    return fig


def figure_memories(raw: pd.DataFrame, extras: dict, caption: str):
    plt, sns = pyplot()
    mems = extras["memories"]
    ns = sorted({v["n"] for v in mems.values()})
    shown_ns = [ns[0], ns[-1]] if len(ns) > 1 else ns
    seed = min(v["seed"] for v in mems.values())
    per_row = 8
    blocks = []
    for n in shown_ns:
        m = mems[f"n={n},seed={seed}"]
        blocks.append((n, np.array(m["pixels"]), m["wins"]))
    rows = sum(math.ceil(len(p) / per_row) for _, p, _ in blocks)
    fig = plt.figure(figsize=(13, 1.25 * rows + 0.8))
    grid = fig.add_gridspec(rows, per_row + 5)
    r = 0
    for n, pix, wins in blocks:
        for k in range(len(pix)):
            ax = fig.add_subplot(grid[r + k // per_row, k % per_row])
            ax.imshow(pix[k].reshape(28, 28), cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{wins[k]}", fontsize=6, pad=1)
            if k % per_row == 0:
                ax.set_ylabel(f"n = {n}", fontsize=8)
        r += math.ceil(len(pix) / per_row)
    ax = fig.add_subplot(grid[:, per_row + 1:])
    prox = raw[raw["kind"] == "memory_proxy"].groupby(["stage", "n"])["proxy"].mean()
    for stage, style in (("initial", ":"), ("after task 1", "-")):
        if stage in prox.index.get_level_values(0):
            v = prox.loc[stage]
            ax.plot(v.index, v.values, marker="o", ls=style, label=f"{stage} memories")
    ax.set_xscale("log")
    ax.set_xticks(ns)
    ax.set_xticklabels([str(n) for n in ns], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("interaction vertex n")
    ax.set_ylabel("prototype proxy (item vs winning memory, Pearson r)")
    ax.legend(fontsize=7)
    fig.subplots_adjust(left=0.04, right=0.98, top=0.95, wspace=0.1, hspace=0.35)
    add_caption(fig, caption, width=int(15.5 * fig.get_figwidth()))
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    """Draw one of the three targets (the one ``out_prefix`` names) from the shared run; return its metadata."""
    target = Path(out_prefix).name
    tr = stages.figure_run(config, NAME, provenance)
    raw, params, scale = runs.table, tr.params, config["scale"]
    summary = summarize(raw)
    if target == "fig_dam_sequential_accuracy":
        claims = claims_accuracy(summary)
        table = _series(raw[raw["kind"] == "test"]).drop(columns=["kind", "epoch", "train_loss", "train_accuracy",
                                                                   "stage", "proxy", "winners",
                                                                   "identity_rel_error"], errors="ignore")
        cap = lambda v: caption_accuracy(params, raw, scale, v)  # noqa: E731
        make = lambda c: figure_accuracy(raw, c)  # noqa: E731
    elif target == "fig_dam_forgetting_vs_vertex":
        claims = claims_forgetting(summary)
        table = summary
        cap = lambda v: caption_forgetting(params, raw, scale, v)  # noqa: E731
        make = lambda c: figure_forgetting(summary, c)  # noqa: E731
    elif target == "fig_dam_memories":
        claims = claims_memories(raw)
        table = raw[raw["kind"].isin(["memory_proxy", "identity"])].dropna(axis=1, how="all")
        cap = lambda v: caption_memories(params, raw, scale, v)  # noqa: E731
        make = lambda c: figure_memories(raw, runs.extras, c)  # noqa: E731
    else:
        raise ValueError(f"unknown target {target!r} of run {NAME}")
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, caption=cap, figure=make,
        run_wall_s=provenance["run_wall_time_s"], data="MNIST (exact), binarised; permuted-MNIST tasks",
        substitutions="rescaled dot products with a per-n temperature rule, loss power 3 and memories initialised on "
                      "[-1, 1) (chosen on held-out training items; see caption); reduced sizes below the paper scale",
    )
