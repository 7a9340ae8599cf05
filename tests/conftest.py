"""Shared fixtures: the repository, the data mirror, and one test-scale run of the whole pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TEST_CONFIG = REPO / ".test" / "config" / "config.yaml"


def mirror_path() -> Path:
    """The offline data mirror: $ASSOCMEM_DATA_MIRROR, else the one the .test config names."""
    env = os.environ.get("ASSOCMEM_DATA_MIRROR")
    if env:
        return Path(env).resolve()
    return (TEST_CONFIG.parent.parent / yaml.safe_load(TEST_CONFIG.read_text())["data"]["mirror"]).resolve()


def snakemake(workdir: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a test module (``pytestmark = pytest.mark.usefixtures("one_thread")``): the experiments
    are sized for one core, extra threads only contend on a shared machine, and float32 reductions depend on the
    thread count, so bit-identical reruns compare at one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_path()
    if not (path / "SHA256SUMS").is_file():
        pytest.skip(f"offline data mirror not found at {path} (set ASSOCMEM_DATA_MIRROR)")
    return path


@pytest.fixture(scope="session")
def test_config(tmp_path_factory, mirror) -> Path:
    """The .test config with its mirror made absolute, so the pipeline can run in any folder."""
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["data"]["mirror"] = str(mirror)
    path = tmp_path_factory.mktemp("config") / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, test_config) -> Path:
    """Run `snakemake all` at the test scale once, in a fresh folder; return that folder."""
    workdir = tmp_path_factory.mktemp("pipeline")
    proc = snakemake(workdir, "--configfile", str(test_config), "--cores", "2", "all")
    if proc.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "logs").rglob("*.log")))
        pytest.fail(f"snakemake all failed:\n{proc.stderr[-6000:]}\n{logs}")
    return workdir


@pytest.fixture(scope="session")
def prepared_mnist(tmp_path_factory, mirror) -> Path:
    """MNIST prepared from the mirror (checksums verified) into a session folder."""
    from assocmem.data import prepare_idx_dataset

    out = tmp_path_factory.mktemp("data") / "mnist.pt"
    prepare_idx_dataset("mnist", mirror, out)
    return out


@pytest.fixture(scope="session")
def prepared_usf(tmp_path_factory, mirror) -> Path:
    """The USF edge list prepared from the mirror into a session folder."""
    from assocmem.data import prepare_word_association

    out = tmp_path_factory.mktemp("data") / "usf.csv.gz"
    prepare_word_association("usf", mirror, out)
    return out
