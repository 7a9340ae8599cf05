"""A result target's life: begun from its config, finished into its four files, gathered from shards.

A result target ``results/<paper>/<target>`` writes four files:

- ``<target>.png`` and ``<target>.pdf``: the figure, with its caption printed beneath it;
- ``<target>.csv``: the tidy data the figure plots (one row per plotted point);
- ``<target>.json``: metadata (:mod:`assocmem.provenance`) and the claims the target tests with their verdict
  (:mod:`assocmem.claims`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .files import atomic_write, write_csv, write_json
from .provenance import target_meta, versions

if TYPE_CHECKING:  # imported where used: a model run (which begins a target) does not depend on the claims
    from .claims import Claim


def write_target(prefix: Path | str, *, figure, table: pd.DataFrame, meta: dict) -> dict:
    """Write ``<prefix>.{png,pdf,csv,json}`` and close the figure; return the metadata written.

    ``meta`` must hold ``claims`` (a list of :class:`assocmem.claims.Claim`); the target name, the verdict and the
    versions are added here.
    """
    from .claims import verdict

    prefix = Path(prefix)
    claims = meta["claims"]
    meta = {
        **meta,
        "target": prefix.name,
        "claims": [asdict(c) for c in claims],
        "verdict": verdict(claims),
        "versions": meta.get("versions") or versions(),
    }
    paths = {ext: prefix.with_suffix(f".{ext}") for ext in ("png", "pdf", "csv", "json")}
    for ext in ("png", "pdf"):
        with atomic_write(paths[ext]) as tmp:
            # No creation date (PDF) and no software string (PNG): a same-seed rerun writes the same bytes.
            figure.savefig(tmp, format=ext, dpi=150 if ext == "png" else None,
                           metadata={"CreationDate": None} if ext == "pdf" else {"Software": None})
    import matplotlib.pyplot as plt

    plt.close(figure)  # written: a process that builds many targets (the command line, the tests) does not keep it
    write_csv(table, paths["csv"])
    write_json(meta, paths["json"])
    return meta


@dataclass
class TargetRun:
    """What :func:`begin_target` sets up for a target: its config, parameters, device, dtype and start time."""

    config: dict
    params: dict
    device: Any
    dtype: Any
    started: float


def begin_target(config: dict, name: str, threads: int | None = None) -> TargetRun:
    """Start a target: set the thread count, read experiment ``name``'s parameters at the configured
    scale, resolve the device and dtype, and start the wall clock."""
    import time

    import torch

    from . import config as _config
    from . import device as _device

    if threads:
        torch.set_num_threads(threads)
    params = _config.experiment_params(config, name)
    dev, dtype = _device.resolve_device(config.get("device")), _device.resolve_dtype(config.get("dtype"))
    return TargetRun(config=config, params=params, device=dev, dtype=dtype, started=time.perf_counter())


def finish_target(run: TargetRun, out_prefix: Path | str, *, paper: str, paper_key: str, claims: list[Claim],
                  table: pd.DataFrame, caption: Callable[[str], str], figure: Callable[[str], Any],
                  run_wall_s: float | None = None, dtype=None, device=None, **extra) -> dict:
    """Finish a target: ``caption(verdict)`` gives the caption, ``figure(caption)`` the figure; the
    metadata (:func:`assocmem.provenance.target_meta`, with the run's device and dtype unless given) and the
    files are written by :func:`write_target`. Return the metadata written."""
    from .claims import verdict

    cap = caption(verdict(claims))
    write_csv(table, Path(out_prefix).with_suffix(".csv"))  # the data first: a failing figure must not lose a run
    fig = figure(cap)
    meta = target_meta(run.config, paper=paper, paper_key=paper_key, params=run.params,
                       device=run.device if device is None else device, dtype=run.dtype if dtype is None else dtype,
                       caption=cap, claims=claims, started=run.started, run_wall_s=run_wall_s, **extra)
    return write_target(out_prefix, figure=fig, table=table, meta=meta)


def read_shards(prefixes: list[Path | str]) -> tuple[list[pd.DataFrame], list[dict]]:
    """The tables and metadata of shard targets ``<prefix>.csv`` / ``<prefix>.json`` (runs of one target on parts of
    its work, e.g. one data set each on a GPU), for a figure stage that gathers them. A shard killed before it
    finished may leave only ``<prefix>.partial.csv``; it is read with empty metadata."""
    import json

    tables, metas = [], []
    for prefix in map(Path, prefixes):
        csv, partial, meta = (prefix.with_name(prefix.name + ext) for ext in (".csv", ".partial.csv", ".json"))
        if csv.is_file() and meta.is_file():
            tables.append(pd.read_csv(csv))
            metas.append(json.loads(meta.read_text()))
        elif partial.is_file():
            tables.append(pd.read_csv(partial))
            metas.append({"partial": True, "shard": prefix.name})
        else:
            raise FileNotFoundError(f"shard {prefix}: neither {csv.name} with {meta.name} nor {partial.name} found")
    return tables, metas


def shard_summary(prefixes: list[Path | str], metas: list[dict]) -> list[dict]:
    """Per shard: its name, device, wall times and whether it finished (for the gathered target's metadata)."""
    return [{"shard": str(p), "device": m.get("device"), "wall_time_s": m.get("wall_time_s"),
             "run_wall_time_s": m.get("run_wall_time_s"), "finished": not m.get("partial", False)}
            for p, m in zip(prefixes, metas)]


def shard_devices(metas: list[dict]) -> str:
    """The devices the shards ran on, as one string (``unknown`` when no shard recorded one)."""
    return "; ".join(sorted({m["device"] for m in metas if m.get("device")})) or "unknown"
