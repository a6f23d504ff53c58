"""Which Debian packages are installed, and which apt counts as installed by hand.

dpkg-query exits 1 when some of the names it was asked about are unknown (not installed
here): that is an answer. Any other failure (no dpkg-query, a broken database) makes the
state unknown, never "nothing installed".
"""

from __future__ import annotations

from collections.abc import Iterable

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts.parsers import dpkg_installed
from phoenix_remote.host.batch import Out
from phoenix_remote.host.shell import quote

ANSWERED = (0, 1)  # dpkg-query: all found / some unknown
# -s simulates; empty cache paths keep apt from rebuilding its caches on disk
UPGRADES = ("apt-get -s -o Debug::NoLocking=1 -o Dir::Cache::pkgcache= "
            "-o Dir::Cache::srcpkgcache= dist-upgrade")


def installed_query(names: Iterable[str]) -> str:
    """Names may be glob patterns (e.g. 'proxmox-headers-*')."""
    return "dpkg-query -W -f='${Package}\\t${db:Status-Status}\\n' " + quote(list(names))


def installed(out: Out) -> set[str]:
    if out.code not in ANSWERED:
        raise ProbeUnknown(f"dpkg-query exited {out.code}: cannot tell which packages are "
                           "installed")
    return dpkg_installed(out.text)


def manual_query(names: Iterable[str]) -> str:
    """Which of these packages apt counts as installed by hand (read-only)."""
    return "apt-mark showmanual " + quote(list(names))


def manual(out: Out) -> set[str]:
    if not out.ok:
        raise ProbeUnknown(f"apt-mark showmanual exited {out.code}")
    return set(out.text.split())


def upgrades(out: Out) -> int:
    """How many packages `apt-get -s dist-upgrade` would install or upgrade. A failing apt
    must not read as "nothing to upgrade"."""
    if not out.ok:
        raise ProbeUnknown(f"apt-get -s dist-upgrade exited {out.code}")
    return sum(line.startswith("Inst ") for line in out.text.splitlines())
