"""Meaning checks a schema cannot express: references, PVE storage rules, drive layouts.

Each check returns a list of Problems (never raises), so one pass reports everything.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from importlib import resources

from phoenix_remote.config.host_surface import host_surface_problems
from phoenix_remote.config.lxc_checks import FleetClaims, fleet_container_problems, lxc_problems
from phoenix_remote.config.models import Drive, HypervisorConfig, StorageConfig
from phoenix_remote.config.safety import safety_problems
from phoenix_remote.errors import Problem
from phoenix_remote.pve_schema import STORAGE_ID

PVE_ID = STORAGE_ID  # pve-storage-id (PVE::JSONSchema), as the API client checks it
# exports(5) options (nfs-utils 2.6, bookworm); `key=` ones take a value
NFS_FLAGS = {
    "rw", "ro", "sync", "async", "secure", "insecure", "wdelay", "no_wdelay", "hide", "nohide",
    "crossmnt", "subtree_check", "no_subtree_check", "insecure_locks", "no_auth_nlm",
    "secure_locks", "auth_nlm", "mp", "nordirplus", "pnfs", "no_pnfs", "security_label",
    "root_squash", "no_root_squash", "all_squash", "no_all_squash",
}
NFS_VALUED = {"mountpoint", "mp", "fsid", "refer", "replicas", "sec", "anonuid", "anongid"}


@lru_cache(maxsize=1)
def storage_rules() -> dict:
    text = resources.files("phoenix_remote.data").joinpath("pve-8-storage-types.json").read_text()
    return json.loads(text)["types"]


@lru_cache(maxsize=1)
def smb_parameters() -> frozenset[str]:
    text = resources.files("phoenix_remote.data").joinpath("smb_parameters.txt").read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def config_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    out: list[Problem] = safety_problems(cfg, src) + host_surface_problems(cfg, src)
    datasets = set(cfg.zfs.dataset_paths())

    for pool_name in cfg.zfs.datasets:
        if pool_name not in cfg.zfs.pools:
            out.append(Problem(src, f"$.zfs.datasets.{pool_name}",
                               f"pool {pool_name!r} is not defined in $.zfs.pools; add it or "
                               "remove these datasets"))
    for name, pool in cfg.zfs.pools.items():
        if pool.layout == "mirror" and pool.drive_count < 2:
            out.append(Problem(src, f"$.zfs.pools.{name}.drive_count",
                               f"found {pool.drive_count}, a mirror needs at least 2 drives"))
        if pool.layout == "single" and pool.drive_count != 1:
            out.append(Problem(src, f"$.zfs.pools.{name}.drive_count",
                               f"found {pool.drive_count}, a single-drive pool takes exactly 1"))

    out += _storage_problems(cfg, datasets, src)
    out += lxc_problems(cfg, src)

    for i, export in enumerate(cfg.nfs.exports):
        where = f"$.nfs.exports[{i}]"
        if export.dataset not in datasets:
            out.append(_undefined(src, f"{where}.dataset", export.dataset))
        out += _export_option_problems(export.options, f"{where}.options", src)
    out += _export_option_problems(cfg.nfs.default_options, "$.nfs.default_options", src)
    exported = {e.dataset for e in cfg.nfs.exports}
    for dataset in cfg.storage.dataset_map:
        if cfg.storage.type_and_content(dataset)[0] != "nfs":
            continue
        where = f"$.storage.dataset_map[{dataset!r}]"
        if dataset not in exported:
            out.append(Problem(src, where, f"{dataset} is an NFS storage but not exported; add "
                                           f'{{"dataset": "{dataset}"}} to $.nfs.exports'))
        if ipaddress.ip_address(cfg.network.ip) not in ipaddress.ip_network(cfg.nfs.subnet,
                                                                             strict=False):
            out.append(Problem(src, where, f"the NFS storage is served from this host's "
                                           f"address {cfg.network.ip}, which is outside "
                                           f"nfs.subnet {cfg.nfs.subnet}"))
    for i, required in enumerate(cfg.nfs.required_pools):
        if required not in cfg.zfs.pools:
            out.append(Problem(src, f"$.nfs.required_pools[{i}]",
                               f"pool {required!r} is not defined"))

    known = smb_parameters()
    for key in cfg.samba.global_:
        if key not in known:
            out.append(Problem(src, f"$.samba.global[{key!r}]",
                               f"{key!r} is not a Samba parameter (testparm would ignore it)"))
    seen_shares: set[str] = set()
    for i, share in enumerate(cfg.samba.shares):
        where = f"$.samba.shares[{i}]"
        if share.dataset not in datasets:
            out.append(_undefined(src, f"{where}.dataset", share.dataset))
        if share.name in seen_shares:
            out.append(Problem(src, where, f"share name {share.name!r} appears twice"))
        seen_shares.add(share.name)
        for key in share.options:
            if key not in known:
                out.append(Problem(src, f"{where}.options[{key!r}]",
                                   f"{key!r} is not a Samba parameter"))
    for secret_name in (cfg.admin_user.password_secret, cfg.samba.password_secret):
        if secret_name is not None and secret_name not in cfg.secrets:
            out.append(Problem(src, "$.secrets",
                               f"secret {secret_name!r} is referenced but has no source; add "
                               f'"{secret_name}": {{"env": "..."}}'))
    return out


def _undefined(src: str, path: str, dataset: str) -> Problem:
    return Problem(src, path, f"dataset {dataset!r} is not defined in $.zfs.datasets")


def _storage_problems(cfg: HypervisorConfig, datasets: set[str], src: str) -> list[Problem]:
    out: list[Problem] = []
    rules = storage_rules()
    ids: dict[str, str] = {}
    for dataset, _raw in cfg.storage.dataset_map.items():
        where = f"$.storage.dataset_map[{dataset!r}]"
        if dataset not in datasets:
            out.append(_undefined(src, where, dataset))
        kind, content = cfg.storage.type_and_content(dataset)
        if kind not in rules:
            out.append(Problem(src, where, f"storage type {kind!r} unknown; expected one of "
                                           f"{', '.join(sorted(rules))}"))
            continue
        for c in content:
            if c not in rules[kind]["content_allowed"]:
                out.append(Problem(src, where,
                                   f"content {c!r} is not allowed for a {kind} storage; PVE "
                                   f"allows {', '.join(rules[kind]['content_allowed'])}"))
        sid = (StorageConfig.nfs_storage_id(dataset) if kind == "nfs"
               else StorageConfig.storage_id(dataset))
        if not PVE_ID.match(sid):
            out.append(Problem(src, where, f"derived storage id {sid!r} is not a valid PVE id"))
        if sid in ids:
            out.append(Problem(src, where, f"storage id {sid!r} is also derived from "
                                           f"{ids[sid]!r}; storage ids must be unique"))
        ids[sid] = dataset
    for key, sid in cfg.storage.unused_default_ids.items():
        if not PVE_ID.match(sid):
            out.append(Problem(src, f"$.storage.unused_default_ids.{key}",
                               f"{sid!r} is not a valid PVE storage id"))
    return out


def _export_option_problems(options: str | None, path: str, src: str) -> list[Problem]:
    out = []
    for opt in (options or "").split(",") if options else []:
        key, eq, _ = opt.partition("=")
        if (eq and key not in NFS_VALUED) or (not eq and key not in NFS_FLAGS):
            out.append(Problem(src, path, f"{opt!r} is not an exports(5) option; exportfs "
                                          "would refuse it"))
    return out


def drive_problems(drives: dict[str, tuple[Drive, ...]], cfg: HypervisorConfig,
                   src: str) -> list[Problem]:
    out: list[Problem] = []
    owner: dict[str, str] = {}
    for pool, items in drives.items():
        where = f"drives.{pool}"
        spec = cfg.zfs.pools.get(pool)
        if spec is None:
            out.append(Problem(src, where, f"pool {pool!r} is not defined in $.zfs.pools"))
            continue
        if spec.enabled and len(items) != spec.drive_count:
            out.append(Problem(src, where, f"found {len(items)} drive(s), the {spec.layout} "
                                           f"pool {pool} takes {spec.drive_count}"))
        for d in items:
            if d.path in owner:
                out.append(Problem(src, where, f"drive {d.path} is also listed for pool "
                                               f"{owner[d.path]}; a drive belongs to one pool"))
            owner[d.path] = pool
    for name, spec in cfg.zfs.pools.items():
        if spec.enabled and name not in drives:
            out.append(Problem(src, "drives", f"pool {name} is enabled but no drives are "
                                              f"listed; add drives.{name} (by-id paths)"))
    return out


def network_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    net = cfg.network
    iface = ipaddress.ip_interface(net.address)
    out = []
    if ipaddress.ip_address(net.gateway) not in iface.network:
        out.append(Problem(src, "$.network.gateway", f"gateway {net.gateway} is outside "
                                                     f"{iface.network}"))
    return out


def fleet_problems(hosts: list, claims: list[FleetClaims], src: str) -> list[Problem]:
    """Across the selected hosts: one address is one host; across the whole inventory
    (`claims`): one address is one container, never a hypervisor's."""
    out: list[Problem] = []
    seen: dict[str, str] = {}
    for h in hosts:
        if h.address in seen:
            out.append(Problem(src, f"$.hosts.{h.name}.address",
                               f"{h.address} is also the address of host {seen[h.address]}; "
                               "each host needs its own address"))
        seen.setdefault(h.address, h.name)
    return out + fleet_container_problems(claims, {h.name for h in hosts}, src)

