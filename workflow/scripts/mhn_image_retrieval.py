"""Snakemake script: run or plot the modern Hopfield image-retrieval experiment."""

from pathlib import Path

from assocmem.experiments.mhn import image_retrieval as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    if sm.rule == "mhn_image_retrieval_run":
        exp.run_to_csv(sm.config, sm.wildcards.dataset, Path(sm.input.data), Path(sm.output.csv), sm.threads)
    else:
        meta = exp.figure_from_runs(sm.config, [Path(p) for p in sm.input.runs], Path(sm.output.json).with_suffix(""))
        print(f"{meta['target']}: {meta['verdict']}")
