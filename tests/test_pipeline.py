"""The whole Snakemake workflow at the test scale: every target, the report, the notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from assocmem.claims import VERDICTS
from conftest import REPO, snakemake

pytestmark = pytest.mark.pipeline


def result_targets(workdir):
    return sorted(p for p in (workdir / "results").glob("*/*.json"))


def test_every_target_writes_figure_data_and_metadata(pipeline_run):
    metas = result_targets(pipeline_run)
    assert metas, "no result targets were written"
    for path in metas:
        for ext in ("png", "pdf", "csv"):
            assert path.with_suffix(f".{ext}").stat().st_size > 0, path.with_suffix(f".{ext}")
        meta = json.loads(path.read_text())
        for key in ("paper", "scale", "parameters", "seed", "versions", "device", "wall_time_s", "verdict", "claims",
                    "caption"):
            assert key in meta, f"{path.name} lacks {key}"
        assert meta["scale"] == "test"
        assert meta["verdict"] in VERDICTS
        assert all(c["passed"] is None or isinstance(c["passed"], bool) for c in meta["claims"]), path.name
        assert not pd.read_csv(path.with_suffix(".csv")).empty


def test_replication_report_lists_every_target(pipeline_run):
    report = (pipeline_run / "results" / "replication_report.md").read_text()
    assert "| paper | figure | claim | paper value | our value | tolerance | verdict | scale |" in report
    for path in result_targets(pipeline_run):
        assert f"`{path.stem}`" in report


def test_prepared_data_exists(pipeline_run):
    data = pipeline_run / "resources" / "data"
    for name in ("mnist.pt", "fashion_mnist.pt", "cifar10.pt", "miyashita.pt", "word_association/usf.csv.gz",
                 "word_association/eat.csv.gz"):
        assert (data / name).stat().st_size > 0, name


def test_every_rule_logged(pipeline_run):
    logs = list((pipeline_run / "logs").rglob("*.log"))
    assert len(logs) >= 8


def test_single_figure_target_rebuilds_alone(pipeline_run, test_config):
    png = pipeline_run / "results" / "mhn" / "fig_mhn_image_retrieval.png"
    png.unlink()
    config = ("--configfile", str(test_config))
    dry = snakemake(pipeline_run, *config, "-n", "fig_mhn_image_retrieval")
    assert dry.returncode == 0, dry.stderr
    planned = dry.stdout + dry.stderr
    assert "fig_mhn_image_retrieval" in planned
    for other in ("prepare_images", "run_stage", "run_shard", "replication_report"):
        assert f"rule {other}:" not in planned, f"{other} would rerun"
    run = snakemake(pipeline_run, *config, "--cores", "1", "fig_mhn_image_retrieval")
    assert run.returncode == 0, run.stderr
    assert png.exists()


def test_snakemake_html_report(pipeline_run, test_config):
    out = pipeline_run / "results" / "report.html"
    proc = snakemake(pipeline_run, "--configfile", str(test_config), "--report", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.stat().st_size > 10_000


def test_overview_notebook_runs_on_test_results(pipeline_run, monkeypatch):
    nb = nbformat.read(REPO / "notebooks" / "overview.ipynb", as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["language_info"]["name"] == "python"
    monkeypatch.setenv("ASSOCMEM_RESULTS", str(pipeline_run / "results"))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_workflow_lint_and_format_clean():
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Congratulations" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    fmt = subprocess.run([os.path.join(os.path.dirname(sys.executable), "snakefmt"), "--check", "."], cwd=REPO,
                         capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
