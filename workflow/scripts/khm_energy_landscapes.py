"""Snakemake script: 2-D KHM before and after U-Hop+ steps (fig_energy_landscapes)."""

from pathlib import Path

from assocmem.experiments import khm_energy_landscapes as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    meta = exp.run_target(sm.config, Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
