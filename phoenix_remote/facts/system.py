"""The node itself: which PVE, Debian and kernel it runs, its name and its clock. Each of
these always has an answer on a PVE node, so a failing read is unknown."""

from __future__ import annotations

import re

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.host.batch import Out

PVEVERSION = "pveversion"
DEBIAN = "cat /etc/debian_version"
KERNEL = "uname -r"
HOSTNAME = "hostnamectl --static || cat /etc/hostname"
TIMEZONE = "timedatectl show -p Timezone --value"


def _answer(out: Out, what: str) -> str:
    text = out.text.strip()
    if out.ok and text:
        return text
    raise ProbeUnknown(f"{what} gave no answer (exit {out.code})")


def pve_major(out: Out) -> int:
    """`pve-manager/8.4.1/2a5fa54a8503f96d (running kernel: ...)` -> 8."""
    m = re.search(r"pve-manager/(\d+)\.", _answer(out, PVEVERSION))
    if m is None:
        raise ProbeUnknown(f"pveversion printed no pve-manager version: {out.text[:80]!r}")
    return int(m.group(1))


def debian(out: Out) -> str:
    return _answer(out, DEBIAN)


def kernel(out: Out) -> str:
    return _answer(out, KERNEL)


def hostname(out: Out) -> str:
    return _answer(out, "hostnamectl --static")


def timezone(out: Out) -> str:
    return _answer(out, TIMEZONE)
