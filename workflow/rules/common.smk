# Helpers shared by all rule files. Targets, papers and their data are declared once, in the package registry
# (src/assocmem/registry.py); the rules read it.

from assocmem import registry

TARGETS = registry.targets()
# Each model run by name, with its owner target (several targets may draw from one run).
RUNS = registry.runs()
PAPERS = registry.PAPERS
# Data preparation is scheduled before every model run (see each run's `priority` in the registry).
DATA_PRIORITY = 1 + max(t.priority for t in RUNS.values())


def experiment_params(name):
    """Parameters of experiment `name` at the configured scale."""
    return config["experiments"][name][config["scale"]]


def stage_params(t):
    """Everything a target's outputs depend on besides code and data: its experiment block and the global seed,
    dtype, device and scale (a change of any of them reruns exactly the jobs it affects).
    """
    return {
        "experiment": experiment_params(t.experiment),
        "seed": config["seed"],
        "dtype": config["dtype"],
        "device": config["device"],
        "scale": config["scale"],
    }


def uses_gpu(t):
    """Whether a target's model run asks for a GPU: it declares one, or the config's device is CUDA."""
    return t.gpu or str(config["device"]).startswith("cuda")


def module_files(module):
    """The source files a job running `module` depends on: the module and what it imports from the package (an edit
    of any of them reruns the job; an edit elsewhere does not)."""
    return registry.source_files(module)


def data_files(t, shard=None):
    """The prepared data a target's model run reads (one shard's, when `shard` is given)."""
    params = experiment_params(t.experiment)
    if shard is not None:
        params = {
            **params,
            t.shard_axis: [
                v for v in registry.axis_values(params, t.shard_axis) if str(v) == shard
            ],
        }
    return {name: registry.DATA_FILES[name] for name in t.data_names(params)}


def run_outputs(t):
    """What a target's figure reads: its run's table and metadata, one pair per shard when it runs in shards."""
    runs = f"results/{t.paper.key}/runs/{t.run_name}"
    shards = t.shards(config)
    if not shards:
        return {"table": f"{runs}.parquet", "meta": f"{runs}.json"}
    return {
        "table": expand(f"{runs}/{{shard}}.parquet", shard=shards),
        "meta": expand(f"{runs}/{{shard}}.json", shard=shards),
    }


def run_inputs(wildcards):
    """Inputs of a model run (or of one shard of it): its data and the run module's source."""
    t = RUNS[wildcards.run]
    return {**data_files(t, wildcards.get("shard")), "code": module_files(t.module)}


def target_files(t):
    """The four files every result target writes."""
    return expand(
        f"results/{t.paper.key}/{t.name}.{{ext}}", ext=["png", "pdf", "csv", "json"]
    )


def result_files():
    return [f for t in TARGETS.values() for f in target_files(t)]


def result_metadata():
    return [f"results/{t.paper.key}/{t.name}.json" for t in TARGETS.values()]


def mirror_checksums(prefix):
    """The mirror's SHA256SUMS entries under `prefix`: what a prepared file's content depends on (not how the
    mirror path is spelled, nor whether downloading is allowed)."""
    from assocmem.data.mirror import read_checksums

    try:
        sums = read_checksums(config["data"]["mirror"])
    except Exception:  # a missing or broken mirror: the data job itself reports it
        return {"mirror": str(config["data"]["mirror"])}
    return {k: v for k, v in sorted(sums.items()) if k.startswith(prefix)}


IMAGE_SETS = ["mnist", "fashion_mnist", "cifar10"]
WORD_SOURCES = ["usf", "eat"]
ALL_DATA = (
    expand("resources/data/{dataset}.pt", dataset=IMAGE_SETS)
    + expand("resources/data/word_association/{source}.csv.gz", source=WORD_SOURCES)
    + ["resources/data/miyashita.pt"]
)
