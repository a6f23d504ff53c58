"""Step 5, phoenix_setup_zfs_pools.sh: the pools, from inventory drives that hold no data
(unless wipe: true), and their pool and root-dataset properties."""

from __future__ import annotations

import os

from typing_extensions import TypedDict

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import Change, Plan, Run
from phoenix_remote.errors import StepRefused
from phoenix_remote.facts import drives as drive_facts
from phoenix_remote.facts import zfs
from phoenix_remote.facts.drives import DriveFacts
from phoenix_remote.host.batch import Out


class ZfsPoolsFacts(TypedDict):
    pools: list[str]
    status: str
    pool_props: zfs.ZfsProps
    fs_props: zfs.ZfsProps
    drives: dict[str, DriveFacts]


class ZfsPools(Step):
    id = "zfs_pools"
    title = "ZFS pools"
    facts_model = ZfsPoolsFacts

    def inputs(self, cfg: HostConfig) -> dict:
        z = cfg.config.zfs
        return {"pools": {k: v.model_dump() for k, v in cfg.config.zfs.enabled_pools().items()},
                "pool_options": z.pool_options, "fs_options": z.filesystem_options,
                "drives": {k: [d.model_dump() for d in v] for k, v in cfg.drives.items()}}

    @staticmethod
    def _drives(cfg: HostConfig) -> list:
        return [d for name, items in cfg.drives.items() for d in items
                if name in cfg.config.zfs.enabled_pools()]

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        z = cfg.config.zfs
        cmds = {"pools": zfs.POOLS, "status": zfs.STATUS,
                "pool_props": zfs.pool_props_query(z.pool_options or ["autotrim"]),
                "fs_props": zfs.props_query(z.filesystem_options or ["compression"], "-d 0")}
        for i, d in enumerate(self._drives(cfg)):
            cmds.update(drive_facts.commands(i, d.path))
        return cmds

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> ZfsPoolsFacts:
        drives = self._drives(cfg)
        return {"pools": zfs.names(out["pools"]), "status": zfs.status(out["status"]),
                "pool_props": zfs.props(out["pool_props"]),
                "fs_props": zfs.props(out["fs_props"]),
                "drives": {d.path: drive_facts.parse(i, d.path, out)
                           for i, d in enumerate(drives)}}

    def plan(self, f: ZfsPoolsFacts, cfg: HostConfig) -> Plan:
        z = cfg.config.zfs
        changes: list[Change] = []
        for name, pool in cfg.config.zfs.enabled_pools().items():
            if name in f["pools"]:
                changes += self.drift(name, f, cfg)
                continue
            drives = cfg.drives.get(name, ())
            if len(drives) != pool.drive_count:
                raise StepRefused(f"pool {name} needs {pool.drive_count} drive(s) in the "
                                 f"inventory (drives.{name}), found {len(drives)}")
            actions: tuple = ()
            destroyed = []
            for d in drives:
                info: DriveFacts = f["drives"][d.path]
                if info.device is None:
                    raise StepRefused(f"drive {d.path} for pool {name} does not exist on the "
                                     "host; check the by-id path (phoenix disks HOST)")
                base = os.path.basename(d.path)
                if base in f["status"] or os.path.basename(info.device) in f["status"]:
                    raise StepRefused(f"drive {d.path} is already in use by another ZFS pool")
                if info.holders or info.mounts:
                    raise StepRefused(f"drive {d.path} for pool {name} is in use "
                                     f"({info.describe()}); never wiped, even with wipe: true")
                if info.dirty and not d.wipe:
                    raise StepRefused(
                        f"drive {d.path} for pool {name} is not empty ({info.describe()}); "
                        "refusing to destroy it. Set wipe: true for this drive in the "
                        "inventory to allow it")
                if info.dirty:
                    destroyed.append(f"{base} ({info.describe()})")
                    for part in info.partitions:  # partitions first, then the table
                        actions += (Run(("wipefs", "-a", f"/dev/{part}")),)
                    actions += (Run(("wipefs", "-a", d.path)),)
            # -f only for drives we wiped on purpose: ZFS's own check stays on otherwise
            argv = ["zpool", "create", *(["-f"] if destroyed else [])]
            for k, v in z.pool_options.items():
                argv += ["-o", f"{k}={v}"]
            for k, v in z.filesystem_options.items():
                argv += ["-O", f"{k}={v}"]
            argv.append(name)
            if pool.layout == "mirror":
                argv.append("mirror")
            argv += [d.path for d in drives]
            changes.append(Change(f"pool {name}", "missing" + (
                "; WILL DESTROY: " + "; ".join(destroyed) if destroyed else ""),
                f"{pool.layout} of " + ", ".join(os.path.basename(d.path) for d in drives),
                (*actions, Run(tuple(argv)))))
        return Plan(changes)

    def drift(self, name: str, f: ZfsPoolsFacts, cfg: HostConfig) -> list[Change]:
        z = cfg.config.zfs
        out = []
        for k, v in z.pool_options.items():
            have = f["pool_props"].get(name, {}).get(k, ("?", ""))[0]
            if have != v:
                out.append(Change(f"pool {name} {k}", have, v,
                                  (Run(("zpool", "set", f"{k}={v}", name)),)))
        for k, v in z.filesystem_options.items():
            have, source = f["fs_props"].get(name, {}).get(k, ("?", ""))
            if have != v or source != "local":
                out.append(Change(f"dataset {name} {k}", f"{have} ({source})", f"{v} (local)",
                                  (Run(("zfs", "set", f"{k}={v}", name)),)))
        return out
