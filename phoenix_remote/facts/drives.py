"""What is on a drive before ZFS may take it: partitions, signatures, ZFS labels (of
exported pools too), holders and mounts. Read with lsblk, wipefs (listing only) and a
low-level blkid probe; a tool that fails on an existing drive makes the state unknown,
never "empty".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.host.batch import Out
from phoenix_remote.host.shell import sh


def commands(i: int, path: str) -> dict[str, str]:
    """The probe commands for drive number i (names are unique per drive)."""
    return {f"dev{i}": sh("readlink -e {}", path),
            f"lsblk{i}": sh("lsblk -J -b -o NAME,TYPE,FSTYPE,LABEL,MOUNTPOINT {}", path),
            f"wipefs{i}": sh("wipefs --no-act {}", path),  # lists; never erases
            f"blkid{i}": sh("blkid -p {}", path)}  # exit 2: nothing found


@dataclass(frozen=True)
class DriveFacts:
    path: str
    device: str | None  # None: the by-id path does not exist
    partitions: tuple[str, ...] = ()
    signatures: tuple[str, ...] = ()  # fstype/partition-table names, sorted
    zfs_labels: tuple[str, ...] = ()  # pool names found in ZFS labels
    holders: tuple[str, ...] = ()  # dm/md/lvm devices built on it
    mounts: tuple[str, ...] = ()

    @property
    def dirty(self) -> bool:
        return bool(self.partitions or self.signatures or self.holders or self.mounts)

    def describe(self) -> str:
        parts = [f"partitions: {', '.join(self.partitions) or 'none'}",
                 f"signatures: {', '.join(self.signatures) or 'none'}"]
        if self.zfs_labels:
            parts.append(f"ZFS label of pool {', '.join(self.zfs_labels)}")
        if self.holders:
            parts.append(f"held by {', '.join(self.holders)}")
        if self.mounts:
            parts.append(f"mounted on {', '.join(self.mounts)}")
        return "; ".join(parts)


def parse(i: int, path: str, out: dict[str, Out]) -> DriveFacts:
    dev = out[f"dev{i}"]
    if not dev.ok:
        return DriveFacts(path, None)
    lsblk, wipefs, blkid = out[f"lsblk{i}"], out[f"wipefs{i}"], out[f"blkid{i}"]
    for name, o in (("lsblk", lsblk), ("wipefs", wipefs)):
        if not o.ok:
            raise ProbeUnknown(f"{name} {path} exited {o.code}: cannot tell what is on it")
    if blkid.code not in (0, 2):
        raise ProbeUnknown(f"blkid -p {path} exited {blkid.code}: cannot tell what is on it")
    try:
        tree = json.loads(lsblk.text)["blockdevices"]
    except (ValueError, KeyError, TypeError):
        raise ProbeUnknown(f"lsblk {path}: unreadable output") from None
    partitions, holders, mounts, signatures, labels = [], [], [], set(), set()
    stack = list(tree)
    while stack:
        node = stack.pop()
        stack += node.get("children") or []
        kind = node.get("type")
        if kind == "part":
            partitions.append(node["name"])
        elif kind != "disk":
            holders.append(f"{node['name']} ({kind})")
        if node.get("fstype"):
            signatures.add(node["fstype"])
            if node["fstype"] == "zfs_member" and node.get("label"):
                labels.add(node["label"])
        if node.get("mountpoint"):
            mounts.append(node["mountpoint"])
    for line in wipefs.text.splitlines()[1:]:  # DEVICE OFFSET TYPE UUID LABEL
        cols = line.split()
        if len(cols) >= 3:
            signatures.add(cols[2])
    tags = dict(re.findall(r'(\w+)="([^"]*)"', blkid.text))
    for key in ("TYPE", "PTTYPE"):
        if tags.get(key):
            signatures.add(tags[key])
    if tags.get("TYPE") == "zfs_member" and tags.get("LABEL"):
        labels.add(tags["LABEL"])
    return DriveFacts(path, dev.text.strip(), tuple(sorted(partitions)), tuple(sorted(signatures)),
                      tuple(sorted(labels)), tuple(sorted(holders)), tuple(sorted(mounts)))
