"""Config + inventory -> one immutable HostConfig per host.

Precedence, lowest first: hypervisor_config.json < inventory `defaults` < each group the
host is in (in file order) < the host's own entry < `--set` flags from the CLI.
All problems of all files and hosts are collected and raised together as ConfigError.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from phoenix_remote.config import checks
from phoenix_remote.config.loading import (
    deep_merge,
    load_schema,
    read_document,
    schema_for,
    shape_problems,
)
from phoenix_remote.config.models import (
    ApiTarget,
    Drive,
    HostConfig,
    HypervisorConfig,
    SshTarget,
)
from phoenix_remote.config.secrets import (
    Secret,
    SecretUnavailable,
    parse_ref,
    password_problem,
    resolve,
)
from phoenix_remote.errors import ConfigError, Problem


@dataclass(frozen=True)
class Inventory:
    path: Path
    groups: dict[str, tuple[str, ...]]
    hosts: dict[str, HostConfig]


def load(config_path: Path, inventory_path: Path | None, overrides: dict | None = None,
         secrets: str = "available") -> Inventory:
    """Validate everything, then resolve hosts. secrets: 'none' | 'available' | 'all'.

    'available' resolves file secrets and set env vars (what `validate` checks);
    'all' requires every secret a run needs (what `apply` uses)."""
    problems: list[Problem] = []
    base = read_document(config_path)
    validator = load_schema(str(schema_for(config_path, base)))
    src = str(config_path)
    problems += shape_problems(validator, base, src)
    if not problems:
        cfg = _model(base, src, problems)
        if cfg:
            problems += checks.config_problems(cfg, src)
            problems += checks.network_problems(cfg, src)
    if inventory_path is None:
        if problems:
            raise ConfigError(problems)
        return Inventory(config_path, {}, {})

    inv = read_document(inventory_path)
    isrc = str(inventory_path)
    inv_validator = load_schema(str(resources.files("phoenix_remote.data")
                                    .joinpath("inventory.schema.json")))
    inv_shape = shape_problems(inv_validator, inv, isrc)
    problems += inv_shape
    if problems:  # host resolution needs a sound base and a well-shaped inventory
        raise ConfigError(problems)

    groups = {g: tuple(v.get("hosts", ())) for g, v in (inv.get("groups") or {}).items()}
    for g, members in groups.items():
        for i, h in enumerate(members):
            if h not in inv["hosts"]:
                problems.append(Problem(isrc, f"$.groups.{g}.hosts[{i}]",
                                        f"host {h!r} is not defined under hosts"))
    hosts: dict[str, HostConfig] = {}
    for name, entry in inv["hosts"].items():
        layers = [inv.get("defaults") or {}]
        layers += [v for g, v in (inv.get("groups") or {}).items() if name in groups[g]]
        layers += [entry, {"config": overrides or {}}]
        host = _resolve_host(name, base, layers, validator, groups, inventory_path,
                             secrets, problems)
        if host:
            hosts[name] = host
    if problems:
        raise ConfigError(problems)
    return Inventory(inventory_path, groups, hosts)


def _model(doc: dict, src: str, problems: list[Problem]) -> HypervisorConfig | None:
    try:
        return HypervisorConfig.model_validate(doc)
    except ValidationError as e:  # shape passed, so this is rare: report it the same way
        for err in e.errors():
            problems.append(Problem(src, "$." + ".".join(map(str, err["loc"])), err["msg"]))
        return None


def _resolve_host(name: str, base: dict, layers: list[dict], validator, groups, inv_path: Path,
                  secret_mode: str, problems: list[Problem]) -> HostConfig | None:
    src = f"{inv_path} host {name}"
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, {k: v for k, v in layer.items() if k != "hosts"})
    doc = deep_merge(base, merged.get("config", {}))
    doc["secrets"] = {**base.get("secrets", {}), **merged.get("secrets", {})}
    shape = shape_problems(validator, doc, src, ())
    if shape:
        problems += [Problem(p.source, p.path.replace("$", "config", 1), p.message)
                     for p in shape]
        return None
    before = len(problems)
    cfg = _model(doc, src, problems)
    if cfg is None:
        return None
    problems += [Problem(p.source, p.path.replace("$", "config", 1), p.message)
                 for p in checks.config_problems(cfg, src) + checks.network_problems(cfg, src)]
    drives = {pool: tuple(Drive(path=d) if isinstance(d, str) else Drive(**d) for d in items)
              for pool, items in (merged.get("drives") or {}).items()}
    problems += checks.drive_problems(drives, cfg, src)
    resolved = _resolve_secrets(cfg, merged.get("api") or {}, secret_mode, inv_path.parent, src,
                                problems)
    if len(problems) > before:
        return None
    return HostConfig(
        name=name,
        address=merged.get("address") or name,
        groups=tuple(g for g, members in groups.items() if name in members),
        ssh=SshTarget(**(merged.get("ssh") or {})),
        api=ApiTarget(**(merged.get("api") or {})),
        drives=drives,
        config=cfg,
        secrets=resolved,
    )


def _resolve_secrets(cfg: HypervisorConfig, api: dict, mode: str, base_dir: Path, src: str,
                     problems: list[Problem]) -> dict[str, Secret]:
    wanted: dict[str, tuple[dict, bool]] = {}  # name -> (source, is a password)
    for name, source in cfg.secrets.items():
        is_password = name in (cfg.admin_user.password_secret, cfg.samba.password_secret)
        wanted[name] = (source, is_password)
    if api.get("token_secret"):
        wanted["api_token"] = (api["token_secret"], False)
    if api.get("password"):
        wanted["api_password"] = (api["password"], False)
    out: dict[str, Secret] = {}
    if mode == "none":
        return out
    for name, (source, is_password) in wanted.items():
        ref = parse_ref(source)  # shape was checked by the schema already
        if mode == "available" and (ref.kind == "prompt" or ref.kind == "keyring"):
            continue
        try:
            secret = resolve(ref, base_dir)
        except SecretUnavailable as e:
            if mode == "available" and ref.kind == "env":
                continue  # resolved at run time; validate does not need it
            problems.append(Problem(src, f"secrets.{name}", str(e)))
            continue
        if is_password and (msg := password_problem(secret)):
            problems.append(Problem(src, f"secrets.{name}", f"{msg} (from {ref.describe()})"))
            continue
        out[name] = secret
    return out
