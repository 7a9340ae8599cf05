"""Snakemake script: 2-D KHM before and after U-Hop+ steps (fig_basins)."""

from pathlib import Path

from assocmem.experiments import khm_basins as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    meta = exp.run_target(sm.config, Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
