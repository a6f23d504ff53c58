#!/usr/bin/python3
"""lsblk / blkid / wipefs stand-ins that agree with the sandbox's fake NVMe drives.

The drives, their partitions and signatures live in /var/lib/sandbox/drives.json;
zpool create labels them (zfs_member), wipefs -a clears them. Output follows
util-linux 2.38 for the options listed in each function.
"""

import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import sbstate  # noqa: E402


def devices():
    """Every block device: (kernel name, parent or None, record)."""
    out = []
    for name, d in sorted(sbstate.drives().items()):
        out.append((name, None, d))
        for p in d.get("partitions", []):
            out.append((f"{name}p{p['n']}", name, p))
    return out


def lookup(arg):
    name = os.path.basename(os.path.realpath(arg)) if arg.startswith("/") else arg
    for dev in devices():
        if dev[0] == name:
            return dev
    return None


def column(dev, col, exact):
    name, parent, rec = dev
    drive = sbstate.drives()[parent or name]
    size = drive["size"] if parent is None else (
        drive["size"] - (9 << 20) if rec["n"] == 1 else 8 << 20)
    values = {
        "NAME": name, "KNAME": name, "PATH": f"/dev/{name}",
        "SIZE": sbstate.human(size, exact) if exact else lsblk_size(size),
        "TYPE": "part" if parent else "disk",
        "FSTYPE": rec.get("fstype") or "",
        "MODEL": "" if parent else drive["model"],
        "SERIAL": "" if parent else drive["serial"],
        "WWN": "" if parent else drive["eui"],
        "MOUNTPOINT": "", "MOUNTPOINTS": "",
        "PKNAME": parent or "",
        "LABEL": rec.get("label") or "",
        "PTTYPE": "gpt" if parent is None and drive.get("partitions") else "",
        "TRAN": "" if parent else "nvme",
        "ROTA": "0", "RO": "0", "RM": "0",
    }
    if col not in values:
        raise SystemExit(f"lsblk: unknown column: {col}")
    return values[col]


def lsblk_size(n):
    for unit, f in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= f:
            v = n / f
            return f"{v:.1f}".rstrip("0").rstrip(".") + unit
    return f"{n}B"


def lsblk(args):
    cols, flags, targets, i = ["NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE", "MOUNTPOINTS"], \
        set(), [], 0
    while i < len(args):
        a = args[i]
        if a in ("-o", "--output"):
            cols = args[i + 1].upper().split(",")
            i += 2
            continue
        if a.startswith("--"):
            flags.add({"--nodeps": "d", "--noheadings": "n", "--json": "J", "--bytes": "b",
                       "--paths": "p", "--list": "l"}.get(a, a))
        elif a.startswith("-"):
            for j, ch in enumerate(a[1:]):
                if ch == "o":
                    cols = (a[j + 2:] or args[i + 1]).upper().split(",")
                    i += 0 if a[j + 2:] else 1
                    break
                flags.add(ch)
        else:
            targets.append(a)
        i += 1
    devs = []
    for t in targets:
        dev = lookup(t)
        if dev is None:
            sys.stderr.write(f"lsblk: {t}: not a block device\n")
            return 32
        devs.append(dev)
        if "d" not in flags and dev[1] is None:
            devs += [x for x in devices() if x[1] == dev[0]]
    if not targets:
        devs = [x for x in devices() if "d" not in flags or x[1] is None]
    exact = "b" in flags
    rows = []
    for dev in devs:
        row = {}
        for c in cols:
            row[c] = "259:0" if c == "MAJ:MIN" else column(dev, c, exact)
            if c == "NAME" and "p" in flags:
                row[c] = f"/dev/{dev[0]}"
        rows.append((dev, row))
    if "J" in flags:
        doc = {"blockdevices": []}
        for dev, row in rows:
            item = {k.lower(): (int(v) if exact and k == "SIZE" else (v or None))
                    for k, v in row.items()}
            if dev[1] and "d" not in flags and "l" not in flags:
                parent = next(x for x in doc["blockdevices"] if x.get("_k") == dev[1])
                parent.setdefault("children", []).append(item)
            else:
                item["_k"] = dev[0]
                doc["blockdevices"].append(item)
        for item in doc["blockdevices"]:
            item.pop("_k", None)
        print(json.dumps(doc, indent=3))
        return 0
    widths = {c: max([len(c)] + [len(r[c]) + (2 if d[1] and c == "NAME" else 0)
                                 for d, r in rows]) for c in cols}
    if "n" not in flags:
        print(" ".join(c.ljust(widths[c]) for c in cols).rstrip())
    for dev, row in rows:
        cells = []
        for c in cols:
            v = row[c]
            if c == "NAME" and dev[1] and "l" not in flags and "d" not in flags:
                siblings = [x for x, _ in rows if x[1] == dev[1]]
                v = ("└─" if siblings[-1] == dev else "├─") + v
            cells.append(v.ljust(widths[c]))
        print(" ".join(cells).rstrip())
    return 0


def blkid(args):
    values_only = "-o" in args and args[args.index("-o") + 1] == "value"
    tag = args[args.index("-s") + 1] if "-s" in args else None
    targets = [a for a in args if a.startswith("/dev/")]
    if not targets:
        targets = [f"/dev/{d[0]}" for d in devices()]
    found = False
    for t in targets:
        dev = lookup(t)
        if dev is None:
            continue
        name, parent, rec = dev
        tags = {}
        if parent is None and rec.get("partitions"):
            tags["PTUUID"] = str(uuid.uuid5(uuid.NAMESPACE_OID, name))
            tags["PTTYPE"] = "gpt"
        if rec.get("fstype"):
            if rec["fstype"] == "zfs_member":
                tags["LABEL"] = rec.get("label") or ""
            tags["UUID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, name + rec["fstype"]))
            tags["TYPE"] = rec["fstype"]
        if parent:
            tags["PARTUUID"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
        if tag:
            tags = {k: v for k, v in tags.items() if k == tag}
        if not tags:
            continue
        found = True
        if values_only:
            print("\n".join(tags.values()))
        else:
            print(f"{t}: " + " ".join(f'{k}="{v}"' for k, v in tags.items()))
    return 0 if found else 2


def wipefs(args):
    wipe_all = "-a" in args or "--all" in args
    targets = [a for a in args if not a.startswith("-")]
    if not targets:
        sys.stderr.write("wipefs: no device specified\n")
        return 1
    for t in targets:
        dev = lookup(t)
        if dev is None:
            sys.stderr.write(f"wipefs: error: {t}: probing initialization failed: "
                             "No such file or directory\n")
            return 1
        name, parent, rec = dev
        sigs = []
        if rec.get("fstype") == "zfs_member":
            sigs.append(("0x3f000", "zfs_member"))
        elif rec.get("fstype"):
            sigs.append(("0x438", rec["fstype"]))
        if parent is None and rec.get("partitions"):
            sigs += [("0x200", "gpt"), ("0x1fffffe00", "gpt"), ("0x1fe", "PMBR")]
        if not wipe_all:
            if sigs:
                print("DEVICE OFFSET TYPE UUID LABEL")
            for off, kind in sigs:
                print(f"{os.path.basename(t)} {off} {kind}")
            continue
        with sbstate.locked("drives.json") as drives:
            d = drives[parent or name]
            for off, kind in sigs:
                print(f"{t}: {8 if kind == 'gpt' else 2} bytes were erased at offset {off} "
                      f"({kind})")
            if parent is None:
                d.update(fstype=None, partitions=[], zfs_label=None)
            else:
                for p in d["partitions"]:
                    if p["n"] == rec["n"]:
                        p["fstype"] = None
                if rec.get("fstype") == "zfs_member":
                    d["zfs_label"] = None
        sbstate.sync_dev()
    return 0


def main():
    tool = os.path.basename(sys.argv[0])
    return {"lsblk": lsblk, "blkid": blkid, "wipefs": wipefs}[tool](sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
