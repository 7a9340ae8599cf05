"""Snakemake script: draw a target from its kept model run, gathering its shards (assocmem.stages.figure)."""

from pathlib import Path

from assocmem import registry, stages
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    t = registry.get(sm.params.target)
    prefix = Path(sm.output.json).with_suffix("")
    runs_dir = prefix.parent / "runs"
    meta = stages.figure(t.figure_module, t.run_name, sm.config, runs_dir, prefix, shards=list(sm.params.shards))
    print(f"{meta['target']}: {meta['verdict']}")
