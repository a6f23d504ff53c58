#!/usr/bin/python3
"""zpool / zfs stand-in for sandbox hosts (the kernel here cannot load ZFS).

Installed as /usr/sbin/zpool and /usr/sbin/zfs. Keeps pools and datasets in
/var/lib/sandbox/zfs.json, labels drives in drives.json, creates mountpoint
directories, and prints what OpenZFS 2.1 prints: -H/-p/-o columns, property
sources (local / default / inherited from X / -), error wording and exit codes.
"""

import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import sbstate  # noqa: E402

ONOFF = ("on", "off")
# property -> (default, inheritable, allowed values or a checker name)
FS_PROPS = {
    "compression": ("off", True, ("on", "off", "lzjb", "gzip", "zle", "lz4", "zstd", "zstd-fast")
                    + tuple(f"gzip-{i}" for i in range(1, 10))
                    + tuple(f"zstd-{i}" for i in range(1, 20))),
    "dedup": ("off", True, ("on", "off", "verify", "sha256", "sha256,verify", "sha512",
                            "sha512,verify", "skein", "skein,verify", "edonr,verify")),
    "atime": ("on", True, ONOFF),
    "relatime": ("off", True, ONOFF),
    "sync": ("standard", True, ("standard", "always", "disabled")),
    "recordsize": ("128K", True, "recordsize"),
    "quota": ("none", False, "size"),
    "refquota": ("none", False, "size"),
    "reservation": ("none", False, "size"),
    "mountpoint": (None, True, "mountpoint"),
    "canmount": ("on", False, ("on", "off", "noauto")),
    "readonly": ("off", True, ONOFF),
    "xattr": ("on", True, ("on", "off", "sa", "dir")),
    "acltype": ("off", True, ("off", "noacl", "nfsv4", "posix", "posixacl")),
    "checksum": ("on", True, ("on", "off", "fletcher2", "fletcher4", "sha256", "sha512",
                              "skein", "edonr", "noparity")),
    "copies": ("1", True, ("1", "2", "3")),
    "exec": ("on", True, ONOFF),
    "setuid": ("on", True, ONOFF),
    "devices": ("on", True, ONOFF),
    "snapdir": ("hidden", True, ("hidden", "visible")),
    "primarycache": ("all", True, ("all", "none", "metadata")),
    "secondarycache": ("all", True, ("all", "none", "metadata")),
    "logbias": ("latency", True, ("latency", "throughput")),
    "sharenfs": ("off", True, "any"),
    "sharesmb": ("off", True, "any"),
}
READONLY = ("type", "creation", "used", "available", "referenced", "compressratio", "mounted")
POOL_PROPS = {"autotrim": ("off", ONOFF), "autoexpand": ("off", ONOFF),
              "autoreplace": ("off", ONOFF), "ashift": ("0", tuple(str(i) for i in range(0, 17))),
              "failmode": ("wait", ("wait", "continue", "panic")), "comment": ("-", "any"),
              "compatibility": ("off", "any")}
# zpool-features(7): what each OpenZFS release enables in a new pool (compatibility=off);
# compatibility=openzfs-2.2-linux keeps a 2.3 pool importable by a PVE 8 host
FEATURES_22 = ("async_destroy empty_bpobj lz4_compress multi_vdev_crash_dump "
               "spacemap_histogram enabled_txg hole_birth extensible_dataset embedded_data "
               "bookmarks filesystem_limits large_blocks large_dnode sha512 skein edonr "
               "userobj_accounting encryption project_quota device_removal obsolete_counts "
               "zpool_checkpoint spacemap_v2 allocation_classes resilver_defer bookmark_v2 "
               "redaction_bookmarks redacted_datasets bookmark_written log_spacemap livelist "
               "device_rebuild zstd_compress draid zilsaxattr head_errlog blake3 "
               "block_cloning vdev_zaps_v2").split()
FEATURES_23 = FEATURES_22 + ["redaction_list_spill", "raidz_expansion", "fast_dedup",
                             "longname", "large_microzap"]


def version():
    """The OpenZFS release this host plays (2.2 on PVE 8, 2.3 on PVE 9)."""
    return sbstate.platform().get("zfs", "2.2.7-pve2")


def features_enabled(compatibility):
    """The features a new pool gets under this compatibility setting."""
    if compatibility in ("openzfs-2.2-linux", "openzfs-2.2"):
        return list(FEATURES_22)
    return list(FEATURES_23 if version().startswith("2.3") else FEATURES_22)
POOL_RO = ("size", "capacity", "health", "guid", "free", "allocated")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]*(/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$")


class Fail(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def check_value(prop, value, what):
    if prop in READONLY or prop in POOL_RO:
        raise Fail(f"cannot {what}: '{prop}' is readonly")
    spec = FS_PROPS.get(prop)
    if spec is None:
        raise Fail(f"cannot {what}: invalid property '{prop}'")
    allowed = spec[2]
    if isinstance(allowed, tuple) and value not in allowed:
        raise Fail(f"cannot {what}: '{prop}' must be one of '{' | '.join(allowed)}'")
    if allowed == "size" and value != "none":
        try:
            return sbstate.human(sbstate.parse_size(value))
        except ValueError:
            raise Fail(f"cannot {what}: bad numeric value '{value}'") from None
    if allowed == "recordsize":
        try:
            n = sbstate.parse_size(value)
        except ValueError:
            raise Fail(f"cannot {what}: bad numeric value '{value}'") from None
        if n < 512 or n > (1 << 24) or n & (n - 1):
            raise Fail(f"cannot {what}: 'recordsize' must be power of 2 from 512B to 16M")
        return sbstate.human(n)
    if allowed == "mountpoint" and not (value in ("none", "legacy") or value.startswith("/")):
        raise Fail(f"cannot {what}: 'mountpoint' must be an absolute path, 'none', or 'legacy'")
    return value


def parse_props(args, flag):
    """Pull `-o k=v` (or -O) pairs out of args; return (props, rest)."""
    props, rest, i = {}, [], 0
    while i < len(args):
        a = args[i]
        if a == flag or (a.startswith(flag) and len(a) > 2):
            kv = args[i + 1] if a == flag else a[2:]
            i += 2 if a == flag else 1
            if "=" not in kv:
                raise Fail(f"missing '=' for property argument '{kv}'", 2)
            k, v = kv.split("=", 1)
            props[k] = v
        else:
            rest.append(a)
            i += 1
    return props, rest


# ---------------------------------------------------------------- property lookup
def prop_value(zfs, name, prop):
    """(value, source) of a filesystem property, walking up for inherited ones."""
    ds = zfs["datasets"][name]
    if prop == "mountpoint":
        if "mountpoint" in ds["props"]:
            return ds["props"]["mountpoint"], "local"
        parent, cur, suffix = name, name, ""
        while "/" in parent:
            cur, _, leaf = parent.rpartition("/")
            suffix = "/" + leaf + suffix
            parent = cur
            if "mountpoint" in zfs["datasets"][cur]["props"]:
                base = zfs["datasets"][cur]["props"]["mountpoint"]
                if base in ("none", "legacy"):
                    return base, f"inherited from {cur}"
                return base.rstrip("/") + suffix, f"inherited from {cur}"
        pool = name.split("/")[0]
        root = zfs["pools"][pool].get("altroot_mount", "/" + pool)
        return root + name[len(pool):], "default"
    if prop in ds["props"]:
        return ds["props"][prop], "local"
    default, inheritable, _ = FS_PROPS[prop]
    if inheritable:
        cur = name
        while "/" in cur:
            cur = cur.rpartition("/")[0]
            if prop in zfs["datasets"][cur]["props"]:
                return zfs["datasets"][cur]["props"][prop], f"inherited from {cur}"
    return default, "default"


def readonly_value(zfs, name, prop, exact):
    ds = zfs["datasets"][name]
    used = 24576 * (1 + sum(1 for d in zfs["datasets"] if d.startswith(name + "/")))
    if prop == "type":
        return "filesystem"
    if prop == "creation":
        return str(ds["created"]) if exact else time.strftime(
            "%a %b %d %H:%M %Y", time.localtime(ds["created"]))
    if prop == "used":
        return sbstate.human(used, exact)
    if prop == "referenced":
        return sbstate.human(24576, exact)
    if prop == "available":
        avail = pool_size(zfs, name.split("/")[0]) * 96 // 100 - used
        quota = prop_value(zfs, name, "quota")[0]
        if quota != "none":
            avail = min(avail, sbstate.parse_size(quota) - used)
        return sbstate.human(avail, exact)
    if prop == "compressratio":
        return "1.00" if exact else "1.00x"
    if prop == "mounted":
        mp, _ = prop_value(zfs, name, "mountpoint")
        canmount = prop_value(zfs, name, "canmount")[0]
        return "yes" if mp.startswith("/") and canmount == "on" else "no"
    raise KeyError(prop)


def pool_size(zfs, pool):
    drives = sbstate.drives()
    vdevs = zfs["pools"][pool]["vdevs"]
    total = 0
    for v in vdevs:
        sizes = [drives[d]["size"] for d in v["kernel"]]
        total += min(sizes) if v["type"] == "mirror" else sum(sizes)
    return total - (total % (1 << 20)) - (8 << 20)


def get_value(zfs, name, prop, exact):
    if prop in READONLY:
        return readonly_value(zfs, name, prop, exact), "-"
    value, source = prop_value(zfs, name, prop)
    if exact and prop in ("recordsize", "quota", "refquota", "reservation") and value != "none":
        value = str(sbstate.parse_size(value))
    if exact and value == "none" and prop in ("quota", "refquota", "reservation"):
        value = "0"
    return value, source


def ensure_mountpoints(zfs, root):
    for name in zfs["datasets"]:
        if name == root or name.startswith(root + "/"):
            mp = prop_value(zfs, name, "mountpoint")[0]
            if mp.startswith("/") and prop_value(zfs, name, "canmount")[0] == "on":
                os.makedirs(os.environ.get("SANDBOX_ROOT", "") + mp, exist_ok=True)


def need(zfs, name, what):
    if name not in zfs.get("datasets", {}):
        raise Fail(f"cannot open '{name}': dataset does not exist")


# ---------------------------------------------------------------- output helpers
def table(rows, columns, headers, scripted):
    if scripted:
        return "".join("\t".join(r) + "\n" for r in rows)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def emit(rows, cols, flags, empty_message, empty_stream):
    """Print a listing as zpool/zfs do; with no rows and no -H they print a message."""
    if not rows and "H" not in flags:
        empty_stream.write(empty_message)
        return 0
    sys.stdout.write(table(rows, cols, [c.upper() for c in cols], "H" in flags))
    return 0


def get_args(args):
    """`get [-Hp] [-o cols] [-s sources] props [names]` -> flags, opts, props, names, cols."""
    flags, opts, rest = take_flags(args)
    if not rest:
        raise Fail("missing property argument", 2)
    return (flags, opts, rest[0].split(","), rest[1:],
            opts.get("-o", "name,property,value,source").split(","))


def take_flags(args, with_value=("-o", "-s", "-t", "-d")):
    flags, opts, rest = set(), {}, []
    i = 0
    while i < len(args):
        a = args[i]
        if a in with_value:
            opts[a] = args[i + 1]
            i += 2
            continue
        if a.startswith("-") and len(a) > 1 and a[1:2] != "-":
            for j, ch in enumerate(a[1:]):
                if "-" + ch in with_value:
                    opts["-" + ch] = a[j + 2:] or args[i + 1]
                    if not a[j + 2:]:
                        i += 1
                    break
                flags.add(ch)
            i += 1
            continue
        rest.append(a)
        i += 1
    return flags, opts, rest


# ---------------------------------------------------------------- zpool
def zpool(args):
    if not args:
        raise Fail("missing command\nusage: zpool command args ...", 2)
    cmd, args = args[0], args[1:]
    if cmd == "create":
        return zpool_create(args)
    if cmd == "list":
        return zpool_list(args)
    if cmd == "status":
        return zpool_status(args)
    if cmd == "get":
        return zpool_get(args)
    if cmd == "set":
        return zpool_set(args)
    if cmd == "destroy":
        return zpool_destroy(args)
    if cmd == "version":
        return print_version()
    raise Fail(f"unrecognized command '{cmd}'", 2)


def print_version():
    print(f"zfs-{version()}\nzfs-kmod-{version()}")
    return 0


def zpool_create(args):
    pool_props, args = parse_props(args, "-o")
    fs_props, args = parse_props(args, "-O")
    force = "-f" in args
    mount = None
    if "-m" in args:
        i = args.index("-m")
        mount = args[i + 1]
        del args[i:i + 2]
    args = [a for a in args if a not in ("-f",)]
    if not args:
        raise Fail("missing pool name argument", 2)
    pool, devs = args[0], args[1:]
    if not NAME_RE.match(pool) or "/" in pool:
        raise Fail(f"cannot create '{pool}': invalid character in pool name")
    if pool in ("mirror", "raidz", "draid", "spare", "log", "cache"):
        raise Fail(f"cannot create '{pool}': name is reserved\npool name may have been "
                   "omitted")
    if not devs:
        raise Fail("missing vdev specification", 2)
    vdevs = []
    if devs[0] == "mirror":
        if len(devs) < 3:
            raise Fail("invalid vdev specification: mirror requires at least 2 devices")
        vdevs.append({"type": "mirror", "paths": devs[1:]})
    else:
        vdevs += [{"type": "disk", "paths": [d]} for d in devs]
    for k, v in pool_props.items():
        if k not in POOL_PROPS:
            raise Fail(f"property '{k}' is not a valid pool property")
        allowed = POOL_PROPS[k][1]
        if allowed != "any" and v not in allowed:
            raise Fail(f"cannot create '{pool}': property '{k}' must be one of "
                       f"'{' | '.join(allowed)}'")
    for k, v in fs_props.items():
        fs_props[k] = check_value(k, v, f"create '{pool}'")
    with sbstate.locked("zfs.json") as zfs, sbstate.locked("drives.json") as drives:
        zfs.setdefault("pools", {})
        zfs.setdefault("datasets", {})
        if pool in zfs["pools"]:
            raise Fail(f"cannot create '{pool}': pool already exists")
        errors, force_errors = [], []
        for v in vdevs:
            v["kernel"] = []
            for p in v["paths"]:
                name = sbstate.resolve_device(p)
                if name is None:
                    raise Fail(f"cannot open '{p}': no such device in /dev\n"
                               "must be a full path or shorthand device name")
                if name in sum((x["kernel"] for x in vdevs if x is not v), []) + v["kernel"]:
                    raise Fail(f"invalid vdev specification\nuse '-f' to override the "
                               f"following errors:\n{p} is used more than once")
                v["kernel"].append(name)
                owner, state = sbstate.pool_of_drive(name, zfs)
                d = drives[name]
                if owner and state == "active":
                    errors.append(f"{p} is part of active pool '{owner}'")
                elif owner:
                    force_errors.append(f"{p} is part of exported or potentially active ZFS "
                                        f"pool '{owner}'")
                elif d.get("fstype"):
                    force_errors.append(f"{p} contains a filesystem of type '{d['fstype']}'")
                elif d.get("partitions"):
                    part = p + ("-part1" if "/by-id/" in p else "p1")
                    fstype = d["partitions"][0].get("fstype")
                    force_errors.append(f"{part} contains a filesystem of type '{fstype}'"
                                        if fstype else f"{p} contains a corrupt primary EFI "
                                        "label.")
        if errors:
            raise Fail("invalid vdev specification\nthe following errors must be manually "
                       "repaired:\n" + "\n".join(errors))
        if force_errors and not force:
            raise Fail("invalid vdev specification\nuse '-f' to override the following "
                       "errors:\n" + "\n".join(force_errors))
        guid = str(random.getrandbits(63))
        for v in vdevs:
            for name in v["kernel"]:
                drives[name].update(fstype=None, zfs_label={"pool": pool, "guid": guid},
                                    partitions=[{"n": 1, "fstype": "zfs_member", "label": pool},
                                                {"n": 9, "fstype": None, "label": None}])
        zfs["pools"][pool] = {"vdevs": vdevs, "props": dict(pool_props), "guid": guid,
                              "created": int(time.time()),
                              "features": features_enabled(pool_props.get("compatibility"))}
        props = dict(fs_props)
        if mount:
            props["mountpoint"] = check_value("mountpoint", mount, f"create '{pool}'")
        zfs["datasets"][pool] = {"props": props, "created": int(time.time())}
        ensure_mountpoints(zfs, pool)
    sbstate.sync_dev()
    return 0


def pool_prop(zfs, pool, prop, exact):
    p = zfs["pools"][pool]
    if prop == "name":
        return pool, "-"
    if prop == "size":
        return sbstate.human(pool_size(zfs, pool), exact), "-"
    if prop in ("allocated", "alloc"):
        return sbstate.human(0 if exact else 0, exact) if exact else "444K", "-"
    if prop == "free":
        return sbstate.human(pool_size(zfs, pool), exact), "-"
    if prop in ("capacity", "cap"):
        return ("0" if exact else "0%"), "-"
    if prop == "health":
        return "ONLINE", "-"
    if prop == "guid":
        return p["guid"], "-"
    if prop in ("frag", "fragmentation"):
        return ("0" if exact else "0%"), "-"
    if prop == "dedup" or prop == "dedupratio":
        return ("1.00" if exact else "1.00x"), "-"
    if prop in ("ckpoint", "expandsz", "altroot"):
        return "-", "-"
    if prop in POOL_PROPS:
        if prop in p["props"]:
            return p["props"][prop], "local"
        return POOL_PROPS[prop][0], "default"
    if prop.startswith("feature@") and prop[8:] in FEATURES_23:
        known = FEATURES_23 if version().startswith("2.3") else FEATURES_22
        if prop[8:] not in known:
            raise Fail(f"bad property list: invalid property '{prop}'", 2)
        enabled = p.get("features", FEATURES_22)
        return ("enabled" if prop[8:] in enabled else "disabled"), "local"
    raise Fail(f"bad property list: invalid property '{prop}'", 2)


def need_pools(zfs, names):
    """The pools, after checking that each named one exists (zpool's error otherwise)."""
    pools = zfs.get("pools", {})
    for n in names:
        if n not in pools:
            raise Fail(f"cannot open '{n}': no such pool")
    return pools


def zpool_list(args):
    flags, opts, names = take_flags(args)
    with sbstate.locked("zfs.json") as zfs:
        pools = need_pools(zfs, names)
        cols = opts.get("-o", "name,size,alloc,free,ckpoint,expandsz,frag,cap,dedup,health,"
                              "altroot").split(",")
        rows = [[pool_prop(zfs, p, c, "p" in flags)[0] for c in cols]
                for p in sorted(names or pools)]
    return emit(rows, cols, flags, "no pools available\n", sys.stdout)


def zpool_get(args):
    flags, opts, props, names, cols = get_args(args)
    with sbstate.locked("zfs.json") as zfs:
        pools = need_pools(zfs, names)
        rows = []
        for p in sorted(names or pools):
            for prop in (list(POOL_PROPS) + list(POOL_RO) if props == ["all"] else props):
                value, source = pool_prop(zfs, p, prop, "p" in flags)
                rec = {"name": p, "property": prop, "value": value, "source": source}
                rows.append([rec[c] for c in cols])
    sys.stdout.write(table(rows, cols, [c.upper() for c in cols], "H" in flags))
    return 0


def zpool_set(args):
    if len(args) != 2 or "=" not in args[0]:
        raise Fail("missing property=value argument", 2)
    k, v = args[0].split("=", 1)
    with sbstate.locked("zfs.json") as zfs:
        if args[1] not in zfs.get("pools", {}):
            raise Fail(f"cannot open '{args[1]}': no such pool")
        if k not in POOL_PROPS:
            raise Fail(f"property '{k}' is not a valid pool property")
        zfs["pools"][args[1]]["props"][k] = v
    return 0


def zpool_destroy(args):
    names = [a for a in args if not a.startswith("-")]
    if not names:
        raise Fail("missing pool argument", 2)
    with sbstate.locked("zfs.json") as zfs:
        if names[0] not in zfs.get("pools", {}):
            raise Fail(f"cannot open '{names[0]}': no such pool")
        del zfs["pools"][names[0]]
        for d in [d for d in zfs["datasets"] if d == names[0] or d.startswith(names[0] + "/")]:
            del zfs["datasets"][d]
    return 0


def zpool_status(args):
    flags, opts, names = take_flags(args)
    with sbstate.locked("zfs.json") as zfs:
        pools = need_pools(zfs, names)
        if not pools:
            print("no pools available")
            return 0
        out = []
        for p in sorted(names or pools):
            entries = [(p, 0)]
            for i, v in enumerate(pools[p]["vdevs"]):
                if v["type"] == "mirror":
                    entries.append((f"mirror-{i}", 2))
                    entries += [(os.path.basename(x), 4) for x in v["paths"]]
                else:
                    entries.append((os.path.basename(v["paths"][0]), 2))
            width = max(len(n) + ind for n, ind in entries) + 2
            out.append(f"  pool: {p}\n state: ONLINE\nconfig:\n")
            out.append(f"\t{'NAME'.ljust(width)}STATE     READ WRITE CKSUM")
            for n, ind in entries:
                out.append(f"\t{(' ' * ind + n).ljust(width)}ONLINE       0     0     0")
            out.append("\nerrors: No known data errors")
            out.append("")
        sys.stdout.write("\n".join(out[:-1]) + "\n")
    return 0


# ---------------------------------------------------------------- zfs
def zfs_cmd(args):
    if not args:
        raise Fail("missing command\nusage: zfs command args ...", 2)
    cmd, args = args[0], args[1:]
    handlers = {"create": zfs_create, "list": zfs_list, "get": zfs_get, "set": zfs_set,
                "inherit": zfs_inherit, "destroy": zfs_destroy, "mount": zfs_mount,
                "version": lambda _args: print_version()}
    if cmd not in handlers:
        raise Fail(f"unrecognized command '{cmd}'", 2)
    return handlers[cmd](args)


def zfs_create(args):
    props, args = parse_props(args, "-o")
    parents = "-p" in args
    args = [a for a in args if a != "-p"]
    if len(args) != 1:
        raise Fail("missing filesystem argument" if not args else "too many arguments", 2)
    name = args[0]
    if not NAME_RE.match(name) or "/" not in name:
        raise Fail(f"cannot create '{name}': invalid character in dataset name")
    for k, v in props.items():
        props[k] = check_value(k, v, f"create '{name}'")
    with sbstate.locked("zfs.json") as zfs:
        ds = zfs.setdefault("datasets", {})
        if name in ds:
            raise Fail(f"cannot create '{name}': dataset already exists")
        if name.split("/")[0] not in zfs.get("pools", {}):
            raise Fail(f"cannot create '{name}': no such pool '{name.split('/')[0]}'")
        parent = name.rpartition("/")[0]
        if parent not in ds:
            if not parents:
                raise Fail(f"cannot create '{name}': parent does not exist")
            parts = name.split("/")
            for i in range(2, len(parts)):
                ds.setdefault("/".join(parts[:i]), {"props": {}, "created": int(time.time())})
        ds[name] = {"props": props, "created": int(time.time())}
        ensure_mountpoints(zfs, name)
    return 0


def select(zfs, names, recursive, depth=None):
    out = []
    for n in names or sorted(zfs.get("datasets", {})):
        need(zfs, n, "open")
        out.append(n)
        if recursive or depth:
            for d in sorted(zfs["datasets"]):
                if d.startswith(n + "/") and (depth is None or d.count("/") - n.count("/")
                                               <= int(depth)):
                    out.append(d)
    return list(dict.fromkeys(out))


def zfs_list(args):
    flags, opts, names = take_flags(args)
    cols = opts.get("-o", "name,used,avail,refer,mountpoint").split(",")
    alias = {"avail": "available", "refer": "referenced"}
    with sbstate.locked("zfs.json") as zfs:
        rows = []
        for n in select(zfs, names, "r" in flags, opts.get("-d")):
            row = []
            for c in cols:
                prop = alias.get(c, c)
                row.append(n if prop == "name" else get_value(zfs, n, prop, "p" in flags)[0])
            rows.append(row)
    return emit(rows, cols, flags, "no datasets available\n", sys.stderr)


def zfs_get(args):
    flags, opts, props, names, cols = get_args(args)
    sources = opts.get("-s")
    with sbstate.locked("zfs.json") as zfs:
        rows = []
        for n in select(zfs, names, "r" in flags, opts.get("-d")):
            for prop in (list(READONLY) + list(FS_PROPS) if props == ["all"] else props):
                if prop not in FS_PROPS and prop not in READONLY:
                    raise Fail(f"bad property list: invalid property '{prop}'", 2)
                value, source = get_value(zfs, n, prop, "p" in flags)
                kind = "inherited" if source.startswith("inherited") else source
                if sources and kind not in sources.split(",") and not (
                        kind == "-" and "none" in sources):
                    continue
                rec = {"name": n, "property": prop, "value": value, "source": source,
                       "received": "-"}
                rows.append([rec[c] for c in cols])
    sys.stdout.write(table(rows, cols, [c.upper() for c in cols], "H" in flags))
    return 0


def zfs_set(args):
    pairs = [a for a in args if "=" in a]
    names = [a for a in args if "=" not in a]
    if not pairs or not names:
        raise Fail("missing property=value argument(s)" if not pairs else
                   "missing dataset name(s)", 2)
    with sbstate.locked("zfs.json") as zfs:
        for n in names:
            need(zfs, n, "open")
            for pair in pairs:
                k, v = pair.split("=", 1)
                zfs["datasets"][n]["props"][k] = check_value(
                    k, v, f"set property for '{n}'")
            ensure_mountpoints(zfs, n)
    return 0


def zfs_inherit(args):
    flags, _, rest = take_flags(args)
    if len(rest) < 2:
        raise Fail("missing property or dataset argument", 2)
    prop, names = rest[0], rest[1:]
    if prop not in FS_PROPS:
        raise Fail(f"invalid property '{prop}'")
    with sbstate.locked("zfs.json") as zfs:
        for n in select(zfs, names, "r" in flags):
            if not FS_PROPS[prop][1] and "/" in n:
                raise Fail(f"'{prop}' property cannot be inherited")
            zfs["datasets"][n]["props"].pop(prop, None)
            ensure_mountpoints(zfs, n)
    return 0


def zfs_destroy(args):
    flags, _, names = take_flags(args)
    if len(names) != 1:
        raise Fail("missing dataset argument", 2)
    n = names[0]
    with sbstate.locked("zfs.json") as zfs:
        need(zfs, n, "open")
        if "/" not in n:
            raise Fail(f"cannot destroy '{n}': operation does not apply to pools\nuse "
                       f"'zfs destroy -r {n}' to destroy all datasets in the pool\nuse "
                       f"'zpool destroy {n}' to destroy the pool itself")
        children = [d for d in zfs["datasets"] if d.startswith(n + "/")]
        if children and "r" not in flags:
            raise Fail(f"cannot destroy '{n}': filesystem has children\nuse '-r' to destroy "
                       "the following datasets:\n" + "\n".join(sorted(children)))
        for d in children + [n]:
            del zfs["datasets"][d]
    return 0


def zfs_mount(args):
    with sbstate.locked("zfs.json") as zfs:
        if not args:
            for n in sorted(zfs.get("datasets", {})):
                if get_value(zfs, n, "mounted", False)[0] == "yes":
                    print(f"{n:<40}{prop_value(zfs, n, 'mountpoint')[0]}")
            return 0
        for n in [a for a in args if not a.startswith("-")]:
            need(zfs, n, "open")
            ensure_mountpoints(zfs, n)
    return 0


def main():
    tool = os.path.basename(sys.argv[0])
    try:
        return zpool(sys.argv[1:]) if tool.startswith("zpool") else zfs_cmd(sys.argv[1:])
    except Fail as e:
        sys.stderr.write(str(e) + "\n")
        return e.code


if __name__ == "__main__":
    sys.exit(main())
