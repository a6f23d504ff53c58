"""Typed, frozen models of the hypervisor configuration and of one resolved host.

Shape is checked first by jsonschema (etc/hypervisor_config.schema.json); these models
give the rest of the code typed access, and `meaning_problems` checks what a schema
cannot: references that must resolve, PVE's storage rules, drive layouts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from phoenix_remote.config.base import Frozen
from phoenix_remote.config.lxc import LxcConfig
from phoenix_remote.config.secrets import Secret


class LoggingConfig(Frozen):
    log_file: str
    logrotate_file: str
    logrotate: tuple[str, ...]


class RetryConfig(Frozen):
    attempts: int
    delay_seconds: float


class AptApiConfig(Frozen):
    """A PVE release whose repositories are managed through the node's API (PVE 9: deb822
    `.sources` files, where renaming a `.list` file does nothing)."""
    disable_uri_prefixes: tuple[str, ...]  # enabled repositories at these URIs are disabled
    add_handles: tuple[str, ...]  # standard repositories PVE adds itself (PUT handle)


class AptConfig(Frozen):
    sources_list: str
    disable_lists: tuple[str, ...]
    repositories: tuple[str, ...]
    dist_upgrade: bool
    by_pve_major: dict[str, AptApiConfig] = Field(default_factory=dict)


class TimeConfig(Frozen):
    timezone: str
    ntp_package: str
    ntp_service: str


class NetworkConfig(Frozen):
    hostname: str
    interface: str
    address: str
    gateway: str
    dns: str
    confirm_seconds: int = 90  # a new network setup is rolled back unless confirmed in time
    domain: str | None = None  # DNS domain: /etc/hosts gets <address> <name>.<domain> <name>

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]


class FirewallConfig(Frozen):
    package: str
    allow: tuple[str, ...]


class NvidiaConfig(Frozen):
    enabled: bool
    when_no_gpu: Literal["fail", "skip"]
    required_pve_major: int
    required_debian_major: int
    blacklist_file: str
    blacklist_lines: tuple[str, ...]
    header_packages: tuple[str, ...]
    repository_file: str
    repository: str
    repository_key_url: str
    driver_package: str
    extra_packages: tuple[str, ...]
    reboot: bool
    update_system_before_reboot: bool
    repository_keyring: str = "/etc/apt/trusted.gpg.d/cuda-archive-keyring.gpg"
    by_pve_major: dict[str, dict] = Field(default_factory=dict)  # the values that differ

    def for_pve(self, major: int) -> NvidiaConfig:
        """The settings for a host running PVE `major`."""
        over = self.by_pve_major.get(str(major))
        if not over:
            return self
        return NvidiaConfig.model_validate({**self.model_dump(), **over, "by_pve_major": {}})

    def variants(self) -> list[NvidiaConfig]:
        """Every release's settings (what a probe must read before it knows the release)."""
        return [self] + [self.for_pve(int(m)) for m in self.by_pve_major]

    def variants_at(self) -> list[tuple[str, NvidiaConfig]]:
        """(the JSON path its values are written at, the settings) of every release: what
        the checks report a problem at."""
        paths = ["$.nvidia", *(f"$.nvidia.by_pve_major.{m}" for m in self.by_pve_major)]
        return list(zip(paths, self.variants()))


class AdminUserConfig(Frozen):
    username: str
    shell: str
    group: str
    password_secret: str | None
    ssh_public_key_file: str | None
    pve_realm: str
    pve_role: str
    pve_acl_path: str

    @property
    def pve_userid(self) -> str:
        return f"{self.username}@{self.pve_realm}"


class PoolConfig(Frozen):
    enabled: bool
    layout: Literal["mirror", "single"]
    drive_count: int


class ZfsConfig(Frozen):
    package: str
    pool_options: dict[str, str]
    filesystem_options: dict[str, str]
    mountpoint_rule: str
    pools: dict[str, PoolConfig]
    datasets: dict[str, dict[str, dict[str, str]]]

    def mountpoint(self, dataset_path: str) -> str:
        pool, _, name = dataset_path.partition("/")
        return self.mountpoint_rule.format(pool=pool, dataset=name)

    def dataset_paths(self) -> list[str]:
        return [f"{pool}/{name}" for pool, sets in self.datasets.items() for name in sets]

    def enabled_pools(self) -> dict[str, PoolConfig]:
        return {name: p for name, p in self.pools.items() if p.enabled}

    def planned_datasets(self) -> set[str]:
        """Datasets the zfs steps create (configured, in an enabled pool): later steps may
        count on them in a plan, since apply runs the zfs steps first and stops if they
        fail."""
        return {d for d in self.dataset_paths() if d.split("/")[0] in self.enabled_pools()}


class StorageConfig(Frozen):
    dataset_map: dict[str, str]
    default_type: str
    default_content: str
    unused_default_ids: dict[str, str]
    nfs_mount_base: str
    nfs_mount_options: str

    def type_and_content(self, dataset_path: str) -> tuple[str, tuple[str, ...]]:
        """The original's rule: type missing -> default_type, content missing -> default."""
        raw = self.dataset_map.get(dataset_path, "")
        kind, _, content = raw.partition(":")
        kind = kind or self.default_type
        return kind, tuple((content or self.default_content).split(","))

    def defined(self, zfs: ZfsConfig) -> list[tuple[str, str, str, tuple[str, ...]]]:
        """(dataset, type, storage id, content) of each storage this config gives PVE: the
        mapped datasets of enabled pools; type nfs gets its `nfs-` id."""
        out = []
        for dataset in self.dataset_map:
            if dataset.split("/")[0] not in zfs.enabled_pools():
                continue
            kind, content = self.type_and_content(dataset)
            sid = (self.nfs_storage_id(dataset) if kind == "nfs"
                   else self.storage_id(dataset))
            out.append((dataset, kind, sid, content))
        return out

    @staticmethod
    def storage_id(dataset_path: str) -> str:
        """`quickOS/vm-disks` -> `vm-disks`: slashes become dashes, pool prefix dropped."""
        pool, _, rest = dataset_path.partition("/")
        return rest.replace("/", "-")

    @staticmethod
    def nfs_storage_id(dataset_path: str) -> str:
        """`storageNFS/media` -> `nfs-storageNFS-media` (the original's NFS naming)."""
        return "nfs-" + dataset_path.replace("/", "-")


class NfsExportConfig(Frozen):
    dataset: str
    subnet: str | None = None
    options: str | None = None
    # no_root_squash / insecure / no_all_squash: accepted only with this, named by plan
    allow_root_access: bool = False


class NfsConfig(Frozen):
    packages: tuple[str, ...]
    required_pools: tuple[str, ...]
    subnet: str
    default_options: str
    exports: tuple[NfsExportConfig, ...]


class SambaShareConfig(Frozen):
    dataset: str
    options: dict[str, str] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.dataset.rsplit("/", 1)[-1]


class SambaConfig(Frozen):
    user: str
    password_secret: str
    packages: tuple[str, ...]
    global_: dict[str, str] = Field(alias="global")
    shares: tuple[SambaShareConfig, ...]


class HypervisorConfig(Frozen):
    schema_ref: str | None = Field(default=None, alias="$schema")
    version: Literal[1]
    secrets: dict[str, dict]
    logging: LoggingConfig
    ledger_path: str
    retry: RetryConfig
    apt: AptConfig
    base_packages: tuple[str, ...]
    samba_packages: tuple[str, ...]
    time: TimeConfig
    network: NetworkConfig
    firewall: FirewallConfig
    nvidia: NvidiaConfig
    admin_user: AdminUserConfig
    zfs: ZfsConfig
    storage: StorageConfig
    nfs: NfsConfig
    samba: SambaConfig
    final_reboot: Literal["never", "when-needed", "always"]
    lxc: LxcConfig | None = None

    @property
    def state_dir(self) -> str:
        """phoenix's folder on the host: the ledger, its lock, the backups."""
        return self.ledger_path.rsplit("/", 1)[0]


class Drive(Frozen):
    path: str
    wipe: bool = False


class SshTarget(Frozen):
    user: str = "root"
    port: int | None = None  # None: ~/.ssh/config's Port for the alias, else 22
    key_file: str | None = None
    alias: str | None = None  # a Host entry of ~/.ssh/config
    host_key_fingerprint: str | None = None  # "SHA256:..." pinned in the inventory
    connect_timeout: float = 10.0
    command_timeout: float = 1800.0


class ApiTarget(Frozen):
    url: str | None = None  # default https://<address>:8006
    ca_file: str | None = None  # default: fetch /etc/pve/pve-root-ca.pem over SSH
    token_id: str | None = None  # user@realm!tokenname
    token_secret: dict | None = None  # secret source
    user: str | None = None
    password: dict | None = None  # secret source
    timeout: float = 30.0


class HostConfig(Frozen):
    """One host, resolved once: inventory defaults < group < host < CLI over the config."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str
    address: str
    groups: tuple[str, ...]
    ssh: SshTarget
    api: ApiTarget
    drives: dict[str, tuple[Drive, ...]]
    config: HypervisorConfig
    secrets: dict[str, Secret] = Field(default_factory=dict)  # resolved values, masked
    admin_public_key: str | None = None  # admin_user.ssh_public_key_file's key, read at load
    containers: tuple[int, ...] = ()  # the vmids of lxc.containers this host runs
    setup_scripts: dict[str, str] = Field(default_factory=dict)  # lxc.setup name -> text

    @property
    def api_url(self) -> str:
        return self.api.url or f"https://{self.address}:8006"

