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
import re
import stat
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from phoenix_remote.errors import ConfigError, Problem

MAX_BYTES = 4 * 1024 * 1024  # a 10,000-host inventory is ~2 MiB
MAX_DEPTH = 32
MAX_NODES = 1_000_000  # values after YAML aliases are expanded; 10,000 hosts are ~300,000
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


class NotRegularFile(Exception):
    """The path names a directory, FIFO, device or socket; str() says which kind."""


def read_regular(path: Path, limit: int) -> tuple[os.stat_result, bytes]:
    """A regular file's status and its first limit+1 bytes (none when its size is over the
    limit). Opening never waits: a FIFO is refused, not read. Raises OSError (cannot open)
    or NotRegularFile."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile("a directory" if stat.S_ISDIR(st.st_mode)
                                 else "not a regular file")
        return st, (os.read(fd, limit + 1) if st.st_size <= limit else b"")
    finally:
        os.close(fd)


def read_text(path: Path, what: str = "file") -> str:
    """A small regular UTF-8 file's text; anything else is one clear Problem."""
    src = str(path)
    try:
        st, data = read_regular(path, MAX_BYTES)
    except OSError as e:
        raise _fail(src, f"cannot read {what}: {e.strerror}") from None
    except NotRegularFile as e:
        raise _fail(src, f"cannot read {what}: it is {e}; give the path of a file") from None
    if st.st_size > MAX_BYTES:
        raise _fail(src, f"{what} is {st.st_size} bytes; the limit is {MAX_BYTES}")
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


_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it


class _StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """A safe loader that refuses duplicate keys. Alias bombs and depth are bounded by
    `flow_depth` before parsing and by `plain_data_problems` after it."""

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


# Plain data only: a date stays the text it was written as (YAML would guess a datetime);
# explicit tags (!!timestamp, !!set, !!binary) are refused by plain_data_problems.
_StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def flow_depth(text: str) -> int:
    """The deepest nesting of [ and { (quoted ones counted too: an upper bound). The
    parser recurses per level, so this is checked before parsing."""
    depth = deepest = 0
    for m in re.finditer(r"[\[\]{}]", text):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def strict_yaml(text: str, src: str) -> Any:
    if flow_depth(text) > MAX_DEPTH:
        raise _fail(src, f"YAML nested deeper than {MAX_DEPTH} levels")
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


# Unicode category Cc (C0, DEL, C1) and the line/paragraph separators
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


NAMED = {"\n": "a line break", "\r": "a carriage return", "\0": "a NUL byte"}


def bad_char(text: str) -> str | None:
    """The first control or line-separator character in text, described (never the text
    around it, which may be a secret); None when clean."""
    m = CONTROL_CHARS.search(text)
    if m is None:
        return None
    what = NAMED.get(m.group(), f"control character U+{ord(m.group()):04X}")
    return f"{what} at position {m.start()}"


def plain_data_problems(doc: Any, src: str, prefix: tuple = ()) -> list[Problem]:
    """JSON data only (str keys; str, int, finite float, bool, None, list, dict values), and no
    control characters in any string, key or value: such a string could end a line in a file
    or a command on the host. Nesting is bounded by the parsers."""
    if (n := expanded_size(doc)) > MAX_NODES:
        return [Problem(src, json_path(prefix), f"{n} values once YAML aliases are expanded; "
                                                f"the limit is {MAX_NODES} (an alias bomb?)")]
    out: list[Problem] = []
    stack: list[tuple[tuple, Any]] = [(prefix, doc)]
    seen: set[int] = set()
    while stack and len(out) < 50:
        path, value = stack.pop()
        if isinstance(value, dict | list):
            if id(value) in seen:
                continue  # a YAML alias of a value already checked
            seen.add(id(value))
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    out.append(Problem(src, json_path(path), f"key {k!r} is a "
                                       f"{type(k).__name__}; keys must be strings (quote it)"))
                    continue
                if why := bad_char(k):
                    out.append(Problem(src, json_path(path), f"a key holds {why}"))
                    continue
                stack.append((path + (k,), v))
        elif isinstance(value, list):
            stack += [(path + (i,), v) for i, v in enumerate(value)]
        elif isinstance(value, str):
            if why := bad_char(value):
                out.append(Problem(src, json_path(path), f"the value holds {why}; "
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


def expanded_size(doc: Any) -> int:
    """How many values `doc` holds with every shared (aliased) value counted each time it
    is used: what later merging and checking would walk. Linear in the distinct values."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(doc, False)]
    while stack:  # iterative post-order: a value's size once all its children have one
        node, done = stack.pop()
        if not isinstance(node, dict | list):
            continue
        children = list(node.values()) if isinstance(node, dict) else node
        if done:
            sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in children)
        elif id(node) not in sizes:
            sizes[id(node)] = 0  # in progress; YAML cannot build a cycle
            stack.append((node, True))
            stack.extend((c, False) for c in children)
    return sizes.get(id(doc), 1)


@lru_cache(maxsize=4)
def packaged_validator(name: str):  # type: ignore[no-untyped-def]
    """The schema shipped in the package (never one named by the document being checked).
    The schemas are checked against their metaschema by the tests, not on every run."""
    import jsonschema
    schema = json.loads(resources.files("phoenix_remote.data").joinpath(name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=None)


class SectionValidator:
    """The config schema, one top-level section at a time: a host's overrides touch a few
    sections, and the rest of its config is the base that was already checked once."""

    def __init__(self, name: str):
        self.root = packaged_validator(name)
        self.schema = self.root.schema
        self.by_section: dict[str, Any] = {}

    def problems(self, doc: dict, sections: set[str], src: str) -> list[Problem]:
        known = self.schema.get("properties", {})
        unknown = sorted(sections - set(known))
        if unknown:
            return [Problem(src, "$", f"unknown key(s) {', '.join(map(repr, unknown))}; "
                                      f"allowed keys: {', '.join(sorted(known))}")]
        out: list[Problem] = []
        for section in sorted(sections):
            if section not in self.by_section:
                sub = {**known[section], "$defs": self.schema.get("$defs", {})}
                self.by_section[section] = type(self.root)(sub)
            out += shape_problems(self.by_section[section], doc[section], src, (section,))
        return out


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
    # jsonschema's messages start with the value ("0 is less than the minimum of 20"): drop
    # that start only (replacing it everywhere turned the 20 into a 2)
    message = err.message
    if message.startswith(repr(err.instance)):
        message = message[len(repr(err.instance)):]
    return f"found {found}: {message.strip()[:160]}{hint}"


# user:password@ in a URL: never shown (the value is refused, the credential stays unsaid)
_USERINFO = re.compile(r"(?<=://)[^/?#\s]*@")


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    text = _USERINFO.sub("***@", text)
    return text if len(text) <= 80 else text[:77] + "..."


def deep_merge(base: Any, override: Any) -> Any:
    """Dicts merge key by key; anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = deep_merge(base.get(k), v) if k in base else v
        return out
    return override
