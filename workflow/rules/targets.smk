# Every result target from the registry, in two stages: the model run (one generic rule, one job per run, or per
# shard of it, whatever number of targets draw from it; resources from the run's owner target) and one rule per
# target, named after it (`snakemake <target>`), that draws the figure from the kept run.


rule run_stage:
    input:
        unpack(run_inputs),
    output:
        table="results/{paper}/runs/{run}.parquet",
        meta="results/{paper}/runs/{run}.json",
    log:
        "logs/{paper}/runs/{run}.log",
    wildcard_constraints:
        paper="|".join(PAPERS),
        run="|".join(RUNS),
    priority: lambda wildcards: RUNS[wildcards.run].priority
    conda:
        "../envs/assocmem.yaml"
    threads: lambda wildcards: RUNS[wildcards.run].threads
    resources:
        mem_mb=lambda wildcards: RUNS[wildcards.run].mem_mb,
        runtime=lambda wildcards: RUNS[wildcards.run].runtime,
        gpu=lambda wildcards: int(uses_gpu(RUNS[wildcards.run])),
    params:
        stage=lambda wildcards: stage_params(RUNS[wildcards.run]),
        module=lambda wildcards: RUNS[wildcards.run].module,
        axis=lambda wildcards: RUNS[wildcards.run].shard_axis,
    script:
        "../scripts/run_stage.py"


use rule run_stage as run_shard with:
    output:
        table="results/{paper}/runs/{run}/{shard}.parquet",
        meta="results/{paper}/runs/{run}/{shard}.json",
    log:
        "logs/{paper}/runs/{run}/{shard}.log",
    wildcard_constraints:
        paper="|".join(PAPERS),
        run="|".join(name for name, t in RUNS.items() if t.shard_axis),


for t in TARGETS.values():

    rule:
        name:
            t.name
        input:
            **run_outputs(t),
            code=module_files(t.figure_module),
        output:
            png=report(
                f"results/{t.paper.key}/{t.name}.png",
                caption=f"../report/{t.name}.rst",
                category=t.paper.category,
            ),
            pdf=f"results/{t.paper.key}/{t.name}.pdf",
            csv=f"results/{t.paper.key}/{t.name}.csv",
            json=f"results/{t.paper.key}/{t.name}.json",
        log:
            f"logs/{t.paper.key}/{t.name}.log",
        conda:
            "../envs/assocmem.yaml"
        threads: 1
        resources:
            mem_mb=t.mem_mb,
            runtime=5,
        params:
            stage=stage_params(t),
            target=t.name,
            module=t.figure_module,
            run=t.run_name,
            shards=t.shards(config),
        script:
            "../scripts/figure_stage.py"
