# Ramsauer et al. 2020: modern Hopfield retrieval of stored images (the image-retrieval baseline).


rule mhn_image_retrieval_run:
    input:
        data="resources/data/{dataset}.pt",
    output:
        csv="results/mhn/runs/image_retrieval_{dataset}.csv",
        meta="results/mhn/runs/image_retrieval_{dataset}.json",
    log:
        "logs/mhn/image_retrieval_{dataset}.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 16
    params:
        stage=stage_params(TARGETS["fig_mhn_image_retrieval"]),
    script:
        "../scripts/mhn_image_retrieval.py"


rule fig_mhn_image_retrieval:
    input:
        runs=expand(
            "results/mhn/runs/image_retrieval_{dataset}.csv",
            dataset=experiment_params("mhn_image_retrieval")["datasets"],
        ),
    output:
        png=report(
            "results/mhn/fig_mhn_image_retrieval.png",
            caption="../report/fig_mhn_image_retrieval.rst",
            category=PAPERS["mhn"].category,
        ),
        pdf="results/mhn/fig_mhn_image_retrieval.pdf",
        csv="results/mhn/fig_mhn_image_retrieval.csv",
        json="results/mhn/fig_mhn_image_retrieval.json",
    log:
        "logs/mhn/fig_mhn_image_retrieval.log",
    conda:
        "../envs/assocmem.yaml"
    params:
        stage=stage_params(TARGETS["fig_mhn_image_retrieval"]),
    script:
        "../scripts/mhn_image_retrieval.py"
