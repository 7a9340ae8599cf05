"""Snakemake script: does update noise help a dense associative memory? (beyond Karbasi et al. 2013)."""

from pathlib import Path

from assocmem.experiments import noise_dense as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    meta = exp.run_target(sm.config, Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
