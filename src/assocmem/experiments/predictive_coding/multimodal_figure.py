"""Figure stage of ``fig_pcn_multimodal``: claims, caption and figure (labels retrieved from images, images retrieved
from labels) from the run table and extras alone (the run is described in :mod:`.multimodal`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .common import MNIST_NOTE
from .multimodal import CLASSES, NAME, PAPER, PAPER_KEY

# Project tolerance (spec E4): labels from image cues correct for >= 95% of the stored pairs; images from label cues
# assigned to the cued class by the 1-NN classifier for every class (the spec's wording, no slack).
MIN_LABEL_ACCURACY = 0.95
MIN_CLASSES = 1.0


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """The run table plus one ``summary`` row: label accuracy from image cues, share of label cues whose image the
    1-NN classifier assigns to the cued class, and the same by nearest stored image."""
    ic, lc = raw[raw["kind"] == "image_cue"], raw[raw["kind"] == "label_cue"]
    summary = {"kind": "summary",
               "label_accuracy": float((ic["label"] == ic["retrieved"]).mean()) if len(ic) else float("nan"),
               "label_cue_nn_correct": float((lc["nn_class"] == lc["label"]).mean()) if len(lc) else float("nan"),
               "label_cue_stored_correct": float((lc["nearest_stored_label"] == lc["label"]).mean())
               if len(lc) else float("nan")}
    return pd.concat([raw, pd.DataFrame([summary])], ignore_index=True)


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    s = table[table["kind"] == "summary"].iloc[0]
    lc = table[table["kind"] == "label_cue"].sort_values("label")
    ic = table[table["kind"] == "image_cue"]
    return [
        Claim(
            id="image_cue_retrieves_label",
            statement="From an image cue (label nodes free), the stored pair's label is retrieved",
            paper_value="multimodal retrieval of the description from the image (abstract; spec E4 tolerance >= 95%)",
            our_value=f"{s['label_accuracy']:.3f} of {len(ic)} stored pairs",
            tolerance=f">= {MIN_LABEL_ACCURACY:.0%} correct",
            passed=bool(s["label_accuracy"] >= MIN_LABEL_ACCURACY),
        ),
        Claim(
            id="label_cue_retrieves_class_image",
            statement="From a label cue (image nodes free), the retrieved image is assigned to the cued class by a "
                      "1-nearest-neighbour classifier",
            paper_value="multimodal retrieval of the image from the description (abstract; spec E4)",
            our_value=(f"{s['label_cue_nn_correct']:.1f} of the {len(lc)} classes; 1-NN class per cued label 0-9: "
                       + ", ".join(str(int(v)) for v in lc["nn_class"])
                       + f"; nearest stored pair of the cued class for {s['label_cue_stored_correct']:.1f}"),
            tolerance=f"every class (share >= {MIN_CLASSES:g})",
            passed=bool(s["label_cue_nn_correct"] >= MIN_CLASSES),
        ),
    ]


def caption(params: dict, scale: str, table: pd.DataFrame, verdict_text: str) -> str:
    lc = table[table["kind"] == "label_cue"]
    dist = (f"distance of each label-cue image to its nearest stored image {lc['distance_stored'].min():.2f}-"
            f"{lc['distance_stored'].max():.2f} in pixel units, against a mean norm of {lc['stored_norm'].iloc[0]:.2f} of "
            f"the stored images") if len(lc) else ""
    reduction = {
        "quick": (f" Quick scale: the spec's N = 100 pairs; training as in fig_pcn_retrieval (mini-batch SGD, lr "
                  f"{params['lr']:g}, batch {params['batch']}, {params['epochs']} epochs, pairs centred by their "
                  f"mean; chosen after first runs on CIFAR-10)."),
        "test": " Test scale: a tiny run for the test suite.",
    }.get(scale, "")
    return (
        f"Spec E4, a stand-in for the paper's image-description pairs: {params['n_stored']} MNIST training images "
        f"(784 pixels in [0, 1]) each concatenated with its one-hot label (10 nodes) and memorised by a PCN "
        f"{[794, *params['pcn_sizes']][::-1]} top to bottom ({params['activation']}, hidden nodes zero-initialised). "
        f"Recall clamps the known part, starts the free part at the stored pairs' mean, runs {params['t_recall']} "
        f"inference steps (gamma {params['gamma']:g}) and reads the free nodes. (a) the PCN's energy per pair during "
        f"training; (b) image cues: label accuracy per class (argmax of the free label nodes); (c) label cues: the "
        f"image retrieved for each class (top), its 1-NN class among {params['n_reference']} MNIST test images, and "
        f"its nearest stored image (bottom); {dist}. {MNIST_NOTE} (and one-hot labels for descriptions)."
        f"{reduction} Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, params: dict, extras: dict, caption_text: str):
    plt, sns = pyplot()
    fig = plt.figure(figsize=(14, 4.6))
    gs = fig.add_gridspec(1, 3, width_ratios=[1, 1, 2.2])
    ax = fig.add_subplot(gs[0])
    tr = table[table["kind"] == "trace"].sort_values("epoch")
    ax.plot(tr["epoch"], tr["energy"], color="C0")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("PCN energy F per stored pair")
    ax.set_title("(a) memorisation", fontsize=9)
    ax = fig.add_subplot(gs[1])
    ic = table[table["kind"] == "image_cue"]
    acc = ic.assign(ok=ic["label"] == ic["retrieved"]).groupby("label")["ok"].mean().reindex(range(CLASSES))
    ax.bar(range(CLASSES), acc.to_numpy(), color="C2")
    ax.axhline(MIN_LABEL_ACCURACY, color="0.3", ls=":", lw=0.8, label=f"{MIN_LABEL_ACCURACY:.0%}")
    ax.set_xticks(range(CLASSES))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("label of the stored pair")
    ax.set_ylabel("fraction of image cues with the right label")
    ax.set_title("(b) image -> label", fontsize=9)
    ax.legend(fontsize=7)
    ax = fig.add_subplot(gs[2])
    lc = table[table["kind"] == "label_cue"].sort_values("label")
    gen = np.asarray(extras["generated"], dtype=np.uint8).reshape(-1, 28, 28)
    near = np.asarray(extras["nearest_stored"], dtype=np.uint8).reshape(-1, 28, 28)

    def strip(imgs):
        return np.concatenate([np.pad(im, 1, constant_values=128) for im in imgs], 1)

    ax.imshow(np.concatenate([strip(gen), strip(near)], 0), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([30 * k + 15 for k in range(len(lc))])
    ax.set_xticklabels([f"cue {int(r.label)}\n1-NN: {int(r.nn_class)}" for r in lc.itertuples()], fontsize=7)
    ax.set_yticks([15, 45])
    ax.set_yticklabels(["retrieved", "nearest\nstored"], fontsize=8)
    ax.grid(False)
    ax.set_title("(c) label -> image", fontsize=9)
    fig.tight_layout()
    add_caption(fig, caption_text, width=190)
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    tr = stages.figure_run(config, NAME, provenance)
    params = tr.params
    table = summarize(runs.table)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"],
        caption=lambda v: caption(params, config["scale"], table, v),
        figure=lambda cap: make_figure(table, params, runs.extras, cap),
        data="MNIST training images and labels (exact); MNIST test images for the 1-NN classifier",
        substitutions=f"{MNIST_NOTE}; one-hot labels stand in for image descriptions",
    )
