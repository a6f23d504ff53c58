"""The sandbox's LXC containers as the PVE API shows them: create (from a template on a
storage), clone (full, from a snapshot), config with pending values, resize, snapshots,
start/stop/reboot, appliance templates. State lives in pve.json beside the storages;
/etc/pve/lxc/<vmid>.conf is rendered from it in pct.conf(5) form. Rules and messages follow
pve-container (LXC_FASTPLUG_OPTIONS, vmconfig_hotplug_pending, check_ct_modify_config_perm).

Rootfs volumes are datasets of the ZFS stand-in: create unpacks the template into one,
a snapshot copies it to <mountpoint>/.zfs/snapshot/<name> (where ZFS shows snapshots), a
clone copies from there. A running container is a real set of namespaces (sbct.py);
its status is read from its process, so a host reboot leaves it stopped, as on PVE.
"""

import hashlib
import os
import random
import re
import subprocess
import threading
import time
import urllib.request

import pvestate as ps
import sbct
import sbzfs

caller = threading.local()  # .user: who sent the request (root@pam may do more)
APLINFO = "/var/lib/pve-manager/apl-info/download.proxmox.com"
APLINFO_SOURCE = "http://download.proxmox.com/images"
FASTPLUG = {"description", "onboot", "startup", "protection", "hostname", "hookscript", "cores",
            "tags", "lock"}
HOTPLUG = {"cpulimit", "cpuunits", "memory", "swap"}
READ_ONLY = {"unprivileged", "arch"}
KEYS_NOT_IN_CONF = {"vmid", "node", "digest", "delete", "revert", "ostemplate", "storage",
                    "password", "ssh-public-keys", "start", "force", "restore", "unique",
                    "pool", "ignore-unpack-errors", "bwlimit", "ha-managed"}


# ------------------------------------------------------------------------- helpers
def _cts(s):
    return s.setdefault("lxc", {})


def _need(s, vmid):
    ct = _cts(s).get(str(vmid))
    if ct is None:
        raise ps.Fail(500, f"Configuration file 'nodes/{ps.node_name()}/lxc/{vmid}.conf' "
                           "does not exist")
    return ct


def _free(s, vmid):
    if str(vmid) in _cts(s):
        raise ps.Fail(500, f"CT {vmid} already exists on node '{ps.node_name()}'")


def split_prop(text):
    out = {}
    for part in text.split(","):
        k, eq, v = part.partition("=")
        out[k if eq else ""] = v if eq else part
    return out


def join_prop(values, first=("", "name")):
    head = [values[k] if k == "" else f"{k}={values[k]}" for k in first if k in values]
    return ",".join(head + [f"{k}={v}" for k, v in sorted(values.items()) if k not in first])


def conf_path(vmid):
    return os.path.join(ps.ETC_PVE, "nodes", ps.node_name(), "lxc", f"{vmid}.conf")


def digest_of(vmid):
    """PVE's digest of a container's config: the SHA-1 of its file."""
    try:
        with open(conf_path(vmid), "rb") as f:
            return hashlib.sha1(f.read()).hexdigest()
    except FileNotFoundError:
        return hashlib.sha1(b"").hexdigest()


RAW = re.compile(r"^(lxc\.[a-z0-9_\-.]+)(:|\s*=)\s*(.*?)\s*$")


def raw_lines(vmid):
    """The main section's lxc.* lines of the file as [[key, value], ...]: only an edit of
    the file sets them (the API cannot), so the file is where they live."""
    out = []
    try:
        with open(conf_path(vmid)) as f:
            for line in f:
                if line.startswith("["):
                    break
                m = RAW.match(line)
                if m:
                    out.append([m.group(1), m.group(3)])
    except FileNotFoundError:
        pass
    return out


def gb(size):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", size)
    if not m:
        raise ps.Fail(400, f"unable to parse size '{size}'")
    return float(m.group(1)) * {"": 1 / 1024**3, "K": 1 / 1024**2, "M": 1 / 1024, "G": 1,
                                "T": 1024}[m.group(2)]


def fmt_gb(n):
    return f"{int(n)}G" if n == int(n) else f"{int(n * 1024)}M"


def render(s):
    """/etc/pve/lxc/<vmid>.conf for every container, as pct.conf(5) has it."""
    d = os.path.join(ps.ETC_PVE, "nodes", ps.node_name(), "lxc")
    os.makedirs(d, exist_ok=True)
    link = os.path.join(ps.ETC_PVE, "lxc")  # as pmxcfs shows this node's directory
    if not os.path.islink(link):
        os.symlink(f"nodes/{ps.node_name()}/lxc", link)
    for vmid, ct in _cts(s).items():
        lines = [f"{k}: {v}" for k, v in sorted(ct["conf"].items())]
        lines += [f"{k}: {v}" for k, v in raw_lines(vmid)]
        if ct["pending"]:
            lines += ["", "[pve:pending]"] + [f"{k}: {v}" for k, v in sorted(ct["pending"].items())]
        for name, snap in ct["snapshots"].items():
            lines += ["", f"[{name}]"] + [f"{k}: {v}" for k, v in sorted(snap["conf"].items())]
            lines.append(f"snaptime: {snap['snaptime']}")
        ps._write(os.path.join(d, f"{vmid}.conf"), "\n".join(lines) + "\n")


def _storage(s, sid, content):
    cfg = s["storage"].get(sid)
    if cfg is None:
        raise ps.Fail(500, f"storage '{sid}' does not exist")
    if content not in cfg.get("content", "").split(","):
        what = {"rootdir": "container directories", "vztmpl": "templates"}[content]
        raise ps.Fail(500, f"storage '{sid}' does not support {what}")
    return cfg


def _zfs(*args):
    """The ZFS stand-in's own command, in-process (PVE's storage plugin runs `zfs`)."""
    try:
        sbzfs.zfs_cmd(list(args))
    except sbzfs.Fail as e:
        raise ps.Fail(500, f"zfs error: {e}") from None


def _allocate(s, sid, vmid, n, size_gb):
    """A new volume for a container on storage sid: a ZFS subvol (the stand-in) or a raw
    file on a directory storage. Returns its volume id."""
    cfg = _storage(s, sid, "rootdir")
    name = f"subvol-{vmid}-disk-{n}"
    if cfg["type"] == "zfspool":
        _zfs("create", "-o", "acltype=posixacl", "-o", "xattr=sa", "-o",
             f"refquota={fmt_gb(size_gb)}", f"{cfg['pool']}/{name}")
        return f"{sid}:{name}"
    if cfg["type"] == "dir":
        path = os.path.join(cfg["path"], "images", str(vmid))
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, f"vm-{vmid}-disk-{n}.raw"), "wb") as f:
            f.truncate(int(size_gb * 1024**3))
        return f"{sid}:{vmid}/vm-{vmid}-disk-{n}.raw"
    raise ps.Fail(500, f"sandbox: containers on {cfg['type']} storage are not simulated")


def _volume_dir(s, volid):
    """The host directory of a container volume `storage:name`: a zfspool subvol's
    mountpoint, or for a raw image on a directory storage (which PVE formats and mounts)
    a directory beside it, `<image>.rootfs`."""
    sid, _, name = volid.partition(":")
    cfg = s["storage"].get(sid, {})
    if cfg.get("type") == "dir":
        path = os.path.join(cfg["path"], "images", name) + ".rootfs"
        os.makedirs(path, exist_ok=True)
        return path
    if cfg.get("type") != "zfspool":
        raise ps.Fail(500, f"sandbox: container volumes on {cfg.get('type')} storage hold "
                           "no files here")
    out = subprocess.run(["zfs", "get", "-H", "-o", "value", "mountpoint",
                          f"{cfg['pool']}/{name}"], capture_output=True, text=True)
    if out.returncode:
        raise ps.Fail(500, f"zfs error: {out.stderr.strip()}")
    return out.stdout.strip()


def _copy_tree(src, dst):
    """A volume's files into another (snapshots and clones), without ZFS's .zfs."""
    os.makedirs(dst, exist_ok=True)
    subprocess.run(f"tar -C '{src}' --exclude=./.zfs -cf - . | tar -C '{dst}' -xpf -",
                   shell=True, check=True)


def _status(vmid, ct):
    return "running" if ct["status"] == "running" and sbct.pid_of(vmid) else "stopped"


def _check_root_only(key, value, old=None, unprivileged=True):
    """pve-container's check_ct_modify_config_perm for a principal other than root@pam."""
    if getattr(caller, "user", "root@pam") == "root@pam":
        return
    if re.fullmatch(r"mp\d+|rootfs", key) and split_prop(value).get("", "").startswith("/"):
        raise ps.Fail(403, "Permission check failed (mount point type bind is only allowed "
                           "for root@pam)")
    if re.fullmatch(r"dev\d+", key):
        raise ps.Fail(403, "Permission check failed (configuring device passthrough is only "
                           "allowed for root@pam)")
    if key == "features":
        if not unprivileged:
            raise ps.Fail(403, "Permission check failed (changing feature flags for "
                               "privileged container is only allowed for root@pam)")
        new, before = split_prop(value), split_prop(old or "")
        if old:
            changed = {k for k in set(new) | set(before) if new.get(k) != before.get(k)}
        else:  # a new container, or none had features: only `nesting` alone is allowed
            changed = set(new) if set(new) != {"nesting"} else set()
        if changed - {"nesting"}:
            raise ps.Fail(403, "Permission check failed (changing feature flags (except "
                               "nesting) is only allowed for root@pam)")


def _normalise(key, value, vmid, s, n_disk):
    """A value as PVE stores it: netN printed in order with a MAC, volumes allocated."""
    if re.fullmatch(r"net\d+", key):
        net = split_prop(value)
        net.pop("", None)
        net.setdefault("type", "veth")
        net.setdefault("hwaddr", "BC:24:11:" + ":".join(f"{random.randrange(256):02X}"
                                                        for _ in range(3)))
        return join_prop(net)
    if key == "features":
        return join_prop(split_prop(value), first=())
    if re.fullmatch(r"mp\d+", key):
        mp = split_prop(value)
        vol = mp.get("", "")
        m = re.fullmatch(r"([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?)", vol)
        if m:  # storage:GB = a new volume
            mp[""] = _allocate(s, m.group(1), vmid, n_disk, float(m.group(2)))
            mp["size"] = fmt_gb(float(m.group(2)))
        return join_prop(mp, first=("", "mp"))
    return value


def _view(conf):
    out = {}
    for k, v in conf.items():
        out[k] = int(v) if re.fullmatch(r"\d+", str(v)) and k in (
            "cores", "memory", "swap", "onboot", "unprivileged", "template", "protection",
            "cpuunits") else v
    return out


# ------------------------------------------------------------------------- reads
def resources():
    """/cluster/resources entries of the containers (type vm)."""
    s = ps.snapshot()
    out = []
    for vmid, ct in _cts(s).items():
        c = ct["conf"]
        out.append({"id": f"lxc/{vmid}", "type": "lxc", "vmid": int(vmid), "node": ps.node_name(),
                    "name": c.get("hostname", f"CT{vmid}"), "status": _status(vmid, ct),
                    "template": int(c.get("template", 0)), "maxmem": int(c["memory"]) << 20,
                    "maxdisk": int(gb(split_prop(c["rootfs"]).get("size", "0")) * 1024**3),
                    "maxcpu": int(c.get("cores", 1)), "uptime": 0, "tags": c.get("tags", "")})
    return out


def ct_list(p):
    ps.check_node(p)
    return [{"vmid": r["vmid"], "name": r["name"], "status": r["status"], "type": "lxc",
             "tags": r["tags"], "maxmem": r["maxmem"], "maxdisk": r["maxdisk"],
             "cpus": r["maxcpu"], "uptime": 0} for r in resources()]


def config_get(p):
    ps.check_node(p)
    s = ps.snapshot()
    ct = _need(s, p["vmid"])
    conf = dict(ct["conf"])
    if p.get("snapshot"):
        if p["snapshot"] not in ct["snapshots"]:
            raise ps.Fail(500, f"snapshot '{p['snapshot']}' does not exist")
        conf = dict(ct["snapshots"][p["snapshot"]]["conf"])
    elif p.get("current") != "1":  # pending values, as load_current_config gives them
        conf.update({k: v for k, v in ct["pending"].items() if k != "delete"})
    lines = [] if p.get("snapshot") else raw_lines(p["vmid"])
    raw = {"lxc": lines} if lines else {}
    return {**_view(conf), **raw, "digest": digest_of(p["vmid"])}


def pending_get(p):
    ps.check_node(p)
    ct = _need(ps.snapshot(), p["vmid"])
    out = []
    for k in sorted(set(ct["conf"]) | set(ct["pending"])):
        item = {"key": k}
        if k in ct["conf"]:
            item["value"] = ct["conf"][k]
        if k in ct["pending"]:
            item["pending"] = ct["pending"][k]
        out.append(item)
    return out


def status_current(p):
    ps.check_node(p)
    ct = _need(ps.snapshot(), p["vmid"])
    c = ct["conf"]
    return {"vmid": int(p["vmid"]), "status": _status(p["vmid"], ct), "name": c.get("hostname"),
            "type": "lxc", "uptime": 0, "cpus": int(c.get("cores", 1)), "ha": {"managed": 0},
            "maxmem": int(c["memory"]) << 20, "maxswap": int(c.get("swap", 512)) << 20,
            "maxdisk": int(gb(split_prop(c["rootfs"]).get("size", "0")) * 1024**3),
            "tags": c.get("tags", "")}


def snapshot_list(p):
    ps.check_node(p)
    ct = _need(ps.snapshot(), p["vmid"])
    out = [{"name": n, "snaptime": sn["snaptime"], "description": sn.get("description", ""),
            **({"parent": sn["parent"]} if sn.get("parent") else {})}
           for n, sn in ct["snapshots"].items()]
    last = list(ct["snapshots"])[-1] if ct["snapshots"] else None
    running = 1 if _status(p["vmid"], ct) == "running" else 0
    return out + [{"name": "current", "description": "You are here!", "running": running,
                   **({"parent": last} if last else {})}]


def storage_content(p):
    ps.check_node(p)
    s = ps.snapshot()
    cfg = s["storage"].get(p["storage"])
    if cfg is None:
        raise ps.Fail(500, f"storage '{p['storage']}' does not exist")
    out = []
    if cfg["type"] == "dir" and p.get("content", "vztmpl") == "vztmpl":
        d = os.path.join(cfg["path"], "template", "cache")
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            st = os.stat(os.path.join(d, f))
            out.append({"volid": f"{p['storage']}:vztmpl/{f}", "content": "vztmpl",
                        "format": "t" + f.rsplit(".", 1)[-1].replace("zst", "zst"),
                        "size": st.st_size, "ctime": int(st.st_mtime)})
    return out


def aplinfo_list(p):
    """The appliance index as `pveam update` left it (aplinfo.dat, as PVE::APLInfo reads
    it: Location relative to the index's source, the template named by its file)."""
    ps.check_node(p)
    if not os.path.exists(APLINFO):
        return []
    out, cur, key = [], {}, None
    for line in open(APLINFO).read().splitlines() + [""]:
        if not line.strip():
            if cur.get("location"):
                cur["template"] = cur["location"].rsplit("/", 1)[-1]
                cur["location"] = f"{APLINFO_SOURCE}/{cur['location']}"
                cur["headline"] = cur.get("description", "").split("\n")[0]
                out.append(cur)
            cur, key = {}, None
        elif line.startswith(" ") and key:
            cur[key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            cur[key] = value.strip()
    return out


# ------------------------------------------------------------------------- changes
def download_url(p, task):
    """POST /nodes/{node}/storage/{storage}/download-url: fetch a template (or ISO) into the
    storage's cache, checking the checksum when one is given (PVE's messages)."""
    ps.check_node(p)
    content = p["content"]
    with ps.State() as s:
        cfg = _storage(s, p["storage"], "vztmpl" if content == "vztmpl" else "iso")
    sub = "template/cache" if content == "vztmpl" else "template/iso"
    if "/" in p["filename"] or p["filename"].startswith("."):
        raise ps.Fail(400, f"invalid filename '{p['filename']}'")
    dest = os.path.join(cfg["path"], sub, p["filename"])

    def work(log):
        log(f"downloading {p['url']} to {dest}")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = dest + ".tmp_dwnl"
        urllib.request.urlretrieve(p["url"], tmp)
        if p.get("checksum"):
            algo = p.get("checksum-algorithm", "sha256")
            got = hashlib.new(algo, open(tmp, "rb").read()).hexdigest()
            if got != p["checksum"].lower():
                os.unlink(tmp)
                raise RuntimeError(f"checksum mismatch: got '{got}' != expect "
                                   f"'{p['checksum']}'")
            log(f"calculated checksum: {got}, expected: {p['checksum']}")
        os.replace(tmp, dest)
        log(f"download of '{p['url']}' to '{dest}' finished")
    return task("download", p["filename"], work)


def aplinfo_download(p, task):
    ps.check_node(p)
    with ps.State() as s:
        cfg = _storage(s, p["storage"], "vztmpl")
    entry = next((a for a in aplinfo_list(p) if a.get("template") == p["template"]), None)
    if entry is None:
        raise ps.Fail(400, f"no such template '{p['template']}'")
    dest = os.path.join(cfg["path"], "template", "cache", p["template"])

    def work(log):
        log(f"downloading {entry['location']} to {dest}")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = dest + ".tmp_dwnl"
        urllib.request.urlretrieve(entry["location"], tmp)
        got = hashlib.sha512(open(tmp, "rb").read()).hexdigest()
        if got != entry["sha512sum"]:
            os.unlink(tmp)
            raise RuntimeError(f"checksum mismatch: got '{got}', expected "
                               f"'{entry['sha512sum']}'")
        os.replace(tmp, dest)
        log(f"download of '{entry['location']}' to '{dest}' finished")
    return task("download", p["template"], work)


def create(p, task):
    ps.check_node(p)
    vmid = p["vmid"]
    with ps.State() as s:
        _free(s, vmid)
        sid, _, name = p["ostemplate"].partition(":")
        tcfg = _storage(s, sid, "vztmpl")
        archive = os.path.join(tcfg["path"], "template", "cache", name.split("/", 1)[-1])
        if not os.path.exists(archive):
            raise ps.Fail(500, f"volume '{p['ostemplate']}' does not exist")
        keys = {k: v for k, v in p.items() if k not in KEYS_NOT_IN_CONF}
        for k, v in keys.items():
            _check_root_only(k, v, None, str(p.get("unprivileged", "0")) in ("1", "True"))
        rsid, _, size = keys.pop("rootfs", "local:4").partition(":")
        _storage(s, rsid, "rootdir")
        ostype = "ubuntu" if "ubuntu" in name else "debian"

        def work(log):
            log(f"extracting archive '{archive}'")
            with ps.State() as st:
                conf = {"arch": "amd64", "ostype": ostype, "memory": "512", "swap": "512",
                        "hostname": f"CT{vmid}"}
                conf["rootfs"] = (f"{_allocate(st, rsid, vmid, 0, float(size))},"
                                  f"size={fmt_gb(float(size))}")
                n = 1
                for k, v in keys.items():
                    conf[k] = _normalise(k, v, vmid, st, n)
                    n += k.startswith("mp")
                root = _volume_dir(st, split_prop(conf["rootfs"])[""])
                # as PVE::LXC::Create unpacks: compression by the archive's kind, its
                # device nodes left out
                untar = subprocess.run(["tar", "-xpf", archive, "-C", root,
                                        "--numeric-owner", "--anchored", "--exclude=./dev/*"],
                                       capture_output=True, text=True)
                if untar.returncode:
                    raise RuntimeError(f"unable to extract archive: {untar.stderr.strip()}")
                _cts(st)[str(vmid)] = {"conf": conf, "pending": {}, "snapshots": {},
                                        "status": "stopped"}
                render(st)
            log("Detected container architecture: amd64")
    return task("vzcreate", str(vmid), work)


def clone(p, task):
    ps.check_node(p)
    src, new = p["vmid"], p["newid"]
    with ps.State() as s:
        ct = _need(s, src)
        _free(s, new)
        base = ct["conf"]
        if p.get("snapname"):
            if p["snapname"] not in ct["snapshots"]:
                raise ps.Fail(500, f"snapshot '{p['snapname']}' does not exist")
            base = ct["snapshots"][p["snapname"]]["conf"]
        elif _status(src, ct) == "running":
            raise ps.Fail(500, "unable to clone a running container without a snapshot")
        for k, v in base.items():
            if re.fullmatch(r"mp\d+", k) and split_prop(v).get("", "").startswith("/"):
                raise ps.Fail(500, f"unable to clone mountpoint '{k}' (type bind)")
        storage = p.get("storage") or split_prop(base["rootfs"])[""].split(":")[0]

        def work(log):
            with ps.State() as st:
                conf = {k: v for k, v in base.items() if k not in ("snaptime", "parent")}
                size = gb(split_prop(conf["rootfs"]).get("size", "4G"))
                conf["rootfs"] = f"{_allocate(st, storage, new, 0, size)},size={fmt_gb(size)}"
                src_dir = _volume_dir(st, split_prop(base["rootfs"])[""])
                if p.get("snapname"):
                    src_dir = os.path.join(src_dir, ".zfs", "snapshot", p["snapname"])
                _copy_tree(src_dir, _volume_dir(st, split_prop(conf["rootfs"])[""]))
                conf["hostname"] = p.get("hostname") or f"CT{new}"
                for k in [k for k in conf if re.fullmatch(r"net\d+", k)]:
                    net = split_prop(conf[k])
                    net.pop("hwaddr", None)  # a clone gets new MACs
                    conf[k] = _normalise(k, join_prop(net), new, st, 0)
                _cts(st)[str(new)] = {"conf": conf, "pending": {}, "snapshots": {},
                                      "status": "stopped"}
                render(st)
            log(f"create full clone of mountpoint rootfs ({split_prop(base['rootfs'])['']})")
    return task("vzclone", str(src), work)


def config_put(p):
    ps.check_node(p)
    vmid = p["vmid"]
    with ps.State() as s:
        ct = _need(s, vmid)
        if "digest" in p and p["digest"] != digest_of(vmid):
            raise ps.Fail(500, "detected modified configuration - file changed by other user? "
                               "Try again.")
        keys = {k: v for k, v in p.items() if k not in KEYS_NOT_IN_CONF}
        if not keys and not p.get("delete"):
            raise ps.Fail(500, "no options specified")
        for k, v in keys.items():
            if k in READ_ONLY:
                raise ps.Fail(500, f"unable to modify read-only option: '{k}'")
            _check_root_only(k, v, ct["conf"].get(k),
                             str(ct["conf"].get("unprivileged", "0")) == "1")
        running = _status(p["vmid"], ct) == "running"
        n = 1 + sum(k.startswith("mp") for k in ct["conf"])
        for k, v in keys.items():
            value = _normalise(k, v, vmid, s, n)
            n += k.startswith("mp") and k not in ct["conf"]
            hot = (k in FASTPLUG or k in HOTPLUG or re.fullmatch(r"net\d+", k)
                   or (re.fullmatch(r"(mp|dev)\d+", k) and k not in ct["conf"]))
            if running and not hot:
                ct["pending"][k] = value
            else:
                ct["conf"][k] = value
                ct["pending"].pop(k, None)
        for k in [x for x in p.get("delete", "").split(",") if x]:
            if running and k not in FASTPLUG:
                ct["pending"]["delete"] = ",".join(filter(None, [ct["pending"].get("delete"), k]))
            else:
                ct["conf"].pop(k, None)
        for k in [k for k, v in ct["pending"].items() if ct["conf"].get(k) == v]:
            del ct["pending"][k]  # cleanup_pending: a "change" back to the current value
        render(s)
        if running and any(re.fullmatch(r"(net|mp)\d+", k) for k in keys):
            sbct.hotplug(vmid, _runtime_spec(s, ct["conf"]))


def resize(p, task):
    ps.check_node(p)
    vmid, disk = p["vmid"], p["disk"]
    with ps.State() as s:
        ct = _need(s, vmid)
        if disk not in ct["conf"]:
            raise ps.Fail(500, f"unable to resize {disk} - no such mountpoint")
        vol = split_prop(ct["conf"][disk])
        size = gb(vol.get("size", "0"))
        want = size + gb(p["size"][1:]) if p["size"].startswith("+") else gb(p["size"])
        if want < size:
            raise ps.Fail(500, "unable to shrink disk size")
        if want == size:
            raise ps.Fail(500, "disk is already at specified size")

    def work(log):
        with ps.State() as st:
            c = _need(st, vmid)["conf"]
            v = split_prop(c[disk])
            sid, _, name = v[""].partition(":")
            cfg = st["storage"][sid]
            if cfg["type"] == "zfspool":
                _zfs("set", f"refquota={fmt_gb(want)}", f"{cfg['pool']}/{name}")
            v["size"] = fmt_gb(want)
            c[disk] = join_prop(v, first=("", "mp"))
            render(st)
        log(f"resized {disk} to {fmt_gb(want)}")
    return task("resize", str(vmid), work)


def snapshot_create(p, task):
    ps.check_node(p)
    vmid, name = p["vmid"], p["snapname"]
    with ps.State() as s:
        ct = _need(s, vmid)
        if name in ct["snapshots"]:
            raise ps.Fail(500, f"snapshot name '{name}' already used")
        for k, v in ct["conf"].items():
            if re.fullmatch(r"rootfs|mp\d+", k) and not split_prop(v)[""].startswith("/"):
                sid = split_prop(v)[""].split(":")[0]
                if s["storage"].get(sid, {}).get("type") != "zfspool":
                    raise ps.Fail(500, "snapshot feature is not available")

    def work(log):
        with ps.State() as st:
            c = _need(st, vmid)
            parent = list(c["snapshots"])[-1] if c["snapshots"] else None
            root = _volume_dir(st, split_prop(c["conf"]["rootfs"])[""])
            _copy_tree(root, os.path.join(root, ".zfs", "snapshot", name))
            c["snapshots"][name] = {"conf": dict(c["conf"]), "snaptime": int(time.time()),
                                    "description": p.get("description", ""),
                                    **({"parent": parent} if parent else {})}
            render(st)
        log(f"snapshot '{name}' created")
    return task("vzsnapshot", str(vmid), work)


def _state_change(p, task, kind, need, then):
    ps.check_node(p)
    vmid = p["vmid"]
    with ps.State() as s:
        ct = _need(s, vmid)
        if _status(vmid, ct) != need:
            state = "not running" if need == "running" else "already running"
            raise ps.Fail(500, f"CT {vmid} {state}")
        if kind == "vzstart" and int(ct["conf"].get("template", 0)):
            raise ps.Fail(500, "a template cannot be started")

    def work(log):
        with ps.State() as st:
            c = _need(st, vmid)
            if kind in ("vzstart", "vzreboot"):  # a (re)start applies what was pending
                deleted = [k for k in c["pending"].pop("delete", "").split(",") if k]
                for k in deleted:
                    c["conf"].pop(k, None)
                c["conf"].update(c["pending"])
                c["pending"] = {}
            c["status"] = then
            render(st)
            conf = dict(c["conf"])
            if kind != "vzstart":
                sbct.stop(vmid)
            if then == "running":
                try:
                    sbct.start(vmid, _runtime_spec(st, conf))
                except sbct.Error as e:
                    c["status"] = "stopped"
                    raise RuntimeError(str(e)) from None
    return task(kind, str(vmid), work)


def _runtime_spec(s, conf):
    """What sbct needs to start a container with this config."""
    nets, mounts, devices = [], [], []
    for k in sorted(conf, key=lambda k: int(re.sub(r"\D", "", k) or 0)):
        v = split_prop(conf[k])
        if re.fullmatch(r"net\d+", k):
            nets.append({"name": v.get("name", "eth0"), "bridge": v.get("bridge", "vmbr0"),
                         "ip": v.get("ip"), "gw": v.get("gw"), "hwaddr": v.get("hwaddr")})
        elif re.fullmatch(r"mp\d+", k):
            src = v[""] if v[""].startswith("/") else _volume_dir(s, v[""])
            mounts.append({"source": src, "path": v["mp"], "ro": v.get("ro") == "1"})
        elif re.fullmatch(r"dev\d+", k):
            devices.append(v.get("path", v.get("")))
    return {"rootfs": _volume_dir(s, split_prop(conf["rootfs"])[""]),
            "hostname": conf.get("hostname", "CT"), "nets": nets, "mounts": mounts,
            "devices": devices}


def start(p, task):
    return _state_change(p, task, "vzstart", "stopped", "running")


def shutdown(p, task):
    return _state_change(p, task, "vzshutdown", "running", "stopped")


def stop(p, task):
    return _state_change(p, task, "vzstop", "running", "stopped")


def reboot(p, task):
    return _state_change(p, task, "vzreboot", "running", "running")


LXC = "/nodes/{node}/lxc/{vmid}"
ROUTES = {
    "GET /nodes/{node}/lxc": ct_list, f"GET {LXC}/config": config_get,
    f"PUT {LXC}/config": config_put, f"GET {LXC}/pending": pending_get,
    f"GET {LXC}/status/current": status_current, f"GET {LXC}/snapshot": snapshot_list,
    "GET /nodes/{node}/storage/{storage}/content": storage_content,
    "GET /nodes/{node}/aplinfo": aplinfo_list,
}
TASK_ROUTES = {
    "POST /nodes/{node}/lxc": create, f"POST {LXC}/clone": clone,
    f"PUT {LXC}/resize": resize, f"POST {LXC}/snapshot": snapshot_create,
    f"POST {LXC}/status/start": start, f"POST {LXC}/status/shutdown": shutdown,
    f"POST {LXC}/status/stop": stop, f"POST {LXC}/status/reboot": reboot,
    "POST /nodes/{node}/aplinfo": aplinfo_download,
    "POST /nodes/{node}/storage/{storage}/download-url": download_url,
}
