"""Reading config files: JSON/YAML syntax errors with line and column, jsonschema shape checks.

Every function here returns or raises `Problem`s that name the file and the JSON path.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from phoenix_remote.errors import ConfigError, Problem


def json_path(parts) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if _plain(str(p)) else f"[{p!r}]")
    return out


def _plain(key: str) -> bool:
    return key.replace("_", "a").replace("-", "a").isalnum()


def read_document(path: Path) -> Any:
    """Parse a .json or .yaml file; syntax errors become a Problem with line:column."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError([Problem(str(path), "$", f"cannot read file: {e.strerror}")]) from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            msg = f"JSON syntax error at line {e.lineno}, column {e.colno}: {e.msg}"
            raise ConfigError([Problem(str(path), "$", msg)]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        msg = f"YAML syntax error{where}: {problem}"
        raise ConfigError([Problem(str(path), "$", msg)]) from None


@lru_cache(maxsize=4)
def load_schema(schema_path: str) -> jsonschema.protocols.Validator:
    schema = json.loads(Path(schema_path).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_for(config_path: Path, doc: Any) -> Path:
    """The schema is named by the config's "$schema" key, relative to the config file."""
    ref = doc.get("$schema") if isinstance(doc, dict) else None
    candidate = config_path.parent / (ref or "hypervisor_config.schema.json")
    if ref and "://" in ref or not candidate.exists():
        candidate = config_path.parent / "hypervisor_config.schema.json"
    if not candidate.exists():
        raise ConfigError([Problem(str(config_path), "$['$schema']",
                                   f"schema file {candidate} not found; keep "
                                   "hypervisor_config.schema.json beside the config")])
    return candidate


def shape_problems(validator, doc: Any, source: str, prefix: tuple = ()) -> list[Problem]:
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = json_path(prefix + tuple(err.absolute_path))
        problems.append(Problem(source, path, _explain(err)))
    return problems


def _explain(err: jsonschema.ValidationError) -> str:
    if "env" in err.schema.get("properties", {}) and "keyring" in err.schema["properties"]:
        # a secret source: never echo what was found, it may be the secret itself
        if isinstance(err.instance, str):
            return ("a secret is never written inline; name its source instead, e.g. "
                    '{"env": "VAR"} or {"file": "/path/to/mode-600-file"}')
        return "expected exactly one secret source: env, file, prompt or keyring"
    found = _short(err.instance)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        allowed = ", ".join(sorted(err.schema.get("properties", {}))) or "none"
        return f"unknown key(s) {', '.join(map(repr, extra))}; allowed keys: {allowed}"
    if err.validator == "required":
        return f"{err.message}; add it"
    if err.validator == "pattern":
        return f"found {found}, expected a value matching {err.validator_value}"
    if err.validator == "type":
        return f"found {found} ({type(err.instance).__name__}), expected type {err.validator_value}"
    if err.validator == "enum":
        return f"found {found}, expected one of {', '.join(map(repr, err.validator_value))}"
    return f"found {found}: {err.message}"


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def deep_merge(base: Any, override: Any) -> Any:
    """Dicts merge key by key; anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = deep_merge(base.get(k), v) if k in base else v
        return out
    return override
