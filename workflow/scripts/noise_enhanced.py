"""Snakemake script: the shared noise-enhanced recall run, or one of its figures."""

from pathlib import Path

from assocmem.experiments.noise import enhanced as exp
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    if sm.rule == "noise_recall_run":
        exp.run_to_csv(sm.config, Path(sm.output.csv), sm.threads)
    else:
        meta = exp.figure_from_run(sm.config, sm.rule, Path(sm.input.run), Path(sm.output.json).with_suffix(""))
        print(f"{meta['target']}: {meta['verdict']}")
