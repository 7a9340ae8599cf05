# Helpers shared by all rule files.


def experiment_params(name):
    """Parameters of experiment `name` at the configured scale."""
    return config["experiments"][name][config["scale"]]


def target_files(paper, target):
    """The four files every result target writes."""
    return expand(
        "results/{paper}/{target}.{ext}",
        paper=paper,
        target=target,
        ext=["png", "pdf", "csv", "json"],
    )


# Every result target, as (paper, target). Each paper's rule file appends its own; the report and
# `rule all` (defined after all includes) read the full list.
RESULT_TARGETS = []


def result_files():
    return [f for paper, target in RESULT_TARGETS for f in target_files(paper, target)]


def result_metadata():
    return [f"results/{paper}/{target}.json" for paper, target in RESULT_TARGETS]


IMAGE_SETS = ["mnist", "fashion_mnist", "cifar10"]
WORD_SOURCES = ["usf", "eat"]
ALL_DATA = (
    expand("resources/data/{dataset}.pt", dataset=IMAGE_SETS)
    + expand("resources/data/word_association/{source}.csv.gz", source=WORD_SOURCES)
    + ["resources/data/miyashita.pt"]
)
