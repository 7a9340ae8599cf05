"""The target registry, the command line generated from it, and the workflow's reruns: a figure-only change
redraws without rerunning the model; a changed run, seed, dtype, device or scale reruns the model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from assocmem import __main__ as cli
from assocmem import registry

from conftest import REPO

pytestmark = pytest.mark.pipeline


def test_registry_declares_every_target_once_with_one_name_per_paper():
    targets = registry.targets()
    assert len(targets) == 52
    for t in targets.values():
        assert t.paper is registry.PAPERS[t.paper.key]
        assert (REPO / "workflow" / "report" / f"{t.name}.rst").is_file(), t.name
    # Every experiment module's PAPER is built from its paper's one citation.
    import importlib

    for t in targets.values():
        assert t.paper.citation in importlib.import_module(t.module).PAPER
    with pytest.raises(KeyError, match="unknown target 'fig_nope'; known targets: fig_mhn_image_retrieval"):
        registry.get("fig_nope")


def test_list_names_every_target(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in registry.targets():
        assert name in out


def test_snakemake_has_a_rule_per_target(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "--list-target-rules"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rules = set(proc.stdout.split())
    assert set(registry.targets()) <= rules


def test_model_runs_carry_their_priority_to_the_scheduler(tmp_path):
    runs = registry.runs()
    first = max(runs.values(), key=lambda t: t.priority)
    assert first.priority > 0 and first.run_name == "models_comparison"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "-n", "--cores", "2", first.name],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    job = proc.stdout.split(f"run={first.run_name}", 1)[1].split("rule ", 1)[0]
    assert f"priority: {first.priority}" in job
    # Its data is prepared first (in an empty directory the dry run includes the preparation).
    prep = [j for j in proc.stdout.split("rule ")[1:] if j.startswith("prepare_images")]
    assert len(prep) == 2 and all(f"priority: {first.priority + 1}" in j for j in prep)


def test_command_line_runs_a_target_of_every_paper_at_test_scale(pipeline_run, test_config, tmp_path):
    """`python -m assocmem run <target>` gives the verdict and table of the workflow's run, for the first target of
    every paper (the command line takes one code path for all targets; the workflow runs every one of them)."""
    first = {}
    for name, t in registry.targets().items():
        first.setdefault(t.paper.key, (name, t))
    for name, t in first.values():
        out = tmp_path / "results"
        argv = ["run", name, "--config", str(REPO / "config" / "config.yaml"), "--config", str(test_config),
                "--data-dir", str(pipeline_run), "--results", str(out), "--threads", str(min(t.threads, 2))]
        assert cli.main(argv) == 0
        ours = json.loads((t.prefix(out).with_suffix(".json")).read_text())
        theirs = json.loads((t.prefix(pipeline_run / "results").with_suffix(".json")).read_text())
        assert ours["verdict"] == theirs["verdict"], name
        assert cli.main(["figure", name, "--config", str(REPO / "config" / "config.yaml"), "--config",
                         str(test_config), "--results", str(out)]) == 0


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory, mirror) -> tuple[Path, dict]:
    """A copy of the workflow and package (edited by the tests below, never the checkout) and its environment."""
    root = tmp_path_factory.mktemp("repo")
    for part in ("Snakefile", "config", "workflow", "src"):
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / part)
    cfg = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    cfg["data"]["mirror"] = str(mirror)
    (root / "test.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    return root, env


def _plan(root: Path, env: dict, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--directory", str(root), "--configfile",
                           str(root / "test.yaml"), "--cores", "2", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def _jobs(plan: str) -> set[str]:
    return {line.split()[-1].rstrip(":") for line in plan.splitlines() if line.startswith(("rule ", "localrule "))}


def test_figure_edits_redraw_without_rerunning_the_model(repo_copy):
    root, env = repo_copy
    target = "fig_capacity_vs_feature_dim"
    _plan(root, env, target)  # build it once
    assert "Nothing to be done" in _plan(root, env, "-n", target)
    figure_code = root / "src" / "assocmem" / "experiments" / "khm" / "capacity_figure.py"
    figure_code.write_text(figure_code.read_text() + "\n# a figure-only edit\n")
    assert _jobs(_plan(root, env, "-n", target)) == {target}
    _plan(root, env, target)
    run_code = root / "src" / "assocmem" / "experiments" / "khm" / "capacity.py"
    run_code.write_text(run_code.read_text() + "\n# a model edit\n")
    assert _jobs(_plan(root, env, "-n", target)) == {"run_stage", target}


def test_core_edits_rerun_exactly_the_models_that_use_them(repo_copy):
    root, env = repo_copy
    target = "fig_capacity_vs_feature_dim"
    _plan(root, env, target)
    unrelated = root / "src" / "assocmem" / "sparse_recovery.py"
    unrelated.write_text(unrelated.read_text() + "\n# an edit the capacity model does not import\n")
    assert "Nothing to be done" in _plan(root, env, "-n", target)
    used = root / "src" / "assocmem" / "kernelized.py"
    used.write_text(used.read_text() + "\n# an edit of the U-Hop+ core\n")
    assert _jobs(_plan(root, env, "-n", target)) == {"run_stage", target}
    _plan(root, env, target)


@pytest.mark.parametrize("change", ["seed=5", "dtype=float64", "device=cpu", "scale=quick"])
def test_every_global_parameter_reruns_the_model(repo_copy, change):
    root, env = repo_copy
    target = "fig_capacity_vs_feature_dim"
    _plan(root, env, target)
    assert "run_stage" in _jobs(_plan(root, env, "-n", target, "--config", change))
