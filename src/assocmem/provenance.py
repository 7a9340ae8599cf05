"""What a result records about how it was made: package versions and commit, and a target's metadata."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time: a model run's code does not depend on the claims
    from .claims import Claim

_PACKAGES = ("assocmem", "torch", "numpy", "pandas", "matplotlib", "seaborn", "networkx", "snakemake")


def versions() -> dict[str, str]:
    """Python, platform and package versions, and the git commit when run from a checkout."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        out["git_commit"] = commit.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = "unknown"
    return out


def target_meta(config: dict, *, paper: str, paper_key: str, params: dict, device, dtype, caption: str,
                claims: list[Claim], started: float, run_wall_s: float | None = None, **extra) -> dict:
    """The metadata every target records, plus experiment-specific ``extra`` fields.

    ``started`` is the ``time.perf_counter()`` reading when the target began; the wall time is
    measured up to this call. Pass the result to :func:`assocmem.results.write_target`.
    """
    import time

    from .device import describe

    meta = dict(paper=paper, paper_key=paper_key, scale=config["scale"], seed=config["seed"],
                parameters=params, device=describe(device) if not isinstance(device, str) else device,
                dtype=str(dtype), caption=caption, claims=claims, **extra)
    if run_wall_s is not None:
        meta["run_wall_time_s"] = round(run_wall_s, 2)
    meta["wall_time_s"] = round(time.perf_counter() - started, 2)
    return meta
