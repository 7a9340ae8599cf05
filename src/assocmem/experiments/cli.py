"""Command-line scaffolding of the few experiment modules that keep an entry point of their own
(``python -m assocmem.experiments.<paper>.<name>``): the shard ``gather`` of ``khm.capacity`` and
``cdam.word_association``. Every target runs through ``python -m assocmem``.

Every entry point takes the same global options (``--config`` files merged in order, ``--scale`` and
``--device`` overrides) and validates the merged configuration before doing anything.
"""

from __future__ import annotations

import argparse

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
        mark = "not run" if c["passed"] is None else "ok" if c["passed"] else "FAIL"
        print(f"  [{mark}] {c['id']}: {c['our_value']}")
