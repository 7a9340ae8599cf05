"""Results always match the configuration that produced them, and every failure says what to do."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from assocmem import config as am_config
from assocmem import files
from assocmem.claims import Claim
from assocmem.data import mirror as am_mirror
from assocmem.plotting import pyplot
from assocmem.results import write_target

from conftest import REPO


def _shipped() -> dict:
    return am_config.load([REPO / "config" / "config.yaml"])


# 3. One precedence for device and dtype: command line > environment > config file; bad values name the variable.
def test_environment_applies_unless_the_command_line_sets_it(monkeypatch):
    monkeypatch.setenv("ASSOCMEM_DTYPE", "float64")
    monkeypatch.setenv("ASSOCMEM_DEVICE", "cpu")
    cfg = am_config.load([REPO / "config" / "config.yaml"])
    assert cfg["dtype"] == "float64" and cfg["device"] == "cpu"  # the shipped file says float32 / auto
    cfg = am_config.load([REPO / "config" / "config.yaml"], {"dtype": "float32"})
    assert cfg["dtype"] == "float32" and cfg["device"] == "cpu"
    monkeypatch.setenv("ASSOCMEM_DTYPE", "bfloat16")
    with pytest.raises(am_config.ConfigError, match="ASSOCMEM_DTYPE='bfloat16' is not a valid dtype"):
        am_config.load([REPO / "config" / "config.yaml"])
    monkeypatch.setenv("ASSOCMEM_DTYPE", "float32")
    monkeypatch.setenv("ASSOCMEM_DEVICE", "bogus")
    with pytest.raises(am_config.ConfigError, match="ASSOCMEM_DEVICE='bogus' is not a valid device"):
        am_config.load([REPO / "config" / "config.yaml"])


def test_snakemake_takes_the_environment_and_names_a_bad_variable(tmp_path):
    env = dict(os.environ, ASSOCMEM_DEVICE="bogus")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "-n", "--cores", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "ASSOCMEM_DEVICE='bogus'" in proc.stdout + proc.stderr


# 5. Config errors are short, list every problem, and say how to pass nested values.
def test_config_errors_are_concise_and_complete():
    cfg = _shipped()
    bad = copy.deepcopy(cfg)
    bad["typo_key"] = 1
    bad["seed"] = -1
    bad["experiments"]["khm_capacity"]["quick"]["beta"] = "0"
    with pytest.raises(am_config.ConfigError) as err:
        am_config.validate(bad)
    text = str(err.value)
    assert "typo_key" in text and "seed" in text and "khm_capacity.quick.beta" in text
    assert "--configfile" in text and len(text.splitlines()) < 10


def test_snakemake_config_error_is_short(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "-n", "--cores", "1", "--config", "typo_key=1"], capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "typo_key" in out
    assert len(out.splitlines()) < 40


# 6. Values that cannot be honoured together are errors before any job runs.
@pytest.mark.parametrize("key, value, message", [
    ("timecourse_setting", [9, 9], "is not one of the settings"),
    ("snapshot_steps", [0, 500], "after the last step"),
    ("max_distance", 100, "beyond the largest distance"),
])
def test_cross_field_values_are_checked(key, value, message):
    cfg = _shipped()
    cfg["experiments"]["cdam_antihebbian_range"]["quick"][key] = value
    with pytest.raises(am_config.ConfigError, match=message):
        am_config.validate(cfg)


# 7. Temporaries of killed writers are cleaned; a live writer's stay.
def test_stale_temporaries_are_removed_on_the_next_write(tmp_path):
    target = tmp_path / "x.json"
    stale = tmp_path / ".x.json.999999999.dead.tmp"
    stale.write_text("half")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        live = tmp_path / f".x.json.{sleeper.pid}.live.tmp"
        live.write_text("being written")
        files.write_json({"a": 1}, target)
        assert not stale.exists() and live.exists() and target.exists()
    finally:
        sleeper.kill()


def test_readme_has_a_troubleshooting_section():
    text = (REPO / "README.md").read_text()
    assert "## Troubleshooting" in text and "--rerun-incomplete" in text and "--unlock" in text


# 8. Messages name the right remedy.
def test_missing_mirror_folder_is_named(tmp_path):
    with pytest.raises(am_mirror.DataError, match="mirror folder .* does not exist .*data.mirror"):
        am_mirror.locate("mnist/train-images-idx3-ubyte.gz", tmp_path / "nowhere", url="http://example/x.gz")


def test_missing_file_hint_names_real_options(tmp_path):
    with pytest.raises(am_mirror.DataError) as err:
        am_mirror.locate("mnist/train-images-idx3-ubyte.gz", tmp_path, url="http://example/x.gz")
    assert "data.allow_download: true" in str(err.value) and "--configfile" in str(err.value)


def test_corrupt_mirror_file_does_not_suggest_downloading(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.bin").write_bytes(b"corrupt")
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  a/f.bin\n")
    with pytest.raises(am_mirror.DataError) as err:
        am_mirror.locate("a/f.bin", tmp_path)
    assert "corrupt or truncated" in str(err.value) and "download" not in str(err.value)


def test_full_disk_while_saving_says_so_and_leaves_nothing(tmp_path, monkeypatch):
    import torch

    def full(obj, fh):
        fh.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 960 vs 854")

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(100, 100, 0))
    with pytest.raises(am_mirror.DataError, match="the disk is full .*nothing was written"):
        am_mirror.save_tensors({"x": torch.zeros(3)}, tmp_path / "d.pt")
    assert list(tmp_path.iterdir()) == []


# 9. Same-seed reruns write the same bytes (no creation dates in PDFs or PNGs).
def test_figures_are_byte_identical_across_reruns(tmp_path):
    plt, _ = pyplot()

    def once(folder):
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        write_target(folder / "t", figure=fig, table=pd.DataFrame({"a": [1]}),
                     meta={"claims": [Claim("c", "s", "v", "t", True)], "versions": {"x": "1"}})
        plt.close(fig)

    once(tmp_path / "one")
    time.sleep(1.1)  # a PDF creation date has one-second resolution
    once(tmp_path / "two")
    for ext in ("pdf", "png", "csv", "json"):
        assert (tmp_path / "one" / f"t.{ext}").read_bytes() == (tmp_path / "two" / f"t.{ext}").read_bytes(), ext


# 1, 2 and 4 run the workflow.
@pytest.fixture(scope="module")
def small_run(tmp_path_factory, mirror) -> tuple[Path, Path]:
    """A test-scale build of a few targets in a fresh folder; returns (folder, config file)."""
    root = tmp_path_factory.mktemp("reliability")
    cfg = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    cfg["data"]["mirror"] = str(mirror)
    path = root / "test.yaml"
    path.write_text(yaml.safe_dump(cfg))
    _snake(root, path, "fig_energy_landscapes", "fig_kde_capacity", "resources/data/mnist.pt",
           "resources/data/word_association/usf.csv.gz")
    return root, path


def _snake(root: Path, cfg: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(root), "--configfile", str(cfg), "--cores", "2", *args], capture_output=True,
                          text=True, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def _jobs(proc: subprocess.CompletedProcess) -> set[str]:
    text = proc.stdout + proc.stderr
    return {line.split()[-1].rstrip(":") for line in text.splitlines() if line.startswith(("rule ", "localrule "))}


@pytest.mark.pipeline
@pytest.mark.parametrize("change", ["seed=5", "dtype=float64", "device=cpu", "scale=quick"])
def test_changed_settings_rerun_the_target(small_run, change):
    root, cfg = small_run
    # fig_energy_landscapes has identical test and quick blocks: the scale alone must still rerun it.
    for target in ("fig_energy_landscapes", "fig_kde_capacity"):
        assert target in _jobs(_snake(root, cfg, "-n", target, "--config", change)), (target, change)


@pytest.mark.pipeline
def test_mirror_spelling_and_download_toggle_rebuild_nothing(small_run, mirror, tmp_path):
    root, cfg = small_run
    spelled = yaml.safe_load(cfg.read_text())
    spelled["data"]["mirror"] = str(mirror) + "/"
    spelled["data"]["allow_download"] = True
    other = tmp_path / "spelled.yaml"
    other.write_text(yaml.safe_dump(spelled))
    for target in ("resources/data/mnist.pt", "resources/data/word_association/usf.csv.gz"):
        plan = _snake(root, other, "-n", target)
        assert "Nothing to be done" in plan.stdout + plan.stderr, target


@pytest.mark.pipeline
def test_report_covers_what_exists_and_names_what_is_missing(small_run):
    root, cfg = small_run
    proc = subprocess.run([sys.executable, "-m", "assocmem", "report", "--out", str(root / "report.html"),
                           "--directory", str(root), "--configfile", str(cfg)], capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (root / "report.html").stat().st_size > 10_000
    assert "not built yet" in proc.stderr and "fig_cdam_modes" in proc.stderr


def test_modes_graphs_must_include_the_cycle_of_the_large_n_check():
    cfg = _shipped()
    cfg["experiments"]["cdam_modes"]["quick"]["graphs"] = ["karate", "tutte"]
    with pytest.raises(am_config.ConfigError, match="leaves out the cycle"):
        am_config.validate(cfg)
