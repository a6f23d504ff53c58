"""Meaning checks of the `lxc` section and of the inventory's `containers`: references that
must resolve (templates, clone sources and their snapshots, datasets), PVE's content rules
for the storages used, and addresses that must be unique."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from phoenix_remote.config.loading import deep_merge
from phoenix_remote.config.lxc import ContainerConfig, LxcConfig
from phoenix_remote.config.lxc_safety import (
    RAW_NEVER,
    address_problems,
    host_access,
    idmap_problems,
)
from phoenix_remote.errors import Problem

if TYPE_CHECKING:
    from phoenix_remote.config.models import HostConfig, HypervisorConfig

# every PVE node has these two (the installer makes them), with these contents
BUILTIN_STORAGES = {"local": ("iso", "vztmpl", "backup", "rootdir", "images", "snippets"),
                    "local-lvm": ("images", "rootdir")}


# raw lxc.* keys PVE accepts (pve-container, PVE::LXC::Config $valid_lxc_conf_keys), beside
# any lxc.cgroup2.*, lxc.prlimit.* and lxc.net.*; and those it refuses or renames
RAW_KEYS = frozenset(f"lxc.{k}" for k in (
    "apparmor.profile apparmor.allow_incomplete apparmor.allow_nesting apparmor.raw "
    "selinux.context include arch uts.name signal.halt signal.reboot signal.stop init.cmd "
    "init.cwd init.uid init.gid init.groups pty.max console.logfile console.path tty.max "
    "devtty.dir hook.autodev autodev kmsg mount.fstab mount.entry mount.auto rootfs.mount "
    "cap.drop cap.keep seccomp.profile seccomp.notify.proxy seccomp.notify.cookie "
    "hook.pre-start hook.pre-mount hook.mount hook.start hook.stop hook.post-stop hook.clone "
    "hook.destroy hook.version log.level log.file start.auto start.delay start.order group "
    "environment environment.hooks sysctl.fs.mqueue sysctl.kernel.msgmax "
    "sysctl.kernel.msgmnb sysctl.kernel.msgmni sysctl.kernel.sem sysctl.kernel.shmall "
    "sysctl.kernel.shmmax sysctl.kernel.shmmni sysctl.kernel.shm_rmid_forced").split())
RAW_PREFIXES = ("lxc.cgroup2.", "lxc.prlimit.", "lxc.net.")
RAW_REFUSED = {
    "lxc.rootfs.path": "lxc.rootfs.path is auto generated from rootfs",
    "lxc.rootfs.options": "lxc.rootfs.options is not supported, please use mount point "
                          "options in the \"rootfs\" key",
    "lxc.idmap": "set id maps in `idmap` (each entry without the key)",
    "lxc.environment.runtime": "PVE keeps it as the container's `env`, not as a raw line",
}
RAW_RENAMED = {"lxc.aa_profile": "lxc.apparmor.profile", "lxc.id_map": "idmap",
               "lxc.init_cmd": "lxc.init.cmd", "lxc.utsname": "lxc.uts.name",
               "lxc.mount": "lxc.mount.fstab", "lxc.console": "lxc.console.path",
               "lxc.tty": "lxc.tty.max", "lxc.pts": "lxc.pty.max",
               "lxc.seccomp": "lxc.seccomp.profile", "lxc.loglevel": "lxc.log.level",
               "lxc.logfile": "lxc.log.file"}


def raw_key_problem(key: str) -> str | None:
    """Why this raw key is refused as a line of its own (None: PVE takes it, and it does
    not make LXC read or write a host file of the config's choosing)."""
    if key in RAW_NEVER:
        return f"{key} is refused: {RAW_NEVER[key]}"
    if key in RAW_REFUSED:
        return RAW_REFUSED[key]
    if key in RAW_RENAMED:
        return f"{key} was renamed: use {RAW_RENAMED[key]}"
    if key.startswith("lxc.cgroup.") or key.startswith("lxc.network."):
        new = "lxc.cgroup2." if key.startswith("lxc.cgroup.") else "lxc.net.INDEX."
        return f"{key} is a legacy key (cgroup v1 / old network syntax): use {new}*"
    if key in RAW_KEYS or key.startswith(RAW_PREFIXES):
        return None
    return f"{key} is not a key PVE accepts in a container's config"


def storage_contents(cfg: HypervisorConfig) -> dict[str, tuple[str, ...]]:
    """Storage id -> its content types: the storages the storage and NFS steps define (the
    same list they work from), plus PVE's built-in ones."""
    return {**BUILTIN_STORAGES,
            **{sid: content for _d, _k, sid, content in cfg.storage.defined(cfg.zfs)}}


def lxc_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    lxc = cfg.lxc
    if lxc is None:
        return []
    out: list[Problem] = []
    contents = storage_contents(cfg)

    def need(storage: str, content: str, path: str) -> None:
        if storage not in contents:
            out.append(Problem(src, path, f"storage {storage!r} is not defined (Phoenix "
                                          f"storages: {', '.join(sorted(contents))})"))
        elif content not in contents[storage]:
            out.append(Problem(src, path, f"storage {storage} holds "
                                          f"{','.join(contents[storage])}, not {content}: "
                                          f"use a storage with {content} content"))

    for name, t in lxc.templates.items():
        need(t.storage, "vztmpl", f"$.lxc.templates.{name}.storage")
    need(lxc.defaults.storage, "rootdir", "$.lxc.defaults.storage")
    datasets = set(cfg.zfs.dataset_paths())
    for vmid, ct in lxc.containers.items():
        at = f"$.lxc.containers.{vmid}"
        if ct.storage:
            need(ct.storage, "rootdir", f"{at}.storage")
        if ct.template and ct.template not in lxc.templates:
            out.append(Problem(src, f"{at}.template", f"template {ct.template!r} is not in "
                                                      "$.lxc.templates"))
        if ct.clone:
            source = lxc.containers.get(str(ct.clone.vmid))
            if source is None:
                out.append(Problem(src, f"{at}.clone.vmid", f"container {ct.clone.vmid} is "
                                                            "not defined in $.lxc.containers"))
            elif source.snapshot != ct.clone.snapshot:
                out.append(Problem(src, f"{at}.clone.snapshot",
                                   f"container {ct.clone.vmid} takes the snapshot "
                                   f"{source.snapshot!r}, not {ct.clone.snapshot!r}: clone "
                                   "from the snapshot its source declares"))
        for i, name in enumerate(ct.setup):
            if name not in lxc.setup:
                out.append(Problem(src, f"{at}.setup[{i}]", f"setup {name!r} is not in "
                                   f"$.lxc.setup ({', '.join(sorted(lxc.setup)) or 'empty'})"))
        if ct.setup and lxc.state_of(ct) == "stopped" and not ct.snapshot:
            out.append(Problem(src, f"{at}.setup", "a stopped container's setup runs only "
                               "while it is made (and goes into its snapshot): give it a "
                               "snapshot, or state running"))
        for i, line in enumerate(ct.raw_lxc):
            why = raw_key_problem(line.split(":", 1)[0].strip())
            if why:
                out.append(Problem(src, f"{at}.raw_lxc[{i}]", why))
        out += [Problem(src, f"{at}.{where}", why)
                for where, why, gated in idmap_problems(ct) if not gated]
        if not ct.allow_host_access:
            out += [Problem(src, f"{at}.{where}", f"{why}: refused; if this container is "
                            f"meant to reach the host, set {at}.allow_host_access: true "
                            "(plan then names it)") for where, why in host_access(ct)]
        out += [Problem(src, f"{at}.net.{slot}.ip", why)
                for slot, why in address_problems(ct, lxc.defaults.gateway, cfg.network.ip)]
        for slot, m in ct.mounts.items():
            if m.dataset and m.dataset not in datasets:
                out.append(Problem(src, f"{at}.mounts.{slot}.dataset",
                                   f"dataset {m.dataset} is not in $.zfs.datasets"))
            if m.volume_gb:
                need(m.storage or lxc.defaults.storage, "rootdir", f"{at}.mounts.{slot}")
        for slot, net in ct.net.items():
            if net.ip == "dhcp" or not (net.gw or lxc.defaults.gateway):
                continue
            gw = ipaddress.ip_address(net.gw or lxc.defaults.gateway or "")
            if gw not in ipaddress.ip_interface(net.ip).network:
                out.append(Problem(src, f"{at}.net.{slot}.gw", f"gateway {gw} is outside "
                                   f"{ipaddress.ip_interface(net.ip).network}"))
    out += _cycles(lxc, src)
    out += _duplicates(lxc, list(lxc.containers), src, "$.lxc.containers")
    return out


MAX_CLONE_DEPTH = 32  # clones of clones: PVE has no limit, a config this deep is a mistake


def _cycles(lxc: LxcConfig, src: str) -> list[Problem]:
    """Clone sources that form a cycle, and chains deeper than MAX_CLONE_DEPTH. Each
    container is walked once (its depth is remembered): linear in the containers."""
    out = []
    depth: dict[str, int] = {}  # container -> clones between it and its template
    for start in lxc.containers:
        path: list[str] = []
        on_path: set[str] = set()
        cur: str | None = start
        while cur is not None and cur not in depth:
            if cur in on_path:
                cycle = path[path.index(cur):]
                first = min(cycle, key=int)  # reported once, at its smallest member
                at = cycle.index(first)
                ring = cycle[at:] + cycle[:at]
                out.append(Problem(src, f"$.lxc.containers.{first}.clone",
                                   "clone sources form a cycle: "
                                   + " -> ".join(ring + [first])))
                for vmid in cycle:
                    depth[vmid] = 0  # judged; the containers before it are not cycles
                path = path[:path.index(cur)]
                cur = None
                break
            path.append(cur)
            on_path.add(cur)
            ct = lxc.containers[cur]
            nxt = str(ct.clone.vmid) if ct.clone else None
            cur = nxt if nxt in lxc.containers else None
        below = depth.get(cur, -1) if cur is not None else -1
        for vmid in reversed(path):
            below += 1
            depth[vmid] = below
            if below == MAX_CLONE_DEPTH + 1:
                out.append(Problem(src, f"$.lxc.containers.{vmid}.clone",
                                   f"container {vmid} is a clone of a clone ... "
                                   f"{below} deep; at most {MAX_CLONE_DEPTH} are allowed: "
                                   "clone it from a container nearer its template"))
    return out


def _addresses(ct: ContainerConfig) -> Iterator[tuple[str, str]]:
    """(slot, "address 10.0.0.5" / "MAC address 52:54:..") of a container's interfaces."""
    for slot, net in ct.net.items():
        for what in _net_claims(net.ip, net.hwaddr):
            yield slot, what


def _net_claims(ip: str, hwaddr: str | None) -> Iterator[str]:
    """What one interface takes on the network: its static address and its MAC."""
    for kind, value in (("address", ip.split("/")[0]), ("MAC address", (hwaddr or "").upper())):
        if value and value != "dhcp":
            yield f"{kind} {value}"


def _duplicates(lxc: LxcConfig, vmids: list[str], src: str, where: str) -> list[Problem]:
    """IP addresses and MAC addresses used by two of these containers."""
    out = []
    owners: dict[str, str] = {}
    for vmid in vmids:
        for slot, what in _addresses(lxc.containers[vmid]):
            if owners.setdefault(what, vmid) != vmid:
                out.append(Problem(src, f"{where}.{vmid}.net.{slot}",
                                   f"{what} is also used by container {owners[what]}; "
                                   "each container needs its own"))
    return out


def container_problems(containers: tuple[int, ...], cfg: HypervisorConfig,
                       src: str) -> list[Problem]:
    """The inventory's `containers` of one host."""
    if not containers:
        return []
    if cfg.lxc is None:
        return [Problem(src, "containers", "the configuration has no lxc section")]
    out = []
    for vmid in containers:
        ct = cfg.lxc.containers.get(str(vmid))
        if ct is None:
            out.append(Problem(src, "containers", f"container {vmid} is not defined in "
                                                  "$.lxc.containers"))
        elif ct.clone and ct.clone.vmid not in containers:
            out.append(Problem(src, "containers", f"container {vmid} is cloned from "
                                                  f"{ct.clone.vmid}, which this host does "
                                                  f"not run: add {ct.clone.vmid}"))
    if len(set(containers)) != len(containers):
        out.append(Problem(src, "containers", "a vmid is listed twice"))
    return out


@dataclass(frozen=True)
class FleetClaims:
    """What one host of the inventory takes on the network: its own addresses, and each of
    its containers' addresses and MACs as (vmid, slot, "address 10.0.0.5")."""
    host: str
    addresses: frozenset[str]
    containers: tuple[tuple[int, str, str], ...]


def claims_of(h: HostConfig) -> FleetClaims:
    """A resolved (selected) host's claims."""
    lxc = h.config.lxc
    return FleetClaims(h.name, frozenset({h.address, h.config.network.ip}), tuple(
        (vmid, slot, what) for vmid in (h.containers if lxc else ())
        for slot, what in _addresses(lxc.container(vmid))))  # type: ignore[union-attr]


def raw_claims(name: str, merged: dict, base: dict) -> FleetClaims:
    """A host the run does not select, from its inventory entry as written (it is not
    resolved or validated: values that do not read as addresses are left out)."""
    config = merged.get("config") or {}
    net = {**(base.get("network") or {}), **(config.get("network") or {})}
    cts = deep_merge((base.get("lxc") or {}).get("containers") or {},
                     (config.get("lxc") or {}).get("containers") or {})
    own = {str(merged.get("address") or name), str(net.get("address", "")).split("/")[0]}
    found = []
    for vmid in merged.get("containers") or ():
        ct = cts.get(str(vmid)) if isinstance(cts, dict) else None
        for slot, n in ((ct or {}).get("net") or {}).items() if isinstance(ct, dict) else ():
            if isinstance(n, dict):
                found += [(vmid, slot, what) for what in
                          _net_claims(str(n.get("ip", "")), str(n.get("hwaddr") or ""))]
    return FleetClaims(name, frozenset(own), tuple(found))


def fleet_container_problems(claims: list[FleetClaims], selected: set[str],
                             src: str) -> list[Problem]:
    """Across the whole inventory (not only the selected hosts): an address or MAC belongs
    to one container, and no container takes a hypervisor's address. Reported on the
    selected hosts. (vmids may repeat on hosts that are not in one cluster.)"""
    out: list[Problem] = []
    hypervisors = {f"address {a}": c.host for c in claims for a in c.addresses}
    owners: dict[str, tuple[str, str]] = {}
    for c in claims:
        for vmid, slot, what in c.containers:
            me = f"container {vmid} on {c.host}"
            if what in hypervisors and selected & {c.host, hypervisors[what]}:
                out.append(Problem(src, f"$.hosts.{c.host}.containers",
                                   f"{me} ({slot}) has the {what} of the hypervisor "
                                   f"{hypervisors[what]}: give the container another"))
            first, first_host = owners.setdefault(what, (me, c.host))
            if first != me and selected & {c.host, first_host}:
                host = c.host if c.host in selected else first_host
                out.append(Problem(src, f"$.hosts.{host}.containers",
                                   f"{me} ({slot}) has the {what} of {first}: give one of "
                                   "them another, or run the container on one host"))
    return out
