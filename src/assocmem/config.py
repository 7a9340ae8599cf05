"""Pipeline configuration outside Snakemake: load, merge, validate, pick a scale.

The same YAML files drive Snakemake and the command line (``python -m assocmem run <target> --config
config/config.yaml``), and both validate against
``config.schema.yaml``, which ships inside this package (so the library and its command line work from an
installed wheel, outside a checkout). The schema declares each experiment's parameters once; :func:`schema`
expands them into the ``experiments:`` block of one parameter set per scale.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

# jsonschema imports rfc3987_syntax where it is installed (Jupyter pulls it in), only to check the "iri" string
# formats, and that import compiles some forty grammars: about a second in every process that validates a config,
# i.e. every job. The schema uses no such format, so the import is declined (unless something loaded it already).
sys.modules.setdefault("rfc3987_syntax", None)
import jsonschema  # noqa: E402

SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")
# libyaml's parser where PyYAML has it (the same documents, about ten times faster), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


def default_config() -> Path:
    """``config/config.yaml`` of the working directory, else of the checkout this package runs from."""
    for folder in [Path.cwd(), *Path(__file__).resolve().parents]:
        candidate = folder / "config" / "config.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError("no config/config.yaml in the working directory or above the package; pass --config FILE")


def schema(schema_path: Path | str | None = None) -> dict:
    """The JSON schema of a configuration: ``config.schema.yaml``, where each entry ``<name>`` of
    ``experiment_parameters`` (the parameters of one scale) becomes a required ``experiments.<name>`` holding one
    such parameter set per scale (every value of ``scale``), no other keys."""
    out = yaml.load(Path(schema_path or SCHEMA_PATH).read_text(), Loader=_YAML_LOADER)
    experiments, defs = out["properties"]["experiments"], out.setdefault("$defs", {})
    required, properties = experiments.setdefault("required", []), experiments.setdefault("properties", {})
    scales = out["properties"]["scale"]["enum"]
    for name, params in out.pop("experiment_parameters", {}).items():
        if name in defs or f"scaled_{name}" in defs:
            raise ConfigError(f"config schema: experiment {name!r} clashes with $defs/{name} or $defs/scaled_{name}")
        defs[name] = params
        defs[f"scaled_{name}"] = {"type": "object", "additionalProperties": False, "required": list(scales),
                                  "properties": {scale: {"$ref": f"#/$defs/{name}"} for scale in scales}}
        required.append(name)
        properties[name] = {"$ref": f"#/$defs/scaled_{name}"}
    return out


def validate(config: dict, schema_path: Path | None = None) -> dict:
    """Raise :class:`ConfigError` naming the offending key if ``config`` breaks the schema."""
    validator = jsonschema.Draft202012Validator(schema(schema_path))
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    lines = []
    for err in errors:
        key = ".".join(str(p) for p in err.absolute_path) or "<top level>"
        message = err.message if len(err.message) <= 300 else err.message[:300] + " ..."
        lines.append(f"config key {key}: {message}")
    if not errors:
        lines = [f"config key {key}: {message}" for key, message in cross_field_errors(config)]
    if lines:
        strings = any(e.validator == "type" and isinstance(e.instance, str) for e in errors)
        hint = ("\n(values given with Snakemake's --config arrive as strings below the top level: put nested "
                "values in a YAML file and pass it with --configfile)") if strings else ""
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines) + hint)
    return config


def cross_field_errors(config: dict) -> list[tuple[str, str]]:
    """Values the schema alone cannot judge: ones that must agree with another key (every scale's block is checked,
    so a bad paper block fails before any job runs, not hours later)."""
    out = []
    for scale, p in config.get("experiments", {}).get("cdam_antihebbian_range", {}).items():
        key = f"experiments.cdam_antihebbian_range.{scale}"
        if [float(v) for v in p["timecourse_setting"]] not in [[float(v) for v in s] for s in p["settings"]]:
            out.append((f"{key}.timecourse_setting", f"{p['timecourse_setting']} is not one of the settings "
                                                     f"{p['settings']}"))
        late = [t for t in p["snapshot_steps"] if t > p["steps"]]
        if late:
            out.append((f"{key}.snapshot_steps", f"{late} after the last step ({p['steps']})"))
        if p["max_distance"] > p["p"] // 2:
            out.append((f"{key}.max_distance", f"{p['max_distance']} is beyond the largest distance on a cycle of "
                                               f"{p['p']} memories ({p['p'] // 2})"))
    for scale, p in config.get("experiments", {}).get("cdam_modes", {}).items():
        if "cycle" not in p["graphs"]:
            out.append((f"experiments.cdam_modes.{scale}.graphs", f"{p['graphs']} leaves out the cycle, which the "
                                                                 "large-n check runs with (its shard)"))
    n_stimuli = config.get("miyashita", {}).get("n_stimuli")
    for scale, p in config.get("experiments", {}).get("cdam_miyashita", {}).items():
        if n_stimuli is not None and p["max_distance"] > n_stimuli - 1:
            out.append((f"experiments.cdam_miyashita.{scale}.max_distance",
                        f"{p['max_distance']} is beyond the largest distance between {n_stimuli} stimuli"))
    return out


# Settings an environment variable may set. Precedence, everywhere (Snakemake and the command lines): the command
# line (``--config dtype=...``, ``--device``) over the environment over the config files.
ENVIRONMENT = {"device": "ASSOCMEM_DEVICE", "dtype": "ASSOCMEM_DTYPE"}


def apply_environment(config: dict, command_line: dict | None = None, environ: dict | None = None) -> dict:
    """``config`` with the settings of :data:`ENVIRONMENT` taken from the environment, except those given on the
    command line. A value the schema rejects is an error naming the variable."""
    environ = os.environ if environ is None else environ
    settings = schema()["properties"]
    out = dict(config)
    for key, var in ENVIRONMENT.items():
        value = environ.get(var, "")
        if not value or key in (command_line or {}):
            continue
        errors = list(jsonschema.Draft202012Validator(settings[key]).iter_errors(value))
        if errors:
            raise ConfigError(f"environment variable {var}={value!r} is not a valid {key}: {errors[0].message} "
                              f"(unset it, or use one of the values config/config.yaml documents)")
        out[key] = value
    return out


def load(paths: list[Path | str], overrides: dict | None = None) -> dict:
    """Load and merge YAML files in order, take device and dtype from the environment where set
    (:func:`apply_environment`), apply ``overrides`` (the command line) and validate the result."""
    config: dict[str, Any] = {}
    for path in paths:
        path = Path(path)
        try:
            loaded = yaml.load(path.read_text(), Loader=_YAML_LOADER) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        config = merge(config, loaded)
    config = merge(apply_environment(config, overrides), overrides or {})
    return validate(config)


def experiment_params(config: dict, name: str) -> dict:
    """Parameters of experiment ``name`` at the configured scale."""
    return dict(config["experiments"][name][config["scale"]])
