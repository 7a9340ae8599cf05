"""Snakemake script: draw a target from its kept model run, gathering its shards (assocmem.stages.figure)."""

from pathlib import Path

from assocmem import stages
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

# The rule passes the figure module and run name (from the registry), so a job imports its own module only.
with logged(sm.log[0]):
    prefix = Path(sm.output.json).with_suffix("")
    runs_dir = prefix.parent / "runs"
    meta = stages.figure(sm.params.module, sm.params.run, sm.config, runs_dir, prefix, shards=list(sm.params.shards))
    print(f"{meta['target']}: {meta['verdict']}")
