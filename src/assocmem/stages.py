"""The two stages of a result target: the model run, and the figure drawn from its run table.

A target's experiment module provides

- ``run_stage(config, data, threads) -> Runs``: run the model at the configured scale on the prepared data files
  ``data`` (``{name: path}``, e.g. ``{"mnist": Path(...)}``) and return the tidy run table (one row per run or
  point) and a small JSON-able ``extras`` dict of whatever else the figure needs;
- ``figure_stage(config, runs, provenance, out_prefix) -> dict``: from those alone, test the claims and write
  ``<out_prefix>.{png,pdf,csv,json}`` (usually through :func:`figure_run` and
  :func:`assocmem.results.finish_target`).

:func:`run` writes the run stage's output under ``results/<paper>/runs/``: ``<name>.parquet`` (the table) and
``<name>.json`` (extras and provenance: scale, seed, device, dtype, parameters, wall time, versions).
:func:`figure` reads them back. Parquet keeps every column's type and every float's bits, so the figure stage
sees exactly the table the run produced (a CSV round trip can change both); the figure stage's own
``<target>.csv`` stays the human-readable table.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .files import atomic_write, write_json


@dataclass
class Runs:
    """What a run stage returns: the run table and the extras the figure needs (JSON-able, small)."""

    table: pd.DataFrame
    extras: dict[str, Any] = field(default_factory=dict)


def run_paths(out_dir: Path | str, name: str) -> tuple[Path, Path]:
    """``(<out_dir>/<name>.parquet, <out_dir>/<name>.json)``."""
    out_dir = Path(out_dir)
    return out_dir / f"{name}.parquet", out_dir / f"{name}.json"


def shard_config(config: dict, experiment: str, axis: str, shard: str) -> dict:
    """``config`` with the list ``axis`` of ``experiment``'s block (at the configured scale) cut to the one value
    named ``shard`` (a count ``n``: to the list of the one instance, :func:`assocmem.registry.axis_values`): the
    configuration of one shard's model run."""
    import copy

    from .registry import axis_values

    block = config["experiments"][experiment][config["scale"]]
    values = [v for v in axis_values(block, axis) if str(v) == shard]
    if not values:
        raise ValueError(f"{experiment}: no shard {shard!r} in {axis} = {block[axis]}")
    out = copy.deepcopy(config)
    out["experiments"][experiment][config["scale"]][axis] = values[:1]
    return out


def run(module: str, name: str, config: dict, data: dict[str, Path], out_dir: Path | str,
        threads: int | None = None, shard: str | None = None, axis: str | None = None) -> dict:
    """Run ``module.run_stage`` and write its table and provenance as ``<out_dir>/<name>.{parquet,json}``; one
    shard of it (``axis`` cut to the value ``shard``) as ``<out_dir>/<name>/<shard>.{parquet,json}``."""
    if shard is not None:
        config = shard_config(config, importlib.import_module(module).NAME, axis, shard)
        out_dir, name = Path(out_dir) / name, shard
    runs, provenance = _run(module, config, data, threads)
    table_path, meta_path = run_paths(out_dir, name)
    with atomic_write(table_path) as tmp:
        runs.table.to_parquet(tmp, index=False)
    write_json({"provenance": provenance, "extras": runs.extras}, meta_path)
    return provenance


def _run(module: str, config: dict, data: dict[str, Path], threads: int | None) -> tuple[Runs, dict]:
    """``module.run_stage`` and its provenance: scale, seed, parameters, device, dtype, data, wall time, versions."""
    from . import device as _device
    from .config import experiment_params
    from .provenance import versions

    mod = importlib.import_module(module)
    started = time.perf_counter()
    runs = mod.run_stage(config, {k: Path(v) for k, v in data.items()}, threads)
    wall = time.perf_counter() - started
    dev = _device.resolve_device(config.get("device"))
    provenance = {
        "experiment": mod.NAME, "scale": config["scale"], "seed": config["seed"],
        "parameters": experiment_params(config, mod.NAME), "device": _device.describe(dev),
        "dtype": str(_device.resolve_dtype(config.get("dtype"))), "threads": threads,
        "data": {k: str(v) for k, v in data.items()}, "run_wall_time_s": round(wall, 2), "versions": versions(),
    }
    return runs, provenance


def run_and_draw(module: str, config: dict, data: dict[str, Path], out_prefix: Path | str,
                 threads: int | None = None) -> dict:
    """Both stages in one call, keeping nothing between them: the figure stage of ``<module>_figure`` on the run
    stage's output in memory. Return the figure's metadata."""
    runs, provenance = _run(module, config, data, threads)
    return importlib.import_module(f"{module}_figure").figure_stage(config, runs, provenance, Path(out_prefix))


def read(out_dir: Path | str, name: str) -> tuple[Runs, dict]:
    """The run table, extras and provenance that :func:`run` wrote."""
    table_path, meta_path = run_paths(out_dir, name)
    for path in (table_path, meta_path):
        if not path.is_file():
            raise FileNotFoundError(f"run output {path} not found: run the target's run stage first")
    meta = json.loads(meta_path.read_text())
    return Runs(pd.read_parquet(table_path), meta["extras"]), meta["provenance"]


def _merge(a: Any, b: Any, where: str) -> Any:
    """Shards' extras, merged: dicts key by key; any other value must agree."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a[k], b[k], f"{where}.{k}") if k in a and k in b else a.get(k, b.get(k))
                for k in {**a, **b}}
    if a != b:
        raise ValueError(f"shards disagree on extras {where}: {a!r} vs {b!r}")
    return a


def read_shards(out_dir: Path | str, name: str, shards: list[str]) -> tuple[Runs, dict]:
    """The shards' outputs gathered as one run: tables concatenated in shard order, extras merged, provenance
    combined (devices, summed wall time, each shard's own)."""
    parts = [read(Path(out_dir) / name, shard) for shard in shards]
    extras: dict = {}
    for shard, (runs, _) in zip(shards, parts):
        extras = _merge(extras, runs.extras, "")
    provs = [prov for _, prov in parts]
    provenance = {
        **provs[0],
        "device": "; ".join(sorted({p["device"] for p in provs})),
        "data": {k: v for p in provs for k, v in p["data"].items()},
        "run_wall_time_s": round(sum(p["run_wall_time_s"] for p in provs), 2),
        "shards": {shard: {k: p[k] for k in ("device", "run_wall_time_s")} for shard, p in zip(shards, provs)},
    }
    table = pd.concat([runs.table for runs, _ in parts], ignore_index=True)
    return Runs(table, extras), provenance


def figure(module: str, name: str, config: dict, runs_dir: Path | str, out_prefix: Path | str,
           shards: list[str] | None = None) -> dict:
    """Draw a target from its run stage's output (gathered from ``shards`` when given): ``module.figure_stage`` on
    what :func:`read` or :func:`read_shards` returns."""
    mod = importlib.import_module(module)
    runs, provenance = read_shards(runs_dir, name, shards) if shards else read(runs_dir, name)
    return mod.figure_stage(config, runs, provenance, Path(out_prefix))


def figure_run(config: dict, name: str, provenance: dict):
    """The :class:`assocmem.results.TargetRun` a figure stage finishes: parameters from ``config``, device and
    dtype as the run recorded them, the clock started now (the target's wall time is the run's plus the figure's)."""
    from .config import experiment_params
    from .results import TargetRun

    return TargetRun(config=config, params=experiment_params(config, name), device=provenance["device"],
                     dtype=provenance["dtype"],
                     started=time.perf_counter() - float(provenance.get("run_wall_time_s") or 0.0))

