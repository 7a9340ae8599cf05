"""Exponential storage with O(n) neurons by sparse recovery (target ``fig_sparse_recovery_capacity``).

Mazumdar and Rawat (NeurIPS 2015), *Associative Memory via a Sparse Recovery Model*; spec E1-E3 (see
:mod:`assocmem.sparse_recovery` for the model). Computed:

- E1: ``n`` variable neurons, stored vectors ``u G`` (``G`` ``(k, n)`` Gaussian, ``u`` uniform on ``{-Q..Q}^k``),
  ``n_stored`` of them; ``B`` = the last ``m = n - k`` right-singular vectors of the data matrix. Queries: stored
  vectors plus ``r`` errors of magnitude ``U(err_low, err_high)`` and random sign. Decoders: basis pursuit (the LP,
  solved here by ADMM in torch: scipy is not a dependency), ISTA (``lam``, fixed iterations, no debiasing), ISTA plus
  least squares on the detected support (thresholds ``support_tols``, the first decides the claim). Success:
  ``||x_hat - x||_inf < success_rel_tol * ||x||_inf``. Every ``k`` of
  ``ks`` (one ``m`` per value) runs basis pursuit; ISTA runs for the first.
- E2: the same queries against ``B`` learned from ``n_stored_large`` stored vectors of the same subspace (the first
  ``n_stored`` included).
- E3 (contrast at equal neuron count): the network has ``n + m`` neurons and recalls every vector of the subspace
  lattice, ``(2Q + 1)^k`` of them; a dense associative memory with ``n`` visible and ``m`` hidden neurons (one hidden
  unit per memory) stores ``m`` vectors (measured: softmax retrieval with the negative squared Euclidean similarity,
  ``dense_beta``, from the same corrupted queries); a Hebbian network of ``n`` neurons about ``0.14 n``.
- Linear-ish error correction: basis pursuit at ``n`` in ``scaling_ns`` (``k = n / 2``) with ``r`` a fraction of
  ``n``; ``r*(n)`` = the largest ``r`` with success >= ``min_success``.

Claims (project tolerances): ``B`` annihilates the stored set (max ``|B x| <= 1e-10 max|x|``); basis pursuit succeeds
on >= 95% of queries at the smallest ``r`` and fails (<= 5%) at the largest, with a transition that moves to larger
``r`` when ``m`` grows; ISTA without debiasing has a smaller ``r*`` than basis pursuit and debiasing recovers at least
half of the gap; the decisions with ``n_stored_large`` stored vectors equal those with ``n_stored`` (>= 99% agreement);
``r*(n) / n`` stays within a factor 2 across ``scaling_ns`` while ``r*`` grows, and the stored count
``(2Q + 1)^k`` exceeds the dense memory's ``m`` at every ``n``.

Run without Snakemake::

    python -m assocmem run fig_sparse_recovery_capacity --config config/config.yaml
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from ...registry import PAPERS, Target
from ... import device as _device
from ... import dynamics
from ... import sparse_recovery as sr
from ...results import begin_target
from ...stages import Runs

NAME = "sparse_recovery_capacity"
TARGET = "fig_sparse_recovery_capacity"
PAPER_KEY = "sparse_recovery"
PAPER = PAPERS["sparse_recovery"].citation
TARGET_SPECS = (
    Target("fig_sparse_recovery_capacity", PAPERS["sparse_recovery"], NAME, __name__, data=(), threads=1,
           summary="stored count vs corrected errors, basis pursuit and ISTA"),
)
ANNIHILATE_TOL = 1e-10
MIN_AGREEMENT = 0.99
MAX_FAIL = 0.05
HEBBIAN_CAPACITY = 0.14


def _decode(B, y, x, params, decoders):
    """Success per query for each decoder in ``decoders`` (name -> anything; ``dense`` -> the stored vectors).

    The constraints are learned in float64; the solvers run in ``params["solver_dtype"]``.
    """
    dt = _device.resolve_dtype(params["solver_dtype"])
    B, y, x = B.to(dt), y.to(dt), x.to(dt)
    s = y @ B.T
    out = {}
    if "basis_pursuit" in decoders:
        sol = sr.basis_pursuit(B, s, rho=params["admm_rho"], max_iter=params["admm_max_iter"], tol=params["admm_tol"])
        out["basis_pursuit"] = sr.recall_success(y - sol.e, x, params["success_rel_tol"])
    if "ista" in decoders:
        sol = sr.ista(B, s, lam=params["ista_lambda"], iterations=params["ista_iterations"])
        out["ista"] = sr.recall_success(y - sol.e, x, params["success_rel_tol"])
        for i, tol in enumerate(params["support_tols"]):  # the first threshold is the claim's
            e_db = sr.debias(B, s, sol.e, tol)
            out["ista_debiased" if i == 0 else f"ista_debiased_{tol:g}"] = sr.recall_success(
                y - e_db, x, params["success_rel_tol"])
    if "dense" in decoders:
        m = B.shape[0]
        res = dynamics.retrieve(decoders["dense"][:m].to(dt), y, params["dense_beta"], similarity="neg_sq_euclidean",
                                max_steps=10)
        out["dense_memory"] = sr.recall_success(res.state, x, params["success_rel_tol"])
    return out


def _queries(X: torch.Tensor, r_grid, per_r: int, params: dict, g: torch.Generator, pool: int):
    """The first ``pool`` stored vectors (cycled) plus errors; returns ``x``, ``y`` and the ``r`` of each query."""
    n = X.shape[1]
    xs, ys, rs = [], [], []
    for i, r in enumerate(r_grid):
        x = X[torch.arange(i * per_r, (i + 1) * per_r) % min(pool, X.shape[0])]
        e = sr.random_errors(per_r, n, r, params["err_low"], params["err_high"], g, dtype=X.dtype).to(X.device)
        xs.append(x)
        ys.append(x + e)
        rs += [r] * per_r
    return torch.cat(xs), torch.cat(ys), torch.tensor(rs)


def run(params: dict, *, seed: int, device: torch.device, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Success per query for every (experiment, n, k, stored count, decoder, r); plus the annihilation checks."""
    if list(params["ks"]) != sorted(params["ks"], reverse=True) or max(params["ks"]) >= params["n"]:
        raise ValueError(f"ks must be decreasing and below n; got {params['ks']}")
    n, Q, per_r = params["n"], params["Q"], params["queries_per_r"]
    rows, checks = [], {"support_tol": params["support_tols"][0]}
    steps = len(params["ks"]) + 1 + len(params["scaling_ns"])
    bar = tqdm(total=steps, desc=NAME, unit="run", disable=not progress)

    def record(exp, n_, k_, stored, r, succ):
        for name, ok in succ.items():
            for rr, o in zip(r.tolist(), ok.cpu().tolist()):
                rows.append({"experiment": exp, "n": n_, "k": k_, "m": n_ - k_, "stored": stored, "decoder": name,
                             "r": rr, "success": bool(o)})

    for j, k in enumerate(params["ks"]):
        g = _device.generator(seed * 7919 + k)
        G = sr.subspace_generator(n, k, g).to(device)
        X, _ = sr.stored_vectors(G.cpu(), params["n_stored"], Q, g)
        X = X.to(device)
        B, rank = sr.learn_constraints(X, n - k)
        checks[f"k{k}_rank"] = rank
        checks[f"k{k}_annihilation"] = float((X @ B.T).abs().max() / X.abs().max())
        # queries come from the first m_min stored vectors, all of which the dense memory stores as well
        x, y, r = _queries(X, params["r_grid"], per_r, params, g, pool=n - params["ks"][0])
        decoders = {"basis_pursuit": True}
        if j == 0:
            decoders.update(ista=True, dense=X)
        record("E1", n, k, params["n_stored"], r, _decode(B, y, x, params, decoders))
        bar.update()
        if j == 0:
            extra, _ = sr.stored_vectors(G.cpu(), params["n_stored_large"] - params["n_stored"], Q, g)
            XL = torch.cat([X, extra.to(device)])
            BL, rankL = sr.learn_constraints(XL, n - k, gram=True)
            checks["large_rank"] = rankL
            checks["large_annihilation"] = float((XL @ BL.T).abs().max() / XL.abs().max())
            del XL
            record("E2", n, k, params["n_stored_large"], r, _decode(BL, y, x, params, {"basis_pursuit": True}))
            bar.update()
    for n_s in params["scaling_ns"]:
        k = n_s // 2
        g = _device.generator(seed * 104_729 + n_s)
        G = sr.subspace_generator(n_s, k, g)
        X, _ = sr.stored_vectors(G, max(2 * n_s, params["queries_per_r"]), Q, g)
        X = X.to(device)
        B, rank = sr.learn_constraints(X, n_s - k)
        checks[f"scaling_n{n_s}_rank"] = rank
        r_grid = sorted({max(1, round(f * n_s)) for f in params["scaling_r_fractions"]})
        x, y, r = _queries(X, r_grid, per_r, params, g, pool=X.shape[0])
        record("scaling", n_s, k, X.shape[0], r, _decode(B, y, x, params, {"basis_pursuit": True}))
        bar.update()
    bar.close()
    return pd.DataFrame(rows), checks


def run_stage(config: dict, data: dict[str, Path], threads: int | None = None) -> Runs:
    """The model run: success per query (:func:`run`), with the annihilation and rank checks in the extras
    (``checks``); the figure is in :mod:`.sparse_recovery_capacity_figure`."""
    tr = begin_target(config, NAME, threads)
    raw, checks = run(tr.params, seed=config["seed"], device=tr.device)
    return Runs(raw, {"checks": checks})
