"""State shared by the sandbox's hardware stand-ins (drives, ZFS), kept on the host's disk.

Lives in the sandbox rootfs at /usr/local/lib/sandbox. SANDBOX_STATE and SANDBOX_DEV let
tests run the stand-ins outside a host against a scratch directory.
"""

import contextlib
import fcntl
import json
import os
import re

STATE = os.environ.get("SANDBOX_STATE", "/var/lib/sandbox")
DEV = os.environ.get("SANDBOX_DEV", "/dev")


@contextlib.contextmanager
def locked(name):
    """Read-modify-write one JSON state file under an exclusive lock."""
    os.makedirs(STATE, exist_ok=True)
    path = os.path.join(STATE, name)
    with open(path + ".lock", "a") as lock:  # "a": taking the lock changes nothing
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load(name)
        before = json.dumps(data, sort_keys=True)
        yield data
        if json.dumps(data, sort_keys=True) == before:
            return  # a read: leave the file (and its mtime) alone, as the real tools do
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)


def load(name):
    try:
        with open(os.path.join(STATE, name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def drives():
    return load("drives.json")


def by_id_dir():
    return os.path.join(DEV, "disk", "by-id")


def resolve_device(arg):
    """A vdev argument (by-id path, /dev/x or bare name) -> kernel name, or None."""
    candidates = [arg] if arg.startswith("/") else [os.path.join(DEV, arg),
                                                     os.path.join(by_id_dir(), arg)]
    for c in candidates:
        if os.path.lexists(c):
            name = os.path.basename(os.path.realpath(c))
            if name in drives():
                return name
    return None


def human(n, exact=False):
    """ZFS/lsblk style sizes: 1.81T, 400G, 128K."""
    if exact:
        return str(n)
    for unit, factor in (("P", 1 << 50), ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20),
                         ("K", 1 << 10)):
        if n >= factor:
            v = n / factor
            if v == int(v):
                return f"{int(v)}{unit}"
            return f"{v:.3g}{unit}" if v < 100 else f"{v:.0f}{unit}"
    return f"{n}B" if n else "0B"


def parse_size(text):
    text = text.strip().upper().rstrip("B")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
    if text and text[-1] in mult:
        return int(float(text[:-1]) * mult[text[-1]])
    return int(text)


def pool_of_drive(name, zfs=None):
    """(pool, state) of the pool whose label is on this drive, or (None, None)."""
    part = drives().get(name, {}).get("zfs_label")
    if not part:
        return None, None
    zfs = zfs if zfs is not None else load("zfs.json")
    pool = part["pool"]
    live = pool in zfs.get("pools", {}) and zfs["pools"][pool].get("guid") == part.get("guid")
    return pool, "active" if live else "exported"


def link_names(name, d):
    """by-id names of a drive: a model/serial one and an EUI one, like udev makes."""
    model = re.sub(r"[^A-Za-z0-9._-]", "_", d["model"])
    return [f"nvme-{model}_{d['serial']}", f"nvme-{d['eui']}"]


def sync_dev():
    """(Re)create /dev/<drive>, its partitions and /dev/disk/by-id links from drives.json."""
    byid = by_id_dir()
    os.makedirs(byid, exist_ok=True)
    for entry in os.listdir(byid):
        if entry.startswith("nvme-"):
            os.unlink(os.path.join(byid, entry))
    for name, d in drives().items():
        nodes = [name] + [f"{name}p{p['n']}" for p in d.get("partitions", [])]
        for node in nodes:
            path = os.path.join(DEV, node)
            if not os.path.exists(path):
                open(path, "w").close()
        for stale in os.listdir(DEV):
            if stale.startswith(name + "p") and stale not in nodes:
                os.unlink(os.path.join(DEV, stale))
        for link in link_names(name, d):
            os.symlink(f"../../{name}", os.path.join(byid, link))
            for p in d.get("partitions", []):
                os.symlink(f"../../{name}p{p['n']}", os.path.join(byid, f"{link}-part{p['n']}"))


def data_file(name):
    """A schema file: beside the stand-ins on a host, or in the project's package data."""
    here = os.path.dirname(os.path.realpath(__file__))
    for candidate in (os.path.join(here, name),
                      os.path.join(here, "..", "..", "..", "phoenix_remote", "data", name)):
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError(name)


def platform():
    """The PVE release this host plays (platform.json beside the stand-ins; PVE 8 without)."""
    try:
        with open(os.path.join(os.path.dirname(os.path.realpath(__file__)), "platform.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"pve": "8.4.1", "release": "8.4", "repoid": "2a5fa54a8503f96d",
                "krel": "6.8.12-10-pve", "driver": "575.57.08", "zfs": "2.2.7-pve2",
                "suite": "bookworm", "debian": "12"}
