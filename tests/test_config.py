"""Bad configuration stops the run before any job starts, with a message naming the key."""

from __future__ import annotations

import copy

import pytest
import yaml

from assocmem import config as cfg
from conftest import REPO, snakemake

BASE = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _with(path: str, value):
    out = copy.deepcopy(BASE)
    *parents, leaf = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[leaf] = value
    return out


BAD = [
    ("data.mirrror", "../shared/data", "mirrror"),  # unknown key (typo)
    ("seed", "zero", "seed"),  # wrong type
    ("experiments.mhn_image_retrieval.quick.n_queries", 0, "n_queries"),  # out of range
    ("scale", "huge", "scale"),  # not one of the scales
    ("experiments.mhn_image_retrieval.test.betas", [-1, 10], "betas"),  # out of range inside a list
]


def test_default_and_test_configs_are_valid():
    cfg.validate(BASE)
    cfg.load([REPO / "config" / "config.yaml", REPO / ".test" / "config" / "config.yaml"])


@pytest.mark.parametrize("path, value, key", BAD)
def test_package_validation_names_the_key(path, value, key):
    with pytest.raises(cfg.ConfigError, match=key):
        cfg.validate(_with(path, value))


@pytest.mark.parametrize("path, value, key", BAD[:3])
def test_snakemake_stops_before_any_job(tmp_path, path, value, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_with(path, value)))
    proc = snakemake(tmp_path, "-n", "--configfile", str(bad), timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert key in out
    assert "Job stats" not in out
    assert not (tmp_path / "results").exists()


def test_experiment_params_picks_the_scale():
    test = cfg.merge(BASE, {"scale": "test"})
    assert cfg.experiment_params(test, "mhn_image_retrieval") == BASE["experiments"]["mhn_image_retrieval"]["test"]


def test_unreadable_config_file(tmp_path):
    with pytest.raises(cfg.ConfigError, match="cannot read config file"):
        cfg.load([tmp_path / "missing.yaml"])
