"""IAMM against the same model without it on EmpatheticDialogues, with user-supplied data only (target
``tab_iamm_empathetic_dialogues``).

Yang et al. (ACL 2024), *An Iterative Associative Memory Model for Empathetic Response Generation*; spec section 3,
paper scale. EmpatheticDialogues, GloVe and COMET are **not available offline** and nothing is downloaded: the run
reads the files named in the config (``ed_dir`` with ``train.csv`` / ``valid.csv`` / ``test.csv``, ``glove``, and
optional SHA-256 checksums ``sha256``; :mod:`assocmem.data.empathetic`). With ``ed_dir: null`` (the shipped config,
every scale) the run writes a one-row-per-cell table marked ``not run`` and the figure says that the data were not
supplied; its claims carry no pass/fail (``passed = None``), so the target's verdict is ``not run``. A path that is
set but absent is an error naming the file.

With data (:func:`run`): for each of ``seeds`` seeds, IAMM and the baseline (:class:`assocmem.iamm.DialogueModel`
with ``associative`` true / false: the same embeddings, encoder, emotion head and response decoder; the baseline's
encoder has no second-order attention or memory) are trained on the training split for ``steps`` minibatches of
``batch_size`` (Adam, Noam schedule peaking at ``lr`` after ``warmup`` steps; loss = response NLL + emotion
cross-entropy) and scored on the test split: emotion accuracy, perplexity (teacher-forced, per token), and Dist-1 /
Dist-2 of the greedy responses, corpus level (distinct n-grams over all n-grams of the whole generated test set), with
their mean length (short responses inflate Dist-n). The
baseline stands in for CEM (the spec's "CEM baseline trained with the same code"): it is not CEM's architecture.
No COMET input, no pointer-generator; the validation split is not used (no early stopping). Word vectors: GloVe
where found (``glove``; the model's ``d`` must equal the vectors' dimension), random otherwise.

Run without Snakemake::

    python -m assocmem run tab_iamm_empathetic_dialogues --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ... import device as _device
from ... import iamm
from ...data import empathetic as ed
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs
from .association_dialogue import VARIANTS, seed_list

NAME = "iamm_empathetic_dialogues"
TARGET = "tab_iamm_empathetic_dialogues"
PAPER_KEY = "iamm"
PAPER = PAPERS["iamm"].citation
TARGET_SPECS = (
    Target("tab_iamm_empathetic_dialogues", PAPERS["iamm"], NAME, __name__, data=(), threads=1, gpu=True,
           runtime=600, mem_mb=16000,
           summary="IAMM vs the same model without it on EmpatheticDialogues (user-supplied data only)",
           shard_axis="seeds"),
)
METRICS = ("emotion_accuracy", "dist1", "dist2", "perplexity", "mean_length")


def supplied(params: dict) -> bool:
    """Whether the user named the data (an ``ed_dir``); a ``glove`` without it is an error."""
    if params["ed_dir"] is None and params["glove"] is not None:
        raise ed.DataError(f"{NAME}: glove is set but ed_dir is not; set both, or neither")
    return params["ed_dir"] is not None


def not_run_table(params: dict) -> pd.DataFrame:
    """What the run writes without data: one row per (variant, seed, metric), value NaN, status ``not run``."""
    return pd.DataFrame([{"kind": "metric", "variant": v, "seed": s, "metric": m, "value": float("nan"),
                          "status": "not run: data not supplied"}
                         for s in seed_list(params["seeds"]) for v in VARIANTS for m in METRICS])


@torch.no_grad()
def evaluate(model: iamm.DialogueModel, test: dict, device, batch: int,
             max_len: int) -> tuple[dict[str, float], list[list[int]]]:
    """Emotion accuracy, per-token perplexity (teacher forcing), corpus-level Dist-1/2 and the mean length (tokens
    before ``</s>``) of the greedy responses; and the responses (token ids, cut at ``</s>``)."""
    model.eval()
    correct, nll, tokens, responses = 0, 0.0, 0, []
    n = test["emotion"].shape[0]
    for i in range(0, n, batch):
        b = {k: v[i:i + batch].to(device) for k, v in test.items()}
        logits, dec = model(b["context"], b["situation"], b["prev"])
        correct += int((logits.argmax(-1) == b["emotion"]).sum())
        nll += float(F.cross_entropy(dec.flatten(0, 1), b["response"].flatten(), ignore_index=ed.PAD,
                                     reduction="sum"))
        tokens += int((b["response"] != ed.PAD).sum())
        gen = model.generate(b["context"], b["situation"], bos=ed.BOS, eos=ed.EOS, max_len=max_len).cpu()
        for row in gen.tolist():
            responses.append([t for t in (row[: row.index(ed.EOS)] if ed.EOS in row else row) if t != ed.PAD])
    return {"emotion_accuracy": correct / n, "perplexity": float(torch.tensor(nll / max(tokens, 1)).exp()),
            "dist1": iamm.distinct_n(responses, 1), "dist2": iamm.distinct_n(responses, 2),
            "mean_length": sum(map(len, responses)) / max(len(responses), 1)}, responses


def run(data: dict, params: dict, *, seed: int, device: torch.device, dtype: torch.dtype,
        progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Train and score both variants for every seed (module docstring); rows of ``kind`` ``metric`` and ``loss``
    (mean over every ``log_every`` steps); extras: example responses of the first seed."""
    enc = {s: ed.encode_examples(data["splits"][s], data["vocab"], data["emotions"],
                                 max_utterances=params["max_utterances"], max_words=params["max_words"],
                                 max_situation=params["max_situation"], max_response=params["max_response"])
           for s in ("train", "test")}
    train, test = enc["train"], enc["test"]
    if params["max_test"] is not None:
        test = {k: v[: params["max_test"]] for k, v in test.items()}
    g0 = _device.generator(seed * 1_000_003 + 5)
    if data["glove"] is not None:
        emb, found = ed.read_glove(data["glove"], data["vocab"], params["d"], g0)
    else:
        emb, found = None, 0
    rows, examples = [], {}
    n = train["emotion"].shape[0]
    for s in seed_list(params["seeds"]):
        for variant in VARIANTS:
            g = _device.generator(seed * 1_000_003 + 7_919 * s + 2)
            model = iamm.DialogueModel(len(data["vocab"]), len(data["emotions"]), d=params["d"],
                                       heads=params["heads"], key_depth=params["key_depth"],
                                       filter_size=params["filter_size"], topk=params["topk"],
                                       associative=variant == "iamm", generator=g, embeddings=emb).to(device, dtype)

            def loss_fn(idx, model=model):
                b = {k: v[idx].to(device) for k, v in train.items()}
                logits, dec = model(b["context"], b["situation"], b["prev"])
                return (F.cross_entropy(dec.flatten(0, 1), b["response"].flatten(), ignore_index=ed.PAD)
                        + F.cross_entropy(logits, b["emotion"]))

            losses = iamm.fit(model, n, loss_fn, batch_size=params["batch_size"], steps=params["steps"],
                              lr=params["lr"], warmup=params["warmup"], generator=g,
                              progress=progress, desc=f"{NAME} {variant} seed {s}")
            k = params["log_every"]
            rows += [{"kind": "loss", "variant": variant, "seed": s, "step": min(i + k, len(losses)),
                      "value": sum(losses[i:i + k]) / len(losses[i:i + k])} for i in range(0, len(losses), k)]
            scores, responses = evaluate(model, test, device, params["eval_batch"], params["max_response"])
            rows += [{"kind": "metric", "variant": variant, "seed": s, "metric": m, "value": scores[m],
                      "status": "run"} for m in METRICS]
            if not examples.get(variant):
                examples[variant] = [" ".join(data["vocab"][t] for t in r) for r in responses[:5]]
    extras = {"examples": examples, "glove_words_found": found, "vocab_size": len(data["vocab"]),
              "emotions": len(data["emotions"]), "n_train": n, "n_test": int(test["emotion"].shape[0]),
              "skipped_lines": data["skipped_lines"], "files": data["files"]}
    return pd.DataFrame(rows), extras


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run when the data are supplied (:func:`run`), else the ``not run`` table (:func:`not_run_table`).
    The figure is in :mod:`.empathetic_dialogues_figure`."""
    tr = begin_target(config, NAME, threads)
    params = tr.params
    key = f"experiments.{NAME}.{config['scale']}"
    if not supplied(params):
        return Runs(not_run_table(params), {"supplied": False})
    loaded = ed.load(params, key)
    table, extras = run(loaded, params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(table, {"supplied": True, **extras})
