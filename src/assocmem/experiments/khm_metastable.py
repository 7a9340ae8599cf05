"""Metastable states of dense and sparse modern Hopfield models with and without U-Hop+
(target ``tab_metastable_states``; KHM spec, experiment 1; Hu, Wu & Liu, NeurIPS 2024, main-text table).

For each query the retrieval runs a fixed number of steps and the final attention vector ``p`` is inspected: the
query ends in a state mixing ``k = |p|_0`` memories (for softmax entries ``> 0.01`` count, for 1.5-entmax and
sparsemax the exact non-zeros). The table gives the share of queries per ``k = 1..10`` (``k >= 10`` pooled in 10).

- Synthetic: ``d = D_Phi = 5``; ``M = 10`` memories and 10 queries uniform on ``S^4``; U-Hop+ stage I: 20 Adam steps,
  lr 1, tau 0.1 (Kaiming-normal init); retrieval 20 iterations at beta = 1; softmax, 1.5-entmax, sparsemax.
  ``trials`` independent draws (the paper uses one draw, seed 42) are pooled.
- MNIST: memories = training images scaled to [-1, 1], queries = test images (subsets at the quick scale);
  ``D_Phi = 200``; U-Hop+ one epoch of Adam, lr 0.1, mini-batches of 16 (loss within the batch), tau 0.1;
  retrieval 5 iterations at beta = 0.1, softmax.

Conditions: "MHM" (no feature map: the plain modern Hopfield model), "U-Hop+" (KHM with the learned ``W``, raw
features ``W x`` in the kernel, as the authors' scripts do), and, as a control not in the paper, "U-Hop+ normalized"
(the same ``W`` with unit-norm features, i.e. the geometry the loss optimizes, without the change of scale).

Run without Snakemake::

    python -m assocmem.experiments.khm_metastable run --config config/config.yaml \\
        --data resources/data/mnist.pt --out-prefix results/khm/tab_metastable_states
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import cli
from .. import device as _device
from .. import kernelized as K
from ..data import load_images
from ..results import Claim, add_caption, begin_target, finish_target, pyplot

NAME = "khm_metastable"
TARGET = "tab_metastable_states"
PAPER_KEY = "khm"
PAPER = ("Hu, Wu & Liu 2024, Provably Optimal Memory Capacity for Modern Hopfield Models: Transformer-Compatible "
         "Dense Associative Memories as Spherical Codes (NeurIPS 2024)")
CONDITIONS = ["MHM", "U-Hop+", "U-Hop+ normalized"]
KMAX = 10


def support_size(p: torch.Tensor, separation: str, threshold: float = 0.01) -> torch.Tensor:
    """``|p|_0``: entries above ``threshold`` for softmax, exact non-zeros for the sparse maps.

    A softmax vector with no entry above ``threshold`` mixes at least ``1/threshold`` memories; it counts as ``M``.
    """
    if separation != "softmax":
        return (p > 0).sum(-1)
    k = (p > threshold).sum(-1)
    return torch.where(k == 0, torch.full_like(k, p.shape[-1]), k)


def _shares(k: torch.Tensor) -> np.ndarray:
    k = k.flatten().clamp(max=KMAX)
    return np.array([(k == j).float().mean().item() for j in range(1, KMAX + 1)])


def _rows(dataset, separation, condition, k, extra=None):
    return [dict(dataset=dataset, separation=separation, condition=condition, k=j + 1, share=float(s),
                 n_queries=int(k.numel()), **(extra or {})) for j, s in enumerate(_shares(k))]


def run_synthetic(params: dict, *, seed: int) -> pd.DataFrame:
    """All trials as one batch: memories ``(R, M, d)``, queries ``(R, Q, d)``, one learned ``W`` per trial."""
    g = _device.generator(seed * 1_000_033 + 42)
    R, M, Q, d = params["trials"], params["n_memories"], params["n_queries"], params["dim"]
    Xi = K.sample_sphere((R, M, d), g)
    x = K.sample_sphere((R, Q, d), g)
    W0 = K.kaiming_normal((R, params["feature_dim"], d), g)
    W = K.uhop_train(Xi, W0, steps=params["uhop_steps"], lr=params["uhop_lr"], tau=params["uhop_tau"]).W
    rows = []
    for sep in params["separations"]:
        for cond in CONDITIONS:
            Wc, norm = (None, False) if cond == "MHM" else (W, cond.endswith("normalized"))
            res = K.retrieve(Xi, x, params["beta"], Wc, separation=sep, normalize=norm, steps=params["steps"])
            rows += _rows("synthetic", sep, cond, support_size(res.attention, sep))
    return pd.DataFrame(rows)


def run_mnist(params: dict, data_path: Path, *, seed: int, device=torch.device("cpu")) -> pd.DataFrame:
    data = load_images(data_path)
    g = _device.generator(seed * 1_000_033 + 7)
    mi = torch.randperm(data["train_images"].shape[0], generator=g)[: params["n_memories"]]
    qi = torch.randperm(data["test_images"].shape[0], generator=g)[: params["n_queries"]]
    Xi = (data["train_images"][mi].reshape(len(mi), -1).float() / 127.5 - 1.0).to(device)
    x = (data["test_images"][qi].reshape(len(qi), -1).float() / 127.5 - 1.0).to(device)
    W0 = K.kaiming_normal((params["feature_dim"], Xi.shape[1]), g).to(device)
    steps = -(-Xi.shape[0] // params["batch_size"]) * params["epochs"]
    res = K.uhop_train(Xi, W0, steps=steps, lr=params["uhop_lr"], tau=params["uhop_tau"],
                       batch_size=params["batch_size"], generator=g)
    rows = []
    blocks = range(0, x.shape[0], params["query_block"])
    bar = tqdm(total=len(params["separations"]) * len(CONDITIONS) * len(blocks), desc=f"{NAME} MNIST retrieval",
               unit="block", mininterval=2)
    for sep in params["separations"]:
        for cond in CONDITIONS:
            Wc, norm = (None, False) if cond == "MHM" else (res.W, cond.endswith("normalized"))
            ks = []
            for start in blocks:
                bar.update()
                r = K.retrieve(Xi, x[start:start + params["query_block"]], params["beta"], Wc, separation=sep,
                               normalize=norm, steps=params["steps"])
                ks.append(support_size(r.attention, sep).cpu())
            rows += _rows("MNIST", sep, cond, torch.cat(ks))
    bar.close()
    return pd.DataFrame(rows)


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    claims = []
    for ds in ("synthetic", "MNIST"):
        t = table[table["dataset"] == ds]
        parts, ok = [], []
        for sep in t["separation"].unique():
            s = t[t["separation"] == sep]
            k1 = {c: float(s[(s["condition"] == c) & (s["k"] == 1)]["share"].sum()) for c in ("MHM", "U-Hop+")}
            up = k1["U-Hop+"] > k1["MHM"]  # share of k = 1 rises, so the share of k >= 2 falls by the same amount
            ok.append(up)
            parts.append(f"{sep}: k=1 {k1['MHM']:.2f} -> {k1['U-Hop+']:.2f}, k>=2 {1 - k1['MHM']:.2f} -> "
                         f"{1 - k1['U-Hop+']:.2f}")
        claims.append(Claim(
            id=f"uhop_moves_mass_to_k1_{ds.lower()}",
            statement=f"{ds}: with U-Hop+ the share of queries ending in a single memory (|p|_0 = 1) rises and the "
                      f"share of metastable mixtures (|p|_0 >= 2) falls",
            paper_value="U-Hop+ moves mass to |p|_0 = 1 (main-text table)",
            our_value="; ".join(parts) if parts else "not run",
            tolerance="k = 1 share strictly larger with U-Hop+ for every separation function",
            passed=bool(ok) and all(ok),
        ))
    return claims


def control_note(table: pd.DataFrame) -> str:
    """The k = 1 share per dataset and separation for the three conditions (MHM / U-Hop+ / U-Hop+ normalized)."""
    t = table[table["k"] == 1].pivot_table(index=["dataset", "separation"], columns="condition", values="share")
    return "; ".join(f"{ds} {sep}: " + " / ".join(f"{t.loc[(ds, sep), c]:.2f}" for c in CONDITIONS if c in t.columns)
                     for ds, sep in t.index)


def caption(params: dict, scale: str, verdict_text: str, note: str = "") -> str:
    s, m = params["synthetic"], params["mnist"]
    return (
        f"Share of queries whose final attention vector mixes k memories (|p|_0 = k; softmax entries > 0.01, exact "
        f"non-zeros for 1.5-entmax and sparsemax; k = 10 pools k >= 10), without (MHM) and with U-Hop+ "
        f"(Hu, Wu & Liu 2024). Synthetic: d = D_Phi = {s['dim']}, M = {s['n_memories']} memories and "
        f"{s['n_queries']} queries uniform on the sphere, {s['trials']} draws pooled; U-Hop+ {s['uhop_steps']} Adam "
        f"steps, lr {s['uhop_lr']:g}, tau {s['uhop_tau']:g}; {s['steps']} iterations, beta {s['beta']:g}. MNIST "
        f"(pixels in [-1,1]): {m['n_memories']} training images stored, {m['n_queries']} test queries, D_Phi = "
        f"{m['feature_dim']}, U-Hop+ {m['epochs']} epoch(s) Adam lr {m['uhop_lr']:g}, batch {m['batch_size']}, tau "
        f"{m['uhop_tau']:g}; {m['steps']} iterations, beta {m['beta']:g}. U-Hop+ retrieves with raw features W x as "
        f"the "
        f"authors' scripts; 'U-Hop+ normalized' (unit-norm features, a control not in the paper) separates the effect "
        f"of the geometry from that of the larger feature norm. Share of k = 1 (MHM / U-Hop+ / U-Hop+ "
        f"normalized): {note}. "
        f"Scale '{scale}'. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, caption_text: str):
    plt, sns = pyplot("white")
    datasets = list(dict.fromkeys(table["dataset"]))
    heights = [table[table["dataset"] == d].groupby(["separation", "condition"]).ngroups for d in datasets]
    fig, axes = plt.subplots(len(datasets), 1, figsize=(8, 0.35 * sum(heights) + 1.2 * len(datasets)),
                             gridspec_kw=dict(height_ratios=heights), squeeze=False)
    for ax, ds in zip(axes[:, 0], datasets):
        t = table[table["dataset"] == ds].copy()
        t["row"] = t["separation"] + " | " + t["condition"]
        order = list(dict.fromkeys(t["row"]))
        mat = t.pivot(index="row", columns="k", values="share").loc[order]
        sns.heatmap(mat, ax=ax, annot=True, fmt=".2f", cmap="viridis", vmin=0, vmax=1, cbar=False,
                    annot_kws=dict(fontsize=7))
        ax.set(title=f"{ds}: share of queries with |p|_0 = k", xlabel="k (memories mixed in the final state)",
               ylabel="")
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    add_caption(fig, caption_text, width=120)
    return fig


def run_target(config: dict, data_path: Path, out_prefix: Path, threads: int | None = None) -> dict:
    tr = begin_target(config, NAME, threads)
    params = tr.params
    table = pd.concat([run_synthetic(params["synthetic"], seed=config["seed"]),
                       run_mnist(params["mnist"], Path(data_path), seed=config["seed"], device=tr.device)],
                      ignore_index=True)
    run_wall = time.perf_counter() - tr.started
    claims = evaluate_claims(table)
    note = control_note(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v, note), figure=lambda cap: make_figure(table, cap),
        dtype=torch.float32,
        data="synthetic spherical patterns; MNIST (offline, exact)", retrieval_features="raw W x (as the authors)",
        control_k1_shares=note,
        substitutions=("synthetic: several draws pooled instead of the single seed-42 draw; MNIST: random subsets of "
                       "memories and queries below the paper scale"),
    )


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET,
                    data_default="resources/data/mnist.pt", argv=argv)


if __name__ == "__main__":
    main()
