"""Step 6, phoenix_setup_zfs_datasets.sh: datasets with their properties and the one
mountpoint rule; property drift is repaired, create-only properties refused."""

from __future__ import annotations

from typing_extensions import TypedDict

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import Change, Plan, Run
from phoenix_remote.errors import StepRefused
from phoenix_remote.facts import zfs
from phoenix_remote.host.batch import Out

CREATE_ONLY = ("casesensitivity", "normalization", "utf8only", "encryption")


class ZfsDatasetsFacts(TypedDict):
    pools: list[str]
    props: zfs.ZfsProps


class ZfsDatasets(Step):
    id = "zfs_datasets"
    title = "ZFS datasets and properties"
    facts_model = ZfsDatasetsFacts

    def inputs(self, cfg: HostConfig) -> dict:
        z = cfg.config.zfs
        return {"datasets": z.datasets, "rule": z.mountpoint_rule,
                "pools": list(cfg.config.zfs.enabled_pools())}

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        props = sorted({p for sets in cfg.config.zfs.datasets.values()
                        for d in sets.values() for p in d} | {"mountpoint"})
        return {"pools": zfs.POOLS, "props": zfs.props_query(props)}

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> ZfsDatasetsFacts:
        return {"pools": zfs.names(out["pools"]), "props": zfs.props(out["props"])}

    def plan(self, f: ZfsDatasetsFacts, cfg: HostConfig) -> Plan:
        z = cfg.config.zfs
        changes: list[Change] = []
        notes = []
        for pool, sets in z.datasets.items():
            if pool not in cfg.config.zfs.enabled_pools():
                notes.append(f"pool {pool} is disabled: its datasets are skipped")
                continue
            for name, props in sets.items():
                path = f"{pool}/{name}"
                want = {"mountpoint": z.mountpoint(path), **props}
                have = f["props"].get(path)
                if have is None:
                    argv = ["zfs", "create"]
                    for k, v in want.items():
                        argv += ["-o", f"{k}={v}"]
                    changes.append(Change(f"dataset {path}", "missing", ", ".join(
                        f"{k}={v}" for k, v in want.items()), (Run((*argv, path)),)))
                    continue
                for k, v in want.items():
                    value, source = have.get(k, ("?", "?"))
                    if k in CREATE_ONLY and value != v:
                        raise StepRefused(f"dataset {path} has {k}={value}, the config wants {v}; "
                                         f"ZFS sets {k} only at creation: recreate the dataset "
                                         "(after moving its data) or change the config")
                    if value != v or source != "local":
                        changes.append(Change(f"dataset {path} {k}", f"{value} ({source})",
                                              f"{v} (local)",
                                              (Run(("zfs", "set", f"{k}={v}", path)),)))
        return Plan(changes, notes)
