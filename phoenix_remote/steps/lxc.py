"""Step 10 (the orchestrator's default job): the host's LXC containers, through the API.

Templates are downloaded when missing, containers created or cloned in dependency order,
their declared keys kept as configured (PUT only what differs, with the digest read by the
probe), disks grown (never shrunk), snapshots taken once, and each container left running
or stopped as declared. A vmid held by anything phoenix did not create is refused, and so
is a change PVE makes only at creation. What the API lets only root@pam do (bind mounts,
feature flags other than nesting) goes through `pct set` over SSH when the API is used
with a token.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typing_extensions import TypedDict

from phoenix_remote.config.lxc import TAG, ContainerConfig, LxcConfig
from phoenix_remote.config.lxc_safety import host_access
from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import (
    HOST_ACCESS,
    Action,
    Api,
    Change,
    InstallFile,
    Plan,
    Remember,
    Run,
)
from phoenix_remote.errors import StepRefused
from phoenix_remote.facts import pve, services
from phoenix_remote.host import files
from phoenix_remote.host.batch import Out
from phoenix_remote.steps import lxc_inside, lxc_raw
from phoenix_remote.steps.lxc_keys import (
    desired_keys,
    differs,
    needs_root,
    rootfs_volume,
    size_gb,
    split_prop,
    takes_restart,
)

# The orchestrator's host unit (hypervisor_feature_initialize_nvidia_gpus.sh): the GPU's
# device nodes exist before PVE autostarts containers; nvidia-modprobe adds nvidia-uvm's
# ("-": a host without it still boots the unit)
GPU_SERVICE = "nvidia-gpu-init.service"
GPU_UNIT = f"/etc/systemd/system/{GPU_SERVICE}"
GPU_UNIT_TEXT = """[Unit]
Description=NVIDIA GPU Initialization
Wants=syslog.target
After=syslog.target
Before=pve-guests.service

[Service]
Type=oneshot
ExecStart=/usr/bin/nvidia-smi
ExecStart=-/usr/bin/nvidia-modprobe -u -c=0
RemainAfterExit=true
StandardOutput=journal

[Install]
WantedBy=multi-user.target
"""


class LxcFacts(TypedDict):
    node: str
    root: bool  # the API is used as root@pam (may set bind mounts and all features)
    guests: dict[int, pve.Record]  # /cluster/resources type=vm, by vmid
    configs: dict[int, pve.Record]  # the configured containers that exist on this node
    pending: dict[int, list[pve.Record]]
    status: dict[int, str]
    snapshots: dict[int, list[str]]
    templates: dict[str, list[str]]  # storage -> its vztmpl volids (defined storages only)
    gpu_unit: str | None  # the host's GPU init unit (read when a container has GPUs)
    gpu_unit_enabled: str
    inside: dict[int, dict[str, bool]]  # running containers: check label -> passed
    inside_unknown: dict[int, str]  # running containers whose checks gave no answer: why
    owned: dict[int, str]  # the containers the ledger says phoenix made: their rootfs volume
    subids: dict[str, list[list[int]]]  # root's /etc/subuid (u) and /etc/subgid (g) ranges
    driver: str  # the host's NVIDIA driver version ("" when none or not asked)


class Lxc(Step):
    id = "lxc"
    title = "LXC containers"
    facts_model = LxcFacts

    def inputs(self, cfg: HostConfig) -> dict:
        lxc = cfg.config.lxc
        return {"containers": {v: lxc.container(v).model_dump() for v in cfg.containers}
                if lxc else {}, "defaults": lxc.defaults.model_dump() if lxc else None}

    def skip_reason(self, cfg: HostConfig) -> str | None:
        if cfg.config.lxc is None or not cfg.containers:
            return "no containers for this host (inventory: containers)"
        return None

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        """Containers' settings are read through the API; over SSH only the host's GPU
        unit and what runs inside containers (lxc_inside)."""
        gpu = {"gpu_unit": files.read(GPU_UNIT),
               "gpu_unit_enabled": services.enabled_query(GPU_SERVICE)} if uses_gpus(cfg) else {}
        lxc = cfg.config.lxc
        ids = {"subuid": files.read("/etc/subuid"), "subgid": files.read("/etc/subgid")} \
            if lxc and any(lxc.container(v).idmap for v in cfg.containers) else {}
        return {**gpu, **ids, **lxc_inside.commands(cfg)}

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> LxcFacts:
        api, lxc = host.api, cfg.config.lxc
        assert lxc is not None
        node = api.node
        base = f"/nodes/{node}/lxc"
        guests = {int(g["vmid"]): g for g in api.get("/cluster/resources", type="vm")}
        mine = [v for v in cfg.containers
                if v in guests and guests[v].get("type") == "lxc" and guests[v]["node"] == node]
        # a storage the storage step has yet to define holds no template yet: not asked
        wanted = sorted({lxc.templates[lxc.container(v).template or ""].storage
                         for v in cfg.containers if lxc.container(v).template}
                        & set(pve.storages(api)))
        kinds = ("config", "pending", "status/current", "snapshot")
        answers = iter(api.get_all([(f"{base}/{v}/{kind}", {}) for v in mine
                                         for kind in kinds]
                                   + [(f"/nodes/{node}/storage/{s}/content",
                                       {"content": "vztmpl"}) for s in wanted]))
        per_ct = {v: dict(zip(kinds, [next(answers) for _ in kinds])) for v in mine}
        content = {s: next(answers) for s in wanted}
        return {
            "node": node, "root": api.is_root, "guests": guests,
            "configs": {v: a["config"] for v, a in per_ct.items()},
            "pending": {v: a["pending"] for v, a in per_ct.items()},
            "status": {v: a["status/current"]["status"] for v, a in per_ct.items()},
            "snapshots": {v: [s["name"] for s in a["snapshot"] if s["name"] != "current"]
                          for v, a in per_ct.items()},
            "templates": {s: [c["volid"] for c in items] for s, items in content.items()},
            "gpu_unit": files.content(out["gpu_unit"], GPU_UNIT) if "gpu_unit" in out else None,
            "gpu_unit_enabled": services.enabled(out["gpu_unit_enabled"], GPU_SERVICE)
            if "gpu_unit_enabled" in out else "not-needed",
            "inside": lxc_inside.results(out, cfg), "driver": lxc_inside.host_driver(out),
            "inside_unknown": lxc_inside.unanswered(out, cfg),
            "owned": owned_containers(host.ledger),
            "subids": {kind: root_ranges(files.content(out[name], f"/etc/{name}"))
                       for kind, name in (("u", "subuid"), ("g", "subgid")) if name in out},
        }

    def plan(self, f: LxcFacts, cfg: HostConfig) -> Plan:
        lxc = cfg.config.lxc
        assert lxc is not None
        mounts = mounts_of(cfg)
        parts = [Plan(gpu_unit_changes(f) if uses_gpus(cfg) else [])]
        fetched: set[str] = set()
        for vmid in lxc.in_order(cfg.containers):
            ct = lxc.container(vmid)
            parts.append(Plan(notes=[f"{HOST_ACCESS}container {vmid} {ct.hostname} ({where}): "
                                     f"{how} (allow_host_access)"
                                     for where, how in host_access(ct)]))
            want = desired_keys(lxc, ct, mounts)
            guest = f["guests"].get(vmid)
            if guest is None:
                check_subids(vmid, ct, f["subids"])
                parts.append(Plan(self.template_changes(ct, lxc, f, fetched)))
                parts.append(Plan(new_container(vmid, ct, cfg, want, f)).for_item(
                    vmid, (ct.clone.vmid,) if ct.clone else ()))
                continue
            check_owner(vmid, ct, guest, f["node"], f["owned"],
                        f["configs"].get(vmid, {}), cfg.name)
            check_subids(vmid, ct, f["subids"])
            parts.append(existing_container(vmid, ct, cfg, want, f).for_item(vmid))
        return Plan.join(*parts)

    @staticmethod
    def ledger_items(changes: Iterable[Change], cfg: HostConfig) -> dict[str, dict]:
        """Each container's result for the ledger: what this apply changed on it (the host's
        template and GPU unit under "host")."""
        lxc = cfg.config.lxc
        grouped = by_container(changes)
        out: dict[str, dict] = {}
        for vmid in cfg.containers:
            mine = grouped.get(vmid, [])
            out[str(vmid)] = {"hostname": lxc.container(vmid).hostname if lxc else "",
                              "result": "changed" if mine else "ok", "changes": mine}
        if None in grouped:
            out["host"] = {"result": "changed", "changes": grouped[None]}
        return out

    @staticmethod
    def template_changes(ct: ContainerConfig, lxc: LxcConfig, f: LxcFacts,
                         fetched: set[str]) -> list[Change]:
        if not ct.template:
            return []
        t = lxc.templates[ct.template]
        if t.volid in f["templates"].get(t.storage, []) or t.volid in fetched:
            return []
        fetched.add(t.volid)
        node = f["node"]
        if t.url:
            action = Api("POST", f"/nodes/{node}/storage/{t.storage}/download-url",
                         {"content": "vztmpl", "filename": t.file, "url": t.url,
                          "checksum": t.checksum, "checksum-algorithm": t.checksum_algorithm},
                         wait_task=True)
        else:  # PVE's appliance index (pveam)
            action = Api("POST", f"/nodes/{node}/aplinfo",
                         {"storage": t.storage, "template": t.file}, wait_task=True)
        return [Change(f"template {t.file}", f"not on storage {t.storage}", "downloaded",
                       (action,))]


def by_container(changes: Iterable[Change]) -> dict[int | None, list[str]]:
    """Change summaries by the container they concern (Change.item); None holds the
    host-level ones (template, GPU unit)."""
    out: dict[int | None, list[str]] = {}
    for c in changes:
        out.setdefault(c.item, []).append(c.summary)
    return out


def mounts_of(cfg: HostConfig) -> dict[str, str]:
    """Each dataset's host path (the ZFS mountpoint rule), as bind mounts name it."""
    return {d: cfg.config.zfs.mountpoint(d) for d in cfg.config.zfs.dataset_paths()}


def uses_gpus(cfg: HostConfig) -> bool:
    lxc = cfg.config.lxc
    return lxc is not None and any(lxc.container(v).gpus for v in cfg.containers)


def gpu_unit_changes(f: LxcFacts) -> list[Change]:
    changes = []
    if f["gpu_unit"] != GPU_UNIT_TEXT:
        changes.append(Change(f"host: {GPU_UNIT}", "missing" if f["gpu_unit"] is None
                              else "differs", "GPU device nodes made before containers start",
                              (InstallFile(GPU_UNIT, GPU_UNIT_TEXT,
                                           reload=("systemctl", "daemon-reload")),)))
    if f["gpu_unit_enabled"] != "enabled":
        changes.append(Change(f"host: {GPU_SERVICE}", f["gpu_unit_enabled"], "enabled",
                              (Run(("systemctl", "enable", GPU_SERVICE)),)))
    return changes


def owned_containers(ledger: Any) -> dict[int, str]:
    """vmid -> rootfs volume of the containers phoenix made on this host, from the ledger
    ("" where an older ledger recorded the container without its volume)."""
    if ledger is None:
        return {}
    items = ledger.step("lxc").get("items") or {}
    out = {int(v): "" for v in items if str(v).isdigit()}  # records before the volume
    for vmid, rec in ledger.remembered("containers").items():
        if str(vmid).isdigit() and isinstance(rec, dict):
            out[int(vmid)] = rootfs_volume(rec)
    return out


def check_owner(vmid: int, ct: ContainerConfig, guest: pve.Record, node: str,
                owned: dict[int, str], conf: pve.Record, host: str) -> None:
    """A vmid phoenix did not create is never touched: it must carry the tag and be in the
    host's ledger (a tag alone can be set by anyone allowed to edit the container) with
    the rootfs phoenix made for it."""
    where = f"on node {guest.get('node')}"
    if guest.get("type") != "lxc":
        raise StepRefused(f"vmid {vmid} is a VM ({guest.get('name')}) {where}: container "
                          f"{ct.hostname} needs another vmid")
    adopt = f"`phoenix lxc adopt {host} {vmid}` if it is to be managed as {ct.hostname}"
    if TAG not in str(guest.get("tags") or "").split(";"):
        raise StepRefused(f"vmid {vmid} is a container phoenix did not create "
                          f"({guest.get('name')}, no '{TAG}' tag) {where}: give "
                          f"{ct.hostname} another vmid, remove that container, or {adopt}")
    if guest.get("node") == node and vmid not in owned:
        raise StepRefused(f"vmid {vmid} ({guest.get('name')}) {where} is tagged '{TAG}' but "
                          "this host's ledger has no record of phoenix making it: left "
                          f"alone; run {adopt}")
    rootfs = rootfs_volume(conf)
    if owned.get(vmid) and conf and rootfs != owned[vmid]:
        raise StepRefused(f"container {vmid} {where} has the rootfs {rootfs}, phoenix made it "
                          f"with {owned[vmid]}: it was re-created since; left alone, run "
                          f"{adopt}")
    if guest.get("name") != ct.hostname:
        raise StepRefused(f"container {vmid} {where} is {guest.get('name')}, the config says "
                          f"{ct.hostname}: if it was renamed by hand, run `pct set {vmid} "
                          f"--hostname {ct.hostname}` on the node")
    if guest.get("node") != node:
        raise StepRefused(f"container {vmid} ({ct.hostname}) runs {where}, not on {node}: "
                          "migrate it back or assign it to that host")


def split_root(keys: dict[str, str], root: bool, old: pve.Record | dict[str, str],
               unprivileged: bool) -> tuple[dict[str, str], dict[str, str]]:
    """(keys the API takes from this principal, keys that need `pct set` as root); `old`
    is the config the change starts from (empty for a new container)."""
    if root:
        return keys, {}
    later = {k: v for k, v in keys.items()
             if needs_root(k, v, None if old.get(k) is None else str(old.get(k)),
                           unprivileged)}
    return {k: v for k, v in keys.items() if k not in later}, later


def pct_set(vmid: int, keys: dict[str, str]) -> tuple[Run, ...]:
    if not keys:
        return ()
    argv = ["pct", "set", str(vmid)]
    for k, v in keys.items():
        argv += [f"--{k}", v]
    return (Run(tuple(argv)),)


def root_ranges(text: str | None) -> list[list[int]]:
    """root's [first id, count] ranges in /etc/subuid or /etc/subgid (none: no file)."""
    out = []
    for line in (text or "").splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in ("root", "0") and parts[1].isdigit() \
                and parts[2].isdigit():
            out.append([int(parts[1]), int(parts[2])])
    return out


def check_subids(vmid: int, ct: ContainerConfig, subids: dict[str, list[list[int]]]) -> None:
    """An id map may hand the container only host ids the node lets root delegate (its
    /etc/subuid and /etc/subgid, as PVE's id-mapping guide has them added); anything else
    would give the container files of host accounts. allow_host_access skips this."""
    if not ct.idmap or ct.allow_host_access:
        return
    for entry in ct.idmap:
        kind, _c, h, n = entry.split()
        start, count = int(h), int(n)
        if not any(s <= start and start + count <= s + c for s, c in subids.get(kind, [])):
            name = "subuid" if kind == "u" else "subgid"
            raise StepRefused(f"container {vmid}: its id map `{entry}` uses host "
                              f"{name[3:]}s {start}-{start + count - 1}, which /etc/{name} on "
                              f"the node does not allow root: add `root:{start}:{count}` "
                              f"there (PVE's id-mapping guide), or change the map")


def set_up_record(vmid: int, ct: ContainerConfig) -> Remember:
    return Remember("containers", str(vmid), {"set_up": ",".join(ct.setup)})


def grow(ct_path: str, gb: int) -> Api:
    return Api("PUT", f"{ct_path}/resize", {"disk": "rootfs", "size": f"{gb}G"}, wait_task=True)


def take_snapshot(ct_path: str, name: str) -> Api:
    return Api("POST", f"{ct_path}/snapshot", {"snapname": name}, wait_task=True)


def status(ct_path: str, what: str) -> Api:
    """start, shutdown or reboot, waited for."""
    return Api("POST", f"{ct_path}/status/{what}", {}, wait_task=True)


def new_container(vmid: int, ct: ContainerConfig, cfg: HostConfig, want: dict[str, str],
                  f: LxcFacts) -> list[Change]:
    lxc = cfg.config.lxc
    assert lxc is not None
    node, storage = f["node"], lxc.storage_of(ct)
    base = f"/nodes/{node}/lxc"
    actions: list[Action] = []
    if ct.template:
        api_keys, as_root = split_root(want, f["root"], {}, lxc.unprivileged_of(ct))
        actions.append(Api("POST", base, {
            "vmid": vmid, "ostemplate": lxc.templates[ct.template].volid,
            "rootfs": f"{storage}:{ct.disk_gb}", "unprivileged": lxc.unprivileged_of(ct),
            "tags": TAG, **api_keys}, wait_task=True))
        source = f"template {ct.template}"
    else:
        assert ct.clone is not None
        src = lxc.container(ct.clone.vmid)
        if ct.disk_gb < src.disk_gb:
            raise StepRefused(f"container {vmid}: disk_gb {ct.disk_gb} is smaller than the "
                              f"{src.disk_gb} GB of its clone source {ct.clone.vmid}; PVE "
                              f"cannot shrink a disk: set disk_gb to at least {src.disk_gb}")
        actions.append(Api("POST", f"{base}/{ct.clone.vmid}/clone", {
            "newid": vmid, "hostname": ct.hostname, "snapname": ct.clone.snapshot,
            "storage": storage, "full": True}, wait_task=True))
        # a clone starts with its source's config: the change is from the source's values
        api_keys, as_root = split_root({k: v for k, v in want.items() if k != "hostname"},
                                       f["root"], desired_keys(lxc, src, mounts_of(cfg)),
                                       lxc.unprivileged_of(ct))
        actions.append(Api("PUT", f"{base}/{vmid}/config", {**api_keys, "tags": TAG}))
        if ct.disk_gb > src.disk_gb:
            actions.append(grow(f"{base}/{vmid}", ct.disk_gb))
        source = f"clone of {ct.clone.vmid} @{ct.clone.snapshot}"
    actions.append(Remember("containers", str(vmid), {"hostname": ct.hostname},
                            read={"rootfs": (f"{base}/{vmid}/config", "rootfs")}))
    actions += pct_set(vmid, as_root)
    if lxc_raw.declared(ct):
        actions.append(lxc_raw.edit(vmid, ct, cfg, None))
    running = lxc.state_of(ct) == "running"
    if ct.setup:  # set up while running, so that the snapshot holds the result
        actions.append(status(f"{base}/{vmid}", "start"))
        actions += lxc_inside.setup_runs(vmid, ct, cfg, f["driver"])
        actions.append(set_up_record(vmid, ct))
        if not running:
            actions.append(status(f"{base}/{vmid}", "shutdown"))
    if ct.snapshot:
        actions.append(take_snapshot(f"{base}/{vmid}", ct.snapshot))
    if running and not ct.setup:
        actions.append(status(f"{base}/{vmid}", "start"))
    if running:
        actions += lxc_inside.health_run(vmid, ct, f["driver"])
    return [Change(f"container {vmid} {ct.hostname}", "missing",
                   f"{source}, {ct.cores} cores, {ct.memory_mb} MB, {ct.disk_gb} GB on "
                   f"{storage}, {lxc.state_of(ct)}", tuple(actions))]


def existing_container(vmid: int, ct: ContainerConfig, cfg: HostConfig, want: dict[str, str],
                       f: LxcFacts) -> Plan:
    lxc = cfg.config.lxc
    assert lxc is not None
    node, conf = f["node"], f["configs"][vmid]
    base = f"/nodes/{node}/lxc/{vmid}"
    name = f"container {vmid} {ct.hostname}"
    check_fixed_at_creation(vmid, ct, lxc, conf)
    have_gb = rootfs_gb(conf)
    changes: list[Change] = []
    held: list[str] = []
    running = f["status"][vmid] == "running"
    diff = {k: v for k, v in want.items() if differs(k, conf.get(k), v)}
    if diff:
        api_keys, as_root = split_root(diff, f["root"], conf, lxc.unprivileged_of(ct))
        actions: list[Action] = [Api("PUT", f"{base}/config",
                                     {**api_keys, "digest": conf["digest"]})] if api_keys else []
        actions += pct_set(vmid, as_root)
        changes.append(Change(f"{name}: " + ", ".join(diff),
                              "; ".join(f"{k}={conf.get(k, '(unset)')}" for k in diff),
                              "; ".join(f"{k}={v}" for k, v in diff.items()), tuple(actions)))
    raw_change = lxc_raw.lines_differ(conf.get("lxc"), ct)
    if raw_change:
        have = [f"{k}: {v}" for k, v in conf.get("lxc") or []]
        changes.append(Change(f"{name}: raw lxc lines", "; ".join(have) or "(none)",
                              "; ".join(f"{k}: {v}" for k, v in lxc_raw.wanted(ct)),
                              (lxc_raw.edit(vmid, ct, cfg,
                                            lxc_raw.lines_digest(conf.get("lxc"))),)))
    if have_gb < ct.disk_gb:
        changes.append(Change(f"{name}: rootfs size", f"{have_gb:g} GB", f"{ct.disk_gb} GB",
                              (grow(base, ct.disk_gb),)))
    if ct.snapshot and ct.snapshot not in f["snapshots"][vmid]:
        # a run that stopped between the create and the snapshot (a failed setup, a cut
        # link) left a container whose setup may not have run: run it (guarded, as at
        # creation) before the snapshot every clone starts from
        before: list[Action] = []
        if ct.setup:
            before += [status(base, "start")] if not running else []
            before += [*lxc_inside.setup_runs(vmid, ct, cfg, f["driver"]),
                       set_up_record(vmid, ct)]
            before += [status(base, "shutdown")] if not running else []
        changes.append(Change(f"{name}: snapshot {ct.snapshot}", "missing",
                              "taken" + (" after its setups ran" if ct.setup else ""),
                              (*before, take_snapshot(base, ct.snapshot))))
    restart = restart_keys(f["pending"][vmid], diff, want, conf) + (
        ["lxc.* lines"] if raw_change else [])  # read by LXC only when it starts
    desired_state = lxc.state_of(ct)
    restarted = False  # a restart sets up and checks anew
    if running and desired_state == "stopped":
        changes.append(Change(f"{name}: state", "running", "stopped",
                              (status(base, "shutdown"),)))
    elif not running and desired_state == "running":
        changes.append(Change(f"{name}: state", "stopped", "running",
                              (status(base, "start"),
                               *lxc_inside.after_start(vmid, ct, cfg, f["driver"]))))
    elif running and restart:
        if lxc.defaults.restart_policy == "when-needed":
            restarted = True
            changes.append(Change(f"{name}: restart", "pending: " + ", ".join(restart),
                                  "applied by one reboot", (status(base, "reboot"),
                                  *lxc_inside.after_start(vmid, ct, cfg, f["driver"]))))
        else:
            held.append(f"{name}: pending until it restarts: {', '.join(restart)} "
                        "(lxc.defaults.restart_policy is never)")
    plan = Plan(changes, held=held)
    if running and desired_state == "running" and not restarted:
        return Plan.join(plan, inside_changes(vmid, ct, cfg, f))
    return plan


def inside_changes(vmid: int, ct: ContainerConfig, cfg: HostConfig, f: LxcFacts) -> Plan:
    """A running container's failing checks: setups run again, the health check retried;
    a GPU driver that no setup fixes is reported."""
    name = f"container {vmid} {ct.hostname}"
    passed = f["inside"].get(vmid)
    if vmid in f["inside_unknown"]:
        return Plan(unknown=[f"{name}: {f['inside_unknown'][vmid]}"])
    if passed is None:
        return Plan()  # not answered (it stopped since): the next run looks again
    out: list[Change] = []
    held: list[str] = []
    failing = [label.split(" ", 1)[1] for label, ok in passed.items()
               if not ok and label.startswith("setup ")]
    if failing:
        out.append(Change(f"{name}: setup " + ", ".join(failing), "check fails",
                          "set up", tuple(lxc_inside.setup_runs(vmid, ct, cfg, f["driver"],
                                                                failing))))
    if passed.get("nvidia driver") is False and not failing:
        held.append(f"{name}: its NVIDIA userspace driver is not the host's "
                    f"{f['driver'] or '(none)'}: give it a setup that installs it "
                    "(the example's `nvidia`)")
    if passed.get("health") is False:
        out.append(Change(f"{name}: health check", "failing", "passing",
                          tuple(lxc_inside.health_run(vmid, ct, f["driver"]))))
    return Plan(out, held=held)


def restart_keys(pending: list[pve.Record], diff: dict[str, str], want: dict[str, str],
                 conf: pve.Record) -> list[str]:
    """Keys that will wait for a restart of a running container after this plan: pending
    ones the plan does not set back to their current value, and the plan's own changes
    that PVE keeps pending (/pending lists each key's current `value` and `pending` one;
    `conf`, from GET config, shows pending values, so it only fills in unlisted keys)."""
    current = {**conf, **{p["key"]: p.get("value") for p in pending}}
    out = set()
    for p in pending:
        k = p["key"]
        if ("pending" in p or p.get("delete")) and not (
                k in diff and not differs(k, current.get(k), want[k])):
            out.add(k)
    out |= {k for k in diff if k not in out and takes_restart(k, current.get(k) is not None)
            and differs(k, current.get(k), want[k])}
    return sorted(out)


def check_fixed_at_creation(vmid: int, ct: ContainerConfig, lxc: LxcConfig,
                            conf: pve.Record) -> None:
    """Refuse what PVE sets only when a container is made (unprivileged, the rootfs
    storage, a disk larger than the config's), with the way to change it."""
    unpriv = lxc.unprivileged_of(ct)
    if bool(int(conf.get("unprivileged", 0))) != unpriv:
        raise StepRefused(f"container {vmid}: unprivileged is {int(conf.get('unprivileged', 0))}"
                          f", the config says {int(unpriv)}; PVE sets it only at creation: "
                          f"back it up and restore it (`pct restore --unprivileged "
                          f"{int(unpriv)}`), or change the config")
    have_storage = rootfs_volume(conf).split(":")[0]
    if have_storage != lxc.storage_of(ct):
        raise StepRefused(f"container {vmid}: rootfs is on {have_storage}, the config says "
                          f"{lxc.storage_of(ct)}: move it with `pct move-volume {vmid} rootfs "
                          f"{lxc.storage_of(ct)}`, or change the config")
    have_gb = rootfs_gb(conf)
    if have_gb > ct.disk_gb:
        raise StepRefused(f"container {vmid}: rootfs is {have_gb:g} GB, the config says "
                          f"{ct.disk_gb} GB; PVE cannot shrink a disk: set disk_gb to "
                          f"{have_gb:g}")


def rootfs_gb(conf: pve.Record) -> float:
    """The rootfs size PVE stores (its `size=`), in GB."""
    return size_gb(split_prop(str(conf.get("rootfs", ""))).get("size", "0"))
