"""Multimodal recall, image <-> description, with MNIST images and one-hot labels (target ``fig_pcn_multimodal``;
spec E4, a stand-in for the paper's image-description pairs).

Salvatori et al. (2021). A PCN (:mod:`assocmem.predictive_coding`, trained as in :mod:`.retrieval`) memorises
``n_stored`` pairs: an MNIST training image (784 pixels in [0, 1]) concatenated with its one-hot label (10 values),
a sensory layer of 794 nodes. Recall by partial cues (the spec's protocol: clamp the known part, leave the rest free
from the stored pairs' mean, ``t_recall`` inference steps, read the free nodes):

- image cue (every stored image, its label part free): the retrieved label is the argmax of the free label nodes;
- label cue (one-hot of each class, the image part free): the retrieved image is classified by a 1-nearest-neighbour
  classifier on ``n_reference`` MNIST test images (Euclidean distance on the pixels); its nearest stored image is
  recorded too.

Run table rows (``kind``): ``image_cue`` (one per stored pair: true and retrieved label, the label nodes' margin),
``label_cue`` (one per class: the 1-NN class, the nearest stored image's label and the distances), ``trace`` (the
PCN's energy per epoch). Extras: the images retrieved from the label cues, their nearest stored images, and a few
stored images with their retrieved labels (uint8).

Run without Snakemake::

    python -m assocmem run fig_pcn_multimodal --data-dir .
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ... import device as _device
from ... import predictive_coding as pc
from ...data import as_patterns, load_images
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs
from . import common

NAME = "pcn_multimodal"
TARGET = "fig_pcn_multimodal"
PAPER_KEY = "predictive_coding"
PAPER = PAPERS[PAPER_KEY].citation
TARGET_SPECS = (
    Target(TARGET, PAPERS[PAPER_KEY], NAME, __name__, data=("mnist",), threads=1, runtime=60, mem_mb=4000,
           summary="PCN multimodal recall: MNIST image -> one-hot label and label -> image (stand-in for "
                   "image-description pairs)"),
)
PIXELS, CLASSES = 784, 10
N_SHOWN = 10


def run(images: dict, params: dict, *, seed: int, device, dtype, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Train on the pairs, recall from image cues and from label cues; the run table and the display images."""
    N = params["n_stored"]
    base = seed * 1_000_003 + 7919 * N + 31
    X64, _, idx = common.stored_sets(images["train_images"], N, seed)
    y = images["train_labels"][idx]
    pairs64 = torch.cat([X64, torch.nn.functional.one_hot(y, CLASSES).double()], 1)
    pairs = pairs64.to(device, dtype)
    net, trace = common.train_pcn(pairs, params, _device.generator(base + 1), progress=progress,
                                  desc=f"{NAME} PCN N={N}")
    rows = [{"kind": "trace", **r} for r in trace]
    d = PIXELS + CLASSES
    image_known = torch.arange(d, device=device) < PIXELS
    mean = pairs.mean(0)
    # image cue -> label
    cue = torch.where(image_known, pairs, mean)
    out = pc.recall(net, cue, image_known, steps=params["t_recall"], gamma=params["gamma"])[0]
    lab = out[:, PIXELS:].double().cpu()
    top2 = lab.topk(2, dim=1).values
    pred = lab.argmax(1)
    rows += [{"kind": "image_cue", "pair": i, "label": int(t), "retrieved": int(p), "margin": float(m)}
             for i, (t, p, m) in enumerate(zip(y, pred, top2[:, 0] - top2[:, 1]))]
    # label cue -> image
    onehot = torch.eye(CLASSES, dtype=dtype, device=device)
    cue = torch.cat([mean[:PIXELS].expand(CLASSES, PIXELS), onehot], 1)
    gen = pc.recall(net, cue, ~image_known, steps=params["t_recall"], gamma=params["gamma"])[0][:, :PIXELS]
    gen64 = gen.double().cpu()
    ref = as_patterns(images["test_images"][:params["n_reference"]], torch.float64)
    ref_y = images["test_labels"][:params["n_reference"]]
    d_ref = torch.cdist(gen64, ref)
    d_st = torch.cdist(gen64, X64)
    nn_ref, nn_st = d_ref.argmin(1), d_st.argmin(1)
    rows += [{"kind": "label_cue", "label": k, "nn_class": int(ref_y[nn_ref[k]]), "nearest_stored_label":
              int(y[nn_st[k]]), "distance_stored": float(d_st[k, nn_st[k]]), "distance_reference":
              float(d_ref[k, nn_ref[k]]), "stored_norm": float(X64.norm(dim=1).mean())} for k in range(CLASSES)]
    n = min(N_SHOWN, N)
    extras = {"generated": common.to_uint8(gen64), "nearest_stored": common.to_uint8(X64[nn_st]),
              "image_cues": common.to_uint8(X64[:n]), "image_cue_labels": pred[:n].tolist(),
              "image_cue_true": y[:n].tolist()}
    return pd.DataFrame(rows), extras


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`); the figure is in :mod:`.multimodal_figure`."""
    tr = begin_target(config, NAME, threads)
    table, extras = run(load_images(data["mnist"]), tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(table, extras)
