"""Snakemake script: the model run of a two-stage target (assocmem.stages.run)."""

from pathlib import Path

from assocmem import registry, stages
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    t = registry.get(sm.wildcards.target)
    data = {k: Path(v) for k, v in sm.input.items() if k != "code"}
    prov = stages.run(t.module, t.run_name, sm.config, data, Path(sm.output.table).parent, sm.threads)
    print(f"{t.name}: model run done in {prov['run_wall_time_s']} s on {prov['device']}")
