"""Command-line scaffolding shared by every experiment module's ``python -m assocmem.experiments.<paper>.<name>``
(the one command line for every target is ``python -m assocmem``).

Every entry point takes the same global options (``--config`` files merged in order, ``--scale`` and
``--device`` overrides) and validates the merged configuration before doing anything.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import config as _config


def parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the global options; add subcommands or options to it."""
    p = argparse.ArgumentParser(prog=f"python -m {module}",
                                description=(doc or "").strip().split("\n")[0])
    p.add_argument("--config", action="append", metavar="FILE",
                   help="YAML config file; repeat to merge several in order (default: config/config.yaml)")
    p.add_argument("--scale", choices=["quick", "test", "paper"], help="override the configured scale")
    p.add_argument("--device", help="override the configured device (auto, cpu, cuda, cuda:N)")
    return p


def load_config(p: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    """Merge and validate the configuration named by ``args``; exit with status 2 and the key on error."""
    overrides = {k: v for k, v in (("scale", args.scale), ("device", args.device)) if v}
    try:
        return _config.load(args.config or ["config/config.yaml"], overrides)
    except _config.ConfigError as exc:
        p.exit(2, f"error: {exc}\n")


def print_summary(meta: dict) -> None:
    """Print a target's verdict and each claim's outcome."""
    print(f"{meta['target']}: {meta['verdict']}")
    for c in meta["claims"]:
        print(f"  [{'ok' if c['passed'] else 'FAIL'}] {c['id']}: {c['our_value']}")


def target_main(module: str, doc: str | None, run_target, *, paper_key: str, target: str,
                data_default: str | None = None, argv: list[str] | None = None) -> None:
    """The ``run`` entry point of a single-target experiment.

    ``run_target(config, out_prefix, threads)`` writes the target and returns its metadata; when
    ``data_default`` is given the experiment reads a prepared data file and is called as
    ``run_target(config, data, out_prefix, threads)``.
    """
    p = parser(module, doc)
    sub = p.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the experiment and write the figure, table and metadata")
    if data_default is not None:
        p_run.add_argument("--data", type=Path, default=Path(data_default),
                           help=f"prepared data file (default: {data_default})")
    p_run.add_argument("--out-prefix", type=Path, default=Path("results") / paper_key / target)
    p_run.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    cfg = load_config(p, args)
    data = (args.data,) if data_default is not None else ()
    print_summary(run_target(cfg, *data, args.out_prefix, args.threads))
