"""Small pieces the steps share: package queries, apt actions, whole-file changes."""

from __future__ import annotations

import difflib

from phoenix_remote.engine.types import Change, Run, WriteFile
from phoenix_remote.host.ssh import quote

APT_ENV = ("env", "DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_MODE=a")


def dpkg_query(packages) -> str:
    """Shell command listing package states (unknown packages print nothing)."""
    return ("dpkg-query -W -f='${Package}\\t${db:Status-Status}\\n' "
            + quote(list(packages)) + " 2>/dev/null; true")


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


def file_change(path: str, current: str | None, desired: str, mode: str = "0644",
                extra=()) -> Change | None:
    """A Change that makes the file's content exactly `desired` (backed up first)."""
    if current == desired:
        return None
    before = "missing" if current is None else f"differs:\n{short_diff(current, desired)}"
    return Change(f"{path} content", before, f"{len(desired.splitlines())} lines as configured",
                  (WriteFile(path, desired, mode), *extra))


def q(value: str) -> str:
    return quote([value])
