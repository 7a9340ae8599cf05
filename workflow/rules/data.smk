# Data preparation: offline mirror (checksum-verified) -> prepared files under resources/data/. It runs before any
# model run (a priority above every run's), since the longest runs wait on it.


rule prepare_images:
    output:
        "resources/data/{dataset}.pt",
        "resources/data/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    wildcard_constraints:
        dataset="mnist|fashion_mnist|cifar10",
    priority: DATA_PRIORITY
    conda:
        "../envs/assocmem.yaml"
    params:
        sources=lambda wildcards: mirror_checksums(f"{wildcards.dataset}/"),
        tarball=config["data"].get("cifar10_tarball"),
    script:
        "../scripts/prepare_data.py"


rule prepare_word_association:
    output:
        "resources/data/word_association/{source}.csv.gz",
        "resources/data/word_association/{source}.csv.json",
    log:
        "logs/data/word_association_{source}.log",
    wildcard_constraints:
        source="usf|eat",
    priority: DATA_PRIORITY
    conda:
        "../envs/assocmem.yaml"
    params:
        sources=lambda wildcards: mirror_checksums(
            f"word_association/{wildcards.source}"
        ),
    script:
        "../scripts/prepare_data.py"


rule prepare_miyashita:
    output:
        "resources/data/miyashita.pt",
        "resources/data/miyashita.json",
    log:
        "logs/data/miyashita.log",
    priority: DATA_PRIORITY
    conda:
        "../envs/assocmem.yaml"
    params:
        miyashita=config["miyashita"],
    script:
        "../scripts/prepare_data.py"
