"""Step 2, phoenix_install_nvidia_driver.sh: NVIDIA driver from NVIDIA's CUDA repository.

When the driver needs a reboot, the engine reboots, waits for the host and verifies in the
same run (the original stopped here and had to be started again).
"""

from __future__ import annotations

import re

from typing_extensions import TypedDict

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.step import HostView, Step
from phoenix_remote.engine.types import Change, InstallFile, Plan, Reboot, Run, Script
from phoenix_remote.errors import StepRefused
from phoenix_remote.facts import nvidia, packages, system
from phoenix_remote.host import files
from phoenix_remote.host.batch import Out
from phoenix_remote.host.shell import sh
from phoenix_remote.steps.common import APT_ENV, apt_install, with_lines


def source_text(line: str, path: str) -> str:
    """The repository as its file holds it: the one-line form in a `.list` file, deb822 in a
    `.sources` file (apt 3 on PVE 9 warns about one-line sources). `line` is
    `deb [signed-by=KEYRING] URI SUITE [COMPONENT...]`."""
    if not path.endswith(".sources"):
        return line + "\n"
    m = re.match(r"^(deb)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
    assert m, line  # the schema's repository pattern
    kind, options, uri, suite, components = m.groups()
    opts = dict(o.split("=", 1) for o in (options or "").split() if "=" in o)
    out = [f"Types: {kind}", f"URIs: {uri}", f"Suites: {suite}"]
    if components:
        out.append(f"Components: {components}")
    if "signed-by" in opts:
        out.append(f"Signed-By: {opts['signed-by']}")
    return "\n".join(out) + "\n"


def variant_index(cfg: HostConfig, major: int) -> int:
    """Which of nvidia.variants() applies to PVE `major` (0: the base values)."""
    extra = list(cfg.config.nvidia.by_pve_major)
    return 1 + extra.index(str(major)) if str(major) in extra else 0


class NvidiaFacts(TypedDict):
    pve_major: int
    debian: str
    gpu: bool
    loaded: bool
    smi_ok: bool
    krel: str
    blacklist: str
    installed: set[str]
    repo: str
    key: bool
    initramfs_time: int
    module_time: int


class Nvidia(Step):
    id = "nvidia"
    title = "NVIDIA driver"
    facts_model = NvidiaFacts

    def inputs(self, cfg: HostConfig) -> dict:
        return cfg.config.nvidia.model_dump()

    def skip_reason(self, cfg: HostConfig) -> str | None:
        return None if cfg.config.nvidia.enabled else "disabled in the configuration"

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        nv = cfg.config.nvidia
        variants = list(enumerate(nv.variants()))
        return {
            "pveversion": system.PVEVERSION,
            "debian": system.DEBIAN,
            "lspci": nvidia.LSPCI,
            "lsmod": nvidia.LSMOD,
            "smi": nvidia.SMI,
            "krel": system.KERNEL,
            "blacklist": files.read(nv.blacklist_file),
            "pkgs": packages.installed_query([nv.driver_package, "proxmox-default-headers",
                                               *nv.extra_packages, "proxmox-headers-*"]),
            # every release's repository and key: which applies is known from pveversion
            **{f"repo{i}": files.read(v.repository_file) for i, v in variants},
            **{f"key{i}": files.exists(v.repository_keyring, nonempty=True)
               for i, v in variants},
            "initramfs": nvidia.INITRAMFS_TIME,
            "module_time": nvidia.MODULE_TIME,
        }

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> NvidiaFacts:
        major = system.pve_major(out["pveversion"])
        i = variant_index(cfg, major)  # which repo{i}/key{i} answers are this release's
        nv = cfg.config.nvidia.for_pve(major)
        return {
            "pve_major": major,
            "debian": system.debian(out["debian"]),
            "gpu": nvidia.gpu(out["lspci"]),
            "loaded": nvidia.loaded(out["lsmod"]),
            "smi_ok": out["smi"].ok,
            "krel": system.kernel(out["krel"]),
            "blacklist": files.content(out["blacklist"], nv.blacklist_file) or "",
            "installed": packages.installed(out["pkgs"]),
            "repo": files.content(out[f"repo{i}"], nv.repository_file) or "",
            "key": files.present(out[f"key{i}"], nv.repository_keyring),
            "initramfs_time": nvidia.mtime(out["initramfs"], "the initramfs"),
            "module_time": nvidia.mtime(out["module_time"], "the nvidia module"),
        }

    def plan(self, f: NvidiaFacts, cfg: HostConfig) -> Plan:
        nv = cfg.config.nvidia.for_pve(f["pve_major"])
        if f["pve_major"] != nv.required_pve_major:
            known = sorted({v.required_pve_major for v in cfg.config.nvidia.variants()})
            raise StepRefused(f"pveversion reports PVE {f['pve_major']}, the driver step "
                              f"has values for PVE {', '.join(map(str, known))} "
                              "(nvidia.by_pve_major)")
        if not f["debian"].startswith(f"{nv.required_debian_major}."):
            raise StepRefused(f"/etc/debian_version is {f['debian']!r}, expected "
                             f"{nv.required_debian_major}.x")
        if not f["gpu"]:
            if nv.when_no_gpu == "skip":
                return Plan(notes=["no NVIDIA GPU (lspci): skipped as configured "
                                   "(nvidia.when_no_gpu=skip)"])
            raise StepRefused("no NVIDIA GPU found by lspci; set nvidia.when_no_gpu to 'skip' "
                             "for GPU-less hosts")
        if f["loaded"] and f["smi_ok"]:
            return Plan()
        changes: list[Change] = []
        if not re.search(r"^\s*blacklist\s+nouveau\s*$", f["blacklist"], re.M):
            text = with_lines(f["blacklist"], list(nv.blacklist_lines))
            changes.append(Change("blacklist nouveau", f"not in {nv.blacklist_file}",
                                  " / ".join(nv.blacklist_lines),
                                  (InstallFile(nv.blacklist_file, text),)))
        headers = f"proxmox-headers-{f['krel']}"
        missing = [p for p in (headers,) if p not in f["installed"]]
        if "proxmox-default-headers" not in f["installed"]:
            missing += list(nv.header_packages)
        if missing:
            changes.append(Change("kernel headers", "missing: " + " ".join(missing),
                                  "installed", apt_install(missing, update=True)))
        source = source_text(nv.repository, nv.repository_file)
        if source.strip() not in f["repo"] or not f["key"]:
            changes.append(Change(
                "NVIDIA CUDA repository", "missing" if not f["repo"] else "incomplete",
                nv.repository,
                (InstallFile(nv.repository_file, source),
                 Script(sh("set -e\ncurl -fsSL {0} | gpg --batch --yes --dearmor -o {1}\n"
                           "chmod 644 {1}\n", nv.repository_key_url, nv.repository_keyring),
                        "import the repository key"),
                 Run((*APT_ENV, "apt-get", "update", "-q")))))
        pkg_missing = nv.driver_package not in f["installed"]
        if pkg_missing:
            changes.append(Change(
                "NVIDIA driver", "not installed", f"{nv.driver_package} + "
                + " ".join(nv.extra_packages),
                (*apt_install([*nv.extra_packages, nv.driver_package]),
                 Run(("dkms", "autoinstall", "-k", f["krel"])))))
        if changes or pkg_missing or f["initramfs_time"] < f["module_time"]:
            changes.append(Change("initramfs", "older than the driver module", "regenerated",
                                  (Run(("update-initramfs", "-u")),)))
        if nv.reboot:
            # the original's question before its reboot, as an option (default off): the
            # system upgraded first, so the driver loads on an up-to-date kernel
            update = (Run((*APT_ENV, "apt-get", "update", "-q")),
                      Run((*APT_ENV, "apt-get", "dist-upgrade", "-y", "-q"))) \
                if nv.update_system_before_reboot else ()
            changes.append(Change("reboot", "driver not loaded", "nvidia module loaded, "
                                  "nvidia-smi answers"
                                  + (" (system upgraded first)" if update else ""),
                                  (*update, Reboot())))
        elif not changes:  # installed and ready; loading it waits for the operator's reboot
            return Plan(reboot_needed=True, notes=["driver installed; reboot to load it "
                                                   "(nvidia.reboot is off)"])
        return Plan(changes)
