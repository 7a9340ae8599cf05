"""Multiple-instance learning with Hopfield pooling, with and without U-Hop+ (target ``tab_mil_mnist_bags``).

Hu, Wu and Liu (NeurIPS 2024), *Provably Optimal Memory Capacity for Modern Hopfield Models* (KHM / U-Hop+), MIL
table (spec experiment 4). **Substitution:** the paper's MIL data sets (Tiger, Fox, Elephant, UCSB breast cancer)
are not available; each is replaced by an MNIST-bags data set (bags of ``bag_size_mean +- bag_size_spread`` MNIST
digits, positive iff the bag contains the data set's target digit; half the bags positive, with 1 to
``max_witnesses`` target digits; training bags from the MNIST training split, test bags from the test split; images
average-pooled by ``downsample``). No hyper-parameter search and no cross-validation: one fixed configuration, a fresh
bag draw and initialisation per seed.

Model (HopfieldPooling, Ramsauer et al. 2020; :mod:`assocmem.pooling`): an MLP (2 layers, ReLU) embeds each instance;
keys ``K = z W_K`` and values ``V = z W_V``; a learned query per head attends over the bag's instances,
``softmax(beta q K^T) V``; the pooled vector feeds a linear classifier. Trained with AdamW on the binary cross-entropy;
scored by the test ROC AUC (:func:`assocmem.stats.auc`).

U-Hop+ (stage I, Alg. 1): the bag's instances are the stored patterns and the key map ``Phi`` (embedding MLP and
``W_K``) is the feature map; before each of the first ``uhop_epochs`` training epochs, one separation epoch of Adam on
the MIL surrogate ``log sum_{mu<nu} exp(<phi_mu, phi_nu> / tau)`` of the normalized keys within each bag
(:func:`assocmem.kernelized.separation_loss`, ``variant="sum"``), gradient norm clipped at 1 per model. The paired
baseline has the same bags, initialisation and training without the separation epochs. All models (data sets x seeds
x {baseline, U-Hop+}) train as one batched ensemble. Each (data set, seed) draws its bags and initialisation from a
generator of its own and the training order comes from the global seed alone, so a data set's rows do not depend
on which other data sets run with it: at the paper scale the run is sharded by target digit (``targets``).

Claims: on every data set the mean test AUC with U-Hop+ is at least the baseline's minus ``auc_tolerance`` (the
paper: U-Hop+ >= baseline); averaged over the data sets U-Hop+ gains (difference > 0); the separation stage does
what it says (smaller largest within-bag key cosine on test bags than the baseline).

Run without Snakemake::

    python -m assocmem run tab_mil_mnist_bags --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...registry import PAPERS, Target
from ... import device as _device
from ... import pooling, stats
from ...data import load_images
from ...kernelized import max_cosine, separation_loss
from ...results import begin_target
from ...stages import Runs

NAME = "khm_mil_bags"
TARGET = "tab_mil_mnist_bags"
PAPER_KEY = "khm"
PAPER = PAPERS["khm"].citation
TARGET_SPECS = (
    Target("tab_mil_mnist_bags", PAPERS["khm"], NAME, __name__, data=('mnist',), threads=1,
           summary="Hopfield pooling with and without U-Hop+ on MNIST bags", shard_axis="targets"),
)


def instances(images: torch.Tensor, downsample: int) -> torch.Tensor:
    """uint8 images ``(N, 28, 28)`` -> float instances ``(N, (28 / downsample)^2)`` in [0, 1]."""
    x = images.float().div(255.0)[:, None]
    if downsample > 1:
        x = F.avg_pool2d(x, downsample)
    return x.flatten(1)


def make_bags(labels: torch.Tensor, target: int, n_bags: int, params: dict, generator: torch.Generator):
    """Indices of ``n_bags`` bags ``(n_bags, L_max)``, their validity mask and labels (half positive).

    A bag has ``U{mean - spread, ..., mean + spread}`` instances; a positive one holds 1 to ``max_witnesses``
    images of ``target``, a negative one none.
    """
    pos_pool = torch.nonzero(labels == target).flatten()
    neg_pool = torch.nonzero(labels != target).flatten()
    lo, hi = params["bag_size_mean"] - params["bag_size_spread"], params["bag_size_mean"] + params["bag_size_spread"]
    L = hi
    idx = torch.zeros(n_bags, L, dtype=torch.long)
    mask = torch.zeros(n_bags, L, dtype=torch.bool)
    y = (torch.arange(n_bags) % 2 == 0).float()[torch.randperm(n_bags, generator=generator)]
    for b in range(n_bags):
        size = int(torch.randint(lo, hi + 1, (1,), generator=generator))
        k = int(torch.randint(1, params["max_witnesses"] + 1, (1,), generator=generator)) if y[b] else 0
        k = min(k, size)
        pick = torch.cat([pos_pool[torch.randint(len(pos_pool), (k,), generator=generator)],
                          neg_pool[torch.randint(len(neg_pool), (size - k,), generator=generator)]])
        idx[b, :size] = pick[torch.randperm(size, generator=generator)]
        mask[b, :size] = True
    return idx, mask, y


def _clip_per_model(p: dict, names, max_norm: float) -> None:
    """Scale each model's gradient (over ``names``) to norm <= ``max_norm``."""
    sq = sum(p[n].grad.flatten(1).pow(2).sum(1) for n in names)
    scale = (max_norm / (sq.sqrt() + 1e-12)).clamp(max=1.0)
    for n in names:
        p[n].grad.mul_(scale.view(-1, *([1] * (p[n].dim() - 1))))


def train(p: dict, X: torch.Tensor, mask: torch.Tensor, y: torch.Tensor, uhop: torch.Tensor, params: dict,
          generator: torch.Generator, progress: bool = False) -> dict:
    """Train the ensemble in place; ``uhop`` ``(E,)`` selects the models that get U-Hop+ separation epochs."""
    for t in p.values():
        t.requires_grad_(True)
    opt = torch.optim.AdamW(list(p.values()), lr=params["lr"], weight_decay=params["weight_decay"])
    sep_opt = torch.optim.Adam([p[n] for n in pooling.KEY_PARAMS], lr=params["uhop_lr"])  # no decay: baseline untouched
    n_train, bs = X.shape[1], params["batch_bags"]
    sep_w = uhop.float()
    # the separation epochs draw from their own generator, so the training order is the same with and without them
    sep_gen = _device.generator(int(torch.randint(2**62, (1,), generator=generator)))
    for epoch in tqdm(range(params["epochs"]), desc=NAME, unit="epoch", disable=not progress):
        if epoch < params["uhop_epochs"] and bool(uhop.any()):
            order = torch.randperm(n_train, generator=sep_gen)
            for s in range(0, n_train, bs):
                b = order[s:s + bs]
                K, _ = pooling.keys_values(p, X[:, b])
                loss = separation_loss(K, None, None, params["tau"], "sum", valid=mask[:, b]).mean(1)
                sep_opt.zero_grad()
                (loss * sep_w).sum().backward()
                _clip_per_model(p, pooling.KEY_PARAMS, 1.0)
                sep_opt.step()
        order = torch.randperm(n_train, generator=generator)
        for s in range(0, n_train, bs):
            b = order[s:s + bs]
            logits = pooling.forward(p, X[:, b], mask[:, b], params["beta"])
            loss = F.binary_cross_entropy_with_logits(logits, y[:, b], reduction="none").mean(1).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for t in p.values():
        t.requires_grad_(False)
    return p


def run(data: dict, params: dict, *, seed: int, device: torch.device, progress: bool = True) -> pd.DataFrame:
    """Test AUC and largest within-bag key cosine per (target digit, seed, variant)."""
    ds = params["downsample"]
    g = _device.generator(seed)
    members = [(t, s) for t in params["targets"] for s in range(params["seeds"])]
    n_test = max(2, round(params["n_bags"] * params["test_fraction"]))
    n_train = params["n_bags"] - n_test
    bags, gens = {}, {}
    for t, s in members:  # each (digit, seed) draws its bags and then its initialisation from its own generator
        gens[t, s] = gs = _device.generator(seed * 1000 + 10 * t + s)
        bags[t, s] = (make_bags(data["train_labels"], t, n_train, params, gs),
                      make_bags(data["test_labels"], t, n_test, params, gs))

    def stack(split, images):
        idx = torch.stack([bags[m][split][0] for m in members])
        X = instances(images[idx.flatten()], ds).reshape(*idx.shape, -1)  # only the images the bags use
        return (X, torch.stack([bags[m][split][1] for m in members]),
                torch.stack([bags[m][split][2] for m in members]))

    Xtr, Mtr, Ytr = stack(0, data["train_images"])
    Xte, Mte, Yte = stack(1, data["test_images"])
    # every data member twice: baseline (first half) and U-Hop+ (second half), same bags and initialisation
    E = len(members)
    sizes = {k: params[k] for k in ("hidden", "embedding", "key_dim", "heads")}
    inits = [pooling.init_params(1, Xtr.shape[-1], gens[m], **sizes) for m in members]
    init = {k: torch.cat([i[k] for i in inits]) for k in inits[0]}
    p = {k: torch.cat([v, v]).clone().to(device) for k, v in init.items()}

    def two(t):
        return torch.cat([t, t]).to(device)

    Xtr, Mtr, Ytr, Xte, Mte, Yte = map(two, (Xtr, Mtr, Ytr, Xte, Mte, Yte))
    uhop = torch.cat([torch.zeros(E, dtype=torch.bool), torch.ones(E, dtype=torch.bool)]).to(device)
    train(p, Xtr, Mtr, Ytr, uhop, params, g, progress)
    with torch.no_grad():
        scores = pooling.forward(p, Xte, Mte, params["beta"])
        aucs = stats.auc(scores, Yte).cpu()
        K, _ = pooling.keys_values(p, Xte)
        cos = max_cosine(K, valid=Mte).mean(1).cpu()
    rows = []
    for i in [e + v * E for e in range(E) for v in (0, 1)]:  # member-major: a shard's rows are a block of the whole
        t, s = members[i % E]
        rows.append({"target_digit": t, "seed": s, "variant": "U-Hop+" if i >= E else "baseline",
                     "test_auc": float(aucs[i]),
                         "max_key_cosine": float(cos[i]), "n_train_bags": n_train, "n_test_bags": n_test})
    return pd.DataFrame(rows)


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: test AUC and largest key cosine per (target digit, seed, variant) (:func:`run`); the figure is
    in :mod:`.khm_mil_bags_figure`."""
    tr = begin_target(config, NAME, threads)
    return Runs(run(load_images(data["mnist"]), tr.params, seed=config["seed"], device=tr.device))
