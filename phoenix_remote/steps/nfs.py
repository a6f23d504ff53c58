"""Step 8, phoenix_setup_nfs.sh: NFS server packages, /etc/exports from the configured
export list (validated by exportfs, restored on failure), firewall rule for the subnet, and
the Proxmox NFS storages for datasets typed `nfs` (served by this host, through the API)."""

from __future__ import annotations

from typing_extensions import TypedDict

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import HOST_ACCESS, Change, Plan, Script
from phoenix_remote.errors import StepRefused
from phoenix_remote.facts import firewall, packages, pve, zfs
from phoenix_remote.facts.parsers import lines
from phoenix_remote.host import files
from phoenix_remote.host.batch import Out
from phoenix_remote.host.shell import sh
from phoenix_remote.steps.common import (
    apt_install,
    dataset_mounts,
    dirs_present,
    keep_manual,
    validated_file,
)
from phoenix_remote.steps.storage import nfs_desired, storage_changes

EXPORTS = "/etc/exports"
HEADER = "# /etc/exports: written by phoenix_remote from hypervisor_config.json (nfs.exports)\n"


def exports_text(cfg: HostConfig) -> str:
    n, z = cfg.config.nfs, cfg.config.zfs
    body = "".join(f"{z.mountpoint(e.dataset)} {e.subnet or n.subnet}"
                   f"({e.options or n.default_options})\n" for e in n.exports)
    return HEADER + body


class NfsFacts(TypedDict):
    installed: set[str]
    manual: set[str]
    pools: list[str]
    datasets: list[str]
    exports: str | None
    ufw: firewall.UfwState
    dirs: list[str]
    storage: dict[str, pve.Record]


class Nfs(Step):
    id = "nfs"
    title = "NFS exports"
    facts_model = NfsFacts

    def inputs(self, cfg: HostConfig) -> dict:
        return {"nfs": cfg.config.nfs.model_dump(), "exports": exports_text(cfg)}

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        n = cfg.config.nfs
        return {"pkgs": packages.installed_query([*n.packages, "ufw"]),
                "manual": packages.manual_query(n.packages),
                "pools": zfs.POOLS, "datasets": zfs.FILESYSTEMS,
                "exports": files.read(EXPORTS),
                "ufw": firewall.STATUS,
                "dirs": dirs_present(cfg, [e.dataset for e in n.exports])}

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> NfsFacts:
        installed = packages.installed(out["pkgs"])
        return {"installed": installed, "manual": packages.manual(out["manual"]),
                "pools": zfs.names(out["pools"]), "datasets": zfs.names(out["datasets"]),
                "exports": files.content(out["exports"], EXPORTS),
                "ufw": firewall.state(out["ufw"], "ufw" in installed),
                "dirs": lines(out["dirs"].text),
                # the API only when this host serves NFS storages to PVE
                "storage": pve.storages(host.api) if nfs_desired(cfg) else {}}

    def plan(self, f: NfsFacts, cfg: HostConfig) -> Plan:
        n = cfg.config.nfs
        notes = [f"{HOST_ACCESS}NFS export {e.dataset}: {e.options} lets clients act as "
                 "root on it (allow_root_access)" for e in n.exports if e.allow_root_access]
        changes: list[Change] = []
        missing = [p for p in n.packages if p not in f["installed"]]
        if missing:
            changes.append(Change("NFS packages", "missing: " + " ".join(missing), "installed",
                                  apt_install(missing, update=True)))
        changes += keep_manual(n.packages, f["installed"], f["manual"])
        absent = [p for p in n.required_pools
                  if p not in f["pools"] and p not in cfg.config.zfs.enabled_pools()]
        if absent:
            raise StepRefused(f"NFS needs the pool(s) {', '.join(absent)}, which are neither on "
                             "the host nor enabled in zfs.pools")
        changes += dataset_mounts(cfg, [(f"NFS export {e.dataset}", e.dataset)
                                        for e in n.exports], f)
        changes += validated_file(EXPORTS, f["exports"], exports_text(cfg),
                                  f"{len(n.exports)} export(s)", ("exportfs", "-ra"),
                                  ("systemctl", "restart", "nfs-server"),
                                  ".bak.%Y-%m-%d_%H-%M-%S")
        rules = f["ufw"].rules
        if (n.subnet and not any(to in ("2049", "2049/tcp", "nfs") and src == n.subnet
                                 for to, src in rules)):
            changes.append(Change(f"firewall: NFS from {n.subnet}", "not allowed", "allowed",
                                  (Script(sh("ufw allow from {0} to any port nfs || "
                                             "{{ ufw allow from {0} to any port 111 && "
                                             "ufw allow from {0} to any port 2049; }}", n.subnet),
                                          "ufw allow nfs"),)))
        # last: PVE mounts an NFS storage when it is added, so its export must exist first
        changes += storage_changes(nfs_desired(cfg), f["storage"])
        return Plan(changes, notes)
