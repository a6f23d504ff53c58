"""Step 7, phoenix_create_storage.sh: Proxmox storage definitions for the datasets, through
the API (the original's `pvesm status | grep` existence test never matched)."""

from __future__ import annotations

from typing_extensions import TypedDict

from phoenix_remote.config.checks import storage_rules
from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import Api, Change, Plan
from phoenix_remote.errors import StepRefused
from phoenix_remote.facts import pve, zfs
from phoenix_remote.host.batch import Out


def nfs_desired(cfg: HostConfig) -> dict[str, dict]:
    """The NFS storages PVE should hold: one per dataset typed `nfs` in an enabled pool,
    served by this host from its address in nfs.subnet (the NFS step registers them once
    its exports are in place; validation makes sure each such dataset is exported)."""
    z, s = cfg.config.zfs, cfg.config.storage
    out = {}
    for dataset, kind, sid, content in s.defined(z):
        if kind != "nfs":
            continue
        out[sid] = {"type": "nfs", "server": cfg.config.network.ip,
                    "export": z.mountpoint(dataset), "path": f"{s.nfs_mount_base}/{sid}",
                    "options": s.nfs_mount_options, "content": ",".join(sorted(content)),
                    "disable": 0}
    return out


def desired(cfg: HostConfig) -> dict[str, dict]:
    """storage id -> the definition PVE should hold (zfspool and dir types; nfs is the NFS
    step's)."""
    z, s = cfg.config.zfs, cfg.config.storage
    out = {}
    for dataset, kind, sid, content in s.defined(z):
        if kind == "zfspool":
            out[sid] = {"type": "zfspool", "pool": dataset, "content": ",".join(sorted(content)),
                        "disable": 0}
        elif kind == "dir":
            out[sid] = {"type": "dir", "path": z.mountpoint(dataset),
                        "content": ",".join(sorted(content)), "disable": 0, "shared": 1}
    return out


class StorageFacts(TypedDict):
    datasets: list[str]
    storage: dict[str, pve.Record]


class Storage(Step):
    id = "storage"
    title = "Proxmox storage definitions"
    facts_model = StorageFacts

    def inputs(self, cfg: HostConfig) -> dict:
        return {"desired": desired(cfg)}

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        return {"datasets": zfs.FILESYSTEMS}

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> StorageFacts:
        return {"datasets": zfs.names(out["datasets"]), "storage": pve.storages(host.api)}

    def plan(self, f: StorageFacts, cfg: HostConfig) -> Plan:
        return Plan(storage_changes(desired(cfg), f["storage"]))


def storage_changes(wanted: dict[str, dict], storages: dict[str, dict]) -> list[Change]:
    """Create what is missing, update what differs (PUT only the changed options), refuse
    what PVE cannot change (type, fixed options) with the fix."""
    rules = storage_rules()
    changes = []
    for sid, want in wanted.items():
        have = storages.get(sid)
        if have is None:
            params = {"storage": sid, **want}
            changes.append(Change(f"storage {sid}", "missing", _show(want),
                                  (Api("POST", "/storage", params),)))
            continue
        if have["type"] != want["type"]:
            raise StepRefused(f"storage {sid} exists as type {have['type']}, the config "
                             f"wants {want['type']}: remove or rename it first")
        fixed = [k for k in rules[want["type"]]["fixed"] if str(have.get(k)) != str(want[k])]
        if fixed:
            k = fixed[0]
            raise StepRefused(f"storage {sid} has {k}={have.get(k)}, the config wants "
                             f"{want[k]}; PVE cannot change '{k}': remove the storage "
                             "(pvesm remove) and rerun")
        update = {k: v for k, v in want.items()
                  if k not in ("type", *rules[want["type"]]["fixed"])
                  and _norm(k, have.get(k)) != _norm(k, v)}
        if update:
            changes.append(Change(f"storage {sid}", _show({k: have.get(k) for k in update}),
                                  _show(update), (Api("PUT", f"/storage/{sid}", update),)))
    return changes


def _norm(key: str, value) -> str:
    if value is None:
        return "0" if key in ("disable", "shared") else ""
    if key == "content":
        return ",".join(sorted(str(value).split(",")))
    return str(value)


def _show(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items())
