"""The node's APT repository API (/nodes/{node}/apt/repositories), on the host's real files:
one-line `.list` files (a commented-out `deb` line is a disabled repository) and deb822
`.sources` files (`Enabled: no`), as proxmox-apt reads and writes them. PUT adds a standard
repository by handle (PVE 9: to proxmox.sources / ceph.sources), POST enables or disables
one by file and index; both check the digest of all files when one is given."""

import glob
import hashlib
import os
import re

import pvestate as ps
import sbstate

ROOT = os.environ.get("SANDBOX_ROOT", "")
KEYRING = "/usr/share/keyrings/proxmox-archive-keyring.gpg"


def _files():
    paths = [ROOT + "/etc/apt/sources.list"] if os.path.exists(ROOT + "/etc/apt/sources.list") \
        else []
    return paths + sorted(glob.glob(ROOT + "/etc/apt/sources.list.d/*.list")
                          + glob.glob(ROOT + "/etc/apt/sources.list.d/*.sources"))


def _parse_list(text):
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s*(#\s*)?(deb(?:-src)?)\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if m:
            out.append({"Types": [m.group(2)], "URIs": [m.group(4)], "Suites": [m.group(5)],
                        "Components": m.group(6).split(), "Enabled": 0 if m.group(1) else 1,
                        "FileType": "list"})
    return out


def _stanzas(text):
    return [s for s in re.split(r"\n\s*\n", text.strip()) if s.strip()]


def _parse_sources(text):
    out = []
    for stanza in _stanzas(text):
        fields = dict(line.split(":", 1) for line in stanza.splitlines() if ":" in line
                      and not line.startswith("#"))
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        repo = {"Types": fields.get("Types", "deb").split(), "URIs": fields.get("URIs", "").split(),
                "Suites": fields.get("Suites", "").split(),
                "Components": fields.get("Components", "").split(),
                "Enabled": 0 if fields.get("Enabled", "yes").lower() in ("no", "false", "0")
                else 1, "FileType": "sources"}
        if "Signed-By" in fields:
            repo["Options"] = [{"Key": "Signed-By", "Values": [fields["Signed-By"]]}]
        out.append(repo)
    return out


def _read():
    files, whole = [], hashlib.sha256()
    for path in _files():
        raw = open(path, "rb").read()
        whole.update(raw)
        kind = "sources" if path.endswith(".sources") else "list"
        text = raw.decode()
        files.append({"path": path[len(ROOT):], "file-type": kind, "digest": list(
            hashlib.sha256(raw).digest()), "repositories": _parse_sources(text)
            if kind == "sources" else _parse_list(text)})
    return files, whole.hexdigest()


def standard(suite):
    """handle -> (name, URI, component) of PVE's standard repositories for this release."""
    ceph = "ceph-squid" if suite == "trixie" else "ceph-quincy"
    return {"enterprise": ("Enterprise", "https://enterprise.proxmox.com/debian/pve",
                           "pve-enterprise"),
            "no-subscription": ("No-Subscription", "http://download.proxmox.com/debian/pve",
                                "pve-no-subscription"),
            "test": ("Test", "http://download.proxmox.com/debian/pve", "pve-test"),
            f"{ceph}-enterprise": (f"Ceph {ceph[5:].title()} Enterprise",
                                   f"https://enterprise.proxmox.com/debian/{ceph}", "enterprise"),
            f"{ceph}-no-subscription": (f"Ceph {ceph[5:].title()} No-Subscription",
                                        f"http://download.proxmox.com/debian/{ceph}",
                                        "no-subscription"),
            f"{ceph}-test": (f"Ceph {ceph[5:].title()} Test",
                             f"http://download.proxmox.com/debian/{ceph}", "test")}


def _find(files, uri, component):
    for f in files:
        for i, r in enumerate(f["repositories"]):
            if uri in [u.rstrip("/") for u in r["URIs"]] and component in r["Components"]:
                yield f, i, r


def repositories_get(p):
    ps.check_node(p)
    files, digest = _read()
    suite = sbstate.platform()["suite"]
    std = []
    for handle, (name, uri, comp) in standard(suite).items():
        item = {"handle": handle, "name": name}
        found = list(_find(files, uri, comp))
        if found:
            item["status"] = found[0][2]["Enabled"]
        std.append(item)
    return {"files": files, "errors": [], "digest": digest, "infos": [], "standard-repos": std}


def _check_digest(p):
    if "digest" in p and p["digest"] != _read()[1]:
        raise ps.Fail(500, "detected modified configuration - file changed by other user? "
                           "Try again.")


def _set_enabled(path, index, enabled):
    full = ROOT + path
    text = open(full).read()
    if path.endswith(".sources"):
        stanzas = _stanzas(text)
        body = [line for line in stanzas[index].splitlines()
                if not line.lower().startswith("enabled:")]
        stanzas[index] = "\n".join(body + ([] if enabled else ["Enabled: no"]))
        ps._write(full, "\n\n".join(stanzas) + "\n")
        return
    lines, n = text.splitlines(), -1
    for j, line in enumerate(lines):
        if re.match(r"^\s*(#\s*)?deb(-src)?\s", line):
            n += 1
            if n == index:
                bare = re.sub(r"^\s*#\s*", "", line)
                lines[j] = bare if enabled else f"# {bare}"
    ps._write(full, "\n".join(lines) + "\n")


def repositories_post(p):
    """Enable or disable the repository `index` of the file `path`."""
    ps.check_node(p)
    _check_digest(p)
    files, _ = _read()
    f = next((f for f in files if f["path"] == p["path"]), None)
    if f is None or int(p["index"]) >= len(f["repositories"]):
        raise ps.Fail(500, f"unable to find repository {p['index']} in {p['path']}")
    _set_enabled(p["path"], int(p["index"]), p.get("enabled", "1") == "1")


def repositories_put(p):
    """Add the standard repository `handle` (or enable it where it is configured)."""
    ps.check_node(p)
    _check_digest(p)
    suite = sbstate.platform()["suite"]
    std = standard(suite)
    if p["handle"] not in std:
        raise ps.Fail(500, f"unknown handle '{p['handle']}'")
    _name, uri, comp = std[p["handle"]]
    files, _ = _read()
    found = list(_find(files, uri, comp))
    if found:
        f, i, _r = found[0]
        return _set_enabled(f["path"], i, True)
    target = ROOT + "/etc/apt/sources.list.d/" + (
        "ceph.sources" if "ceph" in p["handle"] else "proxmox.sources")
    stanza = (f"Types: deb\nURIs: {uri}\nSuites: {suite}\nComponents: {comp}\n"
              f"Signed-By: {KEYRING}\n")
    before = open(target).read().rstrip("\n") + "\n\n" if os.path.exists(target) else ""
    ps._write(target, before + stanza)


ROUTES = {"GET /nodes/{node}/apt/repositories": repositories_get,
          "POST /nodes/{node}/apt/repositories": repositories_post,
          "PUT /nodes/{node}/apt/repositories": repositories_put}
