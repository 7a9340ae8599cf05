"""Snakemake script: KHM capacity vs D_Phi, raw vs U-Hop+, spheres and MNIST (fig_capacity_vs_feature_dim)."""

from pathlib import Path

from assocmem.experiments import khm_capacity as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    meta = exp.run_target(sm.config, Path(sm.input.data), Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
