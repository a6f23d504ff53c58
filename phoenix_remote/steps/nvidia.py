"""Step 2, phoenix_install_nvidia_driver.sh: NVIDIA driver from NVIDIA's CUDA repository.

When the driver needs a reboot, the engine reboots, waits for the host and verifies in the
same run (the original stopped here and had to be started again).
"""

from __future__ import annotations

import re
from typing import Any

from typing_extensions import TypedDict

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.types import Change, InstallFile, Plan, Reboot, Run, Script
from phoenix_remote.errors import StepRefused
from phoenix_remote.facts import files, nvidia, packages, system
from phoenix_remote.facts.batch import Out
from phoenix_remote.host.shell import sh
from phoenix_remote.steps.common import APT_ENV, apt_install

KEYRING = "/etc/apt/trusted.gpg.d/cuda-archive-keyring.gpg"


class NvidiaFacts(TypedDict):
    pve_major: int
    debian: str
    gpu: bool
    loaded: bool
    smi_ok: bool
    smi: str
    krel: str
    blacklist: str
    installed: set[str]
    repo: str
    key: bool
    initramfs_time: int
    module_time: int


class Nvidia:
    id = "nvidia"
    title = "NVIDIA driver"
    facts_model = NvidiaFacts

    def inputs(self, cfg: HostConfig) -> dict:
        return cfg.config.nvidia.model_dump()

    def skip_reason(self, cfg: HostConfig) -> str | None:
        return None if cfg.config.nvidia.enabled else "disabled in the configuration"

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        nv = cfg.config.nvidia
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
            "repo": files.read(nv.repository_file),
            "key": files.exists(KEYRING, nonempty=True),
            "initramfs": nvidia.INITRAMFS_TIME,
            "module_time": nvidia.MODULE_TIME,
        }

    def facts(self, out: dict[str, Out], host: Any, cfg: HostConfig) -> NvidiaFacts:
        nv = cfg.config.nvidia
        return {
            "pve_major": system.pve_major(out["pveversion"]),
            "debian": system.debian(out["debian"]),
            "gpu": nvidia.gpu(out["lspci"]),
            "loaded": nvidia.loaded(out["lsmod"]),
            "smi_ok": out["smi"].ok,
            "smi": out["smi"].text,
            "krel": system.kernel(out["krel"]),
            "blacklist": files.content(out["blacklist"], nv.blacklist_file) or "",
            "installed": packages.installed(out["pkgs"]),
            "repo": files.content(out["repo"], nv.repository_file) or "",
            "key": files.present(out["key"], KEYRING),
            "initramfs_time": nvidia.mtime(out["initramfs"], "the initramfs"),
            "module_time": nvidia.mtime(out["module_time"], "the nvidia module"),
        }

    def plan(self, f: NvidiaFacts, cfg: HostConfig) -> Plan:
        nv = cfg.config.nvidia
        if f["pve_major"] != nv.required_pve_major:
            raise StepRefused(f"pveversion reports PVE {f['pve_major']}, the driver step "
                             f"needs PVE {nv.required_pve_major}")
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
        changes = Plan()
        if not re.search(r"^\s*blacklist\s+nouveau\s*$", f["blacklist"], re.M):
            text = f["blacklist"] + ("" if not f["blacklist"] or f["blacklist"].endswith("\n")
                                     else "\n") + "".join(x + "\n" for x in nv.blacklist_lines)
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
        if nv.repository not in f["repo"] or not f["key"]:
            changes.append(Change(
                "NVIDIA CUDA repository", "missing" if not f["repo"] else "incomplete",
                nv.repository,
                (InstallFile(nv.repository_file, nv.repository + "\n"),
                 Script(sh("set -e\ncurl -fsSL {0} | gpg --batch --yes --dearmor -o {1}\n"
                           "chmod 644 {1}\n", nv.repository_key_url, KEYRING),
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
            changes.append(Change("reboot", "driver not loaded", "nvidia module loaded, "
                                  "nvidia-smi answers", (Reboot(),)))
        elif not changes:  # installed and ready; loading it waits for the operator's reboot
            changes.reboot_needed = True
            changes.notes.append("driver installed; reboot to load it (nvidia.reboot is off)")
        return changes
