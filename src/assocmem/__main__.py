"""One command line for every result target, generated from the registry (:mod:`assocmem.registry`).

    python -m assocmem list                              every target: paper, shared run, data, threads
    python -m assocmem run fig_cdam_modes --scale paper --device cuda
    python -m assocmem figure fig_cdam_modes             redraw from the run output, without rerunning the model
    python -m assocmem status                            which targets are built, which are missing
    python -m assocmem report                            snakemake --report over what is built

``run`` runs the model and draws the figure; the model run is kept under ``results/<paper>/runs/`` and ``figure``
redraws from it alone (targets that share a run draw from the same one). The global options (``--config`` files
merged in order, ``--scale``, ``--device``) are those of the Snakemake workflow's config, validated the same way.
Prepared data files are read from ``--data-dir`` (``python -m assocmem.data`` makes them). This is the path on a
machine without Snakemake, e.g. a GPU node.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import config as _config
from . import registry, stages
from .experiments.cli import print_summary


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m assocmem", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list every target")
    st = sub.add_parser("status", help="which targets are built under --results, and which are missing")
    st.add_argument("--results", type=Path, default=Path("results"))
    rep = sub.add_parser("report", help="snakemake --report over the targets that are built (says what is missing)")
    rep.add_argument("--out", type=Path, default=Path("results/report.html"))
    rep.add_argument("--directory", type=Path, default=Path("."), help="the workflow's working directory")
    rep.epilog = "Further arguments (e.g. --configfile FILE) are passed on to Snakemake."
    for name, text in (("run", "run a target's model and draw its figure"),
                       ("figure", "redraw a target from its kept model run")):
        q = sub.add_parser(name, help=text)
        q.add_argument("target", help="target name (see `list`)")
        q.add_argument("--config", action="append", metavar="FILE",
                       help="YAML config file; repeat to merge several in order (default: the package's "
                            "config/config.yaml)")
        q.add_argument("--scale", choices=["quick", "test", "paper"], help="override the configured scale")
        q.add_argument("--device", help="override the configured device (auto, cpu, cuda, cuda:N)")
        q.add_argument("--results", type=Path, default=Path("results"), help="results folder (default: results)")
        if name == "run":
            q.add_argument("--data-dir", type=Path, default=Path("."),
                           help="folder holding resources/data/ (default: the working directory)")
            q.add_argument("--threads", type=int, default=None)
            q.add_argument("--shard", action="append", metavar="VALUE",
                           help="run only this shard (repeatable) of a sharded target; draw once all exist")
    return p


def _load(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    overrides = {k: v for k, v in (("scale", args.scale), ("device", args.device)) if v}
    try:
        return _config.load(args.config or [_config.default_config()], overrides)
    except _config.ConfigError as exc:
        p.exit(2, f"error: {exc}\n")


def list_targets() -> None:
    """One line per target: name, paper, the run it shares with other targets (``-``: none), the data it reads
    (under the shipped config, when found), threads, shard axis and what it shows."""
    try:
        cfg = _config.load([_config.default_config()])
    except _config.ConfigError:
        cfg = None

    def data(t):
        if cfg is None:
            return "?"
        return ",".join(t.data_names(_config.experiment_params(cfg, t.experiment))) or "-"

    rows = [(t.name, t.paper.key, t.run or "-", data(t), str(t.threads), t.shard_axis or "-", t.summary)
            for t in registry.targets().values()]
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[6])


def built_targets(results: Path) -> tuple[list[str], list[str]]:
    """(built, missing): targets whose four files exist under ``results``, and the others."""
    built, missing = [], []
    for t in registry.targets().values():
        files = [t.prefix(results).with_suffix(f".{ext}") for ext in ("png", "pdf", "csv", "json")]
        (built if all(f.is_file() for f in files) else missing).append(t.name)
    return built, missing


def report(out: Path, directory: Path, extra: list[str]) -> int:
    """``snakemake --report`` over the built targets (and the replication report when every target is built)."""
    import subprocess

    built, missing = built_targets(directory / "results")
    if missing:
        print(f"not built yet, left out of the report ({len(missing)}): {', '.join(missing)}", file=sys.stderr)
    if not built:
        print("no target is built yet: nothing to report (run `snakemake all` or `snakemake <target>`)",
              file=sys.stderr)
        return 1
    known = registry.targets()
    wanted = [str(known[name].prefix("results").with_suffix(".png")) for name in built]
    wanted += [] if missing else ["results/replication_report.md"]
    snakefile = Path(__file__).resolve().parents[2] / "Snakefile"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(directory),
           "--report", str(out.resolve()), *wanted, *extra]
    proc = subprocess.run(cmd)
    if proc.returncode == 0:
        print(f"report of {len(built)} target(s) written to {out}")
    return proc.returncode


def _data(t: registry.Target, config: dict, data_dir: Path) -> dict[str, Path]:
    data = t.data_paths(_config.experiment_params(config, t.experiment), data_dir)
    missing = [str(p) for p in data.values() if not p.is_file()]
    if missing:
        raise SystemExit(f"error: {t.name} needs prepared data that is missing: {', '.join(missing)} "
                         f"(make it with `python -m assocmem.data NAME --mirror MIRROR --out PATH`)")
    return data


def run_target(t: registry.Target, config: dict, results: Path, data_dir: Path, threads: int | None,
               only: list[str] | None = None) -> dict | None:
    """Run one target (both stages; a sharded one shard by shard, or only the shards ``only``) and return the
    figure's metadata (``None`` while shards are missing)."""
    shards = t.shards(config)
    if only and not t.shard_axis:
        raise SystemExit(f"error: {t.name} declares no shard axis")
    if not shards and not only:
        stages.run(t.module, t.run_name, config, _data(t, config, data_dir), t.runs_dir(results), threads)
        return figure_target(t, config, results)
    for shard in only or shards:
        part = stages.shard_config(config, t.experiment, t.shard_axis, shard)
        stages.run(t.module, t.run_name, config, _data(t, part, data_dir), t.runs_dir(results), threads,
                   shard=shard, axis=t.shard_axis)
    shards = shards or [str(v) for v in registry.axis_values(_config.experiment_params(config, t.experiment),
                                                             t.shard_axis)]
    left = [s for s in shards if not stages.run_paths(t.runs_dir(results) / t.run_name, s)[0].is_file()]
    if left:
        print(f"{t.name}: shards still to run: {', '.join(left)}")
        return None
    return figure_target(t, config, results, shards)


def figure_target(t: registry.Target, config: dict, results: Path, shards: list[str] | None = None) -> dict:
    return stages.figure(t.figure_module, t.run_name, config, t.runs_dir(results), t.prefix(results),
                         shards=shards if shards is not None else t.shards(config))


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    args, rest = p.parse_known_args(argv)
    if rest and args.command != "report":
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "list":
        list_targets()
        return 0
    if args.command == "status":
        built, missing = built_targets(args.results)
        print(f"built ({len(built)}): {' '.join(built) or '-'}")
        print(f"missing ({len(missing)}): {' '.join(missing) or '-'}")
        return 0
    if args.command == "report":
        return report(args.out, args.directory, rest)
    try:
        t = registry.get(args.target)
    except KeyError as exc:
        p.exit(2, f"error: {exc.args[0]}\n")
    cfg = _load(p, args)
    if args.command == "run":
        meta = run_target(t, cfg, args.results, args.data_dir, args.threads, args.shard)
    else:
        meta = figure_target(t, cfg, args.results)
    if meta is not None:
        print_summary(meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
