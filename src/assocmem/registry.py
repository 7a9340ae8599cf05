"""Every paper and every result target, declared once, as data.

A paper is a :class:`Paper` in :data:`PAPERS` (its key names ``results/<key>/``; its citation and report category
are written nowhere else). A target is a :class:`Target` declared in its experiment module as ``TARGET`` (or
``TARGETS`` for a module that draws several figures from one run); :func:`targets` collects them in the order of
:data:`MODULES`. The Snakemake workflow, the command line (``python -m assocmem``) and the report all read this
registry.

Every target runs in two stages (:mod:`assocmem.stages`): its module's ``run_stage`` writes
``results/<paper>/runs/<run>.{parquet,json}``, and ``figure_stage`` of ``<module>_figure`` draws from that alone.
Several targets may draw from one run (the four noise-enhanced recall figures: ``run="noise_recall"``); the run is
made once, with the resources of its owner, the first target declaring it (:func:`runs`).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paper:
    """A paper: ``key`` (folder under ``results/``), ``citation`` (one line) and its report ``category``."""

    key: str
    citation: str
    category: str


PAPERS: dict[str, Paper] = {p.key: p for p in [
    Paper("mhn", "Ramsauer et al. 2020, Hopfield Networks is All You Need (ICLR 2021)",
          "Ramsauer et al. 2020 (modern Hopfield networks)"),
    Paper("cdam", "Burns 2024, Semantically-correlated memories in a dense associative model (ICML 2024)",
          "Burns 2024 (CDAM)"),
    Paper("khm", "Hu, Wu & Liu 2024, Provably Optimal Memory Capacity for Modern Hopfield Models: "
                 "Transformer-Compatible Dense Associative Memories as Spherical Codes (NeurIPS 2024)",
          "Hu, Wu & Liu 2024 (KHM, U-Hop+)"),
    Paper("kde", "Schaeffer et al. 2024, Bridging Associative Memory and Probabilistic Modeling (arXiv 2402.10202)",
          "Schaeffer et al. 2024 (KDE capacity, in-context energy)"),
    Paper("sparse_recovery", "Mazumdar and Rawat 2015, Associative Memory via a Sparse Recovery Model (NeurIPS 2015)",
          "Mazumdar & Rawat 2015 (sparse recovery)"),
    Paper("noise", "Karbasi, Salavati, Shokrollahi, Varshney 2013, Noise-Enhanced Associative Memories (NeurIPS 2013)",
          "Karbasi et al. 2013 (noise-enhanced recall)"),
    Paper("savin", "Savin, Dayan & Lengyel 2013, Correlations strike back (again): the case of associative memory "
                   "retrieval (NIPS)",
          "Savin, Dayan & Lengyel 2013 (correlated recall)"),
    Paper("drdam", "Hoover, Chau, Strobelt, Ram & Krotov 2024, Dense Associative Memory Through the Lens of Random "
                   "Features (NeurIPS 2024)",
          "Hoover et al. 2024 (DrDAM, random features)"),
    Paper("diffusion", "Hoover, Strobelt, Krotov, Hoffman, Kira & Chau 2023, Memory in Plain Sight: Surveying the "
                       "Uncanny Resemblances of Associative Memories and Diffusion Models (arXiv 2309.16750)",
          "Hoover et al. 2023 (diffusion models as associative memories)"),
    Paper("dead_neurons", "Fanaskov & Oseledets 2025, Associative memory and dead neurons (ICLR 2025, arXiv 2410.13866)",
          "Fanaskov & Oseledets 2025 (dead neurons)"),
    Paper("predictive_coding", "Salvatori, Song, Hong, Sha, Frieder, Xu, Bogacz & Lukasiewicz 2021, Associative "
                               "Memories via Predictive Coding (NeurIPS 2021)",
          "Salvatori et al. 2021 (predictive coding)"),
    Paper("sequential_learning", "McAlister, Robins & Szymanski 2025, Sequential Learning in the Dense Associative "
                                 "Memory (Neural Computation 2025, arXiv 2409.15729)",
          "McAlister et al. 2025 (sequential learning in the DAM)"),
    Paper("entropic_am", "Hernandez, Morales & Pineda 2024, Entropic associative memory for real world images "
                         "(arXiv 2405.12500)",
          "Hernandez et al. 2024 (entropic associative memory)"),
    Paper("iamm", "Yang, Ren, Wang, Sun, Chen, Zhu & Liao 2024, An Iterative Associative Memory Model for Empathetic "
                  "Response Generation (ACL 2024)",
          "Yang et al. 2024 (IAMM)"),
    Paper("dia", "Huang, Liang, Liang & Lin 2024, A Generic Shared Attention Mechanism for Various Backbone Neural "
                 "Networks (extending DIANet, AAAI 2020)",
          "Huang et al. (DIA, shared attention)"),
    Paper("comparison", "assocmem: every memory of this project on one retrieval task (the project's own comparison; "
                        "no paper gives it)",
          "Side by side: every memory on one task"),
]}

# Prepared data files, by the name a target's ``data`` uses (paths relative to the working directory).
DATA_FILES: dict[str, str] = {
    "mnist": "resources/data/mnist.pt",
    "fashion_mnist": "resources/data/fashion_mnist.pt",
    "cifar10": "resources/data/cifar10.pt",
    "usf": "resources/data/word_association/usf.csv.gz",
    "eat": "resources/data/word_association/eat.csv.gz",
    "miyashita": "resources/data/miyashita.pt",
}


@dataclass(frozen=True)
class Target:
    """One result target ``results/<paper>/<name>.{png,pdf,csv,json}``.

    ``experiment``: its config block under ``experiments:``; ``module``: the experiment module (model run);
    ``run``: the name of its run (targets drawn from one shared run name the same run); ``data``: names in
    :data:`DATA_FILES`; ``threads``, ``mem_mb``, ``runtime`` (minutes at paper scale) and ``gpu``: what a job
    needs, for local runs and cluster profiles. ``priority``: the model run's place in the local scheduler's order,
    about its minutes on one core at the quick scale (the longest start first, so that a run on few cores does not
    end on one long job alone); it changes no result.
    """

    name: str
    paper: Paper
    experiment: str
    module: str
    run: str = ""
    data: tuple[str, ...] | Callable[[dict], tuple[str, ...]] = ()
    threads: int = 1
    mem_mb: int = 4000
    runtime: int = 60
    gpu: bool = False
    priority: int = 0
    summary: str = ""
    shard_axis: str | None = None

    def shards(self, config: dict) -> list[str]:
        """The shards of the model run under ``config`` (``[]``: one unsharded run): one per value of the list (or
        instance of the count, :func:`axis_values`) ``shard_axis`` of the experiment block, when the config's
        ``shards`` asks for them (``auto``: at the paper scale)."""
        mode = config.get("shards", "auto")
        wanted = mode == "on" or (mode == "auto" and config["scale"] == "paper")
        if self.shard_axis is None or not wanted:
            return []
        return [str(v) for v in axis_values(config["experiments"][self.experiment][config["scale"]], self.shard_axis)]

    def data_names(self, params: dict) -> tuple[str, ...]:
        """The prepared data files the target reads, given its parameters at the configured scale."""
        return tuple(self.data(params)) if callable(self.data) else tuple(self.data)

    @property
    def run_name(self) -> str:
        return self.run or self.name

    @property
    def figure_module(self) -> str:
        """The module of the figure stage: ``<module>_figure`` (a file of its own, so that editing the figure
        reruns the figure alone)."""
        return f"{self.module}_figure"

    def prefix(self, results: Path | str = "results") -> Path:
        return Path(results) / self.paper.key / self.name

    def runs_dir(self, results: Path | str = "results") -> Path:
        return Path(results) / self.paper.key / "runs"

    def data_paths(self, params: dict, base: Path | str = ".") -> dict[str, Path]:
        return {d: Path(base) / DATA_FILES[d] for d in self.data_names(params)}


# The experiment modules, in the order targets are listed (one paper after another).
MODULES = (
    "mhn.image_retrieval",
    "cdam.antihebbian_range", "cdam.communities", "cdam.miyashita", "cdam.image_retrieval", "cdam.automata",
    "cdam.modes", "cdam.sequences", "cdam.word_association", "cdam.image_retrieval_beyond",
    "khm.spherical_codes", "khm.capacity", "khm.metastable", "khm.energy_landscapes", "khm.basins", "khm.mil_bags",
    "kde.capacity",
    # kde (in-context energy) modules
    "kde.icl_energy",
    "sparse_recovery.capacity",
    "noise.enhanced", "noise.dense",
    "savin.correlated_recall",
    # drdam modules
    "drdam.errors", "drdam.memories", "drdam.retrieval", "drdam.feature_maps", "drdam.images",
    # diffusion modules
    "diffusion.score_identity", "diffusion.exact_score_sampling", "diffusion.memorisation",
    "diffusion.memorisation_images",
    # dead_neurons modules
    "dead_neurons.dead_neurons",
    # predictive_coding modules
    "predictive_coding.retrieval", "predictive_coding.width", "predictive_coding.multimodal",
    # sequential_learning modules
    "sequential_learning.sequential",
    # entropic_am modules
    "entropic_am.eam",
    # iamm modules
    "iamm.association_dialogue", "iamm.empathetic_dialogues",
    # dia modules
    "dia.shared_attention",
    # comparison modules
    "comparison.retrieval",
)


def source_files(module: str) -> list[str]:
    """The source files of ``module`` and of every module of this package it imports at its top level, transitively
    (imports inside functions, such as a run module's lazy import of its figure module, are not followed): what a
    job running ``module`` depends on. Declarations that compute nothing (this registry, the command-line
    scaffolding, package ``__init__`` files) are left out, so that declaring a target reruns nothing."""
    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        found = _imports(name)
        if found is not None:
            seen[name], imported = found
            todo += imported
    declarations = ("assocmem", "assocmem.registry", "assocmem.experiments", "assocmem.experiments.cli",
                    "assocmem.data")
    return sorted(path for name, path in seen.items()
                  if name not in declarations and not (name.startswith("assocmem.experiments.")
                                                       and path.endswith("__init__.py")))


@functools.cache
def _imports(name: str) -> tuple[str, tuple[str, ...]] | None:
    """The source file of module ``name`` and the names of this package its top level imports (each file parsed once
    per process: every target's :func:`source_files` walks the same core modules); None if ``name`` is no module."""
    import ast
    import importlib.util

    try:  # `from .x import y` names a module or just an attribute of x
        spec = importlib.util.find_spec(name)
    except (ModuleNotFoundError, ValueError):
        return None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    package = name if spec.submodule_search_locations else name.rpartition(".")[0]
    out: list[str] = []
    for node in ast.parse(Path(spec.origin).read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            out += [base, *(f"{base}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("assocmem"):
            out += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("assocmem")]
    return spec.origin, tuple(out)


def axis_values(block: dict, axis: str) -> list:
    """The values along the shard axis ``axis`` of an experiment block: its list or, for a count ``n`` of independent
    instances (e.g. ``networks``), the instances ``0 .. n-1``. A shard's block holds its one value as a list."""
    values = block[axis]
    return list(range(values)) if isinstance(values, int) else list(values)


def runs() -> dict[str, Target]:
    """Every model run by name, with its owner: the first target declaring it (its module, data, shard axis and
    resources are the run's; the other targets drawing from the run must agree on its paper, experiment, module and
    shard axis)."""
    out: dict[str, Target] = {}
    for t in targets().values():
        owner = out.setdefault(t.run_name, t)
        same = ("paper", "experiment", "module", "shard_axis")
        if any(getattr(owner, k) != getattr(t, k) for k in same):
            raise ValueError(f"targets {owner.name} and {t.name} share the run {t.run_name} but differ in "
                             f"{[k for k in same if getattr(owner, k) != getattr(t, k)]}")
    return out


def targets() -> dict[str, Target]:
    """Every declared target by name, in :data:`MODULES` order."""
    out: dict[str, Target] = {}
    for name in MODULES:
        mod = importlib.import_module(f"assocmem.experiments.{name}")
        for t in mod.TARGET_SPECS:
            if t.name in out:
                raise ValueError(f"target {t.name} declared twice")
            out[t.name] = t
    return out


def get(name: str) -> Target:
    """The target called ``name``; a clear error listing the known ones otherwise."""
    known = targets()
    if name not in known:
        raise KeyError(f"unknown target {name!r}; known targets: {', '.join(known)}")
    return known[name]
