"""The install surfaces agree: pyproject.toml, environment.yml, the Makefile, CI; entry points run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
import yaml

from conftest import REPO

CONDA_TO_PIP = {"pytorch": "torch", "snakemake-minimal": "snakemake"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_agrees_with_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_names = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    conda_names = {CONDA_TO_PIP.get(_name(d), _name(d)) for d in conda} - {"python", "pip"}
    assert conda_names == pip_names
    assert {"-e ."} == set(next(d for d in env["dependencies"] if isinstance(d, dict))["pip"])


def test_install_pins_cpu_torch_and_ci_runs_the_test_command():
    makefile = (REPO / "Makefile").read_text()
    assert "pip install --quiet torch==2.13.0" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_data_cli_reports_missing_mirror_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "assocmem.data", "mnist", "--mirror", str(tmp_path), "--out", str(tmp_path / "m.pt")],
        capture_output=True, text=True,
    )
    assert proc.returncode != 0
    assert "missing from the mirror" in proc.stderr and "allow_download" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.pipeline
def test_experiment_runs_without_snakemake(pipeline_run, test_config, tmp_path):
    """The command line runs a target from plain Python (as on a GPU machine without Snakemake): the model run,
    then a redraw from the kept run alone."""
    target, results = "fig_mhn_image_retrieval", tmp_path / "results"
    opts = ["--config", str(REPO / "config" / "config.yaml"), "--config", str(test_config), "--device", "cpu",
            "--results", str(results)]
    cmd = [sys.executable, "-m", "assocmem"]
    run = subprocess.run([*cmd, "run", target, *opts, "--data-dir", str(pipeline_run)], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert (results / "mhn" / "runs" / f"{target}.parquet").exists()
    fig = subprocess.run([*cmd, "figure", target, *opts], capture_output=True, text=True)
    assert fig.returncode == 0, fig.stderr
    assert (results / "mhn" / f"{target}.png").exists() and (results / "mhn" / f"{target}.json").exists()
    bad = subprocess.run([*cmd, "run", target, *opts, "--scale", "enormous"], capture_output=True, text=True)
    assert bad.returncode == 2 and "enormous" in bad.stderr


def test_installed_wheel_works_outside_the_checkout(tmp_path):
    """`import assocmem`, its schema and `python -m assocmem list` work from an installed wheel, away from the
    checkout (the schema ships inside the package)."""
    wheels, site, elsewhere, source = (tmp_path / n for n in ("wheels", "site", "elsewhere", "source"))
    elsewhere.mkdir()
    source.mkdir()  # build from a copy: building writes build/ and egg-info next to the sources
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / part, source / part)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(wheels), str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("assocmem-*.whl")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import assocmem, assocmem.config as c; print(assocmem.__file__); print(c.SCHEMA_PATH.is_file()); "
            f"c.load([{str(REPO / 'config' / 'config.yaml')!r}]); print('config valid')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert str(site) in proc.stdout and "True" in proc.stdout and "config valid" in proc.stdout
    listing = subprocess.run([sys.executable, "-m", "assocmem", "list"], cwd=elsewhere, env=env, capture_output=True,
                             text=True)
    assert listing.returncode == 0, listing.stderr
    assert "fig_capacity_vs_feature_dim" in listing.stdout
