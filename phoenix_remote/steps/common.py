"""Small pieces the steps share: package queries, apt actions, whole-file changes."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.types import Change, InstallFile, Run
from phoenix_remote.errors import StepRefused
from phoenix_remote.host.shell import sh

APT_ENV = ("env", "DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_MODE=a")


def keep_manual(packages, installed: set[str], manual: set[str]) -> list[Change]:
    """Packages the config names that are installed but marked automatic (pulled in as a
    dependency): `apt autoremove` could take them. The original's unconditional
    `apt-get install` marked them manual; this does the same, and only when needed."""
    auto = [p for p in dict.fromkeys(packages) if p in installed and p not in manual]
    if not auto:
        return []
    return [Change("packages kept (apt-mark manual)", "automatic: " + " ".join(auto),
                   "manual", (Run(("apt-mark", "manual", *auto)),))]


def apt_install(packages, update: bool = False) -> tuple[Run, ...]:
    actions: tuple[Run, ...] = ()
    if update:
        actions += (Run((*APT_ENV, "apt-get", "update", "-q")),)
    return actions + (Run((*APT_ENV, "apt-get", "install", "-y", "-q", *packages)),)


def short_diff(before: str, after: str, limit: int = 12) -> str:
    diff = [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                  lineterm="", n=0)
            if not line.startswith(("---", "+++", "@@"))]
    more = f" (+{len(diff) - limit} more lines)" if len(diff) > limit else ""
    return "\n".join(diff[:limit]) + more


def with_lines(text: str, lines: list[str]) -> str:
    """`text` with `lines` appended, each on a line of its own (after a newline the text
    may lack at its end)."""
    lead = "" if not text or text.endswith("\n") else "\n"
    return text + lead + "".join(line + "\n" for line in lines)


def file_change(path: str, current: str | None, desired: str, mode: str = "0644",
                extra=(), *, summary: str | None = None, after: str | None = None,
                install: dict | None = None) -> Change | None:
    """A Change that makes the file's content exactly `desired` (backed up first); None
    when it already is. `install`: more of InstallFile's settings (a check, a reload, the
    backup's naming)."""
    if current == desired:
        return None
    before = "missing" if current is None else f"differs:\n{short_diff(current, desired)}"
    return Change(summary or f"{path} content", before,
                  after or f"{len(desired.splitlines())} lines as configured",
                  (InstallFile(path, desired, mode, **(install or {})), *extra))


def dirs_present(cfg: HostConfig, datasets: list[str]) -> str:
    """A probe printing each dataset whose mountpoint directory exists."""
    return " ; ".join(sh("test -d {} && echo {}", cfg.config.zfs.mountpoint(d), d)
                      for d in datasets) or "true"


def dataset_mounts(cfg: HostConfig, items: list[tuple[str, str]], f: Mapping[str, Any]
                   ) -> list[Change]:
    """Each (what, dataset) must exist on the host (or be created earlier in this apply by
    zfs_datasets); its mountpoint directory is ensured. f: "datasets" and "dirs" facts."""
    planned = cfg.config.zfs.planned_datasets()
    changes = []
    for what, dataset in items:
        if dataset not in f["datasets"]:
            if dataset in planned:
                continue  # created by zfs_datasets, earlier in the same apply
            pool = dataset.split("/")[0]
            have = [d for d in f["datasets"] if d.startswith(pool + "/")]
            raise StepRefused(f"{what}: dataset {dataset} does not exist; {pool} has: "
                             + (", ".join(have) or "no datasets"))
        if dataset not in f["dirs"]:
            mp = cfg.config.zfs.mountpoint(dataset)
            changes.append(Change(f"mountpoint {mp}", "missing", "directory",
                                  (Run(("mkdir", "-p", mp)),)))
    return changes


def validated_file(path: str, current: str | None, text: str, after: str,
                   check: tuple[str, ...], reload: tuple[str, ...], backup: str) -> list[Change]:
    """A config file whose new content must pass `check` before `reload` (the previous file
    is put back if it does not); no change when the content is already right."""
    change = file_change(path, current, text, summary=path, after=after,
                         install={"backup": backup, "check": check, "reload": reload})
    return [change] if change else []
