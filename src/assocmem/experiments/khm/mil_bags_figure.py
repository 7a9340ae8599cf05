"""Figure stage of ``tab_mil_mnist_bags``: claims, caption and figure from the run table alone (the model run, and
what it computes, are described in :mod:`assocmem.experiments.khm_mil_bags`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import TargetRun, finish_target
from .mil_bags import NAME, PAPER, PAPER_KEY


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of test AUC per (data set, variant); the per-seed rows follow (``kind`` tells them apart)."""
    t = raw.groupby(["target_digit", "variant"]).agg(
        auc_mean=("test_auc", "mean"), auc_std=("test_auc", "std"), max_key_cosine=("max_key_cosine", "mean"),
        seeds=("seed", "nunique")).reset_index().assign(kind="summary")
    return pd.concat([t, raw.assign(kind="seed")], ignore_index=True)


def evaluate_claims(table: pd.DataFrame, auc_tolerance: float) -> list[Claim]:
    s = table[table["kind"] == "summary"]
    auc_ = s.pivot(index="target_digit", columns="variant", values="auc_mean")
    cos = s.pivot(index="target_digit", columns="variant", values="max_key_cosine")
    diff = auc_["U-Hop+"] - auc_["baseline"]
    per = "; ".join(f"digit {d}: {auc_.loc[d, 'baseline']:.3f} -> {auc_.loc[d, 'U-Hop+']:.3f}" for d in auc_.index)
    return [
        Claim(id="uhop_not_worse_on_every_dataset",
              statement="On every MIL stand-in data set the mean test AUC of HopfieldPooling with U-Hop+ is not below "
                        "the baseline's",
              paper_value="U-Hop+ improves HopfieldPooling on Tiger, Fox, Elephant and UCSB (MIL table)",
              our_value=f"mean test AUC baseline -> U-Hop+: {per}",
              tolerance=f"U-Hop+ >= baseline - {auc_tolerance:g} on every data set",
              passed=bool(len(diff) > 0 and (diff >= -auc_tolerance).all())),
        Claim(id="uhop_gains_on_average",
              statement="Averaged over the data sets U-Hop+ gains test AUC",
              paper_value="gains even without hyper-parameter optimisation",
              our_value=f"mean AUC difference (U-Hop+ - baseline) {diff.mean():+.4f}",
              tolerance="difference > 0",
              passed=bool(len(diff) > 0 and diff.mean() > 0)),
        Claim(id="uhop_separates_keys",
              statement="The separation stage separates the stored patterns: the largest within-bag cosine between "
                        "keys of test bags is smaller with U-Hop+",
              paper_value="U-Hop+ stage I minimises a surrogate of the largest pairwise cosine",
              our_value="; ".join(f"digit {d}: {cos.loc[d, 'baseline']:.3f} -> {cos.loc[d, 'U-Hop+']:.3f}"
                                  for d in cos.index),
              tolerance="smaller on every data set",
              passed=bool(len(cos) > 0 and (cos["U-Hop+"] < cos["baseline"]).all())),
    ]


def caption(params: dict, scale: str, verdict_text: str) -> str:
    side = 28 // params["downsample"]
    pixels = "full 28x28 images" if params["downsample"] == 1 else f"{side}x{side} average-pooled"
    return (
        f"Multiple-instance learning with HopfieldPooling, with and without U-Hop+ (Hu et al. 2024, MIL table; "
        f"stand-in data). Substitution: the paper's Tiger/Fox/Elephant/UCSB data sets are not available; each data "
        f"set here is MNIST bags of {params['bag_size_mean']} +- {params['bag_size_spread']} digits "
        f"({pixels}), positive iff the bag holds the "
        f"target digit ({', '.join(map(str, params['targets']))}), {params['n_bags']} bags, "
        f"{params['test_fraction']:.0%} held out (test bags from the MNIST test split). One fixed configuration (no "
        f"grid search, no CV): 2-layer MLP ({params['hidden']}, {params['embedding']}), {params['heads']} head(s), key "
        f"dim {params['key_dim']}, beta {params['beta']:g}, AdamW lr {params['lr']:g}, wd {params['weight_decay']:g}, "
        f"{params['epochs']} epochs, {params['batch_bags']} bags per step. U-Hop+: one separation epoch (Adam lr "
        f"{params['uhop_lr']:g}, tau {params['tau']:g}, log-sum-exp over key pairs within each bag, gradient norm "
        f"clipped at 1) before each of the first {params['uhop_epochs']} epochs; the baseline shares bags and "
        f"initialisation. Dots: seeds ({params['seeds']}); bars: mean. Scale '{scale}'. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, params: dict, caption_text: str):
    plt, sns = pyplot()
    seeds = table[table["kind"] == "seed"].copy()
    seeds["data set"] = "digit " + seeds["target_digit"].astype(int).astype(str)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    sns.barplot(data=seeds, x="data set", y="test_auc", hue="variant", errorbar=None, alpha=0.6, ax=axes[0])
    sns.stripplot(data=seeds, x="data set", y="test_auc", hue="variant", dodge=True, legend=False, size=4, ax=axes[0])
    lo = max(0.0, seeds["test_auc"].min() - 0.05)
    axes[0].set_ylim(lo, 1.0)
    axes[0].set_ylabel("test AUC")
    axes[0].legend(fontsize=7, loc="lower right")
    sns.barplot(data=seeds, x="data set", y="max_key_cosine", hue="variant", errorbar=None, ax=axes[1])
    axes[1].set_ylabel("largest within-bag key cosine (test bags)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    add_caption(fig, caption_text)
    return fig


def write_figure(tr: TargetRun, runs: stages.Runs, out_prefix: Path, run_wall: float | None) -> dict:
    """Claims, caption, figure and metadata from the run table (one row per target digit, seed and variant)."""
    params, config = tr.params, tr.config
    table = summarize(runs.table)
    claims = evaluate_claims(table, params["auc_tolerance"])
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v), figure=lambda cap: make_figure(table, params, cap),
        dtype=torch.float32, data="MNIST (exact), as bags",
        substitutions="MNIST-bags stand-in for the Tiger/Fox/Elephant/UCSB MIL data sets; one fixed configuration "
                      "instead of the 96-config grid with 10-fold CV; held-out split instead of CV",
    )


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    return write_figure(stages.figure_run(config, NAME, provenance), runs, out_prefix, provenance["run_wall_time_s"])
