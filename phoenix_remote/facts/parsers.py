"""Pure parsers of machine-readable command output (table-tested in tests/facts/)."""

from __future__ import annotations

import re


def dpkg_installed(text: str) -> set[str]:
    """`dpkg-query -W -f='${Package}\\t${db:Status-Status}\\n' ...` -> installed names."""
    out = set()
    for line in text.splitlines():
        name, _, status = line.partition("\t")
        if status.strip() == "installed":
            out.add(name.split(":")[0])
    return out


def zfs_props(text: str) -> dict[str, dict[str, tuple[str, str]]]:
    """`zfs get -H -o name,property,value,source ...` -> {dataset: {prop: (value, source)}}."""
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            out.setdefault(parts[0], {})[parts[1]] = (parts[2], parts[3])
    return out


def lines(text: str) -> list[str]:
    return [x.strip() for x in text.splitlines() if x.strip()]


def ufw_status(text: str) -> tuple[bool, set[tuple[str, str]]]:
    """`ufw status [verbose]` -> (active, {(to, from)}) for ALLOW rules. v6 twins fold into
    one; "22/tcp (OpenSSH)" (an app profile, verbose form) counts as both names."""
    active = bool(re.search(r"^Status: active", text, re.M))
    rules = set()
    for line in text.splitlines():
        m = re.match(r"^(.+?)\s+ALLOW(?: IN)?\s+(.+?)\s*$", line)
        if not m:
            continue
        to = m.group(1).replace(" (v6)", "").strip()
        src = "Anywhere" if m.group(2).startswith("Anywhere") else m.group(2).replace(" (v6)", "")
        app = re.match(r"^(\S+) \((.+)\)$", to)
        for name in (app.groups() if app else (to,)):
            rules.add((name, src))
    return active, rules


def exports(text: str) -> list[str]:
    """/etc/exports -> its export lines (comments and blanks dropped)."""
    return [x.strip() for x in text.splitlines() if x.strip() and not x.strip().startswith("#")]


def passwd_entry(text: str) -> dict[str, str] | None:
    parts = text.strip().split(":")
    if len(parts) < 7:
        return None
    return {"name": parts[0], "uid": parts[2], "gid": parts[3], "home": parts[5],
            "shell": parts[6]}


def pdbedit_hash(text: str, user: str) -> str | None:
    """`pdbedit -L -w` line for user -> NT hash (uppercase hex) or None."""
    for line in text.splitlines():
        parts = line.split(":")
        if parts[0] == user and len(parts) > 3:
            return parts[3].upper()
    return None
