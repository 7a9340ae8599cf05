"""Targets run in shards (parts of their work, e.g. one data set each on a GPU) and gathered by the figure stage give
the same tables as one unsharded run; a killed run's finished rows are kept and can be drawn."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from assocmem import config as am_config
from assocmem import registry, stages
from assocmem.experiments.cdam import word_association as words
from assocmem.experiments.khm import capacity as khm_capacity, capacity_figure as khm_capacity_figure

REPO = Path(__file__).resolve().parents[1]


def _config(name: str, **block) -> dict:
    cfg = am_config.load([REPO / "config" / "config.yaml"], {"scale": "test", "device": "cpu"})
    cfg["experiments"][name]["test"].update(block)
    return cfg


@pytest.fixture(scope="module")
def prepared_eat(tmp_path_factory, mirror) -> Path:
    from assocmem.data import prepare_word_association

    out = tmp_path_factory.mktemp("data") / "eat.csv.gz"
    prepare_word_association("eat", mirror, out)
    return out


def _small_capacity(**extra) -> dict:
    return dict(pattern_dim=16, feature_dims=[2, 3], beta=20.0, tol=0.05, retrieval_steps=1, draws=2, m_max=256,
                growth=1.5, resolution=0.1, uhop_steps=5, uhop_lr=0.1, uhop_tau=0.1, mnist_uhop_lr=0.02, **extra)


def test_capacity_shards_by_dataset_equal_one_run(prepared_mnist):
    whole = khm_capacity.run(_small_capacity(datasets=["sphere", "mnist"]), seed=0, data_path=prepared_mnist)
    parts = [khm_capacity.run(_small_capacity(datasets=[d]), seed=0, data_path=prepared_mnist)
             for d in ("sphere", "mnist")]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)


def test_capacity_checkpoint_keeps_finished_rows_and_gathers(tmp_path, prepared_mnist):
    params = _small_capacity(datasets=["sphere"])
    table = khm_capacity.run(params, seed=0, checkpoint=tmp_path / "ck.csv")
    kept = pd.read_csv(tmp_path / "ck.csv")
    assert len(kept) == len(table) == 4 and list(kept["m_star"]) == list(table["m_star"])
    # A shard that was killed leaves only <prefix>.partial.csv: gather draws it and says so in the caption.
    shard = tmp_path / "runs" / "sphere" / khm_capacity.TARGET
    shard.parent.mkdir(parents=True)
    kept.iloc[:3].to_csv(shard.with_name(shard.name + ".partial.csv"), index=False)
    cfg = _config(khm_capacity.NAME, **params)
    meta = khm_capacity_figure.gather_target(cfg, [shard], tmp_path / "out" / khm_capacity.TARGET)
    assert "The sphere run was cut before it finished: its U-Hop+ rows stop at D_Phi = 2" in meta["caption"]
    assert meta["shards"][0]["finished"] is False
    with pytest.raises(FileNotFoundError, match="neither"):
        khm_capacity_figure.gather_target(cfg, [tmp_path / "missing" / khm_capacity.TARGET], tmp_path / "x")


@pytest.fixture
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_word_association_shards_by_source_equal_one_run(tmp_path, prepared_usf, prepared_eat, restore_threads):
    # One thread for all runs: float32 results at anti-Hebbian settings depend on the thread count, not the sharding.
    block = dict(n_words=40, n=200, seeds=1, steps=30, a_values=[1, -1])
    paths = {"usf": prepared_usf, "eat": prepared_eat}
    whole = words.run_target(_config(words.NAME, **block), paths, tmp_path / "whole" / words.TARGET, threads=1)
    shards = []
    for s in ("usf", "eat"):
        prefix = tmp_path / "runs" / s / words.TARGET
        words.run_target(_config(words.NAME, sources=[s], **block), paths, prefix, threads=1)
        shards.append(prefix)
    gathered = words.gather_target(_config(words.NAME, **block), shards, tmp_path / "gathered" / words.TARGET)
    a = pd.read_csv(tmp_path / "whole" / f"{words.TARGET}.csv")
    b = pd.read_csv(tmp_path / "gathered" / f"{words.TARGET}.csv")
    pd.testing.assert_frame_equal(a, b)
    assert gathered["verdict"] == whole["verdict"]
    assert gathered["example_clusters"] == whole["example_clusters"]
    assert gathered["n_words"] == whole["n_words"]


# The workflow's shards: one model-run job per value of a run's shard axis (a run shared by several targets is one
# run), gathered by the figure of every target drawing from it.
SHARDED = {name: t for name, t in registry.runs().items() if t.shard_axis}


def test_some_targets_declare_shards():
    assert {t.name for t in SHARDED.values()} >= {
        "fig_capacity_vs_feature_dim", "fig_cdam_word_association", "fig_kde_capacity",
        "fig_cdam_image_retrieval_beyond", "fig_mhn_image_retrieval", "fig_noise_error_vs_epsilon"}


def test_a_count_shards_into_its_instances():
    block = {"networks": 3, "datasets": ["mnist", "cifar10"]}
    assert registry.axis_values(block, "networks") == [0, 1, 2]
    assert registry.axis_values(block, "datasets") == ["mnist", "cifar10"]
    cfg = {"scale": "paper", "experiments": {"e": {"paper": block}}}
    assert stages.shard_config(cfg, "e", "networks", "1")["experiments"]["e"]["paper"]["networks"] == [1]
    assert cfg["experiments"]["e"]["paper"]["networks"] == 3
    with pytest.raises(ValueError, match="no shard '3'"):
        stages.shard_config(cfg, "e", "networks", "3")


@pytest.mark.pipeline
@pytest.mark.parametrize("run", list(SHARDED))
def test_sharded_runs_give_the_unsharded_tables(run, pipeline_run, test_config, tmp_path, restore_threads):
    t = SHARDED[run]
    cfg = am_config.load([REPO / "config" / "config.yaml", test_config], {"device": "cpu"})
    whole_dir, shard_dir = tmp_path / "whole", tmp_path / "sharded"
    params = am_config.experiment_params(cfg, t.experiment)
    stages.run(t.module, t.run_name, cfg, t.data_paths(params, pipeline_run), whole_dir, threads=1)
    shards = [str(v) for v in registry.axis_values(params, t.shard_axis)]
    assert len(shards) >= 2
    for shard in shards:
        part = stages.shard_config(cfg, t.experiment, t.shard_axis, shard)
        data = t.data_paths(am_config.experiment_params(part, t.experiment), pipeline_run)
        stages.run(t.module, t.run_name, cfg, data, shard_dir, threads=1, shard=shard, axis=t.shard_axis)
    whole, _ = stages.read(whole_dir, t.run_name)
    gathered, provenance = stages.read_shards(shard_dir, t.run_name, shards)
    pd.testing.assert_frame_equal(gathered.table, whole.table)
    assert gathered.extras == whole.extras
    assert set(provenance["shards"]) == set(shards)
    for u in (u for u in registry.targets().values() if u.run_name == run):
        a = stages.figure(u.figure_module, run, cfg, whole_dir, tmp_path / "a" / u.name)
        b = stages.figure(u.figure_module, run, cfg, shard_dir, tmp_path / "b" / u.name, shards=shards)
        assert (tmp_path / "a" / f"{u.name}.csv").read_bytes() == (tmp_path / "b" / f"{u.name}.csv").read_bytes()
        assert a["verdict"] == b["verdict"] and a["claims"] == b["claims"] and a["caption"] == b["caption"]


def test_paper_scale_plan_runs_each_shard_as_its_own_job(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "-n", "--cores", "1", "--config", "scale=paper", "--quiet", "rules"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(line.split()[:2] for line in proc.stdout.splitlines() if len(line.split()) == 2
                  and line.split()[1].isdigit())
    cfg = am_config.load([REPO / "config" / "config.yaml"], {"scale": "paper"})
    expected = sum(len(t.shards(cfg)) for t in SHARDED.values())
    assert expected >= 8 and int(counts.get("run_shard", 0)) == expected
