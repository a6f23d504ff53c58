"""What a container's raw lines, id maps and addresses may do to the host and its network.

A container config is input like any other: a raw `lxc.hook.*` line runs a host program as
root when the container starts, a mount entry of /etc hands the host's configuration to
the container, an id map of host id 0 makes container root host root. These are refused,
or (where an operator may really want them) accepted only behind the container's
`allow_host_access: true`, which plan shows in red. Refused outright: what no config needs
(raw lines that make LXC write or read host files of their own choosing) and id maps LXC
would not start with.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from phoenix_remote.config.lxc import ContainerConfig
from phoenix_remote.config.safety import PROTECTED

# raw keys that make LXC write or read a host file it is told to: no config needs them
RAW_NEVER = {
    "lxc.include": "it loads a host file as container config, unchecked: write its lines "
                   "into raw_lxc instead",
    "lxc.log.file": "LXC would write a host file of the config's choosing as root: debug "
                    "with `pct start VMID --debug` instead",
    "lxc.console.logfile": "LXC would write a host file of the config's choosing as root: "
                           "read the console with `pct console VMID` instead",
}
MAX_ID = 2**32 - 2  # LXC ids are 32-bit; (uid_t)-1 is "no id"
ESCAPE = re.compile(r"\\([0-7]{3})")  # fstab(5) escapes: \040 is a space


def _fstab_field(text: str) -> str:
    return ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text)


def _system_path(path: str) -> str | None:
    """The system location a host path is, is inside, or contains (None: not one)."""
    p = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
    if p == "/" or ".." in p.split("/"):
        return "/"
    for prot in PROTECTED:  # /etc holds /etc/pve; a parent (/var) holds one of them
        if p == prot or p.startswith(prot + "/") or prot.startswith(p + "/"):
            return prot
    return None


def raw_line_access(key: str, value: str) -> str | None:
    """How this raw line reaches the host (None: it stays inside the container)."""
    if key.startswith("lxc.hook.") or re.fullmatch(r"lxc\.net\.\d+\.script\.(up|down)", key):
        return f"{key} runs a host program as root"
    if key == "lxc.mount.entry":
        fields = value.split()
        source = _fstab_field(fields[0]) if fields else ""
        if source.startswith("/") and (where := _system_path(source)):
            hint = (" (a GPU: use `gpus` instead)" if source.startswith("/dev/nvidia")
                    else "")
            return f"it mounts the host's {source} (on or around {where}){hint}"
        return None
    if key == "lxc.mount.fstab":
        return "it mounts what a host file lists"
    if key == "lxc.mount.auto" and ":rw" in value:
        return "it mounts the host's proc, sys or cgroup writable"
    if key == "lxc.apparmor.profile" and value.strip() == "unconfined":
        return "it runs the container without AppArmor confinement"
    if key == "lxc.cap.drop" and not value.strip():
        return "it keeps every capability (an empty lxc.cap.drop clears PVE's drops)"
    if key == "lxc.cgroup2.devices.allow" and value.strip().startswith("a"):
        return "it allows every host device"
    return None


def _idmap_ranges(entries: tuple[str, ...]) -> dict[str, list[tuple[int, int, int, int]]]:
    """kind (u/g) -> [(index, container id, host id, count)]."""
    out: dict[str, list[tuple[int, int, int, int]]] = {"u": [], "g": []}
    for i, entry in enumerate(entries):
        kind, c, h, n = entry.split()
        out[kind].append((i, int(c), int(h), int(n)))
    return out


def idmap_problems(ct: ContainerConfig) -> Iterator[tuple[str, str, bool]]:
    """(path suffix, problem, gated) of a container's id maps; gated ones are allowed by
    allow_host_access, the others never (LXC would not start the container)."""
    if not ct.idmap:
        return
    ranges = _idmap_ranges(ct.idmap)
    for kind, items in ranges.items():
        name = "uid" if kind == "u" else "gid"
        if not items:
            yield ("idmap", f"no `{kind}` entry: with id maps LXC needs both u and g "
                            f"maps, each covering container {name} 0", False)
            continue
        for i, c, h, n in items:
            if n < 1 or c + n - 1 > MAX_ID or h + n - 1 > MAX_ID:
                yield (f"idmap[{i}]", f"the range {c}+{n} / {h}+{n} is outside the {name}s "
                                      f"LXC knows (0..{MAX_ID}, count at least 1)", False)
            elif h == 0 or h <= 0 < h + n:
                yield (f"idmap[{i}]", f"it maps container {name}s onto host {name} 0 "
                                      "(root)", True)
        for side, col in (("container", 1), ("host", 2)):
            spans = sorted((r[col], r[col] + r[3], r[0]) for r in items)
            for (_a0, a1, _ia), (b0, _b1, ib) in zip(spans, spans[1:]):
                if b0 < a1:
                    yield (f"idmap[{ib}]", f"its {side} {name}s overlap another `{kind}` "
                                           "entry's", False)
        if not any(c <= 0 < c + n for _i, c, _h, n in items):
            yield ("idmap", f"no `{kind}` entry maps container {name} 0 (root): LXC "
                            "would not start the container", False)


def address_problems(ct: ContainerConfig, gateway: str | None, hypervisor: str
                     ) -> Iterator[tuple[str, str]]:
    """(slot, problem) of static addresses that cannot be a container's: the network's own
    or broadcast address, the gateway, the whole range, the hypervisor's own (the other
    hosts' addresses are the inventory's: lxc_checks.fleet_container_problems)."""
    for slot, net in ct.net.items():
        if net.ip == "dhcp":
            continue
        iface = ipaddress.ip_interface(net.ip)
        if iface.network.prefixlen == 0 or iface.ip.is_unspecified:
            yield slot, f"{net.ip} is every address, not one: give the container its own"
        elif iface.network.prefixlen <= 30 and iface.ip in (iface.network.network_address,
                                                            iface.network.broadcast_address):
            kind = ("network" if iface.ip == iface.network.network_address else "broadcast")
            yield slot, f"{iface.ip} is the {kind} address of {iface.network}"
        elif str(iface.ip) == (net.gw or gateway):
            yield slot, f"{iface.ip} is the gateway's address"
        elif str(iface.ip) == hypervisor:
            yield slot, f"{iface.ip} is the hypervisor's own address ($.network.address)"


def host_access(ct: ContainerConfig) -> list[tuple[str, str]]:
    """(path suffix, how) of each way this container's raw lines and id maps reach the
    host: refused unless allow_host_access, and then named by plan."""
    out = []
    for i, line in enumerate(ct.raw_lxc):
        key, _, value = line.partition(":")
        if why := raw_line_access(key.strip(), value.strip()):
            out.append((f"raw_lxc[{i}]", why))
    out += [(at, why) for at, why, gated in idmap_problems(ct) if gated]
    return out
