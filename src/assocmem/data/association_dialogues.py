"""The synthetic association-dialogue task built from the USF free-association norms (IAMM stand-in).

**Synthetic data, not EmpatheticDialogues.** The spec's offline stand-in (``../shared/papers/iamm.md``, section 2)
for the IAMM experiments: it tests what IAMM claims to add, finding associations across utterances.

- Vocabulary (:func:`vocabulary`): the USF cues (every word of the prepared edge list that was itself a cue; 5,018),
  or the anchors, their associates and a seeded sample of the other cues; token ``i + 1`` for the ``i``-th word in
  sorted order (``0`` is the pad).
- Strong associates of a cue: the cues ``a`` with forward strength ``P(a | w) >= threshold``.
- Classes (:func:`choose_classes`): ``n_classes`` disjoint anchor sets of ``anchors_per_class`` cues, each anchor with
  at least one strong associate. Anchors are drawn in a seeded random order and kept only when neither they nor any of
  their associates is already an anchor or an associate, so every (anchor, associate) pair names one class and no
  associate belongs to two anchors.
- A dialogue (:func:`make_dialogues`): ``utterances`` utterances of ``words`` words. Its class ``c`` is uniform; one
  pair (anchor ``w`` of ``c``, strong associate ``a`` of ``w``) is planted, ``w`` in utterance ``i`` and ``a`` in a
  later utterance ``j > i`` (``(i, j)`` uniform over the ordered pairs). ``distractor_anchors`` anchors of other
  classes (distinct classes) are planted unpaired in uniform utterances; with probability ``reversed_fraction`` a
  *reversed pair* of yet another class is planted as well: an associate in utterance ``i'`` and its anchor in a later
  utterance ``j' > i'`` (the wrong order, which by the definition below does not make the class; a project addition
  that makes the spec's "later utterance" condition matter). Every other word is a filler drawn uniformly from the
  vocabulary without the anchors (associates may occur as fillers). Positions within an utterance are uniform.
- The label is the class ``c`` iff an anchor of ``c`` occurs in one utterance and one of its strong associates in a
  later one. Dialogues in which this holds for any class other than the planted one (a filler completing a
  distractor's pair) are rejected and redrawn.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch

from .mirror import DataError


def strong_associates(path: str | os.PathLike[str], threshold: float) -> tuple[list[str], dict[str, list[str]]]:
    """The cues of the prepared USF edge list (sorted) and, for each cue with any, its strong associates (cues with
    forward strength ``>= threshold``, sorted)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: not found; expected the prepared USF edge list (python -m assocmem.data usf)")
    df = pd.read_csv(p, keep_default_na=False, na_filter=False, dtype={"source": str, "target": str})
    if list(df.columns) != ["source", "target", "weight"]:
        raise DataError(f"{p}: header {list(df.columns)}, expected ['source', 'target', 'weight']")
    cues = sorted(set(df["source"]))
    strong = df[(df["weight"] >= threshold) & df["target"].isin(set(cues)) & (df["target"] != df["source"])]
    assoc: dict[str, list[str]] = {}
    for s, t in zip(strong["source"], strong["target"]):
        assoc.setdefault(s, []).append(t)
    return cues, {k: sorted(v) for k, v in assoc.items()}


def choose_classes(cues: list[str], assoc: dict[str, list[str]], n_classes: int, anchors_per_class: int,
                   generator: torch.Generator) -> list[list[tuple[str, list[str]]]]:
    """``n_classes`` classes, each a list of ``(anchor, strong associates)`` (see the module docstring)."""
    candidates = sorted(assoc)
    order = torch.randperm(len(candidates), generator=generator).tolist()
    used: set[str] = set()
    chosen: list[tuple[str, list[str]]] = []
    need = n_classes * anchors_per_class
    for i in order:
        w = candidates[i]
        if w in used or any(a in used for a in assoc[w]):
            continue
        chosen.append((w, assoc[w]))
        used.add(w)
        used.update(assoc[w])
        if len(chosen) == need:
            break
    if len(chosen) < need:
        raise DataError(f"only {len(chosen)} disjoint anchors with strong associates found, {need} needed")
    return [chosen[c * anchors_per_class:(c + 1) * anchors_per_class] for c in range(n_classes)]


def vocabulary(cues: list[str], classes: list[list[tuple[str, list[str]]]], size: int | None,
               generator: torch.Generator) -> list[str]:
    """The task's vocabulary (sorted): every cue (``size`` null), or the anchors and their associates and a seeded
    uniform sample of the other cues, ``size`` words in all."""
    if size is None:
        return list(cues)
    planted = {w for cls in classes for a, assoc in cls for w in (a, *assoc)}
    if size < len(planted):
        raise ValueError(f"vocabulary of {size} words cannot hold the {len(planted)} anchors and associates")
    rest = [w for w in cues if w not in planted]
    pick = torch.randperm(len(rest), generator=generator)[: size - len(planted)].tolist()
    return sorted(planted | {rest[i] for i in pick})


class TaskTables:
    """Token-id tables of a class set over a vocabulary: anchors, pairs and the association matrix."""

    def __init__(self, vocab: list[str], classes: list[list[tuple[str, list[str]]]]):
        ids = {w: i + 1 for i, w in enumerate(vocab)}
        self.vocab_size = len(vocab) + 1
        self.n_classes = len(classes)
        self.anchor_ids = torch.tensor([ids[w] for cls in classes for w, _ in cls])  # (K,)
        self.anchor_class = torch.tensor([c for c, cls in enumerate(classes) for _ in cls])  # (K,)
        self.per_class = len(classes[0])
        pairs = [[(ids[w], ids[a]) for w, assoc in cls for a in assoc] for cls in classes]
        self.n_pairs = torch.tensor([len(p) for p in pairs])
        width = int(self.n_pairs.max())
        self.pairs = torch.zeros(self.n_classes, width, 2, dtype=torch.long)
        for c, p in enumerate(pairs):
            self.pairs[c, : len(p)] = torch.tensor(p)
        self.is_assoc = torch.zeros(len(self.anchor_ids), self.vocab_size, dtype=torch.bool)  # anchor k -> word
        k = 0
        for cls in classes:
            for _, assoc in cls:
                self.is_assoc[k, [ids[a] for a in assoc]] = True
                k += 1
        anchor_of = torch.full((self.vocab_size,), -1, dtype=torch.long)
        anchor_of[self.anchor_ids] = torch.arange(len(self.anchor_ids))
        self.anchor_of = anchor_of
        filler = torch.ones(self.vocab_size, dtype=torch.bool)
        filler[0] = False
        filler[self.anchor_ids] = False
        self.fillers = torch.nonzero(filler).flatten()


def completed_classes(tokens: torch.Tensor, tables: TaskTables) -> torch.Tensor:
    """``(N, classes)`` boolean: class ``c`` is completed (an anchor of ``c`` in one utterance, one of its strong
    associates in a later one) in each dialogue ``tokens`` ``(N, T, L)``."""
    K = len(tables.anchor_ids)
    aid = tables.anchor_of[tokens]  # (N, T, L)
    present = torch.zeros(*tokens.shape[:2], K + 1, dtype=torch.bool)
    present.scatter_(2, (aid + 1).clamp(min=0), True)  # slot 0 = not an anchor
    present = present[..., 1:]  # (N, T, K)
    has_assoc = tables.is_assoc[:, tokens].any(-1).permute(1, 2, 0)  # (N, T, K)
    later = has_assoc.flip(1).cummax(1).values.flip(1)  # associate at t' >= t
    later = torch.cat([later[:, 1:], torch.zeros_like(later[:, :1])], dim=1)  # strictly later
    done = (present & later).any(1)  # (N, K)
    out = torch.zeros(tokens.shape[0], tables.n_classes, dtype=torch.bool)
    for c in range(tables.n_classes):
        out[:, c] = done[:, tables.anchor_class == c].any(-1)
    return out


def _draw(n: int, tables: TaskTables, T: int, L: int, n_distract: int, reversed_fraction: float,
          g: torch.Generator) -> dict[str, torch.Tensor]:
    """One round of candidate dialogues (before rejection)."""
    C = tables.n_classes
    label = torch.randint(C, (n,), generator=g)
    # other classes in a random order per dialogue: distractor anchors first, then the reversed pair
    keys = torch.rand(n, C, generator=g)
    keys[torch.arange(n), label] = 2.0
    others = keys.argsort(-1)[:, : C - 1]

    def pick_pair(cls):
        r = (torch.rand(cls.shape, generator=g) * tables.n_pairs[cls]).long()
        return tables.pairs[cls, r]  # (n, 2): anchor, associate

    ij = torch.tensor([(i, j) for i in range(T) for j in range(i + 1, T)])
    pair = pick_pair(label)
    pu = ij[torch.randint(len(ij), (n,), generator=g)]
    items_tok, items_utt = [pair[:, 0], pair[:, 1]], [pu[:, 0], pu[:, 1]]
    for d in range(n_distract):
        cls = others[:, d]
        r = torch.randint(tables.per_class, (n,), generator=g)
        items_tok.append(tables.anchor_ids[cls * tables.per_class + r])
        items_utt.append(torch.randint(T, (n,), generator=g))
    rev = torch.rand(n, generator=g) < reversed_fraction
    rpair = pick_pair(others[:, min(n_distract, C - 2)])  # used only where rev
    ru = ij[torch.randint(len(ij), (n,), generator=g)]
    items_tok += [rpair[:, 1], rpair[:, 0]]  # associate first, anchor later
    items_utt += [ru[:, 0], ru[:, 1]]
    tok = torch.stack(items_tok, 1)
    utt = torch.stack(items_utt, 1)
    use = torch.ones_like(tok, dtype=torch.bool)
    use[:, -2:] = rev[:, None]
    # positions: the m-th item placed in an utterance takes the m-th entry of a random permutation of its slots
    same = (utt[:, :, None] == utt[:, None, :]) & use[:, None, :]
    rank = (same & torch.ones(tok.shape[1], tok.shape[1], dtype=torch.bool).tril(-1)).sum(-1)
    if int(rank.max()) >= L:
        raise ValueError(f"too many planted words for utterances of {L} words")
    perm = torch.rand(n, T, L, generator=g).argsort(-1)
    pos = perm[torch.arange(n)[:, None], utt, rank]
    tokens = tables.fillers[torch.randint(len(tables.fillers), (n, T, L), generator=g)]
    rows = torch.arange(n)[:, None].expand_as(tok)
    tokens[rows[use], utt[use], pos[use]] = tok[use]
    pair_pos = torch.stack([utt[:, 0], pos[:, 0], utt[:, 1], pos[:, 1]], 1)
    return {"tokens": tokens, "label": label, "pair_pos": pair_pos, "reversed": rev}


def make_dialogues(tables: TaskTables, n: int, *, utterances: int, words: int, distractor_anchors: int,
                   reversed_fraction: float, generator: torch.Generator,
                   max_rounds: int = 50) -> dict[str, torch.Tensor | int]:
    """``n`` accepted dialogues: ``tokens`` ``(n, T, L)``, ``label`` ``(n,)``, ``pair_pos`` ``(n, 4)`` (anchor
    utterance and position, associate utterance and position of the planted pair), ``reversed`` ``(n,)`` (a reversed
    distractor pair was planted) and ``rejected`` (candidates redrawn because another class was completed)."""
    if distractor_anchors + (1 if reversed_fraction > 0 else 0) > tables.n_classes - 1:
        raise ValueError("more distractor classes than other classes")
    parts: list[dict[str, torch.Tensor]] = []
    got = rejected = 0
    for _ in range(max_rounds):
        cand = _draw(max(n - got, 1) + max(n - got, 1) // 8 + 8, tables, utterances, words, distractor_anchors,
                     reversed_fraction, generator)
        done = completed_classes(cand["tokens"], tables)
        ok = done[torch.arange(len(done)), cand["label"]] & (done.sum(-1) == 1)
        rejected += int((~ok).sum())
        parts.append({k: v[ok] for k, v in cand.items()})
        got += int(ok.sum())
        if got >= n:
            break
    else:
        raise RuntimeError(f"only {got} of {n} dialogues accepted after {max_rounds} rounds")
    out: dict[str, torch.Tensor | int] = {k: torch.cat([p[k] for p in parts])[:n] for k in parts[0]}
    out["rejected"] = rejected
    return out
