"""Reading config files safely, and jsonschema shape checks.

A config or inventory may be broken or hostile. Reading refuses anything that is not a
small regular UTF-8 file; parsing refuses duplicate keys (a duplicate hides a value from
review), non-JSON data (YAML dates, sets, binary, non-string keys), NaN/Infinity, huge
integers, deep nesting and alias bombs; every string that can reach a host is refused if it
holds a control character. Every function here returns or raises `Problem`s that name the
file and the JSON path.
"""

from __future__ import annotations

import json
import math
import os
import stat
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from phoenix_remote.errors import ConfigError, Problem

MAX_BYTES = 4 * 1024 * 1024  # a 10,000-host inventory is ~2 MiB
MAX_DEPTH = 32
MAX_ALIASES = 200
MAX_INT = 2**63 - 1


def json_path(parts) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if _plain(str(p)) else f"[{p!r}]")
    return out


def _plain(key: str) -> bool:
    return key.replace("_", "a").replace("-", "a").isalnum()


def _fail(source: str, message: str, path: str = "$") -> ConfigError:
    return ConfigError([Problem(source, path, message)])


def read_text(path: Path, what: str = "file") -> str:
    """A small regular UTF-8 file's text; anything else is one clear Problem."""
    src = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as e:
        raise _fail(src, f"cannot read {what}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise _fail(src, f"cannot read {what}: it is {kind}; give the path of a file")
        if st.st_size > MAX_BYTES:
            raise _fail(src, f"{what} is {st.st_size} bytes; the limit is {MAX_BYTES}")
        data = os.read(fd, MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise _fail(src, f"{what} is larger than {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _fail(src, f"{what} is not UTF-8 text (byte {e.start}); save it as UTF-8"
                    ) from None


def read_document(path: Path) -> Any:
    """Parse a .json or .yaml file into plain JSON data (see the module doc)."""
    text = read_text(path)
    src = str(path)
    doc = strict_json(text, src) if path.suffix == ".json" else strict_yaml(text, src)
    problems = plain_data_problems(doc, src)
    if problems:
        raise ConfigError(problems)
    return doc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}: a key may appear once per object")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def strict_json(text: str, src: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise _fail(src, f"JSON syntax error at line {e.lineno}, column {e.colno}: {e.msg}"
                    ) from None
    except RecursionError:
        raise _fail(src, "JSON nested too deeply") from None
    except ValueError as e:  # duplicate keys, NaN, an integer of thousands of digits
        raise _fail(src, f"JSON refused: {str(e)[:200]}") from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, alias bombs and deep nesting."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (*name)")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.YAMLError(f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key != "<<" and key in seen:
                mark = key_node.start_mark
                raise yaml.YAMLError(f"duplicate key {key!r} at line {mark.line + 1}: a key "
                                     "may appear once per mapping")
            seen.add(key)
        return super().construct_mapping(node, deep)


# Plain data only: dates, timestamps, sets, binary and ordered maps are refused by the
# walker below, so keep them as tagged values rather than letting YAML guess.
_StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def strict_yaml(text: str, src: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise _fail(src, f"YAML syntax error{where}: {str(problem)[:200]}") from None
    except RecursionError:
        raise _fail(src, "YAML nested too deeply") from None
    except ValueError as e:  # e.g. an integer of thousands of digits
        raise _fail(src, f"YAML refused: {str(e)[:200]}") from None


def bad_char(text: str) -> str | None:
    """The first control or line-separator character in text, described; None when clean."""
    for i, ch in enumerate(text):
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            return f"control character U+{ord(ch):04X} at position {i}"
    return None


def plain_data_problems(doc: Any, src: str, prefix: tuple = ()) -> list[Problem]:
    """JSON data only (str keys; str, int, finite float, bool, None, list, dict values), and no
    control characters in any string, key or value: such a string could end a line in a file
    or a command on the host. Nesting is bounded by the parsers."""
    out: list[Problem] = []
    stack: list[tuple[tuple, Any]] = [(prefix, doc)]
    while stack and len(out) < 50:
        path, value = stack.pop()
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    out.append(Problem(src, json_path(path), f"key {k!r} is a "
                                       f"{type(k).__name__}; keys must be strings (quote it)"))
                    continue
                if why := bad_char(k):
                    out.append(Problem(src, json_path(path), f"a key holds a {why}"))
                    continue
                stack.append((path + (k,), v))
        elif isinstance(value, list):
            stack += [(path + (i,), v) for i, v in enumerate(value)]
        elif isinstance(value, str):
            if why := bad_char(value):
                out.append(Problem(src, json_path(path), f"the value holds a {why}; "
                                   "values that reach a host must be one line of text"))
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if abs(value) > MAX_INT:
                out.append(Problem(src, json_path(path), "integer out of range"))
        elif isinstance(value, float):
            if not math.isfinite(value):
                out.append(Problem(src, json_path(path), f"found {value}, expected a finite "
                                                         "number"))
        else:
            out.append(Problem(src, json_path(path), f"found a {type(value).__name__} "
                               "(YAML tag); only strings, numbers, booleans, null, lists and "
                               "mappings are allowed: quote it as a string"))
    return out


@lru_cache(maxsize=4)
def packaged_validator(name: str):  # type: ignore[no-untyped-def]
    """The schema shipped in the package (never one named by the document being checked).
    The schemas are checked against their metaschema by the tests, not on every run."""
    import jsonschema
    schema = json.loads(resources.files("phoenix_remote.data").joinpath(name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=None)


def shape_problems(validator, doc: Any, source: str, prefix: tuple = ()) -> list[Problem]:
    problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = json_path(prefix + tuple(err.absolute_path))
        problems.append(Problem(source, path, _explain(err)))
    return problems


SECRET_KEYS = frozenset({"secrets", "token_secret", "password"})


def _may_hold_secret(err) -> bool:  # type: ignore[no-untyped-def]
    """Whether the value in error may be, or contain, a secret written inline (at, above or
    below a secret source): then a message never shows what was found."""
    if SECRET_KEYS & set(map(str, err.absolute_path)):
        return True
    schema = err.schema if isinstance(err.schema, dict) else {}
    children = [*schema.get("properties", {}).values(), schema.get("additionalProperties")]
    return _is_secret_source(schema) or any(_is_secret_source(c) for c in children)


def _is_secret_source(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    props = schema.get("properties", {})
    return schema.get("$ref", "").endswith("secret_source") or ("env" in props
                                                                 and "keyring" in props)


def _explain(err) -> str:  # type: ignore[no-untyped-def]
    # these two name keys only, never values
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        allowed = ", ".join(sorted(err.schema.get("properties", {}))) or "none"
        return f"unknown key(s) {', '.join(map(repr, extra))}; allowed keys: {allowed}"
    if err.validator == "required":
        return f"{err.message}; add it"
    secret = _may_hold_secret(err)
    if secret and isinstance(err.instance, str):
        return ("a secret is never written inline; name its source instead, e.g. "
                '{"env": "VAR"} or {"file": "/path/to/mode-600-file"}')
    if err.validator == "type":
        shown = "" if secret else f"{_short(err.instance)} "
        return (f"found {shown}({type(err.instance).__name__}), expected type "
                f"{err.validator_value}")
    if secret:
        if "env" in err.schema.get("properties", {}):
            return "expected exactly one secret source: env, file, prompt or keyring"
        return (f"found a {type(err.instance).__name__} (not shown: it may hold a secret); "
                f"{err.validator} check failed")
    found = _short(err.instance)
    description = err.schema.get("description") if isinstance(err.schema, dict) else None
    hint = f" ({description})" if description else ""
    if err.validator == "pattern":
        return f"found {found}, expected a value matching {err.validator_value}{hint}"
    if err.validator == "enum":
        return f"found {found}, expected one of {', '.join(map(repr, err.validator_value))}"
    if err.validator == "not":
        return f"found {found}: not allowed{hint}"
    return f"found {found}: {err.message.replace(repr(err.instance), '').strip()[:160]}{hint}"


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
