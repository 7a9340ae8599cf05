"""Snakemake script: metastable states with and without U-Hop+ (tab_metastable_states)."""

from pathlib import Path

from assocmem.experiments import khm_metastable as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    meta = exp.run_target(sm.config, Path(sm.input.data), Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
