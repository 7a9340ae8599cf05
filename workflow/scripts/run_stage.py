"""Snakemake script: the model run of a target, or of one shard of it (assocmem.stages.run)."""

from pathlib import Path

from assocmem import stages
from assocmem.pipeline import logged

sm = snakemake  # noqa: F821  (injected by Snakemake)

# The rule passes the run's module and shard axis (from the registry), so a job imports its own module only.
with logged(sm.log[0]):
    name = sm.wildcards.run
    data = {k: Path(v) for k, v in sm.input.items() if k != "code"}
    shard = sm.wildcards.get("shard")
    runs_dir = Path(sm.output.table).parent if shard is None else Path(sm.output.table).parent.parent
    prov = stages.run(sm.params.module, name, sm.config, data, runs_dir, sm.threads, shard=shard, axis=sm.params.axis)
    print(f"{name}{f' shard {shard}' if shard else ''}: model run done in {prov['run_wall_time_s']} s "
          f"on {prov['device']}")
