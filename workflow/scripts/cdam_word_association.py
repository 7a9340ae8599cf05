"""Snakemake script: run the CDAM word-association experiment and write its figure, table and metadata."""

from pathlib import Path

from assocmem.experiments import cdam_word_association as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    data = {"usf": Path(sm.input.usf), "eat": Path(sm.input.eat)}
    meta = exp.run_target(sm.config, data, Path(sm.output.json).with_suffix(""), sm.threads)
    print(f"{meta['target']}: {meta['verdict']}")
