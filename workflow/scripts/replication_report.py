"""Snakemake script: gather every target's verdicts into results/replication_report.md."""

from assocmem import report
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    print(report.write(list(sm.input), sm.output[0]))
