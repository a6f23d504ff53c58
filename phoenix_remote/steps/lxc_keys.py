"""PVE's container-key dialect, in one place: the keys a container's settings become (as
PVE stores them: property strings, devN for GPUs), and how they compare with what PVE
stores: property strings are parsed, only the declared parts of them count (PVE adds
type=veth, a random hwaddr, a volume's name and size), MACs compare without case. And
PVE's own rules about keys: which
need root@pam, which a running container takes at once (pve-container's
LXC_FASTPLUG_OPTIONS and vmconfig_hotplug_pending), which are fixed at creation."""

from __future__ import annotations

import re

from phoenix_remote.config.lxc import ContainerConfig, LxcConfig, NetConfig

# applied to a running container at once; anything else stays pending until it restarts
FASTPLUG = {"description", "onboot", "startup", "protection", "hostname", "hookscript",
            "cores", "tags", "lock", "cpulimit", "cpuunits", "memory", "swap"}
SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")
# what an unset key means to PVE (pct.conf(5)): unset and the default compare equal
DEFAULTS = {"onboot": "0", "swap": "512", "memory": "512"}


def differs(key: str, have: object, want: str) -> bool:
    if have is None:
        have = DEFAULTS.get(key)
        if have is None:
            return True
    text = str(have)
    if key.startswith("net"):
        h = split_prop(text)
        return any(h.get(k, "").upper() != v.upper() if k == "hwaddr" else h.get(k) != v
                   for k, v in split_prop(want).items())
    if key == "features":
        return split_prop(text) != split_prop(want)
    if key.startswith("mp"):
        return mount_differs(split_prop(text), split_prop(want))
    return text != want


def mount_differs(have: dict[str, str], want: dict[str, str]) -> bool:
    if have.get("mp") != want.get("mp") or have.get("ro", "0") != want.get("ro", "0"):
        return True
    source = want.get("", "")
    if source.startswith("/"):  # a bind mount: the host path itself
        return have.get("") != source
    storage, _, gb = source.partition(":")  # a volume: its storage and size
    return (have.get("", "").split(":")[0] != storage
            or size_gb(have.get("size", "0")) != float(gb))


def size_gb(text: str) -> float:
    """PVE's disk size notation (`32G`, `512M`, `1T`, bytes without a unit) in GiB."""
    m = SIZE.match(text.strip())
    if not m:
        return 0.0
    scale = {"": 1 / 1024**3, "K": 1 / 1024**2, "M": 1 / 1024, "G": 1, "T": 1024}
    return float(m.group(1)) * scale[m.group(2)]


def needs_root(key: str, value: str, old: str | None = None, unprivileged: bool = True) -> bool:
    """Whether PVE lets only root@pam make this change (pve-container's
    check_ct_modify_config_perm): a mount point that is not a volume (bind or device),
    device passthrough, and feature flags: any change on a privileged container; on an
    unprivileged one any flag but nesting that differs between the old value and the new
    (so removing a hand-added keyctl=1 needs root as much as adding it)."""
    if re.fullmatch(r"mp\d+|rootfs", key):
        return split_prop(value).get("", "").startswith("/")
    if re.fullmatch(r"dev\d+", key):
        return True
    if key != "features":
        return False
    if not unprivileged:
        return True
    new = split_prop(value)
    if old:
        before = split_prop(old)
        return any(before.get(k, "") != new.get(k, "") for k in set(before) | set(new)
                   if k != "nesting")
    return bool(new) and set(new) != {"nesting"}


def takes_restart(key: str, existed: bool) -> bool:
    """Whether PVE keeps this change pending on a running container: network, memory and
    the fastplug options apply at once, as do a new mount point or device."""
    if key in FASTPLUG or re.fullmatch(r"net\d+", key):
        return False
    if re.fullmatch(r"(mp|dev)\d+", key):
        return existed
    return True


def net_value(lxc: LxcConfig, net: NetConfig) -> dict[str, str]:
    """A netN setting as PVE's parsed keys (print order is PVE's business)."""
    out = {"name": net.name, "bridge": net.bridge or lxc.defaults.bridge, "ip": net.ip}
    gw = net.gw or (lxc.defaults.gateway if net.ip != "dhcp" else None)
    if gw:
        out["gw"] = gw
    if net.hwaddr:
        out["hwaddr"] = net.hwaddr.upper()
    if net.firewall:
        out["firewall"] = "1"
    return out

def desired_keys(lxc: LxcConfig, ct: ContainerConfig, mountpoint_of: dict[str, str]
             ) -> dict[str, str]:
    """The PVE config keys this container declares, as PVE would store them (values as
    strings, property strings as `k=v,...` in a fixed order). `mountpoint_of` maps a
    dataset to its host path (the ZFS mountpoint rule)."""
    keys = {"hostname": ct.hostname, "cores": str(ct.cores), "memory": str(ct.memory_mb),
            "swap": str(lxc.defaults.swap_mb if ct.swap_mb is None else ct.swap_mb),
            "onboot": "1" if ct.onboot else "0"}
    for slot, net in ct.net.items():
        keys[slot] = join_prop(net_value(lxc, net))
    if ct.nameserver:
        keys["nameserver"] = ct.nameserver
    if ct.features:
        keys["features"] = join_prop({k: "1" if v else "0" for k, v in ct.features.items()})
    if ct.startup:
        keys["startup"] = ct.startup
    if ct.description:
        keys["description"] = ct.description
    for slot, m in ct.mounts.items():
        source = (mountpoint_of[m.dataset] if m.dataset
                  else f"{m.storage or lxc.defaults.storage}:{m.volume_gb}")
        keys[slot] = join_prop({"": source, "mp": m.path, **({"ro": "1"} if m.read_only
                                                             else {})})
    for i, device in enumerate(gpu_devices(ct.gpus)):
        keys[f"dev{i}"] = device
    return keys


def gpu_devices(gpus: tuple[int, ...]) -> list[str]:
    """The device nodes a container needs for these GPUs, as PVE `devN` entries take them:
    PVE reads each node's major and minor when the container starts and allows exactly
    those (no hard-coded majors; nvidia-uvm's is dynamic)."""
    if not gpus:
        return []
    return ([f"/dev/nvidia{i}" for i in gpus]
            + ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"])


def split_prop(text: str) -> dict[str, str]:
    """A PVE property string `vol,k=v,k2=v2` -> {"": vol, "k": v, "k2": v2}."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if eq:
            out[key] = value
        elif part:
            out[""] = part
    return out


def rootfs_volume(record: dict) -> str:
    """The volume of a config's (or a ledger record's) `rootfs` property string."""
    return split_prop(str(record.get("rootfs", ""))).get("", "")


def join_prop(values: dict[str, str]) -> str:
    """The inverse of split_prop: the bare value (key "") first, then k=v in order."""
    head = [values[""]] if "" in values else []
    return ",".join(head + [f"{k}={v}" for k, v in values.items() if k != ""])
