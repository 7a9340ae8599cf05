"""Four-mode phase diagram of CDAM over (a, h) and beta (target ``fig_cdam_modes``; CDAM spec E2).

Burns (ICML 2024) describes four modes of recall -- auto-association, narrow hetero-association, wide
hetero-association and neutral quiescence -- as the auto-association strength ``a`` and the
hetero-association strength ``h`` vary. The paper's figure and formulas were not available; the
boundaries drawn here are *derived* in the large-n, argmax limit (:func:`assocmem.cdam.theory_modes`):
cued at ``mu``, auto if ``a > max(0, h max_nu M[mu, nu])``; quiescent if ``a <= 0`` and
``a + h lambda_max(M) <= 0``; narrow if ``0 < a`` otherwise; wide if ``a <= 0 < a + h lambda_max(M)``.
These are conditions on fixed points. Two things they do not cover, seen in the simulations: a mixture
of the cue and its neighbours is also a fixed point for some ``a < 0`` (on a cycle down to
``a / h = (1 - sqrt 5) / 4``) but drifts away from the cue there, so the narrow/wide line stays at
``a = 0``; and at large ``beta n`` a moving (travelling) state can keep a memory above threshold just
inside the quiescent region.

Simulation: one U[0,1] pattern of ``n`` units per node of each memory graph (cycle, Zachary's karate
club, Tutte graph, Erdos-Renyi and Watts-Strogatz random graphs), undirected ``M = D^-1/2 A D^-1/2``,
every node cued with uniform noise, ``steps`` updates; the (a, h, beta) grid and all cues are one
batch (:func:`assocmem.cdam.run`). Each run is classified from its final state
(:func:`assocmem.cdam.classify_modes`, a project choice): the recalled set is the memories whose
correlation with the final state is within ``margin`` of the largest; quiescent if no memory correlates
above ``threshold``; auto if the recalled set is the cue alone; narrow if it holds the cue and lies
within the cue's closed neighbourhood; wide otherwise (it reaches >= 2 steps, or the cue dropped out). The table also records the spec's features (correlation with
the cue, graph distance of the most correlated memory, memories above ``threshold``, max correlation).
A second prediction runs the large-n overlap dynamics (:func:`assocmem.cdam.overlap_dynamics`) at the
same effective inverse temperature ``beta n / 12`` and classifies them by the same rules.

Claims (project tolerance ``MIN_AGREEMENT``): away from the boundaries (the theory's mode unchanged
when a and h move by ``boundary_margin``) the simulated mode matches the theory for >= 0.9 of (cell,
cue) runs, pooled and for each mode alone; all four modes occur; the large-n overlap dynamics predict
the simulated mode for >= 0.9 of all runs. The (a, h, beta) grid and every cue of a graph run as one
batch; loops remain over graphs and seeds only (settings are split into chunks only above
``max_batch_states``, for the paper scale on one GPU).

Run without Snakemake::

    python -m assocmem.experiments.cdam_modes run --config config/config.yaml \\
        --out-prefix results/cdam/fig_cdam_modes
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from . import cli
from .. import cdam
from .. import device as _device
from ..results import Claim, add_caption, begin_target, finish_target, pyplot

NAME = "cdam_modes"
TARGET = "fig_cdam_modes"
PAPER_KEY = "cdam"
PAPER = "Burns 2024, Semantically-correlated memories in a dense associative model (ICML 2024)"
MIN_AGREEMENT = 0.9  # project tolerance: simulated mode == theory away from the boundaries
VAR_U01 = 1.0 / 12.0  # variance of a U[0,1] unit


def make_graph(name: str, params: dict, seed: int) -> torch.Tensor:
    """Adjacency ``(p, p)`` (float64) of one of the spec's graphs; random graphs are seeded and connected."""
    import networkx as nx

    p = params["p_random"]
    if name == "cycle":
        return cdam.cycle_graph(params["p_cycle"])
    if name == "karate":
        G = nx.karate_club_graph()
    elif name == "tutte":
        G = nx.tutte_graph()
    elif name == "erdos_renyi":
        for t in range(1000):
            G = nx.gnp_random_graph(p, params["er_edge_prob"], seed=seed * 1000 + t)
            if nx.is_connected(G):
                break
        else:
            raise RuntimeError("no connected Erdos-Renyi graph in 1000 tries; raise er_edge_prob")
    elif name == "watts_strogatz":
        G = nx.connected_watts_strogatz_graph(p, params["ws_k"], params["ws_rewire"], seed=seed)
    else:
        raise ValueError(f"unknown graph {name!r}")
    return torch.tensor(nx.to_numpy_array(G, nodelist=sorted(G.nodes()), weight=None), dtype=torch.float64)


def grid(params: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The (beta, a, h) grid flattened to settings, beta-major: ``a``, ``h``, ``beta`` each ``(S,)``."""
    b, a, h = torch.meshgrid(*(torch.tensor(params[k], dtype=torch.float64) for k in ("betas", "a_values", "h_values")),
                             indexing="ij")
    return a.reshape(-1), h.reshape(-1), b.reshape(-1)


def interior(M: torch.Tensor, a: torch.Tensor, h: torch.Tensor, margin: float) -> torch.Tensor:
    """``(S, p)``: True where the theory's mode is unchanged at (a +- margin, h +- margin) (away from boundaries)."""
    th = cdam.theory_modes(M, a, h)
    same = torch.ones_like(th, dtype=torch.bool)
    for da in (-margin, 0.0, margin):
        for dh in (-margin, 0.0, margin):
            same &= cdam.theory_modes(M, a + da, h + dh) == th
    return same


def run(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype, suffix: str = "") -> pd.DataFrame:
    """One row per (graph, seed, beta, a, h, cue): simulated, theory and overlap-dynamics modes and features.

    ``suffix`` is appended to the graph names in the table (the large-n check's rows)."""
    a, h, beta = grid(params)
    frames = []
    bar = tqdm(total=len(params["graphs"]) * params["seeds"], desc=f"{NAME}{suffix}", unit="graph", mininterval=2)
    for gi, name in enumerate(params["graphs"]):
        for s in range(params["seeds"]):
            bar.update()
            A = make_graph(name, params, seed * 100 + s)
            p = A.shape[0]
            M = cdam.normalized_adjacency(A)
            dist = cdam.graph_distance(A)
            gen = _device.generator(seed * 100_003 + 1_000 * gi + s)
            Xi = torch.rand(p, params["n"], generator=gen, dtype=torch.float64)
            cues = cdam.noisy_cues(Xi, params["noise"], gen)
            Xd, Md = Xi.to(device, dtype), M.to(device, dtype)
            # One batch of S * p states; split into chunks of settings only when it exceeds max_batch_states
            # (paper scale on one GPU).
            per = max(1, params["max_batch_states"] // p)
            corr = torch.cat([
                cdam.run(Xd, Md, cues.to(device, dtype), a[i:i + per], h[i:i + per], beta[i:i + per],
                         eta=params["eta"], kappa=params["kappa"], steps=params["steps"],
                         keep_state=False).final_correlations
                for i in range(0, len(a), per)])  # (S, C, p)
            sim = cdam.classify_modes(corr, dist, threshold=params["threshold"], margin=params["margin"])
            beta_eff = beta * params["n"] * VAR_U01
            c = cdam.overlap_dynamics(M, torch.eye(p, dtype=torch.float64), a, h, beta_eff=beta_eff,
                                      eta=params["eta"], kappa=params["kappa"], steps=params["steps"])
            red = cdam.classify_modes(cdam.overlap_correlations(c), dist, threshold=params["threshold"],
                                      margin=params["margin"])
            th = cdam.theory_modes(M, a, h)
            inside = interior(M, a, h, params["boundary_margin"])
            corr = corr.double().cpu()
            idx = torch.arange(p)
            S = len(a)
            frames.append(pd.DataFrame(dict(
                graph=name + suffix, n=params["n"], seed=s, beta=beta.repeat_interleave(p).numpy(), a=a.repeat_interleave(p).numpy(),
                h=h.repeat_interleave(p).numpy(), cue=idx.repeat(S).numpy(),
                sim_mode=sim.reshape(-1).numpy(), theory_mode=th.reshape(-1).numpy(),
                overlap_mode=red.reshape(-1).numpy(), interior=inside.reshape(-1).numpy(),
                cue_corr=corr[:, idx, idx].reshape(-1).numpy(), max_corr=corr.amax(-1).reshape(-1).numpy(),
                argmax_distance=dist[idx, corr.argmax(-1)].reshape(-1).numpy(),
                n_above=(corr > params["threshold"]).sum(-1).reshape(-1).numpy(),
            )))
    bar.close()
    return pd.concat(frames, ignore_index=True)


LARGE_N = "cycle_large_n"


def run_large_n(params: dict, *, seed: int, device: torch.device, dtype: torch.dtype) -> pd.DataFrame:
    """The large-n check: the cycle at ``large_n`` units per pattern on a coarse (a, h) grid at one beta,
    ``beta * n`` held at ``large_n_beta_n`` (the theory is the large-n limit at fixed effective temperature)."""
    sub = {**params, "graphs": ["cycle"], "n": params["large_n"], "a_values": params["large_n_a_values"],
           "h_values": params["large_n_h_values"], "betas": [params["large_n_beta_n"] / params["large_n"]]}
    return run(sub, seed=seed + 7, device=device, dtype=dtype, suffix="_large_n")


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (graph, beta, a, h): fraction of runs in each simulated mode, majority modes, agreement."""
    raw = raw.assign(agree=raw["sim_mode"] == raw["theory_mode"], agree_overlap=raw["sim_mode"] == raw["overlap_mode"])
    for k, m in enumerate(cdam.MODES):
        raw[f"frac_{m}"] = raw["sim_mode"] == k
        raw[f"interior_runs_{m}"] = raw["interior"] & (raw["theory_mode"] == k)
        raw[f"interior_agree_{m}"] = raw[f"interior_runs_{m}"] & raw["agree"]
    g = raw.groupby(["graph", "n", "beta", "a", "h"], sort=False)
    out = g.agg(**{f"frac_{m}": (f"frac_{m}", "mean") for m in cdam.MODES},
                sim_mode=("sim_mode", lambda x: cdam.MODES[int(np.bincount(x, minlength=4).argmax())]),
                theory_mode=("theory_mode", lambda x: cdam.MODES[int(np.bincount(x, minlength=4).argmax())]),
                overlap_mode=("overlap_mode", lambda x: cdam.MODES[int(np.bincount(x, minlength=4).argmax())]),
                agreement=("agree", "mean"), agreement_overlap=("agree_overlap", "mean"),
                interior_fraction=("interior", "mean"),
                interior_runs=("interior", "sum"),
                interior_agree=("agree", lambda x: float(x[raw.loc[x.index, "interior"]].sum())),
                cue_corr=("cue_corr", "mean"), max_corr=("max_corr", "mean"),
                argmax_distance=("argmax_distance", "mean"), n_above=("n_above", "mean"),
                n_runs=("agree", "size"),
                **{f"{c}_{m}": (f"{c}_{m}", "sum") for m in cdam.MODES for c in ("interior_runs", "interior_agree")},
                ).reset_index()
    return out


def _pooled(table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = table.groupby(by, sort=False)[["interior_agree", "interior_runs"]].sum()
    g["agreement"] = g["interior_agree"] / g["interior_runs"].clip(lower=1)
    return g.reset_index()


def _per_mode(table: pd.DataFrame) -> tuple[dict, dict]:
    per_mode = {m: (table[f"interior_agree_{m}"].sum(), table[f"interior_runs_{m}"].sum()) for m in cdam.MODES
                if f"interior_runs_{m}" in table}
    return per_mode, {m: a / r for m, (a, r) in per_mode.items() if r > 0}


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    large = table[table["graph"] == LARGE_N]
    table = table[table["graph"] != LARGE_N]
    total = table["interior_runs"].sum()
    frac = float(table["interior_agree"].sum() / max(total, 1))
    per = _pooled(table, ["graph", "beta"])
    c1 = Claim(
        id="modes_match_theory_away_from_boundaries",
        statement="The simulated mode (auto / narrow / wide / quiescent) matches the derived large-n, argmax-limit "
                  "boundaries away from them",
        paper_value="four modes separated by the derived boundaries (paper's formulas unverified)",
        our_value=f"{frac:.3f} of {int(total)} interior (cell, cue) runs; per graph, beta: "
                  + "; ".join(f"{r.graph} b={r.beta:g}: {r.agreement:.2f}" for r in per.itertuples()),
        tolerance=f">= {MIN_AGREEMENT} of interior runs (theory mode unchanged within the boundary margin)",
        passed=bool(total > 0 and frac >= MIN_AGREEMENT),
    )
    seen = {m for m in cdam.MODES if (table["sim_mode"] == m).any()}
    c2 = Claim(
        id="four_modes_appear",
        statement="All four modes occur as the majority simulated mode somewhere on the (a, h) grid",
        paper_value="auto-association, narrow and wide hetero-association, neutral quiescence",
        our_value="majority modes seen: " + ", ".join(m for m in cdam.MODES if m in seen),
        tolerance="all four",
        passed=bool(len(seen) == 4),
    )
    per_mode, rates = _per_mode(table)
    c4 = Claim(
        id="each_mode_matches_theory",
        statement="Each of the four modes, taken alone, matches the derived boundaries away from them",
        paper_value="four modes separated by the derived boundaries (paper's formulas unverified)",
        our_value="; ".join(f"{m}: {rates[m]:.3f} of {int(per_mode[m][1])}" for m in rates) or "no interior runs",
        tolerance=f">= {MIN_AGREEMENT} of the interior runs of every mode the theory predicts",
        passed=bool(len(rates) == 4 and min(rates.values()) >= MIN_AGREEMENT),
    )
    w = table["n_runs"]
    ov = float((table["agreement_overlap"] * w).sum() / w.sum())
    c3 = Claim(
        id="overlap_dynamics_predict_simulation",
        statement="The large-n overlap dynamics at the same beta * n * Var(xi) predict the simulated mode",
        paper_value="(derived; not in the paper)",
        our_value=f"{ov:.3f} of all runs",
        tolerance=f">= {MIN_AGREEMENT} of all (cell, cue) runs",
        passed=bool(ov >= MIN_AGREEMENT),
    )
    claims = [c1, c4, c2, c3]
    if len(large):
        lp, lr = _per_mode(large)
        n_large = int(large["n"].iloc[0]) if "n" in large else 0
        claims.append(Claim(
            id="large_n_check_each_mode",
            statement="Large-n check: on the cycle at large n (same beta * n), each mode matches the derived "
                      "boundaries away from them",
            paper_value="(derived large-n limit; paper's formulas unverified)",
            our_value=f"n = {n_large}: " + ("; ".join(f"{m}: {lr[m]:.3f} of {int(lp[m][1])}" for m in lr)
                                            or "no interior runs"),
            tolerance=f">= {MIN_AGREEMENT} of the interior runs of every mode the theory predicts on the coarse grid",
            passed=bool(len(lr) > 0 and min(lr.values()) >= MIN_AGREEMENT),
        ))
    return claims


def caption(params: dict, scale: str, verdict_text: str, device: str) -> str:
    return (
        f"CDAM four-mode phase diagram (Burns 2024, ICML; spec E2; the paper's figure and formulas were not seen). "
        f"Graphs: {', '.join(params['graphs'])} (cycle p = {params['p_cycle']}; random graphs p = {params['p_random']}, "
        f"Erdos-Renyi edge probability {params['er_edge_prob']:g}, Watts-Strogatz k = {params['ws_k']}, rewiring "
        f"{params['ws_rewire']:g}; connected); undirected M = D^-1/2 A D^-1/2; U[0,1] patterns of n = {params['n']} "
        f"units; every node cued with noise {params['noise']:g}; eta = {params['eta']:g}, kappa = {params['kappa']:g}, "
        f"T = {params['steps']}; beta in {{{', '.join(f'{b:g}' for b in params['betas'])}}}; scale '{scale}', "
        f"{params['seeds']} seed(s) (patterns, noise, random graphs). Colour: majority simulated mode per (a, h) cell "
        f"(recalled set = memories within {params['margin']:g} of the largest correlation; quiescent: none above "
        f"{params['threshold']:g}; auto: the cue alone; narrow: holds the cue, within its closed neighbourhood; "
        f"wide: otherwise -- a project choice). Lines: derived large-n argmax-limit boundaries a = h max M (auto, solid; "
        f"dotted: range over cues), a = 0 (narrow/wide, dashed), a + h lambda_max(M) = 0 (quiescence, dash-dot). "
        f"Agreement of simulated and theory mode counted over (cell, cue) pairs away from the boundaries (theory "
        f"unchanged within +-{params['boundary_margin']:g} in a and h); panel titles give it per panel. Not drawn: a "
        f"large-n check on the cycle, n = {params['large_n']}, beta * n = {params['large_n_beta_n']:g}, a in "
        f"{{{', '.join(f'{v:g}' for v in params['large_n_a_values'])}}}, h in "
        f"{{{', '.join(f'{v:g}' for v in params['large_n_h_values'])}}} (claim large_n_check_each_mode). "
        f"Caveat: the mode classifier was revised twice after seeing simulations, and the per-mode and large-n "
        f"claims were added afterwards (the pooled agreement and its tolerance, {MIN_AGREEMENT:g}, are in the JSON). "
        f"Device: {device}. Verdict: {verdict_text}."
    )


def make_figure(table: pd.DataFrame, params: dict, caption_text: str, graphs: dict):
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    plt, sns = pyplot("white")
    names, betas = params["graphs"], params["betas"]
    pal = sns.color_palette("colorblind", 3)
    colors = [pal[0], pal[1], pal[2], (0.78, 0.78, 0.78)]  # auto, narrow, wide, quiescent (grey)
    cmap = ListedColormap(colors)
    fig, axes = plt.subplots(len(betas), len(names), figsize=(max(3.0 * len(names), 11.0), 2.7 * len(betas)),
                             squeeze=False,
                             sharex=True, sharey=True)
    av, hv = np.array(params["a_values"]), np.array(params["h_values"])
    hh = np.linspace(hv.min(), hv.max(), 200)
    for j, name in enumerate(names):
        M = graphs[name]
        lam = float(torch.linalg.eigvalsh(M)[-1])
        off = (M - torch.diag(torch.diag(M))).amax(-1)
        for i, b in enumerate(betas):
            ax = axes[i, j]
            sub = table[(table["graph"] == name) & (table["beta"] == b)]
            img = np.full((len(hv), len(av)), np.nan)
            for r in sub.itertuples():
                img[np.searchsorted(hv, r.h), np.searchsorted(av, r.a)] = cdam.MODES.index(r.sim_mode)
            da, dh = (av[1] - av[0]) / 2 if len(av) > 1 else 0.5, (hv[1] - hv[0]) / 2 if len(hv) > 1 else 0.5
            ax.imshow(img, origin="lower", cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto",
                      extent=(av[0] - da, av[-1] + da, hv[0] - dh, hv[-1] + dh))
            ax.plot(hh * float(off.max()), hh, "k-", lw=1)
            if float(off.min()) != float(off.max()):
                ax.plot(hh * float(off.min()), hh, "k:", lw=1)
            ax.axvline(0, color="k", lw=1, ls="--")
            ax.plot(-lam * hh, hh, "k-.", lw=1)
            ax.set_xlim(av[0] - da, av[-1] + da)
            ax.set_ylim(hv[0] - dh, hv[-1] + dh)
            pooled = _pooled(sub, ["graph"])
            agr = float(pooled["agreement"].iloc[0]) if len(pooled) else float("nan")
            ax.set_title(f"{name}, beta={b:g} (agree {agr:.2f})", fontsize=8)
            if i == len(betas) - 1:
                ax.set_xlabel("auto-association a")
            if j == 0:
                ax.set_ylabel("hetero-association h")
    fig.legend(handles=[Patch(color=colors[k], label=m) for k, m in enumerate(cdam.MODES)], loc="upper right",
               fontsize=7, ncol=4)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    add_caption(fig, caption_text)
    return fig


def run_target(config: dict, out_prefix: Path, threads: int | None = None) -> dict:
    tr = begin_target(config, NAME, threads)
    params, dev, dtype = tr.params, tr.device, tr.dtype
    raw = run(params, seed=config["seed"], device=dev, dtype=dtype)
    raw = pd.concat([raw, run_large_n(params, seed=config["seed"], device=dev, dtype=dtype)], ignore_index=True)
    run_wall = time.perf_counter() - tr.started
    table = summarize(raw)
    claims = evaluate_claims(table)
    graphs = {g: cdam.normalized_adjacency(make_graph(g, params, config["seed"] * 100)) for g in params["graphs"]}
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], v, _device.describe(dev)),
        figure=lambda cap: make_figure(table, params, cap, graphs),
        kappa=params["kappa"],
        data="networkx graphs (cycle, karate club, Tutte, seeded Erdos-Renyi and Watts-Strogatz); synthetic U[0,1] patterns",
        substitutions="the paper's phase diagram was not seen: boundaries derived (large n, argmax limit), mode "
                      "classifier and grid are project choices",
    )


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET, argv=argv)


if __name__ == "__main__":
    main()
