"""IAMM against the same encoder without it on synthetic association dialogues (target
``fig_iamm_association_dialogue``).

Yang et al. (ACL 2024), *An Iterative Associative Memory Model for Empathetic Response Generation*; the spec's offline
stand-in (``../shared/papers/iamm.md``, sections 2-4). **Synthetic data, not EmpatheticDialogues**: dialogues of
USF cue words labelled by a planted cross-utterance association (:mod:`assocmem.data.association_dialogues`: one of
``n_classes`` classes, an anchor of the class in one utterance and a strong associate, forward strength
``>= threshold``, in a later one; ``distractor_anchors`` unpaired anchors of other classes; with probability
``reversed_fraction`` a reversed pair of another class). Random word embeddings (no GloVe), no COMET input, the
classification head only.

Models (:mod:`assocmem.iamm`): IAMM (second-order interaction attention over the utterance, history and memory
maps, associated-word memory, iterated over the utterances) and the baseline (the same encoder, first-order attention
within each utterance only, mean-pooled). Word embeddings are random ``N(0, 1)`` vectors, trained or kept fixed
(``train_embeddings``; fixed stands in for pre-trained vectors the task has none of). One data set (drawn from the
global seed); for each of ``seeds`` training seeds both variants are trained with AdamW (constant ``lr``, ``epochs``
epochs of ``n_train`` dialogues) from that seed's initialisation and batch order, and scored on the ``n_test``
held-out dialogues (new dialogues over the same classes and pairs). Recorded: the loss of every step, test accuracy
(all dialogues, with and without a reversed distractor) and, for IAMM, how often the associated words it selects
(``topk`` per utterance) contain the planted anchor, the planted associate and both, against chance ``topk / words``
per word and ``(topk / words)^2`` per pair (a selection blind to the words: planted positions are uniform).

Run without Snakemake::

    python -m assocmem run fig_iamm_association_dialogue --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ... import device as _device
from ... import iamm
from ...data import association_dialogues as ad
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs

NAME = "iamm_association_dialogue"
TARGET = "fig_iamm_association_dialogue"
PAPER_KEY = "iamm"
PAPER = PAPERS["iamm"].citation
TARGET_SPECS = (
    Target("fig_iamm_association_dialogue", PAPERS["iamm"], NAME, __name__, data=("usf",), threads=1,
           summary="IAMM vs the same encoder without it on synthetic USF association dialogues",
           shard_axis="seeds"),
)
VARIANTS = ("baseline", "iamm")


def seed_list(seeds) -> list[int]:
    """The training seeds: ``0 .. n-1`` for a count, the list itself for a shard's list."""
    return list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]


def build_task(usf: Path, params: dict, seed: int) -> tuple[ad.TaskTables, list, dict, dict, list[str]]:
    """Classes, tables, the train / test dialogues (drawn from the global ``seed``, the same for every model) and the
    vocabulary (token ``i + 1`` is its ``i``-th word)."""
    cues, assoc = ad.strong_associates(usf, params["threshold"])
    g = _device.generator(seed * 1_000_003 + 11)
    classes = ad.choose_classes(cues, assoc, params["n_classes"], params["anchors_per_class"], g)
    vocab = ad.vocabulary(cues, classes, params["vocab_size"], g)
    tables = ad.TaskTables(vocab, classes)
    kw = dict(utterances=params["utterances"], words=params["words"], distractor_anchors=params["distractor_anchors"],
              reversed_fraction=params["reversed_fraction"], generator=g)
    train = ad.make_dialogues(tables, params["n_train"], **kw)
    test = ad.make_dialogues(tables, params["n_test"], **kw)
    return tables, classes, train, test, vocab


def make_model(variant: str, tables: ad.TaskTables, params: dict, g: torch.Generator) -> iamm.IAMMEncoder:
    return iamm.IAMMEncoder(tables.vocab_size, tables.n_classes, d=params["d"], heads=params["heads"],
                            key_depth=params["key_depth"], filter_size=params["filter_size"], topk=params["topk"],
                            associative=variant == "iamm", generator=g)


def run(tables: ad.TaskTables, train: dict, test: dict, params: dict, *, seed: int, device: torch.device,
        dtype: torch.dtype, progress: bool = True) -> pd.DataFrame:
    """Train and score both variants for every training seed; rows of ``kind`` ``loss`` (per step), ``accuracy``
    (``subset`` all / reversed / plain) and ``hits`` (IAMM: ``what`` anchor / associate / pair, with ``chance``)."""
    rows = []
    steps_per_epoch = max(params["n_train"] // params["batch_size"], 1)
    steps = params["epochs"] * steps_per_epoch
    chance_word = min(params["topk"], params["words"]) / params["words"]
    subsets = {"all": torch.ones_like(test["reversed"]), "with reversed pair": test["reversed"],
               "without reversed pair": ~test["reversed"]}
    for s in seed_list(params["seeds"]):
        for variant in VARIANTS:
            g = _device.generator(seed * 1_000_003 + 7_919 * s + 1)
            model = make_model(variant, tables, params, g).to(device, dtype)
            model.embed.weight.requires_grad_(params["train_embeddings"])
            loss_fn = iamm.classification_loss(model, train["tokens"], train["label"], device)
            losses = iamm.fit(model, params["n_train"], loss_fn, batch_size=params["batch_size"], steps=steps,
                              lr=params["lr"], weight_decay=params["weight_decay"], generator=g, progress=progress,
                              desc=f"{NAME} {variant} seed {s}")
            rows += [{"kind": "loss", "variant": variant, "seed": s, "step": i + 1, "epoch": (i + 1) / steps_per_epoch,
                      "value": v} for i, v in enumerate(losses)]
            out = iamm.predict(model, test["tokens"], device)
            correct = out["pred"] == test["label"]
            for name, m in subsets.items():
                rows.append({"kind": "accuracy", "variant": variant, "seed": s, "subset": name, "n": int(m.sum()),
                             "value": float(correct[m].double().mean()) if bool(m.any()) else float("nan")})
            if out["selected"] is not None:
                hits = iamm.planted_pair_hits(out["selected"], test["pair_pos"])
                for what, h in hits.items():
                    rows.append({"kind": "hits", "variant": variant, "seed": s, "what": what, "n": len(h),
                                 "count": int(h.sum()), "value": float(h.double().mean()),
                                 "chance": chance_word**2 if what == "pair" else chance_word})
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`) on the prepared USF edge list; extras: the classes (anchors and associates), the
    vocabulary size, the number of candidate dialogues rejected and an example test dialogue. The figure is in
    :mod:`.association_dialogue_figure`."""
    tr = begin_target(config, NAME, threads)
    params = tr.params
    tables, classes, train, test, vocab = build_task(Path(data["usf"]), params, config["seed"])
    table = run(tables, train, test, params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    example = [[vocab[int(t) - 1] for t in utt] for utt in test["tokens"][0]]
    extras = {"classes": [[[w, list(a)] for w, a in cls] for cls in classes], "vocab_size": len(vocab),
              "pairs_per_class": tables.n_pairs.tolist(),
              "rejected": {"train": int(train["rejected"]), "test": int(test["rejected"])},
              "example": {"utterances": example, "label": int(test["label"][0]),
                          "pair_pos": test["pair_pos"][0].tolist(), "reversed": bool(test["reversed"][0])},
              "test_reversed": int(test["reversed"].sum())}
    return Runs(table, extras)
