"""Entropic associative memory on CIFAR-10 (targets ``fig_eam_register_size``, ``fig_eam_filling``,
``fig_eam_noisy_cues``, ``fig_eam_retrievals``; one shared run, ``eam``).

Hernandez, Morales & Pineda (2024), *Entropic associative memory for real world images* (arXiv 2405.12500). The
memory is :mod:`assocmem.entropic_am` (quantised table register; lambda-register, eta-recognition, beta-retrieval,
entropy); the feature maps are :mod:`assocmem.feature_extractors`.

Protocol, per fold (spec section 2): CIFAR-10's 60,000 images (training then test split) in one fixed random order
(from ``order_seed``, independent of the run's seed: the prepared file is grouped by class, the original files are
not); fold ``f`` of ``n_folds`` starts at image ``f * 60000 / n_folds`` and takes, wrapping around, the training
segment (fits the feature map and its classifier), a validation segment (only for tuning the rejection thresholds), the
filling segment (registered in the memory) and the test segment (the cues). The paper's 70/20/10 split is
``train + validation = 70%``; the quick scale uses smaller segments. Features:

- ``features: pca`` (quick scale): PCA of the training images (the largest ``columns`` value; smaller registers use
  the leading components), a multinomial logistic-regression classifier per column count, and the PCA inverse as the
  decoder (a stated substitution for the paper's convolutional autoencoder);
- ``features: conv_ae`` (paper scale): one convolutional autoencoder with a classifier head per column count
  (:class:`assocmem.feature_extractors.ConvAutoencoder`).

Quantisation ranges come from the filling segment, per feature (the authors' released code; ``quantise_per_feature:
false`` uses one range over all features); cue values outside them clip to the end levels. A response is correct when
the classifier assigns the retrieved, de-quantised features the cue's label; recall = correct responses / cues,
precision = correct responses / accepted cues; each cue is retrieved ``retrievals`` times (seeded) and its correctness
averaged.

What the run computes (rows of one table, ``kind``):

- ``size`` (E1): precision, recall, acceptance and entropy for every register of ``columns x rows``, full filling,
  the first ``size_cues`` test cues;
- ``fill`` (E2): at ``n x m``, registering the filling segment in the steps ``fills`` (fractions); precision, recall,
  acceptance, entropy after each;
- ``noise`` (E3): test images with Gaussian pixel noise of standard deviation ``noise_levels`` (clipped to [0, 1];
  the noise model of the authors' released code, whose own level is 0.3), through the feature map, recognised and
  retrieved at the full register at every ``noise_sigmas`` (the spec's default sigma, and a small one); ``sigma``:
  clean and noisy (``sigma_sweep_noise``) cues retrieved at every ``sigmas`` (the authors' released sweep is
  0.01-0.11);
- ``rejection``: recall on real cues and rejection of cues built from random feature vectors (levels uniform over the
  ``m`` levels, i.e. features uniform over the filling range) for every ``(kappa, xi)`` of ``kappas x xis``, on the
  validation and on the test segment; also column-shuffled cues (each feature from a different random filling
  object: the column marginals of the register), which a table register cannot tell from real ones;
- ``chain`` (E4): association chains from every test cue: retrieve at each ``chain_sigmas``, decode, clip to [0, 1],
  re-encode, quantise, retrieve again, ``chain_steps`` times; per step the share of chains whose retrieval the
  classifier gives the cue's label, the share identical to a stored object and the share the memory recognises;
- ``classifier``: the classifier's accuracy on the test features per column count (and on the quantised cues).

The display grid of E4 (one test cue per class: the image, its feature-map reconstruction, the decoded quantised cue,
one decoded retrieval per ``sigmas`` and the chains) is kept for the fold ``grid_fold``. Every fold draws from
generators of its own, so the run is sharded by fold (``folds``) and a fold's rows do not depend on the others.

CIFAR-10 comes from the JPEG mirror (a lossy re-encoding) unless the official tarball is configured; every caption says
so, and says when PCA stands in for the autoencoder. Run without Snakemake::

    python -m assocmem run fig_eam_filling
    python -m assocmem figure fig_eam_noisy_cues
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from tqdm.auto import tqdm

from ...registry import PAPERS, Target, axis_values
from ... import device as _device
from ... import entropic_am as eam
from ... import feature_extractors as fx
from ...data import load_images
from ...results import begin_target
from ...stages import Runs

NAME = "entropic_am"
RUN = "eam"
PAPER_KEY = "entropic_am"
PAPER = PAPERS["entropic_am"].citation
TARGET_SPECS = tuple(
    Target(name, PAPERS["entropic_am"], NAME, __name__, run=RUN, data=("cifar10",), threads=1, mem_mb=8000,
           runtime=60, gpu=True, shard_axis="folds", summary=summary)
    for name, summary in (
        ("fig_eam_register_size", "E1: precision, recall and entropy over register columns x rows"),
        ("fig_eam_filling", "E2: precision, recall and entropy vs filling fraction, beside the authors' end points"),
        ("fig_eam_noisy_cues", "E3: noisy cues and the retrieval sigma; rejection of cues built from random features"),
        ("fig_eam_retrievals", "E4: decoded retrievals and 6-step association chains as image grids"),
    )
)
TARGETS = tuple(t.name for t in TARGET_SPECS)
PARTS = ("train", "validation", "fill", "test")
CLASSES = 10
ENCODE_BLOCK = 2048  # images per block through the feature map


def split_indices(total: int, fold: int, n_folds: int, split: dict) -> dict[str, torch.Tensor]:
    """Indices of the four segments of ``fold``: contiguous from ``fold * total / n_folds``, wrapping around."""
    need = sum(split[p] for p in PARTS)
    if need > total:
        raise ValueError(f"the segments need {need} images, the pool has {total}")
    start, off, out = fold * total // n_folds, 0, {}
    for p in PARTS:
        out[p] = (start + off + torch.arange(split[p])) % total
        off += split[p]
    return out


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images ``(N, H, W, C)`` -> float32 in [0, 1] (CPU)."""
    return images.to(torch.float32) / 255.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def pack(images: torch.Tensor) -> dict:
    """uint8 images as JSON: their shape and their bytes in base64 (:func:`unpack` inverts it)."""
    import base64

    a = images.to(torch.uint8).contiguous().cpu()
    return {"shape": list(a.shape), "base64": base64.b64encode(a.numpy().tobytes()).decode("ascii")}


def unpack(packed: dict):
    """The uint8 array (numpy) that :func:`pack` wrote."""
    import base64

    import numpy as np

    return np.frombuffer(base64.b64decode(packed["base64"]), dtype=np.uint8).reshape(packed["shape"])


@dataclass
class Extractor:
    """A fitted feature map with ``n`` features: ``features[part]`` ``(N, n)`` on the device, ``encode`` (float images
    in [0, 1] -> features), ``decode`` (features -> images), ``predict`` (features -> labels)."""

    n: int
    encode: Callable[[torch.Tensor], torch.Tensor]
    decode: Callable[[torch.Tensor], torch.Tensor]
    predict: Callable[[torch.Tensor], torch.Tensor]
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def _blocked(f: Callable[[torch.Tensor], torch.Tensor], device, dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([f(x[a:a + ENCODE_BLOCK].to(device, dtype)) for a in range(0, x.shape[0], ENCODE_BLOCK)])
    return run


def pca_extractors(X: dict, Y: dict, params: dict, *, device, dtype, progress: bool) -> dict[int, Extractor]:
    """One PCA of the training images with ``max(columns)`` components; per column count its leading components and a
    logistic-regression classifier on them."""
    cols = sorted(params["columns"])
    pca = fx.fit_pca(X["train"].to(device), cols[-1], dtype)
    full = {p: _blocked(pca.encode, device, dtype)(X[p]) for p in PARTS}
    total_var = float(((X["train"].reshape(X["train"].shape[0], -1).to(torch.float64)
                        - pca.mean.double().cpu()) ** 2).sum(1).mean())
    lp = params["logistic"]
    out = {}
    for n in cols:
        p = pca.truncated(n)
        clf = fx.train_logistic(full["train"][:, :n], Y["train"], CLASSES, steps=lp["steps"], lr=lp["lr"],
                                weight_decay=lp["weight_decay"], progress=progress, desc=f"{NAME} logistic n={n}")
        out[n] = Extractor(n, encode=_blocked(p.encode, device, dtype), decode=_blocked(p.decode, device, dtype),
                           predict=clf.predict, features={k: v[:, :n] for k, v in full.items()},
                           info={"explained_variance": float(p.variances.sum().double().cpu()) / total_var})
    return out


def autoencoder_extractors(X: dict, Y: dict, params: dict, *, seed: int, device, dtype,
                           progress: bool) -> dict[int, Extractor]:
    """One convolutional autoencoder with a classifier head per column count (each from a generator of its own)."""
    ap = params["autoencoder"]
    out = {}
    for n in sorted(params["columns"]):
        g = _device.generator(seed + 31 * n)
        model = fx.ConvAutoencoder(g, n, channels=X["train"].shape[-1], size=X["train"].shape[1],
                                   widths=tuple(ap["widths"]), hidden=ap["hidden"], classes=CLASSES).to(device, dtype)
        log = fx.train_autoencoder(model, X["train"], Y["train"], epochs=ap["epochs"], batch=ap["batch"], lr=ap["lr"],
                                   class_weight=ap["class_weight"], generator=g, device=device, progress=progress,
                                   desc=f"{NAME} autoencoder n={n}")
        model.eval()
        enc = _blocked(model.encode, device, dtype)
        ex = Extractor(n, encode=enc, decode=_blocked(model.decode, device, dtype),
                       predict=lambda z, model=model: _blocked(model.predict, z.device, dtype)(z),
                       info={"final_mse": log[-1]["mse"], "final_ce": log[-1]["ce"]})
        ex.features = {p: enc(X[p]) for p in PARTS}
        out[n] = ex
    return out


@dataclass
class Evaluation:
    """Recognition and retrieval of a batch of cues: ``rec`` (:class:`assocmem.entropic_am.Recognition`), ``correct``
    (per cue, the share of its retrievals the classifier gives the cue's label) and the retrieved levels of the first
    draw."""

    rec: eam.Recognition
    correct: torch.Tensor
    first: torch.Tensor

    def scores(self) -> dict:
        acc = self.rec.accepted.double()
        c = self.correct.double()
        n_acc = float(acc.sum())
        return {"precision": float((acc * c).sum()) / n_acc if n_acc else float("nan"),
                "recall": float((acc * c).mean()), "accepted": float(acc.mean()), "cues": int(acc.numel())}


def evaluate(R: torch.Tensor, q: torch.Tensor, y: torch.Tensor, quant: eam.Quantiser, ex: Extractor, params: dict,
             sigma: float, generator: torch.Generator, dtype) -> Evaluation:
    """eta-recognise the cues ``q`` at the run's ``(iota, kappa, xi)`` and beta-retrieve each ``retrievals`` times at
    ``sigma``; the classifier judges every retrieval."""
    k = params["retrievals"]
    rec = eam.recognise(R, q, params["iota"], params["kappa"], params["xi"])
    got = eam.retrieve(R, q.repeat(k, 1), sigma, generator, params["max_elements"])
    pred = ex.predict(quant.values(got, dtype)).reshape(k, -1)
    correct = (pred == y.to(pred.device)[None]).double().mean(0)
    return Evaluation(rec, correct.cpu(), got[: q.shape[0]])


def _scores_row(kind: str, fold: int, ev: Evaluation, R: torch.Tensor, **keys) -> dict:
    return {"kind": kind, "fold": fold, **keys, **ev.scores(), "entropy": eam.entropy(R),
            "mean_weight": eam.mean_weight(R)}


def register_size(exs: dict[int, Extractor], Y: dict, params: dict, fold: int, gen, dtype, progress: bool) -> list:
    """E1: every register of ``columns x rows``, fully filled, on the first ``size_cues`` test cues."""
    rows = []
    bar = tqdm(total=len(exs) * len(params["rows"]), desc=f"{NAME} E1 sizes", disable=not progress, mininterval=2)
    for n, ex in sorted(exs.items()):
        zf, zt = ex.features["fill"], ex.features["test"][: params["size_cues"]]
        yt = Y["test"][: params["size_cues"]]
        for m in sorted(params["rows"]):
            quant = eam.fit_quantiser(zf, m, params["quantise_per_feature"])
            R = eam.register(eam.empty(m, n, zf.device), quant.levels(zf))
            ev = evaluate(R, quant.levels(zt), yt, quant, ex, params, params["sigma"], gen(10_000 + 1_000 * n + m),
                          dtype)
            rows.append(_scores_row("size", fold, ev, R, n=n, m=m))
            bar.update()
    bar.close()
    return rows


def filling(ex: Extractor, q_fill, q_test, Y, quant, params, fold, gen, dtype, progress) -> list:
    """E2: register the filling segment in the steps ``fills``; score the test cues after each."""
    rows, R, prev = [], eam.empty(quant.m, ex.n, q_fill.device), 0
    total = q_fill.shape[0]
    for i, f in enumerate(tqdm(sorted(params["fills"]), desc=f"{NAME} E2 fills", disable=not progress)):
        end = max(1, round(f * total))
        R = eam.register(R, q_fill[prev:end])
        prev = max(prev, end)
        ev = evaluate(R, q_test, Y["test"], quant, ex, params, params["sigma"], gen(100 + i), dtype)
        rows.append(_scores_row("fill", fold, ev, R, fill=f, n_filled=prev))
    return rows


def noisy_cues(ex, R, X, Y, quant, params, fold, gen, dtype, progress) -> list:
    """E3: pixel-noise levels at the run's sigma, and the sigma sweep for clean and noisy cues."""
    rows = []

    def noisy(std: float, g: torch.Generator) -> torch.Tensor:
        x = X["test"]
        return x if std == 0 else (x + std * torch.randn(x.shape, generator=g)).clamp(0, 1)

    for i, std in enumerate(tqdm(params["noise_levels"], desc=f"{NAME} E3 noise", disable=not progress)):
        q = quant.levels(ex.encode(noisy(std, gen(200 + i))))
        for k, s in enumerate(params["noise_sigmas"]):
            ev = evaluate(R, q, Y["test"], quant, ex, params, s, gen(300 + 10 * i + k), dtype)
            rows.append(_scores_row("noise", fold, ev, R, noise=std, sigma=s))
    q_noisy = quant.levels(ex.encode(noisy(params["sigma_sweep_noise"], gen(400))))
    cues = {"clean": quant.levels(ex.features["test"]), "noisy": q_noisy}
    for i, s in enumerate(params["sigmas"]):
        for j, (name, q) in enumerate(cues.items()):
            ev = evaluate(R, q, Y["test"], quant, ex, params, s, gen(500 + 10 * i + j), dtype)
            rows.append(_scores_row("sigma", fold, ev, R, cue=name, sigma=s,
                                    noise=0.0 if name == "clean" else params["sigma_sweep_noise"]))
    return rows


def rejection(ex, R, q_fill, Y, quant, params, fold, gen, dtype) -> list:
    """Recall on real cues and rejection of random and column-shuffled cues over the ``kappas x xis`` grid, on the
    validation and the test segment (the thresholds are chosen on the first, in the figure stage)."""
    rows = []
    kap, xis = params["kappas"], params["xis"]
    K = params["random_cues"]
    for s, part in enumerate(("validation", "test")):
        q = quant.levels(ex.features[part])
        ev = evaluate(R, q, Y[part], quant, ex, params, params["sigma"], gen(600 + s), dtype)
        real = eam.accept_grid(ev.rec, kap, xis).double()
        recall = (real * ev.correct.to(real.device)[None, None]).mean(-1)
        g = gen(700 + s)
        rnd = torch.randint(0, quant.m, (K, ex.n), generator=g).to(R.device)
        pick = torch.randint(0, q_fill.shape[0], (K, ex.n), generator=g).to(R.device)
        shuf = q_fill.gather(0, pick)
        rej = {name: 1.0 - eam.accept_grid(eam.recognise(R, c, params["iota"], params["kappa"], params["xi"]),
                                           kap, xis).double().mean(-1)
               for name, c in (("random", rnd), ("shuffled", shuf))}
        for a, k in enumerate(kap):
            for b, x in enumerate(xis):
                rows.append({"kind": "rejection", "fold": fold, "split": part, "kappa": float(k), "xi": int(x),
                             "recall": float(recall[a, b]), "accepted": float(real[a, b].mean()),
                             "rejected_random": float(rej["random"][a, b]),
                             "rejected_shuffled": float(rej["shuffled"][a, b]), "cues": int(q.shape[0])})
    return rows


def chains(ex, R, q_fill, Y, quant, params, fold, sigma: float, g: torch.Generator, dtype) -> tuple[list, torch.Tensor]:
    """E4: association chains at ``sigma`` from every test cue; per-step statistics and the retrieved images of every
    step ``(steps, B, H, W, C)`` (uint8, CPU)."""
    q = quant.levels(ex.features["test"])
    y = Y["test"].to(q.device)
    stored = {bytes(r) for r in q_fill.cpu().to(torch.int16).numpy()}
    cue_pred = ex.predict(quant.values(q, dtype))
    rows = [{"kind": "chain", "fold": fold, "step": 0, "agreement": float((cue_pred == y).double().mean()),
             "identical_to_stored": float(sum(bytes(r) in stored for r in q.cpu().to(torch.int16).numpy()))
             / q.shape[0], "accepted": float(eam.recognise(R, q, params["iota"], params["kappa"],
                                                            params["xi"]).accepted.double().mean()),
             "sigma": sigma}]
    imgs = []
    for step in range(1, params["chain_steps"] + 1):
        got = eam.retrieve(R, q, sigma, g, params["max_elements"])
        vals = quant.values(got, dtype)
        pred = ex.predict(vals)
        img = ex.decode(vals).clamp(0, 1)
        imgs.append(to_uint8(img.cpu()))
        same = sum(bytes(r) in stored for r in got.cpu().to(torch.int16).numpy())
        q = quant.levels(ex.encode(img))
        rows.append({"kind": "chain", "fold": fold, "step": step, "agreement": float((pred == y).double().mean()),
                     "identical_to_stored": same / got.shape[0],
                     "accepted": float(eam.recognise(R, q, params["iota"], params["kappa"],
                                                     params["xi"]).accepted.double().mean()),
                     "sigma": sigma})
    return rows, torch.stack(imgs)


def display_grid(ex, R, images_test, Y, quant, params, chain_imgs, gen, dtype) -> dict:
    """The E4 grid: the first test cue of each class; its image, the feature map's reconstruction, the decoded
    quantised cue, one decoded retrieval per ``sigmas``, and its chain per ``chain_sigmas`` (uint8 images,
    :func:`pack`-ed)."""
    y = Y["test"]
    pick = [int((y == c).nonzero()[0]) for c in range(CLASSES) if bool((y == c).any())]
    pick = pick[: params["grid_cues"]]
    idx = torch.tensor(pick)
    z = ex.features["test"][idx.to(ex.features["test"].device)]
    q = quant.levels(z)
    by_sigma = {}
    for i, s in enumerate(params["sigmas"]):
        got = eam.retrieve(R, q, s, gen(900 + i), params["max_elements"])
        by_sigma[f"{s:g}"] = pack(to_uint8(ex.decode(quant.values(got, dtype)).cpu()))
    return {"labels": y[idx].tolist(), "sigmas": [f"{s:g}" for s in params["sigmas"]],
            "cue": pack(images_test[idx]), "reconstruction": pack(to_uint8(ex.decode(z).cpu())),
            "quantised": pack(to_uint8(ex.decode(quant.values(q, dtype)).cpu())),
            "retrieval": by_sigma, "chain": {f"{s:g}": pack(imgs[:, idx]) for s, imgs in chain_imgs.items()}}


def run_fold(images: torch.Tensor, labels: torch.Tensor, fold: int, params: dict, *, seed: int, device, dtype,
             progress: bool = True) -> tuple[list, dict, dict | None]:
    """Every experiment on one fold: the rows, the fold's statistics and (for ``grid_fold``) the display grid."""
    idx = split_indices(images.shape[0], fold, params["n_folds"], params["split"])
    X = {p: to_unit(images[idx[p]]) for p in PARTS}
    Y = {p: labels[idx[p]] for p in PARTS}
    base = seed * 1_000_003 + 7919 * (fold + 1)

    def gen(tag: int) -> torch.Generator:
        return _device.generator(base + tag)

    if params["features"] == "pca":
        exs = pca_extractors(X, Y, params, device=device, dtype=dtype, progress=progress)
    else:
        exs = autoencoder_extractors(X, Y, params, seed=base, device=device, dtype=dtype, progress=progress)
    rows = []
    for n, ex in sorted(exs.items()):
        pred = ex.predict(ex.features["test"])
        rows.append({"kind": "classifier", "fold": fold, "n": n, "cue": "features",
                     "accuracy": float((pred.cpu() == Y["test"]).double().mean())})
    rows += register_size(exs, Y, params, fold, gen, dtype, progress)
    ex = exs[params["n"]]
    quant = eam.fit_quantiser(ex.features["fill"], params["m"], params["quantise_per_feature"])
    q_fill, q_test = quant.levels(ex.features["fill"]), quant.levels(ex.features["test"])
    pred_q = ex.predict(quant.values(q_test, dtype))
    rows.append({"kind": "classifier", "fold": fold, "n": ex.n, "m": quant.m, "cue": "quantised",
                 "accuracy": float((pred_q.cpu() == Y["test"]).double().mean())})
    rows += filling(ex, q_fill, q_test, Y, quant, params, fold, gen, dtype, progress)
    R = eam.register(eam.empty(quant.m, ex.n, q_fill.device), q_fill)
    rows += noisy_cues(ex, R, X, Y, quant, params, fold, gen, dtype, progress)
    rows += rejection(ex, R, q_fill, Y, quant, params, fold, gen, dtype)
    chain_imgs = {}
    for k, s in enumerate(params["chain_sigmas"]):
        chain_rows, chain_imgs[s] = chains(ex, R, q_fill, Y, quant, params, fold, s, gen(800 + k), dtype)
        rows += chain_rows
    grid = None
    if fold == params["grid_fold"]:
        grid = display_grid(ex, R, images[idx["test"]], Y, quant, params, chain_imgs, gen, dtype)
    stats = {"n": ex.n, "m": quant.m, **{f"{k}_n{n}": v for n, e in exs.items() for k, v in e.info.items()},
             "quantiser_range_mean": float((quant.hi - quant.lo).double().mean())}
    return rows, stats, grid


def run(images: dict, params: dict, *, seed: int, device=None, dtype=torch.float32,
        progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Every fold of ``params["folds"]`` (a count or one shard's list): the run table and the extras (per-fold
    statistics by fold, the display grid)."""
    device = torch.device("cpu") if device is None else device
    if params["n"] not in params["columns"]:
        raise ValueError(f"n = {params['n']} must be one of columns = {params['columns']}")
    pool = torch.cat([images["train_images"], images["test_images"]])
    labels = torch.cat([images["train_labels"], images["test_labels"]]).long()
    order = torch.randperm(pool.shape[0], generator=_device.generator(params["order_seed"]))
    pool, labels = pool[order], labels[order]
    rows, stats, grids = [], {}, {}
    for fold in axis_values(params, "folds"):
        r, st, grid = run_fold(pool, labels, fold, params, seed=seed, device=device, dtype=dtype, progress=progress)
        rows += r
        stats[str(fold)] = st
        if grid is not None:
            grids[str(fold)] = grid
    return pd.DataFrame(rows), {"folds": stats, "grids": grids}


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The shared model run of the four targets (:func:`run`); the figures are in :mod:`.eam_figure`."""
    tr = begin_target(config, NAME, threads)
    images = load_images(data["cifar10"])
    table, extras = run(images, tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(table, extras)
