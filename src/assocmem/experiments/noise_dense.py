"""Does noise in the update help a dense associative memory? (target ``fig_dense_noise_recall``; beyond
Karbasi et al. 2013, *Noise-Enhanced Associative Memories*).

A question, not a claim of any paper. ``n_stored`` random binary (+-1) patterns of ``d`` units are stored in
the softmax dense associative memory of :mod:`assocmem.dynamics` (``h = Xi^T softmax(beta Xi x)``, the core
update). Cues: a stored pattern with a fraction ``corruption`` of its units flipped; the same cues (nested flip sets)
for every beta and ``T``, so comparisons between temperatures are paired. Update of a binary
state: at temperature ``T = 0`` ``x <- sign(h)``; at ``T > 0`` every unit is sampled,
``P(x_i = +1) = 1 / (1 + exp(-2 h_i / T))`` (Glauber / finite-temperature update). ``noisy_steps`` updates
at ``T``, then ``final_steps`` noiseless updates read the state out (the same total for every ``T``). A cue
is retrieved when the final state equals the stored pattern it came from. All cues, corruptions,
temperatures and betas are one batch.

Criterion, fixed before looking at the data: noise helps if, for some beta and some corruption level in
the upper half of the grid, some ``T > 0`` retrieves a fraction larger than ``T = 0`` by at least
``max(0.05, 2 standard errors of the difference)``. The claim's ``passed`` is the answer (``not
reproduced`` = noise did not help).

Run without Snakemake::

    python -m assocmem.experiments.noise_dense run --config config/config.yaml \\
        --out-prefix results/noise/fig_dense_noise_recall
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import device as _device
from .. import dynamics
from ..results import Claim, add_caption, begin_target, finish_target, pyplot
from . import cli

NAME = "noise_dense"
TARGET = "fig_dense_noise_recall"
PAPER_KEY = "noise"
PAPER = "beyond Karbasi et al. 2013 (Noise-Enhanced Associative Memories): noise in a dense associative memory"
MIN_GAIN = 0.05


def noisy_update(Xi: torch.Tensor, x: torch.Tensor, beta: torch.Tensor, temperature: torch.Tensor,
                 generator: torch.Generator) -> torch.Tensor:
    """One binary update: ``sign(h)`` where ``T = 0``, Glauber sampling at ``T > 0``; ``h`` from the core update."""
    h = dynamics.update(Xi, x, beta)
    det = torch.where(h >= 0, 1.0, -1.0).to(x.dtype)
    T = temperature[:, None]
    p = torch.sigmoid(2 * h / T.clamp_min(1e-12))
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64).to(x.device, x.dtype)
    sampled = torch.where(u < p, 1.0, -1.0).to(x.dtype)
    return torch.where(T > 0, sampled, det)


def run(params: dict, *, seed: int, device=None, dtype=torch.float32) -> pd.DataFrame:
    device = torch.device("cpu") if device is None else device
    rows = []
    grid = [(b, c, t) for b in params["betas"] for c in params["corruptions"] for t in params["temperatures"]]
    B = params["cues"]
    for s in range(params["seeds"]):
        g = _device.generator(seed * 7_919 + s)
        Xi = (torch.randint(0, 2, (params["n_stored"], params["d"]), generator=g) * 2 - 1).to(device, dtype)
        # The same B cues (targets and flip draws) for every beta and T: paired comparisons.
        cs = params["corruptions"]
        target0 = torch.randint(0, params["n_stored"], (B,), generator=g)
        draw = torch.rand(B, params["d"], generator=g, dtype=torch.float64)
        flips = {c: draw < c for c in cs}
        target = target0.repeat(len(grid))
        beta = torch.tensor([b for b, _, _ in grid], dtype=dtype).repeat_interleave(B).to(device)
        temp = torch.tensor([t for _, _, t in grid], dtype=dtype).repeat_interleave(B).to(device)
        flip = torch.cat([flips[c] for _, c, _ in grid]).to(device)
        x = torch.where(flip, -Xi[target.to(device)], Xi[target.to(device)])
        for _ in range(params["noisy_steps"]):
            x = noisy_update(Xi, x, beta, temp, g)
        zero = torch.zeros_like(temp)
        for _ in range(params["final_steps"]):
            x = noisy_update(Xi, x, beta, zero, g)
        ok = (x == Xi[target.to(device)]).all(1).cpu().numpy()
        for i, (b, c, t) in enumerate(grid):
            rows.append(dict(seed=s, beta=b, corruption=c, temperature=t, retrieved=ok[i * B:(i + 1) * B].mean(),
                             n_cues=B))
    return pd.DataFrame(rows)


def summarize(raw: pd.DataFrame) -> pd.DataFrame:
    t = raw.groupby(["beta", "corruption", "temperature"]).agg(retrieved=("retrieved", "mean"),
                                                                n_cues=("n_cues", "sum")).reset_index()
    t["se"] = np.sqrt(t["retrieved"] * (1 - t["retrieved"]) / t["n_cues"])
    return t


def evaluate_claims(table: pd.DataFrame) -> list[Claim]:
    cs = sorted(table["corruption"].unique())
    high = cs[len(cs) // 2:]
    best, helped = None, False
    for (b, c), s in table[table["corruption"].isin(high)].groupby(["beta", "corruption"]):
        base = s[s["temperature"] == 0]
        if base.empty:
            continue
        b0 = base.iloc[0]
        for r in s[s["temperature"] > 0].itertuples():
            gain = r.retrieved - b0["retrieved"]
            need = max(MIN_GAIN, 2 * float(np.hypot(r.se, b0["se"])))
            helped |= bool(gain >= need)
            if best is None or gain > best[0]:
                best = (gain, need, b, c, r.temperature, b0["retrieved"], r.retrieved)
    if best is None:
        return [Claim(id="update_noise_raises_retrieval", statement="needs T = 0 and T > 0", our_value="missing",
                      tolerance="-", passed=False)]
    gain, need, b, c, T, r0, r1 = best
    return [Claim(
        id="update_noise_raises_retrieval",
        statement="Noise in the update (finite temperature) raises the fraction retrieved at high cue corruption "
                  "(a question; criterion fixed before looking)",
        paper_value="Karbasi et al. find internal noise helps their constraint network; untested for dense memories",
        our_value=f"largest gain over T = 0 at corruption >= {high[0]:g}: {gain:+.3f} (beta = {b:g}, corruption = "
                  f"{c:g}, T = {T:g}: {r1:.3f} vs {r0:.3f})",
        tolerance=f"a gain of at least max({MIN_GAIN}, 2 SE) for some beta and T > 0",
        passed=helped,
    )]


def caption(params: dict, scale: str, claims: list[Claim]) -> str:
    c = claims[0]
    answer = "YES, noise helped" if c.passed else "NO, noise did not help"
    return (f"Noise in a dense associative memory (beyond Karbasi et al. 2013). {params['n_stored']} random +-1 "
            f"patterns of d = {params['d']} units, softmax update h = Xi^T softmax(beta Xi x) (core), binary state: "
            f"sign(h) at T = 0, Glauber sampling P(+1) = sigmoid(2h/T) at T > 0; {params['noisy_steps']} steps at T "
            f"then {params['final_steps']} at T = 0. Cues: a stored pattern with a fraction of units flipped; "
            f"retrieved = exact match; the same cues serve every beta and T (paired). {params['cues']} cues x {params['seeds']} seed(s) per point, scale '{scale}'. "
            f"Criterion fixed before looking: noise helps if some T > 0 beats T = 0 by at least max({MIN_GAIN}, "
            f"2 SE) at a corruption in the upper half of the grid for some beta. Answer: {answer} ({c.our_value}).")


def make_figure(table: pd.DataFrame, cap: str):
    plt, sns = pyplot()
    betas = sorted(table["beta"].unique())
    fig, axes = plt.subplots(1, len(betas), figsize=(max(10.5, 3.8 * len(betas)), 3.4), sharey=True, squeeze=False)
    temps = sorted(table["temperature"].unique())
    colors = dict(zip(temps, sns.color_palette("rocket_r", len(temps))))
    for ax, b in zip(axes[0], betas):
        for T in temps:
            s = table[(table["beta"] == b) & (table["temperature"] == T)].sort_values("corruption")
            ax.errorbar(s["corruption"], s["retrieved"], yerr=s["se"], marker="o", color=colors[T], label=f"T = {T:g}",
                        capsize=2)
        ax.set_title(f"beta = {b:g}")
        ax.set_xlabel("fraction of cue units flipped")
    axes[0, 0].set_ylabel("fraction retrieved")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    add_caption(fig, cap)
    return fig


def run_target(config: dict, out_prefix: Path, threads: int | None = None) -> dict:
    tr = begin_target(config, NAME, threads)
    params = tr.params
    dtype = torch.float32 if tr.dtype == torch.bfloat16 else tr.dtype
    raw = run(params, seed=config["seed"], device=tr.device, dtype=dtype)
    run_wall = time.perf_counter() - tr.started
    table = summarize(raw)
    claims = evaluate_claims(table)
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table, run_wall_s=run_wall,
        caption=lambda v: caption(params, config["scale"], claims) + (
            f" Verdict: {v} (for this question 'reproduced' means yes, 'not reproduced' means no)."),
        figure=lambda cap: make_figure(table, cap),
        dtype=dtype, data="synthetic random +-1 patterns", substitutions="none (a question beyond the paper)",
    )


def main(argv: list[str] | None = None) -> None:
    cli.target_main(NAME, __doc__, run_target, paper_key=PAPER_KEY, target=TARGET, argv=argv)


if __name__ == "__main__":
    main()
