"""User-supplied EmpatheticDialogues and GloVe files for the IAMM paper-scale run (nothing is downloaded).

EmpatheticDialogues (Rashkin et al. 2019) and the GloVe vectors are not available offline; the authors distribute
them through cloud-drive links, so the pipeline never fetches them. A user who has them sets the paths in the config
(``experiments.iamm_empathetic_dialogues.<scale>.ed_dir`` and ``glove``; ``sha256`` optionally pins each file).

Formats read
------------
EmpatheticDialogues, the release's ``train.csv``, ``valid.csv`` and ``test.csv`` in ``ed_dir``: a header line
``conv_id,utterance_idx,context,prompt,speaker_idx,utterance,...`` then one line per utterance; fields are split on
commas (the release writes commas inside text as ``_comma_``, restored here); the fields after the sixth (self-
evaluation, tags) are ignored; a line with fewer than six fields is skipped and counted. ``context`` is the emotion
label (32 in the release), ``prompt`` the situation. COMET inferences are not read (the project's model has no
commonsense input).

GloVe, a text file of lines ``word v_1 ... v_D``.

Examples (:func:`dialogue_examples`): in each conversation (utterances in ``utterance_idx`` order) every listener
turn ``k = 1, 3, 5, ...`` is one example: the context is utterances ``0 .. k-1`` (the last ``max_utterances``), the
response utterance ``k``, the situation the prompt and the label the emotion (the CEM/IAMM data convention).
Tokens: lower-cased words and single punctuation marks.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import torch

from .mirror import DataError, sha256_file

SPLITS = ("train", "valid", "test")
FIELDS = ("conv_id", "utterance_idx", "context", "prompt", "speaker_idx", "utterance")
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def check_file(path: str | os.PathLike[str] | None, what: str, key: str, sha256: str | None = None) -> Path:
    """``path`` as a :class:`Path`, after checking it exists and, when ``sha256`` is given, its checksum; a
    :class:`DataError` naming the file and the config key otherwise."""
    if path is None:
        raise DataError(f"{what}: no path set (config key {key})")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what}: {p} not found (config key {key}); the file must be supplied by the user, "
                        f"nothing is downloaded")
    if sha256:
        got = sha256_file(p)
        if got.lower() != sha256.lower():
            raise DataError(f"{what}: {p} has SHA-256 {got}, expected {sha256} (config key sha256)")
    return p


def read_ed_split(path: Path) -> tuple[list[dict], int]:
    """The conversations of one split: dicts ``conv_id``, ``emotion``, ``situation``, ``utterances`` (in
    ``utterance_idx`` order); and the number of malformed lines skipped."""
    convs: dict[str, dict] = {}
    skipped = 0
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split(",")
        if tuple(header[: len(FIELDS)]) != FIELDS:
            raise DataError(f"{path}: header {header[:len(FIELDS)]}, expected {list(FIELDS)}")
        for line in fh:
            parts = line.rstrip("\n").split(",")
            if len(parts) < len(FIELDS):
                skipped += 1
                continue
            conv_id, idx, emotion, prompt, _speaker, utt = parts[: len(FIELDS)]
            try:
                idx = int(idx)
            except ValueError:
                skipped += 1
                continue
            c = convs.setdefault(conv_id, {"conv_id": conv_id, "emotion": emotion.strip(),
                                           "situation": prompt.replace("_comma_", ","), "turns": []})
            c["turns"].append((idx, utt.replace("_comma_", ",")))
    out = []
    for c in convs.values():
        c["utterances"] = [u for _, u in sorted(c.pop("turns"))]
        out.append(c)
    return out, skipped


def dialogue_examples(convs: list[dict], max_utterances: int) -> list[dict]:
    """One example per listener turn (module docstring): ``context`` (token lists), ``response``, ``situation``,
    ``emotion``."""
    out = []
    for c in convs:
        utts = [tokenize(u) for u in c["utterances"]]
        for k in range(1, len(utts), 2):
            out.append({"context": utts[max(0, k - max_utterances):k], "response": utts[k],
                        "situation": tokenize(c["situation"]), "emotion": c["emotion"]})
    return out


def build_vocab(examples: list[dict], max_vocab: int | None) -> list[str]:
    """Special tokens, then the training words by decreasing count (ties alphabetical), at most ``max_vocab`` in all."""
    counts: Counter[str] = Counter()
    for e in examples:
        for seq in (*e["context"], e["response"], e["situation"]):
            counts.update(seq)
    words = sorted(counts, key=lambda w: (-counts[w], w))
    vocab = list(SPECIALS) + words
    return vocab if max_vocab is None else vocab[:max_vocab]


def encode_examples(examples: list[dict], vocab: list[str], emotions: list[str], *, max_utterances: int,
                    max_words: int, max_situation: int, max_response: int) -> dict[str, torch.Tensor]:
    """Padded id tensors: ``context`` ``(N, T, L)``, ``situation`` ``(N, Ls)``, ``response`` ``(N, Ly + 1)`` (the
    response then ``</s>``), ``prev`` (``<s>`` then the response: the decoder's input) and ``emotion`` ``(N,)``."""
    ids = {w: i for i, w in enumerate(vocab)}
    emo = {e: i for i, e in enumerate(emotions)}
    N = len(examples)

    def enc(words, n):
        return [ids.get(w, UNK) for w in words[:n]]

    ctx = torch.full((N, max_utterances, max_words), PAD, dtype=torch.long)
    sit = torch.full((N, max_situation), PAD, dtype=torch.long)
    resp = torch.full((N, max_response + 1), PAD, dtype=torch.long)
    prev = torch.full((N, max_response + 1), PAD, dtype=torch.long)
    lab = torch.zeros(N, dtype=torch.long)
    for i, e in enumerate(examples):
        for t, u in enumerate(e["context"][-max_utterances:]):
            w = enc(u, max_words)
            ctx[i, t, : len(w)] = torch.tensor(w, dtype=torch.long)
        s = enc(e["situation"], max_situation)
        sit[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        r = enc(e["response"], max_response)
        resp[i, : len(r) + 1] = torch.tensor(r + [EOS], dtype=torch.long)
        prev[i, : len(r) + 1] = torch.tensor([BOS] + r, dtype=torch.long)
        lab[i] = emo[e["emotion"]]
    return {"context": ctx, "situation": sit, "response": resp, "prev": prev, "emotion": lab}


def read_glove(path: Path, vocab: list[str], dim: int, generator: torch.Generator) -> tuple[torch.Tensor, int]:
    """``(len(vocab), dim)`` embeddings: GloVe rows for the words found, ``N(0, 1/dim)`` rows otherwise (drawn from
    ``generator``); and the number of words found. A line of another dimension is an error."""
    ids = {w: i for i, w in enumerate(vocab)}
    emb = torch.randn(len(vocab), dim, generator=generator) / dim**0.5
    found = 0
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if word not in ids:
                continue
            vals = rest.split(" ")
            if len(vals) != dim:
                raise DataError(f"{path}, line {lineno}: {len(vals)} values, expected {dim} (the model's d)")
            emb[ids[word]] = torch.tensor([float(v) for v in vals])
            found += 1
    emb[PAD] = 0.0
    return emb, found


def load(params: dict, key: str) -> dict:
    """Check and read the supplied files named in ``params`` (``ed_dir``, ``glove`` (may be null: random word
    vectors), ``sha256``; ``key`` is the config block, for messages): examples of the three splits, the vocabulary,
    the emotion labels, the GloVe path and the number of malformed lines skipped per split."""
    sums = params.get("sha256") or {}
    ed_dir = params["ed_dir"]
    if ed_dir is None or not Path(ed_dir).is_dir():
        raise DataError(f"EmpatheticDialogues: folder {ed_dir} not found (config key {key}.ed_dir)")
    files = {s: check_file(Path(ed_dir) / f"{s}.csv", f"EmpatheticDialogues {s} split", f"{key}.ed_dir",
                           sums.get(f"{s}.csv")) for s in SPLITS}
    glove = (None if params["glove"] is None
             else check_file(params["glove"], "GloVe vectors", f"{key}.glove", sums.get("glove")))
    splits, skipped = {}, {}
    for s, p in files.items():
        convs, skipped[s] = read_ed_split(p)
        splits[s] = dialogue_examples(convs, params["max_utterances"])
        if not splits[s]:
            raise DataError(f"{p}: no dialogue with a listener turn")
    emotions = sorted({e["emotion"] for s in SPLITS for e in splits[s]})
    vocab = build_vocab(splits["train"], params["max_vocab"])
    return {"splits": splits, "vocab": vocab, "emotions": emotions, "skipped_lines": skipped, "glove": glove,
            "files": {s: str(p) for s, p in files.items()}}
