"""ZFS property names and values as OpenZFS 2.2 (PVE 8) and 2.3 (PVE 9) accept them
(zfsprops(7), zpoolprops(7)), so a bad value fails `phoenix validate`, not `zfs set`
in the middle of an apply. Each check returns None when valid, else what is expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Check = Callable[[str], "str | None"]

SIZE = re.compile(r"^(0|[1-9][0-9]*)(\.[0-9]+)?([KMGTPEZ]i?B?|B)?$", re.I)
USER_PROP = re.compile(r"^[a-z0-9_.-]+:[a-z0-9_.:-]+$")
UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def one_of(*values: str) -> Check:
    allowed = frozenset(values)
    return lambda v: None if v in allowed else "one of " + ", ".join(values)


ON_OFF = one_of("on", "off")


def size(*words: str) -> Check:
    def check(v: str) -> str | None:
        if v in words or SIZE.match(v):
            return None
        alt = " or " + " or ".join(words) if words else ""
        return f"a size such as 400G, 1.5T or 512M{alt}"
    return check


def power_of_two(low: int, high: int, *words: str) -> Check:
    def check(v: str) -> str | None:
        if v in words:
            return None
        m = re.match(r"^([0-9]+)([KMGT]?)B?$", v, re.I)
        n = int(m.group(1)) * UNITS[m.group(2).upper()] if m else 0
        if m and low <= n <= high and n & (n - 1) == 0:
            return None
        alt = " or " + " or ".join(words) if words else ""
        return f"a power of two from {low} to {high >> 20}M (e.g. 128K){alt}"
    return check


def compression(v: str) -> str | None:
    ok = (v in ("on", "off", "lzjb", "gzip", "zle", "lz4", "zstd", "zstd-fast")
          or re.fullmatch(r"gzip-[1-9]", v) or re.fullmatch(r"zstd-([1-9]|1[0-9])", v)
          or re.fullmatch(r"zstd-fast-([1-9]|10|[2-9]0|100|500|1000)", v))
    return None if ok else ("on, off, lz4, zstd, zstd-1..19, zstd-fast[-N], gzip, gzip-1..9, "
                            "lzjb or zle")


HASHES = ("sha256", "sha512", "skein", "edonr", "blake3")


def dedup(v: str) -> str | None:
    head, _, tail = v.partition(",")
    if (v in ("on", "off", "verify") or (head in HASHES and tail in ("", "verify"))) \
            and v != "edonr":  # edonr is allowed only with verify
        return None
    return "on, off, verify, or a hash (" + ", ".join(HASHES) + ") optionally with ,verify"


def user_value(v: str) -> str | None:
    return None if len(v) <= 8192 else "at most 8192 characters"


# zfsprops(7): properties a filesystem may be given with `zfs create -o` / `zfs set`.
# `mountpoint` is not here: it comes from zfs.mountpoint_rule.
DATASET: dict[str, Check] = {
    "aclinherit": one_of("discard", "noallow", "restricted", "passthrough", "passthrough-x"),
    "aclmode": one_of("discard", "groupmask", "passthrough", "restricted"),
    "acltype": one_of("off", "noacl", "nfsv4", "posix", "posixacl"),
    "atime": ON_OFF, "relatime": ON_OFF, "readonly": ON_OFF, "setuid": ON_OFF,
    "exec": ON_OFF, "devices": ON_OFF, "overlay": ON_OFF, "zoned": ON_OFF, "vscan": ON_OFF,
    "nbmand": ON_OFF, "utf8only": ON_OFF,
    "canmount": one_of("on", "off", "noauto"),
    "casesensitivity": one_of("sensitive", "insensitive", "mixed"),
    "checksum": one_of("on", "off", "fletcher2", "fletcher4", "noparity", *HASHES),
    "compression": compression,
    "copies": one_of("1", "2", "3"),
    "dedup": dedup,
    "dnodesize": one_of("legacy", "auto", "1k", "2k", "4k", "8k", "16k"),
    "encryption": one_of("off", "on", "aes-128-ccm", "aes-192-ccm", "aes-256-ccm",
                         "aes-128-gcm", "aes-192-gcm", "aes-256-gcm"),
    "logbias": one_of("latency", "throughput"),
    "normalization": one_of("none", "formC", "formD", "formKC", "formKD"),
    "primarycache": one_of("all", "none", "metadata"),
    "secondarycache": one_of("all", "none", "metadata"),
    "quota": size("none"), "refquota": size("none"),
    "reservation": size("none"), "refreservation": size("none", "auto"),
    "recordsize": power_of_two(512, 16 << 20),
    "special_small_blocks": power_of_two(512, 16 << 20, "0"),
    "redundant_metadata": one_of("all", "most", "some", "none"),
    "snapdev": one_of("hidden", "visible"),
    "snapdir": one_of("hidden", "visible", "disabled"),
    "sync": one_of("standard", "always", "disabled"),
    "xattr": one_of("on", "off", "dir", "sa"),
    "sharenfs": one_of("off"), "sharesmb": one_of("off"),  # the nfs and samba steps share
    "filesystem_limit": size("none"), "snapshot_limit": size("none"),
}

# zpoolprops(7): what `zpool create -o` and `zpool set` take.
POOL: dict[str, Check] = {
    "ashift": one_of("0", *map(str, range(9, 17))),
    "autotrim": ON_OFF, "autoexpand": ON_OFF, "autoreplace": ON_OFF,
    "listsnapshots": ON_OFF, "delegation": ON_OFF, "multihost": ON_OFF,
    "failmode": one_of("wait", "continue", "panic"),
    "compatibility": lambda v: None if re.fullmatch(
        r"(off|legacy|[a-z0-9.-]+(,[a-z0-9.-]+)*)", v) else
    "off, legacy, or feature-set names such as openzfs-2.2-linux",
    "comment": lambda v: None if len(v) <= 32 else "at most 32 characters",
}


def problem(name: str, value: str, table: dict[str, Check]) -> str | None:
    """What is wrong with `name=value`, or None."""
    if USER_PROP.match(name):
        return None if (why := user_value(value)) is None else f"user property {why}"
    if table is POOL and name.startswith("feature@"):
        return None if value in ("enabled", "disabled") else "enabled or disabled"
    check = table.get(name)
    if check is None:
        kind = "pool" if table is POOL else "dataset"
        return (f"{name!r} is not a settable ZFS {kind} property (OpenZFS 2.2/2.3); known: "
                + ", ".join(sorted(table)) + ", or a user property module:name")
    why = check(value)
    return None if why is None else f"{name}={value!r} is not valid; expected {why}"
