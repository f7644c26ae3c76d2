"""Exporter configuration: YAML, validated with JSON Schema (Draft 2020-12), defaults filled in.

Every error is a ConfigError whose message reads "<file>: <field path>: <problem>; <fix>", e.g.
`backup.yml: targets[2].interval_seconds: -5 is less than the minimum of 1; use a number >= 1`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema import Draft202012Validator

LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
# Labels every sample of a target already carries, or that the scrape config owns (STYLE.md rule 13).
RESERVED_LABELS = ("target", "collector", "instance", "job", "datacenter", "env")


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file, the field and the fix."""


def _common_top_properties() -> dict:
    return {
        "collection": {
            "type": "object",
            "description": "Defaults for every target: how often to collect and how long one probe may take.",
            "additionalProperties": False,
            "default": {},
            "properties": {
                "interval_seconds": {"type": "number", "minimum": 1, "default": 30},
                "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 10},
                "workers": {"type": "integer", "minimum": 1, "maximum": 256, "default": 8,
                            "description": "Threads probing targets at once (one scheduler feeds them)."},
            },
        },
        "tls": {
            "type": "object",
            "description": "Serve /metrics over HTTPS; with client_cafile, clients may (or must) show a cert.",
            "additionalProperties": False,
            "properties": {
                "certfile": {"type": "string", "minLength": 1},
                "keyfile": {"type": "string", "minLength": 1},
                "client_cafile": {"type": "string", "minLength": 1},
                "client_auth_required": {"type": "boolean", "default": False},
                "allowed_client_names": {
                    "type": "array", "minItems": 1, "uniqueItems": True, "items": {"type": "string", "minLength": 1},
                    "description": "Only clients whose certificate's CN or a DNS SAN is one of these may scrape "
                                   "(e.g. the Prometheus service certificate's name); anyone else gets 403."},
            },
            "required": ["certfile", "keyfile"],
            "dependentRequired": {"client_auth_required": ["client_cafile"],
                                  "allowed_client_names": ["client_cafile", "client_auth_required"]},
        },
    }


def exporter_schema(target_properties: dict, target_required: list[str],
                    top_properties: dict | None = None) -> dict:
    """The JSON Schema of one exporter's config file: the common keys plus the exporter's own.

    `target_properties`/`target_required` describe the exporter-specific keys of one target;
    `top_properties` adds exporter-specific top-level keys.
    """
    target = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"},
            "interval_seconds": {"type": "number", "minimum": 1},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
            "labels": {
                "type": "object",
                "propertyNames": {"pattern": LABEL_NAME, "not": {"enum": list(RESERVED_LABELS)}},
                "additionalProperties": {"type": "string"},
                "default": {},
            },
            **copy.deepcopy(target_properties),
        },
        "required": sorted({"name", *target_required}),
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **_common_top_properties(),
            "targets": {"type": "array", "minItems": 1, "items": target},
            **copy.deepcopy(top_properties or {}),
        },
        "required": ["targets"],
    }


def _with_defaults(validator_class):
    """A validator that fills in `default` values of absent properties as it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and prop not in instance:
                    instance[prop] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_FillingValidator = _with_defaults(Draft202012Validator)


def field_path(parts) -> str:
    """`targets[2].interval_seconds` from a jsonschema path deque."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(error: jsonschema.ValidationError) -> tuple[str, str, str]:
    """(field path, problem, fix) for one validation error, in words a sysadmin can act on."""
    path = list(error.absolute_path)
    kind, value = error.validator, error.validator_value
    if kind == "required":
        missing = [p for p in value if isinstance(error.instance, dict) and p not in error.instance]
        name = missing[0] if missing else "?"
        return field_path([*path, name]), "is missing", f"add `{name}:` here (required)"
    if kind == "additionalProperties":
        known = sorted((error.schema.get("properties") or {}).keys())
        extra = sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
        name = extra[0] if extra else "?"
        return (field_path([*path, name]), "is not a known field",
                f"remove it or fix its spelling (known here: {', '.join(known) or 'none'})")
    if kind == "dependentRequired":
        missing = [d for deps in value.values() for d in deps if d not in error.instance]
        return field_path(path), error.message, f"add {', '.join(missing)} as well"
    fixes = {
        "type": lambda: f"make it a {value if isinstance(value, str) else ' or '.join(value)}",
        "minimum": lambda: f"use a number >= {value}",
        "exclusiveMinimum": lambda: f"use a number > {value}",
        "maximum": lambda: f"use a number <= {value}",
        "enum": lambda: f"use one of: {', '.join(map(str, value))}",
        "const": lambda: f"set it to {value!r}",
        "pattern": lambda: f"make it match the pattern {value}",
        "minLength": lambda: "give it a non-empty value",
        "minItems": lambda: f"list at least {value} item(s)",
        "format": lambda: f"give a valid {value}",
    }
    if kind == "not":  # only used for reserved label names
        return field_path(path), f"label name {error.instance!r} is reserved", (
            "use another name; these are set by the exporter or the scrape config: " + ", ".join(RESERVED_LABELS))
    fix = fixes.get(kind, lambda: "see monitors/README.md for the allowed values")()
    return field_path(path), error.message, fix


def _errors(config: Any, schema: dict) -> Iterator[jsonschema.ValidationError]:
    validator = _FillingValidator(schema)
    yield from sorted(validator.iter_errors(config), key=lambda e: (list(map(str, e.absolute_path)), e.validator))


def validate_config(config: Any, schema: dict, source: str = "<config>") -> dict:
    """Validate (and fill defaults into) an already-parsed config; raise ConfigError listing every problem."""
    problems = [f"{source}: {p}: {what}; {fix}" for p, what, fix in map(_describe, _errors(config, schema))]
    if isinstance(config, dict) and isinstance(config.get("targets"), list):
        seen: dict[str, int] = {}
        for i, target in enumerate(config["targets"]):
            name = target.get("name") if isinstance(target, dict) else None
            if isinstance(name, str):
                if name in seen:
                    problems.append(f"{source}: targets[{i}].name: {name!r} is already used by targets[{seen[name]}]; "
                                    "give every target a unique name")
                seen.setdefault(name, i)
    if problems:
        raise ConfigError("\n".join(problems))
    return config


def load_config(path, schema: dict) -> dict:
    """Read a YAML config file, validate it against `schema` and return it with defaults applied."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: (file): cannot be read ({exc.__class__.__name__}: "
                          f"{getattr(exc, 'strerror', None) or exc}); check the path given to --config.file "
                          "and that it is a readable UTF-8 file") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f"line {where.line + 1}, column {where.column + 1}" if where else "(unknown place)"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: {at}: not valid YAML ({problem}); fix the syntax there") from None
    if config is None:
        raise ConfigError(f"{source}: (top level): the file is empty; add at least a `targets:` list")
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: (top level): is a {type(config).__name__}, not a mapping; "
                          "the file must be a YAML mapping with a `targets:` list")
    return validate_config(config, schema, source)
