"""Where config values may point on a host, and which identities they may name.

A config or inventory is input like any other: a repository file of /etc/passwd, a dataset
mounted over /etc, a Samba user `root` or a logrotate script would all be carried out as
root. Each field gets an allowed set here (documented in the schema's descriptions too).
"""

from __future__ import annotations

import re
import string
from posixpath import normpath

from phoenix_remote.config import zfs_properties
from phoenix_remote.config.models import HypervisorConfig
from phoenix_remote.errors import Problem

# A dataset may not be mounted on, above or below these: the system, PVE's own state
# (pmxcfs lives in /var/lib/pve-cluster and shows as /etc/pve), package and boot state.
PROTECTED = ("/etc", "/usr", "/boot", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
             "/proc", "/sys", "/dev", "/run", "/root", "/tmp", "/var/lib/pve-cluster",
             "/var/lib/dpkg", "/var/lib/apt", "/var/lib/phoenix_remote", "/var/log",
             "/var/cache/apt")
# accounts of the base system and PVE: never an admin or a Samba user
SYSTEM_USERS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "backup", "list", "irc", "gnats", "nobody", "_apt", "sshd",
    "messagebus", "postfix", "ntp", "_chrony", "_rpc", "statd", "tss", "systemd-network",
    "systemd-resolve", "systemd-timesync", "systemd-coredump", "ceph", "nut"})
APT_LIST = re.compile(r"^/etc/apt/sources\.list\.d/[A-Za-z0-9_][A-Za-z0-9_.-]*\.(list|sources)$")
NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
# logrotate(8) directives that only describe rotation; anything that runs a program
# (postrotate, prerotate, firstaction, lastaction, compresscmd, mail, ...) is refused
LOGROTATE = re.compile(
    r"^(hourly|daily|weekly|monthly|yearly|compress|nocompress|delaycompress|"
    r"nodelaycompress|missingok|nomissingok|notifempty|ifempty|copytruncate|nocopytruncate|"
    r"nocreate|dateext|nodateext|dateyesterday|shred|noshred|nomail|nosharedscripts|"
    r"(rotate|maxage|start|shredcycles) [0-9]{1,5}|"
    r"(size|minsize|maxsize) [0-9]{1,12}[kMG]?|"
    r"create( 0?[0-7]{3}( [a-z_][a-z0-9_-]*( [a-z_][a-z0-9_-]*)?)?)?|"
    r"su [a-z_][a-z0-9_-]* [a-z_][a-z0-9_-]*|"
    r"dateformat [-%A-Za-z0-9_.]+)$")


def _path_problem(path: str, pattern: re.Pattern | str, expected: str) -> str | None:
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    if not rx.match(path) or normpath(path) != path or "/../" in path + "/":
        return f"found {path!r}, expected {expected}"
    return None


def _protected(path: str) -> str | None:
    """The protected location `path` is on, under, or above; None when it is safe."""
    p = normpath(path)
    if p == "/":
        return "/"
    for prot in PROTECTED:
        if p == prot or p.startswith(prot + "/") or prot.startswith(p + "/"):
            return prot
    return None


def path_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    out: list[Problem] = []

    def check(where: str, value: str, pattern: str | re.Pattern, expected: str) -> None:
        if why := _path_problem(value, pattern, expected):
            out.append(Problem(src, where, why))

    c = cfg
    check("$.apt.sources_list", c.apt.sources_list,
          r"^/etc/apt/sources\.list$|" + APT_LIST.pattern,
          "/etc/apt/sources.list or /etc/apt/sources.list.d/NAME.list")
    for i, path in enumerate(c.apt.disable_lists):
        check(f"$.apt.disable_lists[{i}]", path, APT_LIST,
              "a file directly in /etc/apt/sources.list.d/ ending in .list or .sources")
    for at, nv in c.nvidia.variants_at():
        check(f"{at}.repository_file", nv.repository_file, APT_LIST,
              "/etc/apt/sources.list.d/NAME.list or NAME.sources")
        check(f"{at}.repository_keyring", nv.repository_keyring,
              rf"^(/etc/apt/trusted\.gpg\.d|/usr/share/keyrings)/{NAME}\.gpg$",
              "/etc/apt/trusted.gpg.d/NAME.gpg or /usr/share/keyrings/NAME.gpg")
        check(f"{at}.blacklist_file", nv.blacklist_file,
              rf"^/etc/modprobe\.d/{NAME}\.conf$", "/etc/modprobe.d/NAME.conf")
    check("$.logging.log_file", c.logging.log_file, rf"^/var/log/{NAME}(/{NAME})*$",
          "a file under /var/log/")
    check("$.logging.logrotate_file", c.logging.logrotate_file,
          r"^/etc/logrotate\.d/[A-Za-z0-9_-]+$", "/etc/logrotate.d/NAME (letters, digits, "
          "_ and - only: logrotate skips other names)")
    check("$.ledger_path", c.ledger_path, rf"^/var/lib/{NAME}(/{NAME})*\.json$",
          "a .json file under /var/lib/")
    if _protected(c.state_dir) not in (None, "/var/lib/phoenix_remote"):
        out.append(Problem(src, "$.ledger_path", f"{c.ledger_path} is inside system state"))
    check("$.admin_user.shell", c.admin_user.shell,
          r"^/(usr/)?s?bin/[a-z][a-z0-9]*$", "a login shell such as /bin/bash")
    if c.admin_user.ssh_public_key_file is not None and (
            c.admin_user.ssh_public_key_file.startswith("-")
            or not c.admin_user.ssh_public_key_file.strip()):
        out.append(Problem(src, "$.admin_user.ssh_public_key_file",
                           "expected the path of an OpenSSH public key file"))
    check("$.admin_user.pve_acl_path", c.admin_user.pve_acl_path,
          r"^/([A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)?$", "a PVE ACL path such as / or /vms/100")
    for i, line in enumerate(c.logging.logrotate):
        if not LOGROTATE.match(line):
            out.append(Problem(src, f"$.logging.logrotate[{i}]",
                               f"found {line!r}: not an allowed logrotate directive (rotation "
                               "settings only; scripts such as postrotate are refused)"))
    if prot := _protected(c.storage.nfs_mount_base):
        out.append(Problem(src, "$.storage.nfs_mount_base",
                           f"{c.storage.nfs_mount_base} is on or around {prot}"))
    for name, where in ((c.admin_user.username, "$.admin_user.username"),
                        (c.samba.user, "$.samba.user")):
        if name in SYSTEM_USERS or name.startswith("systemd-"):
            out.append(Problem(src, where, f"{name!r} is a system account; name an "
                                           "account of its own"))
    if c.admin_user.group in ("root", "shadow", "disk"):
        out.append(Problem(src, "$.admin_user.group", f"{c.admin_user.group!r} would give "
                                                      "raw access to the system; use sudo"))
    return out


def mountpoint_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    z = cfg.zfs
    try:
        fields = [f for _, f, spec, conv in string.Formatter().parse(z.mountpoint_rule)
                  if f is not None and (f not in ("pool", "dataset") or spec or conv)]
    except ValueError as e:
        return [Problem(src, "$.zfs.mountpoint_rule", f"found {z.mountpoint_rule!r}: {e}; "
                                                      "use {pool} and {dataset}")]
    if fields:
        return [Problem(src, "$.zfs.mountpoint_rule",
                        f"unknown placeholder(s) {', '.join(map(repr, fields))}; only {{pool}} "
                        "and {dataset} are replaced")]
    where = "$.zfs.mountpoint_rule"
    seen: dict[str, str] = {}
    for path in z.dataset_paths():  # the first bad mountpoint is enough to show the rule
        mp = z.mountpoint(path)
        if normpath(mp) != mp or not mp.startswith("/"):
            return [Problem(src, where, f"gives {path} the mountpoint {mp!r}, which is not a "
                                        "clean absolute path")]
        if prot := _protected(mp):
            return [Problem(src, where, f"gives {path} the mountpoint {mp}, on or around "
                                        f"{prot}: a dataset there would hide system files")]
        if mp in seen:
            return [Problem(src, where, f"gives {path} and {seen[mp]} the same mountpoint "
                                        f"{mp}; include {{pool}} or rename a dataset")]
        seen[mp] = path
    return []


RESERVED_POOLS = ("mirror", "raidz", "raidz1", "raidz2", "raidz3", "draid", "spare", "log",
                  "cache", "special", "dedup")


def zfs_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    z = cfg.zfs
    out: list[Problem] = []
    for name in z.pools:
        if name.lower().startswith(RESERVED_POOLS) or name.startswith(("c0", "c1")):
            out.append(Problem(src, f"$.zfs.pools.{name}", f"{name!r} is a name ZFS reserves "
                                                           "(a vdev type); choose another"))
    for table, items, where in ((zfs_properties.POOL, z.pool_options, "$.zfs.pool_options"),
                                (zfs_properties.DATASET, z.filesystem_options,
                                 "$.zfs.filesystem_options")):
        for k, v in items.items():
            if why := zfs_properties.problem(k, v, table):
                out.append(Problem(src, f"{where}.{k}", why))
    for pool, sets in z.datasets.items():
        for name, props in sets.items():
            for k, v in props.items():
                if why := zfs_properties.problem(k, v, zfs_properties.DATASET):
                    out.append(Problem(src, f"$.zfs.datasets.{pool}.{name}.{k}", why))
    return out


def safety_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    return path_problems(cfg, src) + mountpoint_problems(cfg, src) + zfs_problems(cfg, src)
