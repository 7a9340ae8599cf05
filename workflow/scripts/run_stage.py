"""Snakemake script: the model run of a target, or of one shard of it (assocmem.stages.run)."""

from pathlib import Path

from assocmem import registry, stages
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

with logged(sm.log[0]):
    t = registry.runs()[sm.wildcards.run]  # the run's owner target
    data = {k: Path(v) for k, v in sm.input.items() if k != "code"}
    shard = sm.wildcards.get("shard")
    runs_dir = Path(sm.output.table).parent if shard is None else Path(sm.output.table).parent.parent
    prov = stages.run(t.module, t.run_name, sm.config, data, runs_dir, sm.threads, shard=shard, axis=t.shard_axis)
    print(f"{t.run_name}{f' shard {shard}' if shard else ''}: model run done in {prov['run_wall_time_s']} s "
          f"on {prov['device']}")
