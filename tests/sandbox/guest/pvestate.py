"""State and handlers of the sandbox's Proxmox VE API: storage, users, ACLs, tokens, disks,
ZFS, tasks. One JSON file on the host's disk (/var/lib/sandbox/pve.json) holds the state;
/etc/pve/storage.cfg and /etc/pve/user.cfg are rendered from it as PVE writes them.

Handlers take validated string parameters and raise Fail(status, message) with PVE's
wording (pve-8-storage-types.json lists the storage rules and messages).
"""

import hashlib
import json
import os
import secrets
import socket
import subprocess
import threading
import time
import uuid

import sbstate
import sbzfs

HERE = os.path.dirname(os.path.realpath(__file__))
ETC_PVE = os.environ.get("SANDBOX_ROOT", "") + "/etc/pve"
TASK_DIR = os.path.join(sbstate.STATE, "pve-tasks")
ROLES = ("Administrator", "NoAccess", "PVEAdmin", "PVEAuditor", "PVEDatastoreAdmin",
         "PVEDatastoreUser", "PVEMappingAdmin", "PVEMappingUser", "PVEPoolAdmin",
         "PVEPoolUser", "PVESDNAdmin", "PVESDNUser", "PVESysAdmin", "PVETemplateUser",
         "PVEUserAdmin", "PVEVMAdmin", "PVEVMUser")
with open(sbstate.data_file("pve-8-storage-types.json")) as _f:
    TYPES = json.load(_f)["types"]
LOCAL = {"type": "dir", "path": "/var/lib/vz", "content": "backup,images,iso,rootdir,snippets,"
         "vztmpl", "prune-backups": "keep-all=1"}
LOCAL_LVM = {"type": "lvmthin", "vgname": "pve", "thinpool": "data", "content": "images,rootdir"}


class Fail(Exception):
    def __init__(self, status, message, errors=None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def node_name():
    return socket.gethostname()


def initial():
    return {"storage": {"local": dict(LOCAL), "local-lvm": dict(LOCAL_LVM)},
            "users": {"root@pam": {"enable": 1, "expire": 0, "comment": "", "tokens": {}}},
            "acl": []}


class State:
    """`with State() as s:` read-modify-write under the state lock; renders /etc/pve."""

    def __enter__(self):
        self._cm = sbstate.locked("pve.json")
        self.data = self._cm.__enter__()
        if not self.data:
            self.data.update(initial())
        self._before = json.dumps(self.data, sort_keys=True)
        return self.data

    def __exit__(self, *exc):
        if exc[0] is None and (json.dumps(self.data, sort_keys=True) != self._before or
                               not os.path.exists(os.path.join(ETC_PVE, "storage.cfg"))):
            render(self.data)
        return self._cm.__exit__(*exc)


def snapshot():
    """The state as last written, for read-only checks (takes no lock: flock is per open
    file, so a nested locked read in one request would wait for itself)."""
    return sbstate.load("pve.json") or initial()


def render(data):
    os.makedirs(ETC_PVE, exist_ok=True)
    lines = []
    for sid, cfg in data["storage"].items():
        lines += section_lines(sid, cfg)
    _write(os.path.join(ETC_PVE, "storage.cfg"), "\n".join(lines))
    users = []
    for uid, u in data["users"].items():
        users.append(f"user:{uid}:{u.get('enable', 1)}:{u.get('expire', 0)}:"
                     f"{u.get('firstname', '')}:{u.get('lastname', '')}:{u.get('email', '')}:"
                     f"{u.get('comment', '')}::")
        for tid, t in u.get("tokens", {}).items():
            users.append(f"token:{uid}!{tid}:{t.get('expire', 0)}:{t.get('privsep', 1)}:"
                         f"{t.get('comment', '')}:")
    users.append("")
    for a in data["acl"]:
        users.append(f"acl:{a['propagate']}:{a['path']}:{a['ugid']}:{a['roleid']}:")
    _write(os.path.join(ETC_PVE, "user.cfg"), "\n".join(users) + "\n")


def section_lines(sid, cfg):
    """One storage.cfg section in PVE::SectionConfig::write_config's order: the header,
    comment, `disable` (a bare flag), the type's non-optional options sorted, then the
    optional ones sorted; nothing else depends on the order the options were given in."""
    rules = TYPES.get(cfg["type"], {"fixed": []})
    out = [f"{cfg['type']}: {sid}"]
    if cfg.get("comment"):
        out.append(f"\tcomment {cfg['comment']}")
    if str(cfg.get("disable", "0")) not in ("0", ""):
        out.append("\tdisable")
    rest = [k for k in cfg if k not in ("type", "comment", "disable")]
    for k in sorted(k for k in rest if k in rules["fixed"]):
        out.append(f"\t{k} {cfg[k]}")
    for k in sorted(k for k in rest if k not in rules["fixed"]):
        out.append(f"\t{k} {cfg[k]}")
    return out + [""]


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def digest(obj):
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def check_node(params):
    if "node" in params and params["node"] != node_name():
        raise Fail(500, f"hostname lookup '{params['node']}' failed - failed to get address "
                        f"info for: {params['node']}: Name or service not known")


# ------------------------------------------------------------------------- storage
def storage_view(sid, cfg):
    out = {"storage": sid, **cfg, "digest": digest(cfg)}
    if cfg["type"] in ("nfs", "cifs"):
        out["shared"] = 1
    for k in ("disable", "shared", "sparse"):
        if k in out:
            out[k] = int(out[k])
    return out


def storage_list(p):
    with State() as s:
        return [storage_view(k, v) for k, v in s["storage"].items()
                if "type" not in p or v["type"] == p["type"]]


def storage_get(p):
    with State() as s:
        if p["storage"] not in s["storage"]:
            raise Fail(500, f"storage '{p['storage']}' does not exist")
        return storage_view(p["storage"], s["storage"][p["storage"]])


def _content(kind, value):
    allowed = TYPES[kind]["content_allowed"]
    items = sorted(c for c in value.replace(";", ",").split(",") if c)
    for c in items:
        if c not in allowed:
            raise Fail(500, f"storage does not support content type '{c}'")
    if "none" in items and len(items) > 1:
        raise Fail(500, "unable to combine 'none' with other content types")
    return ",".join(items)


def storage_create(p):
    kind, sid = p["type"], p["storage"]
    if kind not in TYPES:
        raise Fail(500, f"sandbox: storage type '{kind}' is not simulated")
    rules = TYPES[kind]
    allowed = set(rules["fixed"]) | set(rules["optional"]) | {"type", "storage"}
    for k in p:
        if k not in allowed:
            raise Fail(500, f"unexpected property '{k}'")
    cfg = {k: v for k, v in p.items() if k not in ("type", "storage")}
    if kind in ("nfs", "cifs") and "path" not in cfg:
        cfg["path"] = f"/mnt/pve/{sid}"
    for k in rules["fixed"]:
        if k not in cfg:
            raise Fail(500, f"missing value for required option '{k}'")
    if "content" in cfg:
        cfg["content"] = _content(kind, cfg["content"])
    else:
        cfg["content"] = ",".join(sorted(rules["content_default"]))
    if kind == "dir":
        if not __import__("re").match(r"^/[-/a-zA-Z0-9_.@]+$", cfg["path"]):
            raise Fail(500, f"illegal path for directory storage: {cfg['path']}")
        cfg["path"] = cfg["path"].rstrip("/") or "/"
        # PVE 8 activates a new storage on its node; a dir storage's path is created then
        # unless create-base-path (or the older mkdir) is 0
        if not os.path.isdir(cfg["path"]) and cfg.get("create-base-path", "1") != "0" \
                and cfg.get("mkdir", "1") != "0":
            os.makedirs(cfg["path"], exist_ok=True)
    if kind == "zfspool" and "mountpoint" not in cfg:
        zfs = sbstate.load("zfs.json")
        if cfg["pool"] in zfs.get("datasets", {}):
            cfg["mountpoint"] = sbzfs.prop_value(zfs, cfg["pool"], "mountpoint")[0]
    with State() as s:
        if sid in s["storage"]:
            raise Fail(500, f"create storage failed: storage ID '{sid}' already defined")
        if kind == "zfspool" and cfg["pool"] not in sbstate.load("zfs.json").get("datasets", {}):
            raise Fail(500, f"create storage failed: zfs error: cannot open '{cfg['pool']}': "
                            "dataset does not exist")
        s["storage"][sid] = {"type": kind, **cfg}
    return {"storage": sid, "type": kind}


def storage_update(p):
    sid = p["storage"]
    with State() as s:
        if sid not in s["storage"]:
            raise Fail(500, f"update storage failed: storage '{sid}' does not exist")
        cfg = s["storage"][sid]
        rules = TYPES.get(cfg["type"], {"fixed": [], "optional": []})
        if "digest" in p and p["digest"] != digest(cfg):
            raise Fail(500, "update storage failed: detected modified configuration - file "
                            "changed by other user? Try again.")
        for k in p:
            if k in ("storage", "digest", "delete"):
                continue
            if k in rules["fixed"]:
                raise Fail(500, f"update storage failed: can't change value of fixed "
                                f"parameter '{k}'")
            if k not in rules["optional"]:
                raise Fail(500, f"update storage failed: unexpected property '{k}'")
        for k in [x for x in p.get("delete", "").replace(";", ",").split(",") if x]:
            if k in rules["fixed"]:
                raise Fail(500, f"update storage failed: unable to delete fixed option '{k}'")
            if k not in rules["optional"]:
                raise Fail(500, f"update storage failed: no such option '{k}'")
            cfg.pop(k, None)
        for k, v in p.items():
            if k in ("storage", "digest", "delete"):
                continue
            cfg[k] = _content(cfg["type"], v) if k == "content" else v
    return {"storage": sid, "type": cfg["type"]}


def storage_delete(p):
    with State() as s:
        if p["storage"] not in s["storage"]:
            raise Fail(500, f"delete storage failed: storage '{p['storage']}' does not exist")
        del s["storage"][p["storage"]]


def storage_status(sid, cfg):
    total = used = 0
    if cfg["type"] == "zfspool":
        zfs = sbstate.load("zfs.json")
        pool = cfg["pool"].split("/")[0]
        if pool in zfs.get("pools", {}) and cfg["pool"] in zfs.get("datasets", {}):
            total = sbzfs.pool_size(zfs, pool)
            used = 24576
    elif cfg["type"] == "dir" and os.path.isdir(cfg["path"]):
        st = os.statvfs(cfg["path"])
        total, used = st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize
    active = 1 if total else 0
    return {"storage": sid, "type": cfg["type"], "content": cfg.get("content", ""),
            "active": active, "enabled": 0 if int(cfg.get("disable", 0)) else 1,
            "shared": 1 if cfg["type"] in ("nfs", "cifs") or int(cfg.get("shared", 0)) else 0,
            "total": total, "used": used, "avail": total - used,
            "used_fraction": (used / total) if total else 0}


def node_storage(p):
    check_node(p)
    with State() as s:
        return [storage_status(k, v) for k, v in s["storage"].items()]


def node_storage_status(p):
    check_node(p)
    with State() as s:
        if p["storage"] not in s["storage"]:
            raise Fail(500, f"storage '{p['storage']}' does not exist")
        return storage_status(p["storage"], s["storage"][p["storage"]])


# ------------------------------------------------------------------------- access
def _hash(password, salt=None):
    salt = salt or secrets.token_hex(8)
    return salt + "$" + hashlib.sha256((salt + password).encode()).hexdigest()


def libcrypt(password, setting):
    """crypt(3) of libxcrypt (yescrypt included) through ctypes: Python 3.13 (Debian 13)
    has no crypt module, as PVE's own Perl code never needed one."""
    import ctypes
    lib = ctypes.CDLL("libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    out = lib.crypt(password.encode(), setting.encode())
    return out.decode() if out else None


def check_password(userid, password):
    """True when the password is right: PAM users against /etc/shadow, pve users here."""
    name, _, realm = userid.partition("@")
    if realm == "pam":
        for line in open("/etc/shadow"):
            parts = line.split(":")
            if parts[0] == name and parts[1] not in ("", "*", "!") and not \
                    parts[1].startswith("!"):
                return libcrypt(password, parts[1]) == parts[1]
        return False
    u = snapshot()["users"].get(userid)
    pw = sbstate.load("pve-shadow.json").get(userid)
    if not u or not pw or not u.get("enable", 1):
        return False
    return _hash(password, pw.split("$")[0]) == pw


def set_password(userid, password):
    with sbstate.locked("pve-shadow.json") as shadow:
        shadow[userid] = _hash(password)


def user_view(uid, u, full=False):
    out = {"userid": uid, "enable": int(u.get("enable", 1)), "expire": int(u.get("expire", 0))}
    for k in ("comment", "email", "firstname", "lastname", "groups", "keys"):
        if u.get(k):
            out[k] = u[k]
    out["realm-type"] = uid.split("@")[1] if uid.split("@")[1] in ("pam", "pve") else "pve"
    if full:
        out["tokens"] = [{"tokenid": t, **_token_info(v)} for t, v in u.get("tokens", {}).items()]
    return out


def _token_info(t):
    return {"privsep": int(t.get("privsep", 1)), "expire": int(t.get("expire", 0)),
            **({"comment": t["comment"]} if t.get("comment") else {})}


def users_list(p):
    with State() as s:
        return [user_view(k, v, p.get("full") == "1") for k, v in s["users"].items()
                if "enabled" not in p or int(v.get("enable", 1)) == int(p["enabled"])]


def user_get(p):
    with State() as s:
        u = s["users"].get(p["userid"])
        if not u:
            raise Fail(500, f"no such user ('{p['userid']}')")
        view = user_view(p["userid"], u, True)
        view["tokens"] = {t["tokenid"]: {k: v for k, v in t.items() if k != "tokenid"}
                          for t in view["tokens"]}
        return {k: v for k, v in view.items() if k not in ("userid", "realm-type")}


def user_create(p):
    uid = p["userid"]
    realm = uid.split("@")[1]
    if realm not in ("pam", "pve"):
        raise Fail(500, f"create user failed: domain '{realm}' does not exist")
    with State() as s:
        if uid in s["users"]:
            raise Fail(500, f"create user failed: user '{uid}' already exists")
        s["users"][uid] = {k: (int(v) if k in ("enable", "expire") else v)
                           for k, v in p.items() if k not in ("userid", "password")}
        s["users"][uid].setdefault("tokens", {})
    if "password" in p:
        if realm == "pam":
            raise Fail(500, "create user failed: unable to set password for realm 'pam'")
        set_password(uid, p["password"])


def user_update(p):
    with State() as s:
        u = s["users"].get(p["userid"])
        if not u:
            raise Fail(500, f"update user failed: no such user ('{p['userid']}')")
        for k, v in p.items():
            if k not in ("userid", "append", "delete"):
                u[k] = int(v) if k in ("enable", "expire") else v


def change_password(p):
    """PUT /access/password: pve realm users' passwords live here; a pam user's would be
    /etc/shadow's (not changed through the sandbox API)."""
    name, _, realm = p["userid"].partition("@")
    if realm != "pve":
        raise Fail(500, f"change password failed: realm '{realm}' not handled here")
    with State() as s:
        if p["userid"] not in s["users"]:
            raise Fail(500, f"change password failed: no such user ('{p['userid']}')")
    set_password(p["userid"], p["password"])


def user_delete(p):
    with State() as s:
        if p["userid"] not in s["users"]:
            raise Fail(500, f"delete user failed: no such user ('{p['userid']}')")
        del s["users"][p["userid"]]
        s["acl"] = [a for a in s["acl"] if a["ugid"] != p["userid"] and
                    not a["ugid"].startswith(p["userid"] + "!")]


def acl_list(p):
    with State() as s:
        return [dict(a) for a in s["acl"]]


def acl_modify(p):
    path, delete = p["path"], p.get("delete") == "1"
    propagate = int(p.get("propagate", "1"))
    roles = [r for r in p["roles"].replace(";", ",").split(",") if r]
    with State() as s:
        for role in roles:
            if role not in ROLES:
                raise Fail(500, f"acl update failed: role '{role}' does not exist")
        targets = []
        for kind, key in (("user", "users"), ("group", "groups"), ("token", "tokens")):
            for ugid in [x for x in p.get(key, "").replace(";", ",").split(",") if x]:
                if kind == "user" and ugid not in s["users"]:
                    raise Fail(500, f"acl update failed: user '{ugid}' does not exist")
                if kind == "token":
                    uid, _, tid = ugid.partition("!")
                    if tid not in s["users"].get(uid, {}).get("tokens", {}):
                        raise Fail(500, f"acl update failed: no such token '{tid}' for user "
                                        f"'{uid}'")
                targets.append((kind, ugid))
        if not path.startswith("/"):
            raise Fail(500, f"acl update failed: invalid ACL path '{path}'")
        for kind, ugid in targets:
            for role in roles:
                s["acl"] = [a for a in s["acl"] if not (a["path"] == path and a["ugid"] == ugid
                                                        and a["roleid"] == role)]
                if not delete:
                    s["acl"].append({"path": path, "type": kind, "ugid": ugid, "roleid": role,
                                     "propagate": propagate})


def roles_list(p):
    return [{"roleid": r, "special": 1} for r in ROLES]


def token_create(p):
    uid, tid = p["userid"], p["tokenid"]
    value = str(uuid.uuid4())
    with State() as s:
        u = s["users"].get(uid)
        if not u:
            raise Fail(500, f"no such user ('{uid}')")
        if tid in u.setdefault("tokens", {}):
            raise Fail(500, "Token already exists.")
        u["tokens"][tid] = {"privsep": int(p.get("privsep", "1")),
                            "expire": int(p.get("expire", u.get("expire", 0))),
                            "comment": p.get("comment", "")}
    with sbstate.locked("pve-shadow.json") as shadow:
        shadow[f"{uid}!{tid}"] = _hash(value)
    return {"full-tokenid": f"{uid}!{tid}", "info": _token_info(u["tokens"][tid]),
            "value": value}


def _token(p):
    with State() as s:
        t = s["users"].get(p["userid"], {}).get("tokens", {}).get(p["tokenid"])
        if t is None:
            raise Fail(500, f"no such token '{p['tokenid']}' for user '{p['userid']}'")
        return s, t


def token_get(p):
    _, t = _token(p)
    return _token_info(t)


def token_list(p):
    with State() as s:
        u = s["users"].get(p["userid"])
        if not u:
            raise Fail(500, f"no such user ('{p['userid']}')")
        return [{"tokenid": k, **_token_info(v)} for k, v in u.get("tokens", {}).items()]


def token_delete(p):
    _token(p)
    with State() as s:
        del s["users"][p["userid"]]["tokens"][p["tokenid"]]
        full = f"{p['userid']}!{p['tokenid']}"
        s["acl"] = [a for a in s["acl"] if a["ugid"] != full]


def check_token(full_id, value):
    uid, _, tid = full_id.partition("!")
    t = snapshot()["users"].get(uid, {}).get("tokens", {}).get(tid)
    stored = sbstate.load("pve-shadow.json").get(full_id)
    if t is None or not stored:
        return False
    return _hash(value, stored.split("$")[0]) == stored


def privileged(principal):
    """root@pam, or a user/token holding Administrator/PVEAdmin on / (tokens: privsep)."""
    if principal == "root@pam":
        return True
    s = snapshot()
    uid, _, tid = principal.partition("!")
    if tid:
        t = s["users"].get(uid, {}).get("tokens", {}).get(tid)
        if t is None:
            return False
        if not int(t.get("privsep", 1)):
            return privileged(uid)
    return any(a["ugid"] == principal and a["path"] == "/" and
               a["roleid"] in ("Administrator", "PVEAdmin") for a in s["acl"])


# ------------------------------------------------------------------------- nodes, disks
def version(p):
    p = sbstate.platform()
    return {"version": p["pve"], "release": p["release"], "repoid": p["repoid"]}


def nodes(p):
    return [{"node": node_name(), "status": "online", "type": "node", "id": f"node/{node_name()}",
             "cpu": 0.01, "maxcpu": os.cpu_count(), "mem": 2 << 30, "maxmem": 64 << 30,
             "uptime": int(time.monotonic()), "level": "", "disk": 3 << 30, "maxdisk": 100 << 30,
             "ssl_fingerprint": ssl_fingerprint()}]


def ssl_fingerprint():
    try:
        out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in",
                              ETC_PVE + "/local/pve-ssl.pem"], capture_output=True, text=True)
        return out.stdout.strip().split("=", 1)[1]
    except (IndexError, OSError):
        return ""


def node_status(p):
    check_node(p)
    plat = sbstate.platform()
    krel = plat["krel"]
    return {"pveversion": f"pve-manager/{plat['pve']}/{plat['repoid']}",
            "kversion": f"Linux {krel}",
            "uptime": int(time.monotonic()), "cpu": 0.01,
            "memory": {"total": 64 << 30, "used": 2 << 30, "free": 62 << 30},
            "rootfs": {"total": 100 << 30, "used": 3 << 30, "free": 97 << 30, "avail": 97 << 30},
            "cpuinfo": {"cpus": os.cpu_count(), "cores": os.cpu_count(), "model": "AMD EPYC",
                        "sockets": 1},
            "boot-info": {"mode": "efi", "secureboot": 0},
            "current-kernel": {"sysname": "Linux", "release": krel,
                               "version": f"#1 SMP PREEMPT_DYNAMIC PMX {krel[:-4]}",
                               "machine": "x86_64"},
            "loadavg": ["0.01", "0.02", "0.00"], "idle": 0, "wait": 0,
            "swap": {"total": 0, "used": 0, "free": 0}, "ksm": {"shared": 0}}


def disks_list(p):
    check_node(p)
    zfs = sbstate.load("zfs.json")
    out = []
    for name, d in sorted(sbstate.drives().items()):
        pool, _ = sbstate.pool_of_drive(name, zfs)
        if pool:
            used = "ZFS"
        elif d.get("fstype"):
            used = d["fstype"]
        elif d.get("partitions"):
            used = "partitions"
        else:
            used = None
        if p.get("type") == "unused" and used:
            continue
        item = {"devpath": f"/dev/{name}", "size": d["size"], "model": d["model"],
                "serial": d["serial"], "vendor": "unknown", "type": "nvme",
                "gpt": 1 if d.get("partitions") else 0, "mounted": 0, "health": "PASSED",
                "wwn": d["eui"], "rpm": 0, "osdid": -1, "osdid-list": [],
                "by_id_link": "/dev/disk/by-id/" + sbstate.link_names(name, d)[0]}
        if used:
            item["used"] = used
        out.append(item)
        if p.get("include-partitions") == "1":
            for part in d.get("partitions", []):
                out.append({"devpath": f"/dev/{name}p{part['n']}", "parent": f"/dev/{name}",
                            "size": d["size"] if part["n"] == 1 else 8 << 20, "gpt": 1,
                            "mounted": 0, "osdid": -1, "osdid-list": [], "type": "partition",
                            "used": "ZFS" if part.get("fstype") == "zfs_member" else
                            (part.get("fstype") or "partition")})
    return out


def disks_zfs(p):
    check_node(p)
    zfs = sbstate.load("zfs.json")
    out = []
    for pool in sorted(zfs.get("pools", {})):
        size = sbzfs.pool_size(zfs, pool)
        out.append({"name": pool, "size": size, "alloc": 454656, "free": size - 454656,
                    "frag": 0, "dedup": 1.0, "health": "ONLINE"})
    return out


def disks_zfs_create(p, task):
    """POST /nodes/{node}/disks/zfs: zpool create through the stand-in, as a task."""
    check_node(p)
    devices = [d for d in p["devices"].replace(";", ",").split(",") if d]
    level = p["raidlevel"]
    argv = ["zpool", "create", "-o", f"ashift={p.get('ashift', '12')}", p["name"]]
    if level == "mirror":
        argv.append("mirror")
    elif level != "single":
        raise Fail(500, f"sandbox: raidlevel '{level}' is not simulated")
    argv += devices

    def work(log):
        log(f"# {' '.join(argv)}")
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1])
        if p.get("add_storage") == "1":
            storage_create({"type": "zfspool", "storage": p["name"], "pool": p["name"],
                            "content": "images,rootdir", "nodes": node_name()})
    return task("zfscreate", p["name"], work)


def cluster_status(p):
    return [{"type": "node", "name": node_name(), "id": f"node/{node_name()}", "local": 1,
             "online": 1, "nodeid": 0, "ip": _my_ip(), "level": ""}]


def _my_ip():
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.211.0.1", 9))
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def cluster_resources(p):
    res = [{"id": f"node/{node_name()}", "type": "node", "node": node_name(),
            "status": "online"}]
    with State() as s:
        for sid, cfg in s["storage"].items():
            st = storage_status(sid, cfg)
            res.append({"id": f"storage/{node_name()}/{sid}", "type": "storage",
                        "storage": sid, "node": node_name(), "status": "available",
                        "plugintype": cfg["type"], "content": cfg.get("content", ""),
                        "disk": st["used"], "maxdisk": st["total"], "shared": st["shared"]})
    import pvelxc  # the containers are guests (type vm)
    res += pvelxc.resources()
    kind = p.get("type")
    return [r for r in res if not kind or r["type"] == kind
            or (kind == "vm" and r["type"] in ("lxc", "qemu"))]


# ------------------------------------------------------------------------- tasks
_tasks_lock = threading.Lock()


def start_task(kind, ident, user, work, fail_with=None):
    """Run work(log) in a thread; return its UPID. fail_with: a fault to end in error."""
    os.makedirs(TASK_DIR, exist_ok=True)
    now = int(time.time())
    upid = (f"UPID:{node_name()}:{os.getpid():08X}:{int(time.monotonic() * 100):08X}:"
            f"{now:08X}:{kind}:{ident}:{user}:")
    rec = {"upid": upid, "node": node_name(), "pid": os.getpid(),
           "pstart": int(time.monotonic() * 100), "starttime": now, "type": kind, "id": ident,
           "user": user, "status": "running", "log": []}
    _save_task(rec)

    def log(line):
        with _tasks_lock:
            rec["log"].append(line)
            _save_task(rec)

    def runner():
        try:
            if fail_with:
                raise RuntimeError(fail_with)
            work(log)
            status = "OK"
        except Exception as e:  # the task's error becomes its exit status, as in PVE
            log(f"TASK ERROR: {e}")
            status = str(e)
        with _tasks_lock:
            rec.update(status="stopped", exitstatus=status, endtime=int(time.time()))
            if status == "OK":
                rec["log"].append("TASK OK")
            _save_task(rec)

    threading.Thread(target=runner, daemon=True).start()
    return upid


def _task_file(upid):
    return os.path.join(TASK_DIR, hashlib.sha1(upid.encode()).hexdigest() + ".json")


def _save_task(rec):
    _write(_task_file(rec["upid"]), json.dumps(rec))


def _load_task(p):
    check_node(p)
    try:
        with open(_task_file(p["upid"])) as f:
            return json.load(f)
    except FileNotFoundError:
        raise Fail(500, f"unable to parse worker upid '{p['upid']}'") from None


def task_status(p):
    rec = _load_task(p)
    return {k: v for k, v in rec.items() if k not in ("log", "endtime")}


def task_log(p):
    rec = _load_task(p)
    start, limit = int(p.get("start", 0)), int(p.get("limit", 50))
    return [{"n": i + 1, "t": t} for i, t in enumerate(rec["log"])][start:start + limit]


def task_list(p):
    check_node(p)
    out = []
    for f in sorted(os.listdir(TASK_DIR)) if os.path.isdir(TASK_DIR) else []:
        with open(os.path.join(TASK_DIR, f)) as fh:
            rec = json.load(fh)
        out.append({k: v for k, v in rec.items() if k != "log"})
    return out
