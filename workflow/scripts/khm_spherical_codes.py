"""Snakemake script: optimal spherical codes in d = 3 vs Prop. 3.1 and U-Hop+ (fig_spherical_code_bounds)."""

from pathlib import Path

from assocmem.experiments import khm_spherical_codes as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    meta = exp.run_target(sm.config, Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
