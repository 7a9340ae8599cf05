"""In-context learning of energy functions (target ``fig_icl_energy``).

Schaeffer et al. (2024), *Bridging Associative Memory and Probabilistic Modeling* (arXiv 2402.10202), second half,
and its companion Schaeffer, Khona & Koyejo (2024), *In-Context Learning of Energy Functions* (arXiv 2406.12785);
spec E2. The model, the negatives, the loss and the mixtures are in :mod:`assocmem.icl_energy`.

Training: a causal transformer (``layers`` x ``width``, ``heads`` heads) reads sequences of ``context_len`` 2-D
points, each sequence from a fresh random Gaussian mixture (``components`` = (min, max) components, means uniform in
``[-mean_range, mean_range]^2``, rotated anisotropic components with standard deviations in ``std_range``,
Dirichlet(1) weights), and outputs ``E(x_t | x_<t)`` at every position. Each position gets one negative: Langevin MCMC
on ``E(. | x_<t)`` (``langevin_steps`` steps of scale ``langevin_s``, gradient norm clipped to
``langevin_grad_clip``) from uniform noise on the sequence's box ``mean +- init_box std``, detached. Loss:
``mean E(real) - mean E(neg) + alpha (mean E(real)^2 + mean E(neg)^2)``; Adam, ``steps`` steps of ``batch``
sequences.

Evaluation on ``n_eval`` held-out contexts (mixtures and points from a generator the training never uses): a context
is ``context_len - 1`` points and the query goes at the last position; the energy is read on a ``grid x grid``
regular grid over the context's box ``mean +- grid_box std`` (per coordinate) and compared by Spearman rank
correlation with the true ``-log p`` of the context's own mixture, and with that of a different held-out context's
mixture (context ``i`` against mixture ``i + 1``, cyclically). References on the same grids: the true ``-log p`` of
the other mixture (the oracle's cross score: what a perfect energy would score), a Gaussian-KDE energy of the
context (Scott bandwidth), a single Gaussian fitted to the context, and a context-blind energy ``||x||^2``. The
same scores with only the first ``p`` context points visible, ``p`` in ``eval_positions``, show the landscape
forming in context.

Run without Snakemake::

    python -m assocmem run fig_icl_energy --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ... import device as _device
from ... import icl_energy as ie
from ...energy import kde_energy
from ...registry import PAPERS, Target
from ...results import begin_target
from ...stages import Runs
from ...stats import spearman

NAME = "kde_icl_energy"
TARGET = "fig_icl_energy"
PAPER_KEY = "kde"
PAPER = PAPERS["kde"].citation
TARGET_SPECS = (
    Target("fig_icl_energy", PAPERS["kde"], NAME, __name__, data=(), threads=1, runtime=120, gpu=True,
           summary="a causal transformer learns energy landscapes in context"),
)


def baselines(context: torch.Tensor, grid: torch.Tensor) -> dict[str, torch.Tensor]:
    """Reference energies on ``grid`` ``(C, P, 2)`` from each context ``(C, n, 2)`` (float64): a Gaussian KDE with
    Scott's bandwidth ``n^(-1/6)`` x the mean coordinate std (:func:`assocmem.energy.kde_energy` on coordinates
    divided by the bandwidth), the negative log-likelihood of one Gaussian fitted to the context (up to a constant),
    and the context-blind ``||x||^2``."""
    n = context.shape[1]
    h = context.std(1).mean(-1) * n ** (-1.0 / 6.0)  # (C,)
    kde = kde_energy(context / h[:, None, None], grid / h[:, None, None], 0.5)
    mu = context.mean(1, keepdim=True)
    cov = (context - mu).mT @ (context - mu) / (n - 1)
    d = grid - mu
    gauss = 0.5 * (d @ torch.linalg.inv(cov) * d).sum(-1)
    return {"kde": kde, "gauss": gauss, "blind": (grid**2).sum(-1)}


def show_contexts(n_components: torch.Tensor) -> list[int]:
    """The contexts drawn as landscapes: the first held-out context with each number of components (a fixed rule,
    not chosen by score)."""
    out = []
    for k in sorted(set(n_components.tolist())):
        out.append(int((n_components == k).nonzero()[0]))
    return out


def run(params: dict, *, seed: int, device, dtype=torch.float32, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Train the model, then score it on the held-out contexts; one table with ``kind`` = ``train`` (the loss log),
    ``context`` (scores per held-out context), ``positions`` (scores vs visible context points), ``landscape``
    (grid energies and true log-densities of the drawn contexts) and ``point`` (their context points)."""
    T = params["context_len"]
    base = seed * 1_000_003
    model = ie.EnergyTransformer(_device.generator(base + 1), max_len=T, width=params["width"],
                                 layers=params["layers"], heads=params["heads"]).to(device, dtype)
    log = ie.train(model, params, generator=_device.generator(base + 2), device=device, dtype=dtype,
                   progress=progress, desc=NAME)
    rows = [{"kind": "train", **r} for r in log]

    # held-out contexts: their own generator (never used in training)
    C, G = params["n_eval"], params["grid"]
    ctx, gmm = ie.draw_sequences(C, T - 1, params, _device.generator(base + 3))
    grid = ie.box_grid(ctx, params["grid_box"], G)[0]
    other = torch.roll(torch.arange(C), -1)
    lp_own = ie.gmm_log_prob(grid, gmm)
    lp_other = ie.gmm_log_prob(grid, gmm.index(other))
    ctx_d, grid_d = ctx.to(device, dtype), grid.to(device, dtype)
    block = params["eval_block"]
    energy = {p: ie.grid_energy(model, ctx_d, grid_d, p, block).to("cpu", torch.float64)
              for p in sorted(set(params["eval_positions"]) | {T - 1})}
    if params["grid_box_alt"] is not None:  # the same scores on a second box (reported, not claimed)
        grid_alt = ie.box_grid(ctx, params["grid_box_alt"], G)[0]
        E_alt = ie.grid_energy(model, ctx_d, grid_alt.to(device, dtype), None, block).to("cpu", torch.float64)
    E = energy[T - 1]
    ref = baselines(ctx, grid)
    rho = {
        "rho_own": spearman(E, -lp_own), "rho_other": spearman(E, -lp_other),
        "rho_oracle_other": spearman(-lp_own, -lp_other),
        **{f"rho_{k}_own": spearman(v, -lp_own) for k, v in ref.items()},
        **{f"rho_{k}_other": spearman(v, -lp_other) for k, v in ref.items()},
    }
    if params["grid_box_alt"] is not None:
        a_own, a_other = ie.gmm_log_prob(grid_alt, gmm), ie.gmm_log_prob(grid_alt, gmm.index(other))
        rho.update({"rho_own_alt": spearman(E_alt, -a_own), "rho_other_alt": spearman(E_alt, -a_other),
                    "rho_oracle_other_alt": spearman(-a_own, -a_other)})
    for c in range(C):
        rows.append({"kind": "context", "context": c, "other": int(other[c]),
                     "n_components": int(gmm.n_components[c]), **{k: float(v[c]) for k, v in rho.items()}})
    for p, Ep in sorted(energy.items()):
        r_own, r_other = spearman(Ep, -lp_own), spearman(Ep, -lp_other)
        for c in range(C):
            rows.append({"kind": "positions", "context": c, "visible": p, "rho_own": float(r_own[c]),
                         "rho_other": float(r_other[c])})
    shown = show_contexts(gmm.n_components)
    for c in shown:
        gx, gy = grid[c, :, 0], grid[c, :, 1]
        rows.extend({"kind": "landscape", "context": c, "n_components": int(gmm.n_components[c]),
                     "ix": j % G, "iy": j // G, "x": float(gx[j]), "y": float(gy[j]), "energy": float(E[c, j]),
                     "log_p": float(lp_own[c, j])} for j in range(G * G))
        rows.extend({"kind": "point", "context": c, "x": float(a), "y": float(b)} for a, b in ctx[c].tolist())
    table = pd.DataFrame(rows)
    n_params = sum(p.numel() for p in model.parameters())
    return table, {"n_params": int(n_params), "shown": shown}


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run (:func:`run`): training, then the held-out scores; the figure is in :mod:`.icl_energy_figure`."""
    tr = begin_target(config, NAME, threads)
    table, extras = run(tr.params, seed=config["seed"], device=tr.device, dtype=tr.dtype)
    return Runs(table, extras)
