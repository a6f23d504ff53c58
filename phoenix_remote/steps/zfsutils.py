"""Step 4: the zfsutils-linux package (installed, and kept marked manual)."""

from __future__ import annotations

from typing_extensions import TypedDict

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import Change, Plan
from phoenix_remote.facts import packages
from phoenix_remote.host.batch import Out
from phoenix_remote.steps.common import apt_install, keep_manual


class ZfsUtilsFacts(TypedDict):
    installed: set[str]
    manual: set[str]


class ZfsUtils(Step):
    id = "zfsutils"
    title = "zfsutils-linux package"
    facts_model = ZfsUtilsFacts

    def inputs(self, cfg: HostConfig) -> dict:
        return {"package": cfg.config.zfs.package}

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        return {"pkgs": packages.installed_query([cfg.config.zfs.package]),
                "manual": packages.manual_query([cfg.config.zfs.package])}

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> ZfsUtilsFacts:
        return {"installed": packages.installed(out["pkgs"]),
                "manual": packages.manual(out["manual"])}

    def plan(self, f: ZfsUtilsFacts, cfg: HostConfig) -> Plan:
        pkg = cfg.config.zfs.package
        if pkg in f["installed"]:
            return Plan(keep_manual([pkg], f["installed"], f["manual"]))
        return Plan([Change(f"package {pkg}", "not installed", "installed",
                            apt_install([pkg], update=True))])
