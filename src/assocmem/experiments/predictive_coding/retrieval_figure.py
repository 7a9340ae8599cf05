"""Figure stage of ``fig_pcn_retrieval``: claims, caption and figure (fraction retrieved and error vs N for the PCN,
the autoencoder and the MHN; the PCN's memorisation energy; example recalls) from the run table and extras alone
(the run is described in :mod:`.retrieval`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ... import stages
from ...claims import Claim
from ...plotting import add_caption, pyplot
from ...results import finish_target
from .common import CIFAR_NOTE, IMAGE_SHAPE
from .retrieval import MODELS, NAME, PAPER, PAPER_KEY

LABELS = {"pcn": "PCN", "ae": "autoencoder", "mhn": "MHN"}
CUE_LABELS = {"noise": "noisy cue", "mask": "bottom half masked"}
# Project tolerances. E1 (spec): >= 90% retrieved at N = claim_n. The memorisation criteria below were fixed after the
# first exploratory runs (the spec says only "falls monotonically, up to noise, to near zero"); the claim says so.
MIN_RETRIEVED = 0.9
TRACE_BLOCKS = 10  # the energy trace, averaged over 10 consecutive blocks of epochs, must fall block by block
END_FRACTION = 0.05  # the last block's mean energy <= 5% of the first epoch's
NEAR_ZERO = 0.2  # the stored set's final sensory error per pixel <= 0.2 x the retrieval threshold
THRESHOLDS = np.geomspace(1e-4, 0.1, 31)


def summarize(raw: pd.DataFrame, params: dict) -> pd.DataFrame:
    """The tidy table: ``summary`` (per N, corruption and model: fraction retrieved, mean and median MSE, the cues'
    MSE, beta), ``curve`` (fraction retrieved vs threshold at ``claim_n``), and the run's ``trace``, ``beta`` and
    ``inference`` rows."""
    thr = params["threshold"]
    rec = raw[raw["kind"] == "recall"]
    d = int(np.prod(IMAGE_SHAPE))
    rows = []
    for (N, kind, model), g in rec.groupby(["N", "corruption", "model"], sort=True):
        n_pix = d if kind == "noise" else d // 2
        rows.append({"kind": "summary", "N": N, "corruption": kind, "model": model,
                     "fraction_retrieved": float((g["mse"] < thr).mean()), "mean_mse": float(g["mse"].mean()),
                     "median_mse": float(g["mse"].median()), "cue_mse": float(g["cue_mse"].mean()),
                     "fraction_retrieved_summed": float((g["mse"] * n_pix < thr).mean()),
                     "beta": float(g["beta"].iloc[0]), "n_images": len(g)})
        if N == params["claim_n"]:
            rows += [{"kind": "curve", "N": N, "corruption": kind, "model": model, "threshold": float(t),
                      "fraction_retrieved": float((g["mse"] < t).mean())} for t in THRESHOLDS]
    other = raw[raw["kind"].isin(["trace", "beta", "inference"])]
    return pd.concat([pd.DataFrame(rows), other], ignore_index=True)


def _summary(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["kind"] == "summary"]


def _cell(table: pd.DataFrame, N: int, kind: str, model: str):
    s = _summary(table)
    g = s[(s["N"] == N) & (s["corruption"] == kind) & (s["model"] == model)]
    return g.iloc[0] if len(g) else None


def memorisation(table: pd.DataFrame, threshold: float) -> list[dict]:
    """Per N, the memorisation criteria on the PCN's energy trace."""
    tr = table[(table["kind"] == "trace") & (table["model"] == "pcn")]
    out = []
    for N, g in tr.groupby("N", sort=True):
        e = g.sort_values("epoch")["energy"].to_numpy()
        blocks = [b.mean() for b in np.array_split(e, min(TRACE_BLOCKS, len(e)))]
        falling = all(b1 < b0 for b0, b1 in zip(blocks[:-1], blocks[1:]))
        end = blocks[-1] / e[0]
        final_mse = float(g.sort_values("epoch")["sensory_mse"].iloc[-1])
        ratio = e[1:] / e[:-1]
        k = int(np.argmax(ratio)) if len(ratio) else 0
        out.append({"N": int(N), "first": float(e[0]), "last": float(e[-1]), "end_ratio": float(end),
                    "max_rise": float(ratio[k]) if len(ratio) else 1.0, "rise_epoch": k + 2,
                    "falling": bool(falling), "final_mse": final_mse,
                    "ok": bool(falling and end <= END_FRACTION and final_mse <= NEAR_ZERO * threshold)})
    return out


def evaluate_claims(table: pd.DataFrame, params: dict) -> list[Claim]:
    thr, n0 = params["threshold"], params["claim_n"]
    claims = []
    mem = memorisation(table, thr)
    claims.append(Claim(
        id="memorisation_converges",
        statement="Memorisation converges: the PCN's energy on the stored set falls monotonically (up to noise) to "
                  "near zero",
        paper_value="energy on the stored set ~ 0 after training (spec)",
        our_value="; ".join(f"N = {m['N']}: F {m['first']:.3g} -> {m['last']:.3g} per image (last block "
                            f"{m['end_ratio']:.1%} of epoch 1), block means falling: {m['falling']} (largest rise "
                            f"between epochs x{m['max_rise']:.2f}, into epoch {m['rise_epoch']}), final sensory "
                            f"error {m['final_mse']:.2g} per pixel" for m in mem) or "no trace",
        tolerance=f"at every N: the means of {TRACE_BLOCKS} consecutive blocks of epochs fall block by block, the last "
                  f"block <= {END_FRACTION:.0%} of epoch 1, and the final sensory error per pixel <= "
                  f"{NEAR_ZERO:g} x {thr:g} (criteria fixed after the first exploratory runs)",
        passed=bool(mem) and all(m["ok"] for m in mem),
    ))
    p, a = _cell(table, n0, "noise", "pcn"), _cell(table, n0, "noise", "ae")
    claims.append(Claim(
        id="e1_pcn_retrieves_noisy",
        statement=f"E1: from cues with Gaussian noise of std {params['noise_std']:g}, the PCN retrieves at least "
                  f"{MIN_RETRIEVED:.0%} of N = {n0} stored images (per-pixel MSE < {thr:g})",
        paper_value="PCN retrieves most stored images from noisy cues (spec quick-scale target >= 90%)",
        our_value=(f"{p['fraction_retrieved']:.2f} retrieved, mean MSE {p['mean_mse']:.4f} (cue {p['cue_mse']:.4f})"
                   if p is not None else f"no run at N = {n0}"),
        tolerance=f">= {MIN_RETRIEVED:.0%} retrieved at N = {n0}",
        passed=bool(p is not None and p["fraction_retrieved"] >= MIN_RETRIEVED),
    ))
    claims.append(Claim(
        id="e1_pcn_below_ae",
        statement=f"E1: the PCN's mean MSE from noisy cues is below the autoencoder's (N = {n0})",
        paper_value="PCN more accurate than overparameterised autoencoders",
        our_value=(f"PCN {p['mean_mse']:.4f}, AE {a['mean_mse']:.4f}" if p is not None and a is not None
                   else f"no run at N = {n0}"),
        tolerance="PCN mean MSE < AE mean MSE",
        passed=bool(p is not None and a is not None and p["mean_mse"] < a["mean_mse"]),
    ))
    p, a = _cell(table, n0, "mask", "pcn"), _cell(table, n0, "mask", "ae")
    claims.append(Claim(
        id="e2_pcn_below_ae",
        statement=f"E2: from half-masked cues, the PCN's mean MSE on the hidden half is below the autoencoder's "
                  f"(N = {n0})",
        paper_value="PCN more accurate than overparameterised autoencoders",
        our_value=(f"PCN {p['mean_mse']:.4f} ({p['fraction_retrieved']:.2f} retrieved), AE {a['mean_mse']:.4f} "
                   f"({a['fraction_retrieved']:.2f})" if p is not None and a is not None else f"no run at N = {n0}"),
        tolerance="PCN mean MSE < AE mean MSE on the hidden half",
        passed=bool(p is not None and a is not None and p["mean_mse"] < a["mean_mse"]),
    ))
    s = _summary(table)
    cells = []
    for (N, kind), g in s.groupby(["N", "corruption"], sort=True):
        m = g.set_index("model")
        if "pcn" in m.index and "mhn" in m.index:
            cells.append((int(N), kind, float(m.loc["pcn", "mean_mse"]), float(m.loc["mhn", "mean_mse"]),
                          float(m.loc["pcn", "fraction_retrieved"]), float(m.loc["mhn", "fraction_retrieved"])))
    claims.append(Claim(
        id="pcn_at_least_mhn",
        statement="The PCN recalls at least as accurately as the modern Hopfield network (beta chosen on held-out "
                  "cues), at every N and for both cue types",
        paper_value="PCN more accurate and robust than modern Hopfield networks (abstract; the spec warns this may "
                    "not reproduce against a dot-product MHN)",
        our_value="; ".join(f"N = {N} {k}: MSE PCN {pm:.4f} vs MHN {hm:.2g}, retrieved {pf:.2f} vs {hf:.2f}"
                            for N, k, pm, hm, pf, hf in cells) or "no cells",
        tolerance="PCN mean MSE <= MHN mean MSE in every (N, cue type) cell",
        passed=bool(cells) and all(pm <= hm for _, _, pm, hm, _, _ in cells),
    ))
    return claims


def caption(params: dict, scale: str, table: pd.DataFrame, fidelity: str, verdict_text: str) -> str:
    n0 = params["claim_n"]
    s = _summary(table)
    conv = s[s["N"] == n0]
    summed = ", ".join(f"{LABELS[r.model]} {CUE_LABELS[r.corruption]} {r.fraction_retrieved_summed:.2f}"
                       for r in conv.itertuples())
    inf = table[table["kind"] == "inference"]
    rises = ", ".join(f"{r.corruption} N = {int(r.N)}: {r.max_rise:.2g} (F {r.energy_start:.3g} -> {r.energy_end:.2g})"
                      for r in inf.itertuples())
    monotone = (f"Largest change of the mean inference energy between two recall steps (negative: F never rose; "
                f"gamma = {params['gamma']:g}), with F at the start and end of recall: {rises}"
                + (". A positive value means F rose in the first steps from zero hidden states, where gamma is above "
                   "the stable step for the largest curvature, before it fell." if (inf["max_rise"] > 0).any()
                   else "."))
    betas = ", ".join(f"N = {int(r.N)} {r.corruption}: {r.beta:g}" for r in s[s["model"] == "mhn"].itertuples())
    reduction = {
        "quick": (f" Quick scale: N = {', '.join(map(str, params['n_stored']))} (the spec's quick plan has N = 100 "
                  f"only; its paper grid is 50-1000), one trained network of each kind serves both cue types. The "
                  f"PCN is trained by mini-batch SGD (lr {params['lr']:g}, batch {params['batch']}, "
                  f"{params['epochs']} epochs, weights initialised at {params['init_scale']:g}/sqrt(fan-in)) on "
                  f"images centred by the stored set's mean: these settings replace the spec's Adam 1e-4, full "
                  f"batch, 400 epochs and were chosen after exploratory runs at N = 100, in which that schedule "
                  f"left the energy at ~20 per image after 400 epochs (80 CPU-s for one network) and retrieved no "
                  f"image, and uncentred images left half-masked recall at a hidden-half MSE of ~0.1 (none "
                  f"retrieved)."),
        "test": " Test scale: a tiny run for the test suite (small networks, few epochs).",
    }.get(scale, "")
    return (
        f"Recall of stored images by a generative predictive-coding network (PCN, sizes "
        f"{[3072, *params['pcn_sizes']][::-1]} top to bottom, {params['activation']}, linear sensory prediction, "
        f"hidden nodes zero-initialised in training and recall), an autoencoder of matched size "
        f"({[3072, *params['ae_sizes'], 3072]}, Adam {params['ae_lr']:g}, {params['ae_epochs']} epochs, iterated "
        f"{params['ae_iterations']} times at recall) and the modern Hopfield network (mean-centred unit-norm images; "
        f"beta from {params['mhn_betas']} chosen on a held-out set of N other images with their own cues: {betas}). "
        f"{CIFAR_NOTE}; the data file is a {fidelity}. Cues: Gaussian noise std {params['noise_std']:g} per pixel "
        f"(PCN: {params['outer']} outer iterations c <- mu_0 of {params['t_noise']} inference steps, gamma "
        f"{params['gamma']:g}), or the bottom half replaced by the stored set's mean image (PCN: top half clamped, "
        f"bottom free, {params['t_mask']} steps; MHN: similarities on the visible half). Error: per-pixel mean "
        f"squared error in [0, 1] units, over the whole image (noise) or the hidden half (mask); retrieved = MSE < "
        f"{params['threshold']:g}. Convention check: with the squared errors summed over pixels instead, the "
        f"fractions at N = {n0} are {summed}; panel (d) shows the fraction against the threshold. "
        f"(c): the PCN's energy per stored image after inference, per epoch (the memorisation trace). {monotone}"
        f"{reduction} Verdict: {verdict_text}."
    )


def _mosaic(ex: dict, shape) -> tuple[np.ndarray, list[str]]:
    keys = ["stored", "cue", *MODELS]
    rows = []
    for k in keys:
        imgs = np.asarray(ex[k], dtype=np.uint8).reshape(-1, *shape)
        rows.append(np.concatenate([np.pad(im, ((1, 1), (1, 1), (0, 0)), constant_values=255) for im in imgs], 1))
    return np.concatenate(rows, 0), keys


def n_axis(ax, ns) -> None:
    """A log axis of stored-set sizes labelled at the sizes themselves."""
    ax.set_xscale("log")
    ax.set_xticks(sorted(ns))
    ax.set_xticklabels([str(int(n)) for n in sorted(ns)])
    from matplotlib.ticker import NullLocator

    ax.xaxis.set_minor_locator(NullLocator())


def make_figure(table: pd.DataFrame, params: dict, extras: dict, caption_text: str):
    plt, sns = pyplot()
    fig = plt.figure(figsize=(16, 9.0))
    gs = fig.add_gridspec(2, 4, height_ratios=[1.0, 1.15])
    colors = dict(zip(MODELS, sns.color_palette("colorblind", len(MODELS))))
    styles = {"noise": "-", "mask": "--"}
    s = _summary(table)
    ax = fig.add_subplot(gs[0, 0])
    for (kind, model), g in s.groupby(["corruption", "model"], sort=False):
        g = g.sort_values("N")
        ax.plot(g["N"], g["fraction_retrieved"], ls=styles[kind], marker="o", color=colors[model],
                label=f"{LABELS[model]}, {CUE_LABELS[kind]}")
    n_axis(ax, s["N"].unique())
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("stored images N")
    ax.set_ylabel(f"fraction retrieved (MSE < {params['threshold']:g})")
    ax.set_title("(a) retrieval vs N", fontsize=9)
    ax.legend(fontsize=6)
    ax = fig.add_subplot(gs[0, 1])
    for (kind, model), g in s.groupby(["corruption", "model"], sort=False):
        g = g.sort_values("N")
        ax.plot(g["N"], g["mean_mse"].clip(lower=1e-8), ls=styles[kind], marker="o", color=colors[model],
                label=f"{LABELS[model]}, {CUE_LABELS[kind]}")
    for kind, g in s[s["model"] == "pcn"].groupby("corruption"):
        g = g.sort_values("N")
        ax.plot(g["N"], g["cue_mse"], ls=styles[kind], color="0.5", lw=0.8, label=f"the cue, {CUE_LABELS[kind]}")
    ax.axhline(params["threshold"], color="0.3", ls=":", lw=0.8)
    n_axis(ax, s["N"].unique())
    ax.set_yscale("log")
    ax.set_xlabel("stored images N")
    ax.set_ylabel("mean per-pixel MSE (clipped at 1e-8)")
    ax.set_title("(b) recall error vs N", fontsize=9)
    ax.legend(fontsize=5.5)
    ax = fig.add_subplot(gs[0, 2])
    tr = table[(table["kind"] == "trace") & (table["model"] == "pcn")]
    pal = sns.color_palette("viridis", max(1, tr["N"].nunique()))
    for c, (N, g) in zip(pal, tr.groupby("N", sort=True)):
        ax.plot(g["epoch"], g["energy"], color=c, label=f"N = {int(N)}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("PCN energy F per stored image")
    ax.set_title("(c) memorisation: energy on the stored set", fontsize=9)
    ax.legend(fontsize=6)
    ax = fig.add_subplot(gs[0, 3])
    cv = table[table["kind"] == "curve"]
    for (kind, model), g in cv.groupby(["corruption", "model"], sort=False):
        ax.plot(g["threshold"], g["fraction_retrieved"], ls=styles[kind], color=colors[model],
                label=f"{LABELS[model]}, {CUE_LABELS[kind]}")
    ax.axvline(params["threshold"], color="0.3", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("threshold on the per-pixel MSE")
    ax.set_ylabel("fraction retrieved")
    ax.set_title(f"(d) convention check, N = {params['claim_n']}", fontsize=9)
    ax.legend(fontsize=5.5)
    shape = extras.get("image_shape", list(IMAGE_SHAPE))
    for j, kind in enumerate(("noise", "mask")):
        ax = fig.add_subplot(gs[1, 2 * j:2 * j + 2])
        ex = extras.get("examples", {}).get(kind)
        ax.axis("off")
        if ex is None:
            ax.text(0.5, 0.5, f"no examples (N = {params['claim_n']} not in this run)", ha="center")
            continue
        img, keys = _mosaic(ex, shape)
        ax.imshow(img, interpolation="nearest")
        h = img.shape[0] / len(keys)
        for i, k in enumerate(keys):
            ax.text(-3, (i + 0.5) * h, {"stored": "stored", "cue": "cue", **LABELS}[k], ha="right", va="center",
                    fontsize=8)
        ax.set_title(f"({'e' if j == 0 else 'f'}) examples, {CUE_LABELS[kind]}, N = {params['claim_n']}",
                     fontsize=9)
    fig.tight_layout()
    add_caption(fig, caption_text, width=240)
    return fig


def figure_stage(config: dict, runs: stages.Runs, provenance: dict, out_prefix: Path) -> dict:
    tr = stages.figure_run(config, NAME, provenance)
    params = tr.params
    table = summarize(runs.table, params)
    claims = evaluate_claims(table, params)
    fidelity = runs.extras.get("cifar10_fidelity", "JPEG re-encoding (lossy)")
    return finish_target(
        tr, out_prefix, paper=PAPER, paper_key=PAPER_KEY, claims=claims, table=table,
        run_wall_s=provenance["run_wall_time_s"],
        caption=lambda v: caption(params, config["scale"], table, fidelity, v),
        figure=lambda cap: make_figure(table, params, runs.extras, cap),
        data=f"CIFAR-10 training images ({fidelity})",
        substitutions=f"{CIFAR_NOTE}; quick scale reduced as stated in the caption",
    )
