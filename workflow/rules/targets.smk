# Every result target from the registry, in two stages: the model run (one generic rule) and one rule per target,
# named after it (`snakemake <target>`), that draws the figure from the kept run. Targets with rules of their own
# (mhn.smk: one run per data set; noise.smk: one run for four figures) are skipped here.


rule run_stage:
    input:
        unpack(run_inputs),
    output:
        table="results/{paper}/runs/{target}.parquet",
        meta="results/{paper}/runs/{target}.json",
    log:
        "logs/{paper}/runs/{target}.log",
    wildcard_constraints:
        paper="|".join(PAPERS),
        target="|".join(t.name for t in GENERIC),
    conda:
        "../envs/assocmem.yaml"
    threads: lambda wildcards: TARGETS[wildcards.target].threads
    resources:
        mem_mb=lambda wildcards: TARGETS[wildcards.target].mem_mb,
        runtime=lambda wildcards: TARGETS[wildcards.target].runtime,
        gpu=lambda wildcards: int(uses_gpu(TARGETS[wildcards.target])),
    params:
        stage=lambda wildcards: stage_params(TARGETS[wildcards.target]),
        module=lambda wildcards: TARGETS[wildcards.target].module,
    script:
        "../scripts/run_stage.py"


use rule run_stage as run_shard with:
    output:
        table="results/{paper}/runs/{target}/{shard}.parquet",
        meta="results/{paper}/runs/{target}/{shard}.json",
    log:
        "logs/{paper}/runs/{target}/{shard}.log",
    wildcard_constraints:
        paper="|".join(PAPERS),
        target="|".join(t.name for t in GENERIC if t.shard_axis),


for t in GENERIC:

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
            shards=t.shards(config),
        script:
            "../scripts/figure_stage.py"
