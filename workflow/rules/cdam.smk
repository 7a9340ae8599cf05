# Burns 2024 (ICML): Correlated Dense Associative Memory (CDAM).

RESULT_TARGETS.append(("cdam", "fig_cdam_antihebbian_range"))


rule fig_cdam_antihebbian_range:
    output:
        png=report(
            "results/cdam/fig_cdam_antihebbian_range.png",
            caption="../report/fig_cdam_antihebbian_range.rst",
            category="Burns 2024 (CDAM)",
        ),
        pdf="results/cdam/fig_cdam_antihebbian_range.pdf",
        csv="results/cdam/fig_cdam_antihebbian_range.csv",
        json="results/cdam/fig_cdam_antihebbian_range.json",
    log:
        "logs/cdam/fig_cdam_antihebbian_range.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 4
    params:
        experiment=lambda wildcards: experiment_params("cdam_antihebbian_range"),
    script:
        "../scripts/cdam_antihebbian_range.py"


RESULT_TARGETS.append(("cdam", "fig_cdam_miyashita"))


rule fig_cdam_miyashita:
    input:
        data="resources/data/miyashita.pt",
    output:
        png=report(
            "results/cdam/fig_cdam_miyashita.png",
            caption="../report/fig_cdam_miyashita.rst",
            category="Burns 2024 (CDAM)",
        ),
        pdf="results/cdam/fig_cdam_miyashita.pdf",
        csv="results/cdam/fig_cdam_miyashita.csv",
        json="results/cdam/fig_cdam_miyashita.json",
    log:
        "logs/cdam/fig_cdam_miyashita.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 4
    params:
        experiment=lambda wildcards: experiment_params("cdam_miyashita"),
    script:
        "../scripts/cdam_miyashita.py"


RESULT_TARGETS.append(("cdam", "fig_cdam_image_retrieval"))


rule fig_cdam_image_retrieval:
    input:
        data=lambda wildcards: "resources/data/{}.pt".format(
            experiment_params("cdam_image_retrieval")["dataset"]
        ),
    output:
        png=report(
            "results/cdam/fig_cdam_image_retrieval.png",
            caption="../report/fig_cdam_image_retrieval.rst",
            category="Burns 2024 (CDAM)",
        ),
        pdf="results/cdam/fig_cdam_image_retrieval.pdf",
        csv="results/cdam/fig_cdam_image_retrieval.csv",
        json="results/cdam/fig_cdam_image_retrieval.json",
    log:
        "logs/cdam/fig_cdam_image_retrieval.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 4
    params:
        experiment=lambda wildcards: experiment_params("cdam_image_retrieval"),
    script:
        "../scripts/cdam_image_retrieval.py"


RESULT_TARGETS.append(("cdam", "fig_cdam_image_retrieval_beyond"))


rule fig_cdam_image_retrieval_beyond:
    input:
        data=lambda wildcards: expand(
            "resources/data/{dataset}.pt",
            dataset=experiment_params("cdam_image_retrieval_beyond")["datasets"],
        ),
    output:
        png=report(
            "results/cdam/fig_cdam_image_retrieval_beyond.png",
            caption="../report/fig_cdam_image_retrieval_beyond.rst",
            category="Burns 2024 (CDAM)",
        ),
        pdf="results/cdam/fig_cdam_image_retrieval_beyond.pdf",
        csv="results/cdam/fig_cdam_image_retrieval_beyond.csv",
        json="results/cdam/fig_cdam_image_retrieval_beyond.json",
    log:
        "logs/cdam/fig_cdam_image_retrieval_beyond.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 4
    params:
        experiment=lambda wildcards: experiment_params("cdam_image_retrieval_beyond"),
    script:
        "../scripts/cdam_image_retrieval_beyond.py"


RESULT_TARGETS.append(("cdam", "fig_cdam_communities"))


rule fig_cdam_communities:
    output:
        png=report(
            "results/cdam/fig_cdam_communities.png",
            caption="../report/fig_cdam_communities.rst",
            category="Burns 2024 (CDAM)",
        ),
        pdf="results/cdam/fig_cdam_communities.pdf",
        csv="results/cdam/fig_cdam_communities.csv",
        json="results/cdam/fig_cdam_communities.json",
    log:
        "logs/cdam/fig_cdam_communities.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 4
    params:
        experiment=lambda wildcards: experiment_params("cdam_communities"),
    script:
        "../scripts/cdam_communities.py"


RESULT_TARGETS.append(("cdam", "fig_cdam_automata"))


rule fig_cdam_automata:
    output:
        png=report(
            "results/cdam/fig_cdam_automata.png",
            caption="../report/fig_cdam_automata.rst",
            category="Burns 2024 (CDAM)",
        ),
        pdf="results/cdam/fig_cdam_automata.pdf",
        csv="results/cdam/fig_cdam_automata.csv",
        json="results/cdam/fig_cdam_automata.json",
    log:
        "logs/cdam/fig_cdam_automata.log",
    conda:
        "../envs/assocmem.yaml"
    params:
        experiment=lambda wildcards: experiment_params("cdam_automata"),
    script:
        "../scripts/cdam_automata.py"


RESULT_TARGETS.append(("cdam", "fig_cdam_modes"))


rule fig_cdam_modes:
    output:
        png=report(
            "results/cdam/fig_cdam_modes.png",
            caption="../report/fig_cdam_modes.rst",
            category="Burns 2024 (CDAM)",
        ),
        pdf="results/cdam/fig_cdam_modes.pdf",
        csv="results/cdam/fig_cdam_modes.csv",
        json="results/cdam/fig_cdam_modes.json",
    log:
        "logs/cdam/fig_cdam_modes.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 4
    params:
        experiment=lambda wildcards: experiment_params("cdam_modes"),
    script:
        "../scripts/cdam_modes.py"


RESULT_TARGETS.append(("cdam", "fig_cdam_word_association"))


rule fig_cdam_word_association:
    input:
        usf="resources/data/word_association/usf.csv.gz",
        eat="resources/data/word_association/eat.csv.gz",
    output:
        png=report(
            "results/cdam/fig_cdam_word_association.png",
            caption="../report/fig_cdam_word_association.rst",
            category="Burns 2024 (CDAM)",
        ),
        pdf="results/cdam/fig_cdam_word_association.pdf",
        csv="results/cdam/fig_cdam_word_association.csv",
        json="results/cdam/fig_cdam_word_association.json",
    log:
        "logs/cdam/fig_cdam_word_association.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 4
    params:
        experiment=lambda wildcards: experiment_params("cdam_word_association"),
    script:
        "../scripts/cdam_word_association.py"


RESULT_TARGETS.append(("cdam", "fig_cdam_sequences"))


rule fig_cdam_sequences:
    input:
        data="resources/data/mnist.pt",
    output:
        png=report(
            "results/cdam/fig_cdam_sequences.png",
            caption="../report/fig_cdam_sequences.rst",
            category="Burns 2024 (CDAM)",
        ),
        pdf="results/cdam/fig_cdam_sequences.pdf",
        csv="results/cdam/fig_cdam_sequences.csv",
        json="results/cdam/fig_cdam_sequences.json",
    log:
        "logs/cdam/fig_cdam_sequences.log",
    conda:
        "../envs/assocmem.yaml"
    # Snakemake caps this at --cores.
    threads: 4
    params:
        experiment=lambda wildcards: experiment_params("cdam_sequences"),
    script:
        "../scripts/cdam_sequences.py"
