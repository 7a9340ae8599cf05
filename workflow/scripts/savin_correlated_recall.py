"""Snakemake script: run the Savin et al. 2013 recall experiment and write its figure, table and metadata."""

from pathlib import Path

from assocmem.experiments import savin_correlated_recall as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    meta = exp.run_target(sm.config, Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
