"""The `lxc` section: OS templates, defaults, and the containers by vmid (the orchestrator's
phoenix_lxc_configs.json, reshaped). Which host runs which containers is the inventory's
`containers` list. How these settings read as PVE config keys is steps/lxc_keys.py's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from phoenix_remote.config.base import Frozen

TAG = "phoenix"  # marks the containers phoenix created: any other CT at a vmid is foreign


class TemplateConfig(Frozen):
    file: str  # the exact archive name, e.g. ubuntu-24.04-standard_24.04-2_amd64.tar.zst
    storage: str  # a storage with `vztmpl` content
    # "aplinfo": PVE's appliance index (POST /nodes/{node}/aplinfo); or a URL with checksum
    url: str | None = None
    checksum: str | None = None
    checksum_algorithm: Literal["sha256", "sha512"] | None = None

    @property
    def volid(self) -> str:
        return f"{self.storage}:vztmpl/{self.file}"


class NetConfig(Frozen):
    ip: str  # address/prefix, or dhcp
    name: str = "eth0"
    bridge: str | None = None  # default: lxc.defaults.bridge
    gw: str | None = None  # default: lxc.defaults.gateway (static addresses only)
    hwaddr: str | None = None
    firewall: bool = False


class MountConfig(Frozen):
    path: str  # where it appears inside the container
    dataset: str | None = None  # bind mount of a Phoenix dataset (its mountpoint)
    volume_gb: int | None = None  # or a new volume of this size on `storage`
    storage: str | None = None  # for volume_gb: default lxc.defaults.storage
    read_only: bool = False


class CloneConfig(Frozen):
    vmid: int
    snapshot: str


class SetupScript(Frozen):
    """One of the orchestrator's feature scripts: `script` (a file beside the config) runs
    inside the container when `check` fails there, and `check` must pass after it."""
    script: str
    check: str


class HealthCheck(Frozen):
    command: str  # run inside with sh -c: exit 0 = healthy
    retries: int = 3  # the orchestrator's defaults
    interval_s: int = 5


class ContainerConfig(Frozen):
    hostname: str
    template: str | None = None  # a key of lxc.templates
    clone: CloneConfig | None = None
    cores: int
    memory_mb: int
    swap_mb: int | None = None  # default lxc.defaults.swap_mb
    disk_gb: int
    storage: str | None = None  # the rootfs storage: default lxc.defaults.storage
    unprivileged: bool | None = None  # default lxc.defaults.unprivileged
    net: dict[str, NetConfig] = Field(default_factory=dict)  # net0, net1, ...
    nameserver: str | None = None
    features: dict[str, bool] = Field(default_factory=dict)  # nesting, keyctl, fuse, ...
    onboot: bool = False
    startup: str | None = None  # order=N,up=S,down=S
    mounts: dict[str, MountConfig] = Field(default_factory=dict)  # mp0, mp1, ...
    gpus: tuple[int, ...] = ()  # NVIDIA GPU indices passed through (devN entries)
    snapshot: str | None = None  # taken once when missing; clones start from it
    state: Literal["running", "stopped"] | None = None  # default lxc.defaults.state
    description: str | None = None
    setup: tuple[str, ...] = ()  # names under lxc.setup, in order
    idmap: tuple[str, ...] = ()  # lxc.idmap entries: "u|g CONTAINER HOST COUNT"
    raw_lxc: tuple[str, ...] = ()  # other raw lines, "lxc.key: value" as PVE stores them
    setup_env: dict[str, str] = Field(default_factory=dict)
    health_check: HealthCheck | None = None
    # raw lines or id maps that reach the host (hooks, mounts of system paths, host root):
    # refused unless this is set, and then shown in red by plan
    allow_host_access: bool = False


class LxcDefaults(Frozen):
    storage: str
    bridge: str
    gateway: str | None = None
    unprivileged: bool = True
    swap_mb: int = 512
    state: Literal["running", "stopped"] = "running"
    # a running container's change that PVE keeps pending: applied by one reboot
    # ("when-needed") or reported as drift ("never")
    restart_policy: Literal["when-needed", "never"] = "when-needed"


class LxcConfig(Frozen):
    templates: dict[str, TemplateConfig] = Field(default_factory=dict)
    setup: dict[str, SetupScript] = Field(default_factory=dict)
    defaults: LxcDefaults
    containers: dict[str, ContainerConfig] = Field(default_factory=dict)  # by vmid

    def container(self, vmid: int) -> ContainerConfig:
        return self.containers[str(vmid)]

    def storage_of(self, ct: ContainerConfig) -> str:
        return ct.storage or self.defaults.storage

    def state_of(self, ct: ContainerConfig) -> str:
        return ct.state or self.defaults.state

    def unprivileged_of(self, ct: ContainerConfig) -> bool:
        return self.defaults.unprivileged if ct.unprivileged is None else ct.unprivileged

    def in_order(self, vmids: list[int] | tuple[int, ...]) -> list[int]:
        """vmids with every clone source before its clones (checks.py refuses cycles and
        bounds the depth); iterative, so a deep chain costs no recursion."""
        chosen = set(vmids)
        done: list[int] = []
        placed: set[int] = set()
        for vmid in sorted(vmids):
            chain = []
            cur: int | None = vmid
            while cur is not None and cur not in placed and cur not in chain:
                chain.append(cur)
                ct = self.containers.get(str(cur))
                cur = ct.clone.vmid if ct and ct.clone and ct.clone.vmid in chosen else None
            for v in reversed(chain):
                placed.add(v)
                done.append(v)
        return done

    def with_sources(self, vmids: set[int]) -> set[int]:
        """These containers and the clone sources they are made from, transitively."""
        out = set(vmids)
        todo = list(vmids)
        while todo:
            ct = self.containers.get(str(todo.pop()))
            if ct and ct.clone and ct.clone.vmid not in out:
                out.add(ct.clone.vmid)
                todo.append(ct.clone.vmid)
        return out
