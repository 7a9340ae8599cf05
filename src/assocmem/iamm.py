"""IAMM: the iterative associative memory encoder of Yang et al. (ACL 2024), at a small size, and its baseline.

Yang, Ren, Wang, Sun, Chen, Zhu & Liao (2024), *An Iterative Associative Memory Model for Empathetic Response
Generation* (arXiv 2402.17959); the project's spec is ``../shared/papers/iamm.md``. Plain ``torch.nn``; every weight
is drawn from a seeded CPU generator, so a seed gives the same model on every device and a CPU rerun is bit-identical.

A dialogue is a batch of token ids ``(B, T, L)``: ``T`` utterances of ``L`` words, ``PAD = 0`` marking absent words
(an utterance of pads is an absent utterance). Both models share

- the **encoder**: word embeddings and one pre-norm transformer layer (``heads`` heads of total key/value depth
  ``key_depth``, a ReLU filter of ``filter_size``) applied to every utterance on its own (first-order attention within
  each utterance only), all utterances as one batch;
- the **classifier**: ``Linear(d, d) - ReLU - Linear(d, classes)`` on the dialogue representation ``h``.

The **baseline** (``associative=False``) pools: ``h`` = mean over utterances of the mean of their encoded words.

**IAMM** (``associative=True``) reads the utterances in order, ``t = 0 .. T-1`` (the iterative association):

1. first-order interaction maps between the words ``U`` ``(L, d)`` of utterance ``t`` and each source ``X``:
   ``A_X = softmax(U W_q^X (X W_k^X)^T / sqrt(d_k))`` (per head; a learned *null* key with a zero value lets a word
   attend to nothing), and the interaction representations ``R_X = A_X X W_v^X``. Sources: the utterance itself, the
   situation (when one is given; the synthetic stand-in has none), the dialogue history (the encoded words of
   utterances ``< t``) and the memory of the associated words selected so far;
2. second-order attention over the interaction representations: the ``L * S`` items ``z_(i, X) = R_X[i] + e_X``
   (``e_X`` a learned source embedding) attend to each other,
   ``G = softmax(Z W_q2 (Z W_k2)^T / sqrt(d_k))``; a word's score is the total second-order weight its ``S`` items
   receive, ``s_i = sum_X sum_q G[q, (i, X)]``, normalised over the words (``sum_i s_i = 1``);
3. the fused words ``F = LN(U + W_o sum_X (G Z W_v2)[(i, X)])``; the utterance's vector ``f_t = sum_i s_i F_i``; the
   ``topk`` highest-scoring words are the utterance's *associated words*, written into the memory as ``F_i`` scaled
   by ``s_i * L`` (so that the selection is trained through the scores);

and ``h`` is the mean of the ``f_t``. This second-order formula is the project's interpretation (the spec marks the
paper's exact formula as unverified): the paper's rows of the interaction maps are used through the representations
``R_X`` they select, which live in one space whatever the source's length.

For the paper-scale run on EmpatheticDialogues, :class:`ResponseDecoder` adds a one-layer transformer decoder
(causal self-attention, cross-attention to the encoded or fused context words, the situation's words and ``h``) with
greedy decoding; the loss is the response's token NLL plus the emotion cross-entropy (CEM-style). Dist-n
(:func:`distinct_n`) is computed over the whole generated test set (corpus level), not per response.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

PAD = 0


def _xavier(lin: nn.Linear, g: torch.Generator) -> nn.Linear:
    nn.init.xavier_uniform_(lin.weight, generator=g)
    if lin.bias is not None:
        nn.init.zeros_(lin.bias)
    return lin


class Attention(nn.Module):
    """Multi-head scaled dot-product attention of queries ``x`` ``(N, Lq, d)`` on keys/values ``y`` ``(N, Lk, d)``.

    ``mask`` ``(N, Lk)`` (or ``(N, Lq, Lk)``, per query) marks valid keys; ``causal`` masks keys after the query;
    ``null`` adds a learned key with a zero value (a query may attend to nothing). Returns the output ``(N, Lq, d)``
    and the map averaged over heads ``(N, Lq, Lk [+ 1 for the null slot, first])``. A query with no valid key gets a
    zero output.
    """

    def __init__(self, d: int, heads: int, key_depth: int, g: torch.Generator, *, null: bool = False):
        super().__init__()
        if key_depth % heads:
            raise ValueError(f"key_depth {key_depth} is not a multiple of heads {heads}")
        self.heads, self.dk = heads, key_depth // heads
        self.q = _xavier(nn.Linear(d, key_depth, bias=False), g)
        self.k = _xavier(nn.Linear(d, key_depth, bias=False), g)
        self.v = _xavier(nn.Linear(d, key_depth, bias=False), g)
        self.o = _xavier(nn.Linear(key_depth, d, bias=False), g)
        self.null = nn.Parameter(torch.randn(heads, 1, self.dk, generator=g) / math.sqrt(self.dk)) if null else None

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        return t.unflatten(-1, (self.heads, self.dk)).transpose(-3, -2)  # (N, H, L, dk)

    def forward(self, x, y, mask=None, causal: bool = False):
        q, k, v = self._split(self.q(x)), self._split(self.k(y)), self._split(self.v(y))
        valid = torch.ones(y.shape[:-1], dtype=torch.bool, device=y.device) if mask is None else mask
        valid = (valid[:, None, None, :] if valid.dim() == 2 else valid[:, None]).expand(-1, 1, x.shape[-2], -1)
        if causal:
            valid = valid & torch.ones(x.shape[-2], y.shape[-2], dtype=torch.bool, device=y.device).tril()
        if self.null is not None:
            k = torch.cat([self.null.to(k.dtype).expand(k.shape[0], -1, -1, -1), k], dim=-2)
            v = torch.cat([torch.zeros_like(v[..., :1, :]), v], dim=-2)
            valid = torch.cat([torch.ones_like(valid[..., :1]), valid], dim=-1)
        logits = (q @ k.transpose(-1, -2)) / math.sqrt(self.dk)
        logits = logits.masked_fill(~valid, float("-inf"))
        att = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # rows with no valid key -> 0
        out = (att @ v).transpose(-3, -2).flatten(-2)
        return self.o(out), att.mean(1)


class FeedForward(nn.Module):
    def __init__(self, d: int, filter_size: int, g: torch.Generator):
        super().__init__()
        self.a, self.b = _xavier(nn.Linear(d, filter_size), g), _xavier(nn.Linear(filter_size, d), g)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer: self-attention within each sequence, then the filter; a final LayerNorm."""

    def __init__(self, d: int, heads: int, key_depth: int, filter_size: int, g: torch.Generator):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.att = Attention(d, heads, key_depth, g)
        self.ff = FeedForward(d, filter_size, g)

    def forward(self, x, mask):
        y = self.ln1(x)
        x = x + self.att(y, y, mask)[0]
        x = x + self.ff(self.ln2(x))
        return self.ln3(x) * mask[..., None]


class IAMMEncoder(nn.Module):
    """The encoder, the dialogue representation and the emotion/class head; IAMM or its baseline (module docstring).

    ``embeddings`` ``(vocab, d)``: initial word vectors (e.g. GloVe); random ``N(0, 1)`` rows otherwise.
    """

    def __init__(self, vocab: int, n_classes: int, *, d: int = 64, heads: int = 2, key_depth: int = 64,
                 filter_size: int = 128, topk: int = 2, associative: bool = True, situation: bool = False,
                 generator: torch.Generator, embeddings: torch.Tensor | None = None):
        super().__init__()
        g = generator
        self.d, self.topk, self.associative, self.situation = d, topk, associative, situation
        emb = torch.randn(vocab, d, generator=g) if embeddings is None else embeddings.float().clone()
        emb[PAD] = 0.0
        self.embed = nn.Embedding(vocab, d, padding_idx=PAD, _weight=emb)
        self.encoder = EncoderLayer(d, heads, key_depth, filter_size, g)
        if associative:
            self.sources = ["self"] + (["situation"] if situation else []) + ["history", "memory"]
            self.first = nn.ModuleDict({s: Attention(d, heads, key_depth, g, null=True) for s in self.sources})
            self.source_embed = nn.Parameter(torch.randn(len(self.sources), d, generator=g) / math.sqrt(d))
            self.second = Attention(d, heads, key_depth, g)
            self.ln_fuse = nn.LayerNorm(d)
        self.head = nn.Sequential(_xavier(nn.Linear(d, d), g), nn.ReLU(), _xavier(nn.Linear(d, n_classes), g))

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded words ``(..., L, d)`` of every sequence of ``tokens`` ``(..., L)`` on its own, and the word mask."""
        mask = tokens != PAD
        shape = tokens.shape
        x = self.encoder(self.embed(tokens.reshape(-1, shape[-1])), mask.reshape(-1, shape[-1]))
        return x.reshape(*shape, self.d), mask

    def forward(self, tokens: torch.Tensor, situation: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``tokens`` ``(B, T, L)`` (and ``situation`` ``(B, Ls)`` for a model built with ``situation=True``).

        Returns ``logits`` ``(B, classes)``, ``h`` ``(B, d)``, ``words`` ``(B, T, L, d)`` (encoded, for the baseline;
        fused, for IAMM) and ``word_mask`` ``(B, T, L)``; IAMM also ``scores`` ``(B, T, L)`` (each utterance's
        normalised second-order scores) and ``selected`` ``(B, T, topk)`` (the positions of its associated words; a
        position of a pad when the utterance has fewer than ``topk`` words)."""
        U, wmask = self.encode(tokens)
        umask = wmask.any(-1)  # (B, T) utterance present
        n_utt = umask.sum(-1, keepdim=True).clamp(min=1)
        out: dict[str, torch.Tensor] = {"word_mask": wmask}
        if not self.associative:
            f = (U * wmask[..., None]).sum(-2) / wmask.sum(-1, keepdim=True).clamp(min=1)
            out["words"] = U
            out["h"] = (f * umask[..., None]).sum(1) / n_utt
            out["logits"] = self.head(out["h"])
            return out
        B, T, L = tokens.shape
        n_src = len(self.sources)
        # First-order maps of the sources that do not depend on the iteration, for every utterance at once: the
        # utterance itself, the situation, and the history (the words of the utterances before the query's).
        flat, fmask = U.reshape(B, T * L, self.d), wmask.reshape(B, T * L)
        fixed = {"self": self.first["self"](U.reshape(B * T, L, self.d), U.reshape(B * T, L, self.d),
                                            wmask.reshape(B * T, L))[0].reshape(B, T, L, self.d)}
        utt = torch.arange(T, device=tokens.device).repeat_interleave(L)
        before = (utt[None, :] < utt[:, None])[None] & fmask[:, None, :]  # (B, TL query, TL key)
        fixed["history"] = self.first["history"](flat, flat, before)[0].reshape(B, T, L, self.d)
        if self.situation:
            if situation is None:
                raise ValueError("this model was built with a situation source: pass situation tokens")
            S_enc, S_mask = self.encode(situation)
            fixed["situation"] = self.first["situation"](flat, S_enc, S_mask)[0].reshape(B, T, L, self.d)
        mem = U.new_zeros(B, 0, self.d)
        mem_mask = wmask.new_zeros(B, 0)
        fs, fused, scores, selected = [], [], [], []
        for t in range(T):  # the iterative association: the memory depends on the utterances before
            u, um = U[:, t], wmask[:, t]
            R = torch.stack([self.first["memory"](u, mem, mem_mask)[0] if s == "memory" else fixed[s][:, t]
                             for s in self.sources], dim=2)  # (B, L, S, d)
            Z = (R + self.source_embed).reshape(B, L * n_src, self.d)
            zmask = um[:, :, None].expand(B, L, n_src).reshape(B, L * n_src)
            O, G = self.second(Z, Z, zmask)  # G: (B, LS, LS); the rows of absent queries are dropped below
            received = (G * zmask[..., None]).sum(-2).reshape(B, L, n_src).sum(-1) * um
            s = received / received.sum(-1, keepdim=True).clamp(min=1e-12)
            Fw = self.ln_fuse(u + O.reshape(B, L, n_src, self.d).sum(2)) * um[..., None]
            fs.append((s[..., None] * Fw).sum(1))
            k = min(self.topk, L)
            idx = s.masked_fill(~um, -1.0).topk(k, dim=-1).indices  # (B, k)
            gate = (s.gather(1, idx) * um.sum(-1, keepdim=True))[..., None]
            mem = torch.cat([mem, Fw.gather(1, idx[..., None].expand(B, k, self.d)) * gate], dim=1)
            mem_mask = torch.cat([mem_mask, um.gather(1, idx)], dim=1)
            fused.append(Fw)
            scores.append(s)
            selected.append(idx)
        f = torch.stack(fs, dim=1)  # (B, T, d)
        out["h"] = (f * umask[..., None]).sum(1) / n_utt
        out["logits"] = self.head(out["h"])
        out["words"] = torch.stack(fused, dim=1)
        out["scores"] = torch.stack(scores, dim=1)
        out["selected"] = torch.stack(selected, dim=1)
        return out


def planted_pair_hits(selected: torch.Tensor, pair_pos: torch.Tensor) -> dict[str, torch.Tensor]:
    """Whether the associated words selected in each dialogue (``selected`` ``(B, T, k)`` word positions) contain
    the planted anchor and associate (``pair_pos`` ``(B, 4)``: anchor utterance and position, associate utterance and
    position). Returns boolean ``(B,)`` tensors ``anchor``, ``associate`` and ``pair`` (both)."""
    rows = torch.arange(selected.shape[0], device=selected.device)

    def chosen(u, p):
        return (selected[rows, u] == p[:, None]).any(-1)

    a = chosen(pair_pos[:, 0], pair_pos[:, 1])
    b = chosen(pair_pos[:, 2], pair_pos[:, 3])
    return {"anchor": a, "associate": b, "pair": a & b}


# ----------------------------------------------------------------------------- response decoder (paper scale)


class ResponseDecoder(nn.Module):
    """One-layer transformer decoder over the context words, the situation's words and ``h`` (shared embeddings).

    No pointer-generator (the paper's CEM-family decoder copies from the context; the project's does not)."""

    def __init__(self, embed: nn.Embedding, *, heads: int, key_depth: int, filter_size: int, g: torch.Generator):
        super().__init__()
        d = embed.embedding_dim
        self.embed = embed
        self.ln1, self.ln2, self.ln3, self.ln4 = (nn.LayerNorm(d) for _ in range(4))
        self.self_att = Attention(d, heads, key_depth, g)
        self.cross = Attention(d, heads, key_depth, g)
        self.ff = FeedForward(d, filter_size, g)
        self.pos = nn.Parameter(torch.randn(512, d, generator=g) * 0.02)
        self.out = _xavier(nn.Linear(d, embed.num_embeddings), g)

    def forward(self, prev: torch.Tensor, bank: torch.Tensor, bank_mask: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``(B, Ly, vocab)`` for the shifted response ``prev`` ``(B, Ly)`` attending to ``bank``."""
        x = self.embed(prev) + self.pos[: prev.shape[1]]
        y = self.ln1(x)
        x = x + self.self_att(y, y, prev != PAD, causal=True)[0]
        x = x + self.cross(self.ln2(x), bank, bank_mask)[0]
        x = x + self.ff(self.ln3(x))
        return self.out(self.ln4(x))


class DialogueModel(nn.Module):
    """IAMM (or the baseline) encoder with the emotion head and the response decoder (paper-scale run)."""

    def __init__(self, vocab: int, n_classes: int, *, d: int, heads: int, key_depth: int, filter_size: int, topk: int,
                 associative: bool, generator: torch.Generator, embeddings: torch.Tensor | None = None):
        super().__init__()
        self.encoder = IAMMEncoder(vocab, n_classes, d=d, heads=heads, key_depth=key_depth, filter_size=filter_size,
                                   topk=topk, associative=associative, situation=True, generator=generator,
                                   embeddings=embeddings)
        self.decoder = ResponseDecoder(self.encoder.embed, heads=heads, key_depth=key_depth, filter_size=filter_size,
                                       g=generator)

    def bank(self, enc: dict, situation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the decoder attends to: context words, situation words and ``h``, with their mask."""
        B = situation.shape[0]
        S, smask = self.encoder.encode(situation)
        words = enc["words"].reshape(B, -1, self.encoder.d)
        mask = enc["word_mask"].reshape(B, -1)
        bank = torch.cat([enc["h"][:, None], S, words], dim=1)
        return bank, torch.cat([mask.new_ones(B, 1), smask, mask], dim=1)

    def forward(self, context, situation, prev):
        enc = self.encoder(context, situation)
        bank, bmask = self.bank(enc, situation)
        return enc["logits"], self.decoder(prev, bank, bmask)

    @torch.no_grad()
    def generate(self, context, situation, *, bos: int, eos: int, max_len: int) -> torch.Tensor:
        """Greedy responses ``(B, <= max_len)`` (tokens after ``eos`` are ``PAD``), all dialogues as one batch."""
        enc = self.encoder(context, situation)
        bank, bmask = self.bank(enc, situation)
        B = context.shape[0]
        seq = torch.full((B, 1), bos, dtype=torch.long, device=context.device)
        done = torch.zeros(B, dtype=torch.bool, device=context.device)
        for _ in range(max_len):
            nxt = self.decoder(seq, bank, bmask)[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            done = done | (nxt == eos)
            if bool(done.all()):
                break
        return seq[:, 1:]


def distinct_n(responses: list[list[int]], n: int) -> float:
    """Corpus-level Dist-n: distinct n-grams over all n-grams of all ``responses`` (0 when there are none)."""
    grams = [tuple(r[i:i + n]) for r in responses for i in range(len(r) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


# ----------------------------------------------------------------------------- training


def noam_factor(step: int, warmup: int | None) -> float:
    """Noam schedule as a factor of the peak rate (reached at ``warmup``): ``min(step / warmup, sqrt(warmup / step))``;
    ``None``: constant 1."""
    if not warmup:
        return 1.0
    step = max(step, 1)
    return min(step / warmup, math.sqrt(warmup / step))


def fit(model: nn.Module, n: int, loss_fn: Callable[[torch.Tensor], torch.Tensor], *, batch_size: int,
        steps: int, lr: float, generator: torch.Generator, warmup: int | None = None, weight_decay: float = 0.0,
        progress: bool = True, desc: str = "IAMM") -> list[float]:
    """Train ``model`` with AdamW (betas 0.9, 0.98; eps 1e-9; frozen parameters left out) for ``steps`` minibatches of
    ``batch_size`` examples drawn without replacement from ``n`` examples (a fresh seeded permutation per epoch; the
    last partial batch of an epoch is dropped); ``loss_fn(indices)`` returns the minibatch loss. Returns the loss of
    every step."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.98), eps=1e-9,
                            weight_decay=weight_decay)
    per_epoch = max(n // batch_size, 1)
    losses: list[float] = []
    order = None
    model.train()
    for step in tqdm(range(steps), desc=desc, unit="step", disable=not progress, mininterval=2):
        if step % per_epoch == 0:
            order = torch.randperm(n, generator=generator)
        b = step % per_epoch
        idx = order[b * batch_size:(b + 1) * batch_size]
        loss = loss_fn(idx)
        opt.zero_grad()
        loss.backward()
        for group in opt.param_groups:
            group["lr"] = lr * noam_factor(step + 1, warmup)
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def classification_loss(model: IAMMEncoder, tokens: torch.Tensor, labels: torch.Tensor,
                        device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """``loss_fn`` for :func:`fit`: cross-entropy of the class head on the dialogues ``tokens[idx]``."""
    def loss_fn(idx):
        return F.cross_entropy(model(tokens[idx].to(device))["logits"], labels[idx].to(device))
    return loss_fn


@torch.no_grad()
def predict(model: IAMMEncoder, tokens: torch.Tensor, device: torch.device, batch: int = 1024) -> dict:
    """Predicted classes ``(N,)`` and, for IAMM, the selected associated words ``(N, T, k)``, in batches."""
    model.eval()
    preds, sel = [], []
    for i in range(0, tokens.shape[0], batch):
        out = model(tokens[i:i + batch].to(device))
        preds.append(out["logits"].argmax(-1).cpu())
        if "selected" in out:
            sel.append(out["selected"].cpu())
    return {"pred": torch.cat(preds), "selected": torch.cat(sel) if sel else None}
