"""Snakemake script: run the sparse_recovery_capacity experiment and write its figure, table and metadata."""

from pathlib import Path

from assocmem.experiments import sparse_recovery_capacity as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    meta = exp.run_target(sm.config, Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
