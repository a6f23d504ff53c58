"""ZFS state as `zpool`/`zfs` print it (-H: tab-separated, no header). These tools print
nothing and exit 0 when there are no pools or datasets; any failure (no zpool command, a
hung kernel module) makes the state unknown, never "no pools".
"""

from __future__ import annotations

from collections.abc import Iterable

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts.parsers import lines, zfs_props
from phoenix_remote.host.batch import Out

ZfsProps = dict[str, dict[str, tuple[str, str]]]  # {pool or dataset: {prop: (value, source)}}

POOLS = "zpool list -H -o name"
STATUS = "zpool status"
FILESYSTEMS = "zfs list -H -o name -t filesystem"


def pool_props_query(props: Iterable[str]) -> str:
    return "zpool get -H -o name,property,value,source " + ",".join(props)


def props_query(props: Iterable[str], scope: str = "-t filesystem") -> str:
    """`scope`: "-t filesystem" (every filesystem) or "-d 0" (each pool's root dataset)."""
    return f"zfs get -H {scope} -o name,property,value,source " + ",".join(props)


def _answered(out: Out, what: str) -> str:
    if not out.ok:
        raise ProbeUnknown(f"{what} exited {out.code}: cannot tell the ZFS state")
    return out.text


def names(out: Out, what: str = "zpool/zfs list") -> list[str]:
    return lines(_answered(out, what))


def props(out: Out, what: str = "zfs/zpool get") -> ZfsProps:
    """{dataset or pool: {property: (value, source)}}"""
    return zfs_props(_answered(out, what))


def status(out: Out) -> str:
    return _answered(out, "zpool status")
