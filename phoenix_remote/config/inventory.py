"""Config + inventory -> one immutable HostConfig per selected host.

Precedence, lowest first: hypervisor_config.json < inventory `defaults` < each group the
host is in (in file order) < the host's own entry < `--set` flags from the CLI.
All problems of all files and selected hosts are collected and raised together as
ConfigError. Only the hosts a run selects (`--limit`) are resolved and checked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from phoenix_remote.config import checks
from phoenix_remote.config.host_surface import firewall_problems
from phoenix_remote.config.loading import (
    SectionValidator,
    deep_merge,
    packaged_validator,
    plain_data_problems,
    read_document,
    read_text,
    shape_problems,
)
from phoenix_remote.config.lxc_checks import claims_of, container_problems, raw_claims
from phoenix_remote.config.models import (
    ApiTarget,
    Drive,
    HostConfig,
    HypervisorConfig,
    SshTarget,
)
from phoenix_remote.config.secrets import (
    Secret,
    SecretInvalid,
    SecretUnavailable,
    parse_ref,
    password_problem,
    resolve,
)
from phoenix_remote.errors import ConfigError, Problem, UsageError

CONFIG_SCHEMA = "hypervisor_config.schema.json"
INVENTORY_SCHEMA = "inventory.schema.json"


@dataclass(frozen=True)
class Inventory:
    path: Path
    groups: dict[str, tuple[str, ...]]
    hosts: dict[str, HostConfig]


def load(config_path: Path, inventory_path: Path | None, overrides: dict | None = None,
         secrets: str = "available", limit: str | None = None) -> Inventory:
    """Validate everything, then resolve the selected hosts.

    secrets: 'none' | 'available' | 'all'. 'available' resolves file secrets and set env
    vars (what `validate` checks); 'all' requires every secret a run needs (`apply`)."""
    problems: list[Problem] = []
    validator = packaged_validator(CONFIG_SCHEMA)
    base = read_document(config_path)
    src = str(config_path)
    problems += _config_problems(base, validator, src)
    if overrides and not problems:
        problems += plain_data_problems(overrides, "--set")
        if not problems:
            problems += _config_problems(deep_merge(base, overrides), validator, "--set")
    if problems or inventory_path is None:
        if problems:
            raise ConfigError(problems)
        return Inventory(config_path, {}, {})

    inv = read_document(inventory_path)
    isrc = str(inventory_path)
    problems += shape_problems(packaged_validator(INVENTORY_SCHEMA), inv, isrc)
    if problems:  # host resolution needs a sound base and a well-shaped inventory
        raise ConfigError(problems)

    groups = {g: tuple(v.get("hosts", ())) for g, v in (inv.get("groups") or {}).items()}
    for g, members in groups.items():
        for i, h in enumerate(members):
            if h not in inv["hosts"]:
                problems.append(Problem(isrc, f"$.groups.{g}.hosts[{i}]",
                                        f"host {h!r} is not defined under hosts"))
    names = select(inv["hosts"], groups, limit, inventory_path.parent)
    resolver = _Resolver(base, validator, groups, inventory_path, secrets, overrides or {},
                         config_path.parent)
    hosts: dict[str, HostConfig] = {}
    for name in names:
        host = resolver.host(name, _layers(inv, groups, name), problems)
        if host:
            hosts[name] = host
    # the hosts a run leaves out still hold their addresses: read from their entries
    claims = [claims_of(hosts[n]) if n in hosts else
              raw_claims(n, _merged(_layers(inv, groups, n)), base)
              for n in inv["hosts"] if n in hosts or n not in names]
    problems += checks.fleet_problems(list(hosts.values()), claims, isrc)
    if problems:
        raise ConfigError(problems)
    return Inventory(inventory_path, groups, hosts)


def _layers(inv: dict, groups: dict[str, tuple[str, ...]], name: str) -> list[dict]:
    """A host's inventory layers, lowest first: defaults, its groups, its own entry."""
    return ([inv.get("defaults") or {}]
            + [v for g, v in (inv.get("groups") or {}).items() if name in groups[g]]
            + [inv["hosts"][name]])


def _merged(layers: list[dict]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = deep_merge(merged, {k: v for k, v in layer.items() if k != "hosts"})
    return merged


def select(hosts: dict, groups: dict[str, tuple[str, ...]], limit: str | None,
           base_dir: Path) -> list[str]:
    """--limit: HOST, GROUP, comma list, or @file (one host per line). A wrong name is a
    usage error that lists the valid ones."""
    if not limit:
        return list(hosts)
    names: list[str] = []
    for item in (x.strip() for x in limit.split(",")):
        if item.startswith("@"):
            try:
                text = read_text(Path(item[1:]), "--limit file")
            except ConfigError as e:
                raise UsageError(f"--limit {item}: {e.problems[0].message}") from None
            names += [x.strip() for x in text.splitlines() if x.strip()]
        elif item in groups:
            names += list(groups[item])
        elif item in hosts:
            names.append(item)
        else:
            import difflib
            close = difflib.get_close_matches(item, [*hosts, *groups], n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"--limit: {item[:80]!r} is neither a host nor a group{hint}; "
                             f"hosts: {', '.join(list(hosts)[:20])}"
                             + (f"; groups: {', '.join(groups)}" if groups else ""))
    unknown = [n for n in names if n not in hosts]
    if unknown:
        raise UsageError(f"--limit: unknown host(s) {', '.join(unknown[:10])}")
    return list(dict.fromkeys(names))


def _config_problems(doc: Any, validator, src: str) -> list[Problem]:  # type: ignore[no-untyped-def]
    problems = shape_problems(validator, doc, src)
    if problems:
        return problems
    cfg = _model(doc, src, problems)
    if cfg:
        problems += checks.config_problems(cfg, src) + checks.network_problems(cfg, src)
    return problems


def _model(doc: dict, src: str, problems: list[Problem]) -> HypervisorConfig | None:
    try:
        return HypervisorConfig.model_validate(doc)
    except ValidationError as e:  # shape passed, so this is rare: report it the same way
        for err in e.errors():
            problems.append(Problem(src, "$." + ".".join(map(str, err["loc"])), err["msg"]))
        return None


def read_public_key(path: str | None, base_dir: Path) -> str | None:
    """admin_user.ssh_public_key_file: one OpenSSH public key, read on this workstation
    when the config is loaded (a plan never reads files). ValueError names the problem."""
    if not path:
        return None
    full = Path(path).expanduser()
    full = full if full.is_absolute() else base_dir / full
    try:
        key = read_text(full, "public key file").strip()
    except ConfigError as e:
        raise ValueError(e.problems[0].message) from None
    if not key.startswith(("ssh-", "ecdsa-", "sk-")) or "\n" in key or len(key) > 16384:
        raise ValueError(f"{full} is not one OpenSSH public key")
    return key


def read_setup_scripts(cfg: HypervisorConfig, containers: tuple[int, ...], config_dir: Path,
                       cache: dict[Path, str | ConfigError] | None = None,
                       beside: dict[str, Path] | None = None
                       ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The texts of the setup scripts these containers use, read on this workstation at
    load; and (path, problem) for unreadable ones. A script path is relative (the schema
    refuses absolute ones and ..) to the folder of the file that names it: the config's,
    or the inventory's for the names in `beside`. `cache` lets hosts that share a script
    read it once."""
    lxc = cfg.lxc
    cache = {} if cache is None else cache
    names = {n for v in containers if lxc and str(v) in lxc.containers
             for n in lxc.container(v).setup if n in lxc.setup}
    texts, missing = {}, []
    for name in sorted(names):
        path = (beside or {}).get(name, config_dir) / lxc.setup[name].script  # type: ignore[union-attr]
        if path not in cache:
            try:
                cache[path] = read_text(path, "setup script")
            except ConfigError as e:
                cache[path] = e
        text = cache[path]
        if isinstance(text, ConfigError):
            missing.append((f"config.lxc.setup.{name}.script",
                            f"{path}: {text.problems[0].message} (read beside the file "
                            "that names it: the config, or the inventory)"))
        else:
            texts[name] = text
    return texts, missing


class _Resolver:
    """Resolves hosts; hosts with the same config overrides share one validated model, and
    each secret source is read once."""

    def __init__(self, base: dict, validator, groups: dict, inv_path: Path,  # type: ignore[no-untyped-def]
                 secret_mode: str, overrides: dict, config_dir: Path):
        self.base, self.validator, self.groups = base, validator, groups
        self.inv_path, self.secret_mode, self.overrides = inv_path, secret_mode, overrides
        self.sections = SectionValidator(CONFIG_SCHEMA)
        self.models: dict[str, tuple[HypervisorConfig | None, list[Problem]]] = {}
        self.meaning: dict[str, list[Problem]] = {}
        self.secrets: dict[tuple[str, str], Secret | SecretUnavailable] = {}
        self.config_dir = config_dir
        self.scripts: dict[Path, str | ConfigError] = {}  # each script file read once

    def host(self, name: str, layers: list[dict], problems: list[Problem]) -> HostConfig | None:
        src = f"{self.inv_path} host {name}"
        merged = _merged(layers)
        before = len(problems)
        cfg = self._config(merged.get("config") or {}, merged.get("secrets") or {}, src,
                           problems)
        if cfg is None:
            return None
        drives = {pool: tuple(Drive(path=d) if isinstance(d, str) else Drive(**d)
                              for d in items)
                  for pool, items in (merged.get("drives") or {}).items()}
        problems += checks.drive_problems(drives, cfg, src)
        problems += firewall_problems(cfg, src, (merged.get("ssh") or {}).get("port"))
        key_file = (merged.get("ssh") or {}).get("key_file")
        if key_file and not Path(key_file).expanduser().is_file():
            problems.append(Problem(src, "ssh.key_file", f"{key_file}: no such file (the "
                                    "private key phoenix logs in with; a path is read from "
                                    "the folder phoenix runs in, ~ is your home)"))
        containers = tuple(merged.get("containers") or ())
        problems += container_problems(containers, cfg, src)
        resolved = self._secrets(cfg, merged.get("api") or {}, src, problems)
        try:
            key = read_public_key(cfg.admin_user.ssh_public_key_file, Path.cwd())
        except ValueError as e:
            problems.append(Problem(src, "config.admin_user.ssh_public_key_file", str(e)))
        # scripts an inventory entry names are read beside the inventory
        named = ((merged.get("config") or {}).get("lxc") or {}).get("setup") or {}
        beside = {n: self.inv_path.parent for n, v in named.items()
                  if isinstance(v, dict) and "script" in v}
        scripts = self._setup_scripts(cfg, containers, src, problems, beside)
        if len(problems) > before:
            return None
        return HostConfig(
            name=name, address=merged.get("address") or name,
            groups=tuple(g for g, members in self.groups.items() if name in members),
            ssh=SshTarget(**(merged.get("ssh") or {})),
            api=ApiTarget(**(merged.get("api") or {})),
            drives=drives, config=cfg, secrets=resolved, admin_public_key=key,
            containers=containers, setup_scripts=scripts)

    def _setup_scripts(self, cfg: HypervisorConfig, containers: tuple[int, ...], src: str,
                       problems: list[Problem], beside: dict[str, Path]) -> dict[str, str]:
        texts, missing = read_setup_scripts(cfg, containers, self.config_dir, self.scripts,
                                            beside)
        problems += [Problem(src, path, message) for path, message in missing]
        return texts

    def _config(self, override: dict, secrets: dict, src: str,
                problems: list[Problem]) -> HypervisorConfig | None:
        override = deep_merge(override, self.overrides)
        key = json.dumps([override, secrets], sort_keys=True)
        if key not in self.models:
            doc = deep_merge(self.base, override)
            doc["secrets"] = {**self.base.get("secrets", {}), **secrets}
            # the base passed as a whole: only the sections this host changes are checked
            found = self.sections.problems(doc, set(override) | {"secrets"}, "")
            cfg = None if found else _model(doc, "", found)
            if cfg is not None:
                found += self._meaning(cfg, override, secrets)
            self.models[key] = (cfg, found)
        cfg, found = self.models[key]
        problems += [Problem(src, p.path.replace("$", "config", 1), p.message) for p in found]
        return cfg

    def _meaning(self, cfg: HypervisorConfig, override: dict, secrets: dict) -> list[Problem]:
        """Meaning checks; all but the network's read no per-host section, so hosts that
        differ only in their network identity share one result."""
        key = json.dumps([{k: v for k, v in override.items() if k != "network"}, secrets],
                         sort_keys=True)
        if key not in self.meaning:
            self.meaning[key] = checks.config_problems(cfg, "")
        return self.meaning[key] + checks.network_problems(cfg, "")

    def _secrets(self, cfg: HypervisorConfig, api: dict, src: str,
                 problems: list[Problem]) -> dict[str, Secret]:
        wanted: dict[str, tuple[dict, bool]] = {}  # name -> (source, is a password)
        passwords = (cfg.admin_user.password_secret, cfg.samba.password_secret)
        for name, source in cfg.secrets.items():
            wanted[name] = (source, name in passwords)
        if api.get("token_secret"):
            wanted["api_token"] = (api["token_secret"], False)
        if api.get("password"):
            wanted["api_password"] = (api["password"], False)
        out: dict[str, Secret] = {}
        if self.secret_mode == "none":
            return out
        for name, (source, is_password) in wanted.items():
            ref = parse_ref(source)  # shape was checked by the schema already
            if self.secret_mode == "available" and ref.kind in ("prompt", "keyring"):
                continue
            cache_key = (ref.kind, ref.target)
            if cache_key not in self.secrets:
                try:
                    self.secrets[cache_key] = resolve(ref, self.inv_path.parent)
                except SecretUnavailable as e:
                    self.secrets[cache_key] = e
            got = self.secrets[cache_key]
            if isinstance(got, SecretUnavailable):
                if (self.secret_mode == "available" and ref.kind == "env"
                        and not isinstance(got, SecretInvalid)):
                    continue  # resolved at run time; validate does not need it
                problems.append(Problem(src, f"secrets.{name}", str(got)))
                continue
            if is_password and (msg := password_problem(got)):
                problems.append(Problem(src, f"secrets.{name}",
                                        f"{msg} (from {ref.describe()})"))
                continue
            out[name] = got
        return out
