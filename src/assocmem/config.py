"""Pipeline configuration outside Snakemake: load, merge, validate, pick a scale.

The same YAML files drive Snakemake and the standalone entry points (``python -m
assocmem.experiments.<name> --config config/config.yaml``), and both validate against
``workflow/schemas/config.schema.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_RELPATH = Path("workflow") / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or does not match the schema."""


def merge(base: dict, overlay: dict) -> dict:
    """Recursively merge ``overlay`` into a copy of ``base`` (as Snakemake merges config files)."""
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def find_schema(start: Path | None = None) -> Path:
    """The schema of the repository that holds ``start`` (default: this package's checkout)."""
    here = (start or Path(__file__)).resolve()
    for folder in [here, *here.parents]:
        candidate = folder / SCHEMA_RELPATH
        if candidate.is_file():
            return candidate
    raise ConfigError(f"cannot find {SCHEMA_RELPATH} above {here}; run from a checkout of assocmem")


def validate(config: dict, schema_path: Path | None = None) -> dict:
    """Raise :class:`ConfigError` naming the offending key if ``config`` breaks the schema."""
    schema = yaml.safe_load(Path(schema_path or find_schema()).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for err in errors:
            key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
            lines.append(f"config key {key}: {err.message}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return config


def load(paths: list[Path | str], overrides: dict | None = None) -> dict:
    """Load and merge YAML files in order, apply ``overrides`` and validate the result."""
    config: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        config = merge(config, loaded)
    config = merge(config, overrides or {})
    return validate(config)


def experiment_params(config: dict, name: str) -> dict:
    """Parameters of experiment ``name`` at the configured scale."""
    return dict(config["experiments"][name][config["scale"]])
