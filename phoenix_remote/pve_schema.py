"""Parameter checks of the Proxmox VE API, driven by the official schemas (8.4 for PVE 8,
9.1 for PVE 9 and later: schema_version), and PVE's own formats (storage ids, ...).

One checker, three users: phoenix's API client checks every call before sending it, the
sandbox's fake PVE API checks every request it receives (this file is installed into
sandbox hosts as pveschema.py), and the tests check answers against `returns`.
Messages follow PVE::JSONSchema. Standard library only: it also runs inside sandbox hosts.
"""

import json
import os
import re
from collections.abc import Callable

HERE = os.path.dirname(os.path.realpath(__file__))

CONTENT_TYPES = ("images", "rootdir", "vztmpl", "iso", "backup", "snippets", "none", "import")
USERID = re.compile(r"^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$")
STORAGE_ID = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.I)
NODE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$")
REALM = re.compile(r"^[A-Za-z][A-Za-z0-9.\-_]+$")
ROLE = re.compile(r"^[A-Za-z0-9.\-_]+$")
GROUP = re.compile(r"^[A-Za-z0-9.\-_]+$")
TOKENID = re.compile(r"^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$")
DNS = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9]"
                 r"(?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?$")
IPV4 = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$")
LIST_SPLIT = re.compile(r"[;,\s\0]+")


def schema_version(major: int) -> str:
    """The API schema a PVE release answers to: 9 and later the 9.1 schema, else 8.4."""
    return "9.1" if major >= 9 else "8.4"


def load_operations(version="8.4"):
    """The operations of pve-<version>-endpoints.json: in the package, or beside this file."""
    name = f"pve-{version}-endpoints.json"
    candidates = [os.environ.get("PVE_SCHEMA", "") if version == "8.4" else "",
                  os.path.join(HERE, "data", name), os.path.join(HERE, name)]
    path = next(c for c in candidates if c and os.path.exists(c))
    with open(path) as f:
        return json.load(f)["operations"]


def match(operations, method, path):
    """('METHOD /template', {placeholder: value}) for a concrete path, or (None, {})."""
    parts = path.strip("/").split("/")
    for key in operations:
        m, template = key.split(" ", 1)
        if m != method:
            continue
        tparts = template.strip("/").split("/")
        if len(tparts) != len(parts):
            continue
        found = {}
        for t, p in zip(tparts, parts):
            if t.startswith("{"):
                found[t[1:-1]] = p
            elif t != p:
                break
        else:
            return key, found
    return None, {}


def _list(value):
    return [v for v in LIST_SPLIT.split(value) if v]


def check_format(fmt, value):
    """None when valid, else PVE's message after 'invalid format - '."""
    if not isinstance(fmt, str):
        return None  # property strings: checked by the handlers that use them
    if fmt == "pve-storage-id" and not STORAGE_ID.match(value):
        return f"storage ID '{value}' contains illegal characters"
    if fmt == "pve-node" and not NODE.match(value):
        return f"value '{value}' does not look like a valid node name"
    if fmt == "pve-userid" and not USERID.match(value):
        return f"value '{value}' does not look like a valid user name"
    if fmt == "pve-realm" and not REALM.match(value):
        return f"value '{value}' does not look like a valid realm name"
    if fmt == "pve-configid" and not re.match(r"^[a-z][a-z0-9_-]+$", value, re.I):
        return f"invalid configuration ID '{value}'"
    if fmt == "dns-name" and not DNS.match(value):
        return f"value '{value}' does not look like a valid DNS name"
    if fmt == "pve-storage-path" and not re.match(r"^/[^\0]*$", value):
        return f"value does not look like a valid absolute path '{value}'"
    if fmt == "pve-storage-server" and not (IPV4.match(value) or DNS.match(value)):
        return f"value '{value}' does not look like a valid server name or IP address"
    if fmt.endswith("-list"):
        checks: dict[str, Callable[[str], object]] = {
            "pve-storage-content-list": lambda v: v in CONTENT_TYPES,
            "pve-userid-list": USERID.match, "pve-node-list": NODE.match,
            "pve-roleid-list": ROLE.match, "pve-groupid-list": GROUP.match,
            "pve-tokenid-list": TOKENID.match}
        item = checks.get(fmt)
        if item:
            for v in _list(value):
                if not item(v):
                    what = {"pve-storage-content-list": "invalid content type"}.get(
                        fmt, "invalid value")
                    return f"{what} '{v}'"
    return None


def check_value(schema, value):
    """Validate one string parameter value against its schema; PVE's message or None."""
    kind = schema.get("type", "string")
    if kind == "boolean":
        # PVE::JSONSchema accepts only 1/0 (an old regex for true/yes/on is commented out)
        if value not in ("0", "1"):
            return f"type check ('boolean') failed - got '{value}'"
        return None
    n: float | None
    if kind == "integer":
        if not re.match(r"^-?\d+$", value):
            return f"type check ('integer') failed - got '{value}'"
        n = int(value)
    elif kind == "number":
        try:
            n = float(value)
        except ValueError:
            return f"type check ('number') failed - got '{value}'"
    else:
        n = None
    if n is not None:
        if "minimum" in schema and n < float(schema["minimum"]):
            return f"value must have a minimum value of {schema['minimum']}"
        if "maximum" in schema and n > float(schema["maximum"]):
            return f"value must have a maximum value of {schema['maximum']}"
        return None
    if "enum" in schema and schema["enum"] is not None and value not in schema["enum"]:
        return (f"value '{value}' does not have a value in the enumeration "
                f"'{', '.join(schema['enum'])}'")
    if "maxLength" in schema and len(value) > int(schema["maxLength"]):
        return f"value may only be {schema['maxLength']} characters long"
    if "minLength" in schema and len(value) < int(schema["minLength"]):
        return f"value must be at least {schema['minLength']} characters long"
    if "pattern" in schema:
        pattern = schema["pattern"].replace("(?^:", "(?:")
        if not re.fullmatch(pattern, value):
            return "value does not match the regex pattern"
    if "format" in schema:
        msg = check_format(schema["format"], value)
        if msg:
            return f"invalid format - {msg}"
    return None


def validate(info, params):
    """Errors {param: message} for request parameters (all strings), as PVE answers 400."""
    spec = info.get("parameters") or {}
    props = spec.get("properties") or {}
    errors = {}
    for name, value in params.items():
        key = name if name in props else re.sub(r"\d+$", "[n]", name)  # net0: net[n]
        if key not in props:
            if spec.get("additionalProperties", 1) == 0:
                errors[name] = ("property is not defined in schema and the schema does not "
                                "allow additional properties")
            continue
        msg = check_value(props[key], value)
        if msg:
            errors[name] = msg
    for name, schema in props.items():
        if not schema.get("optional") and name not in params:
            errors[name] = "property is missing and it is not optional"
    return errors


def check_returns(schema, data, path="data"):
    """Problems where `data` does not fit the method's `returns` schema (for tests)."""
    if schema is None:
        return []
    problems = []
    kind = schema.get("type")
    if data is None:
        if kind in (None, "null") or schema.get("optional"):
            return []
        return [f"{path}: null where {kind} expected"]
    types: dict[str, type | tuple[type, ...]] = {
        "string": str, "integer": int, "number": (int, float), "boolean": int,
        "array": list, "object": dict, "null": type(None)}
    if kind in types and not isinstance(data, types[kind]):
        return [f"{path}: {type(data).__name__} where {kind} expected"]
    if kind == "boolean" and data not in (0, 1, True, False):
        return [f"{path}: boolean must be 0 or 1, got {data!r}"]
    if kind == "string" and "enum" in schema and schema["enum"] and data not in schema["enum"]:
        problems.append(f"{path}: {data!r} not in enum")
    if kind == "array":
        for i, item in enumerate(data):
            problems += check_returns(schema.get("items"), item, f"{path}[{i}]")
    if kind == "object":
        props = schema.get("properties") or {}
        for name, sub in props.items():
            if name in data:
                problems += check_returns(sub, data[name], f"{path}.{name}")
            elif not sub.get("optional"):
                problems.append(f"{path}.{name}: missing")
        if schema.get("additionalProperties") == 0:
            problems += [f"{path}.{k}: not in schema" for k in data if k not in props]
    return problems
