# Karbasi, Salavati, Shokrollahi, Varshney 2013 (NeurIPS): noise-enhanced associative memories.
# One simulation run feeds four figures (fig_dense_noise_recall, beyond the paper, is a generic target).


rule noise_recall_run:
    output:
        csv="results/noise/runs/noise_recall.csv",
        meta="results/noise/runs/noise_recall.json",
    log:
        "logs/noise/noise_recall_run.log",
    conda:
        "../envs/assocmem.yaml"
    threads: 1
    params:
        stage=stage_params(TARGETS["fig_noise_surface"]),
    script:
        "../scripts/noise_enhanced.py"


rule fig_noise_error_vs_epsilon:
    input:
        run="results/noise/runs/noise_recall.csv",
    output:
        png=report(
            "results/noise/fig_noise_error_vs_epsilon.png",
            caption="../report/fig_noise_error_vs_epsilon.rst",
            category=PAPERS["noise"].category,
        ),
        pdf="results/noise/fig_noise_error_vs_epsilon.pdf",
        csv="results/noise/fig_noise_error_vs_epsilon.csv",
        json="results/noise/fig_noise_error_vs_epsilon.json",
    log:
        "logs/noise/fig_noise_error_vs_epsilon.log",
    conda:
        "../envs/assocmem.yaml"
    params:
        stage=stage_params(TARGETS["fig_noise_surface"]),
    script:
        "../scripts/noise_enhanced.py"


rule fig_noise_surface:
    input:
        run="results/noise/runs/noise_recall.csv",
    output:
        png=report(
            "results/noise/fig_noise_surface.png",
            caption="../report/fig_noise_surface.rst",
            category=PAPERS["noise"].category,
        ),
        pdf="results/noise/fig_noise_surface.pdf",
        csv="results/noise/fig_noise_surface.csv",
        json="results/noise/fig_noise_surface.json",
    log:
        "logs/noise/fig_noise_surface.log",
    conda:
        "../envs/assocmem.yaml"
    params:
        stage=stage_params(TARGETS["fig_noise_surface"]),
    script:
        "../scripts/noise_enhanced.py"


rule fig_noise_recall_time:
    input:
        run="results/noise/runs/noise_recall.csv",
    output:
        png=report(
            "results/noise/fig_noise_recall_time.png",
            caption="../report/fig_noise_recall_time.rst",
            category=PAPERS["noise"].category,
        ),
        pdf="results/noise/fig_noise_recall_time.pdf",
        csv="results/noise/fig_noise_recall_time.csv",
        json="results/noise/fig_noise_recall_time.json",
    log:
        "logs/noise/fig_noise_recall_time.log",
    conda:
        "../envs/assocmem.yaml"
    params:
        stage=stage_params(TARGETS["fig_noise_surface"]),
    script:
        "../scripts/noise_enhanced.py"


rule fig_noise_learned_vs_constructed:
    input:
        run="results/noise/runs/noise_recall.csv",
    output:
        png=report(
            "results/noise/fig_noise_learned_vs_constructed.png",
            caption="../report/fig_noise_learned_vs_constructed.rst",
            category=PAPERS["noise"].category,
        ),
        pdf="results/noise/fig_noise_learned_vs_constructed.pdf",
        csv="results/noise/fig_noise_learned_vs_constructed.csv",
        json="results/noise/fig_noise_learned_vs_constructed.json",
    log:
        "logs/noise/fig_noise_learned_vs_constructed.log",
    conda:
        "../envs/assocmem.yaml"
    params:
        stage=stage_params(TARGETS["fig_noise_surface"]),
    script:
        "../scripts/noise_enhanced.py"
