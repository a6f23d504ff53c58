"""Step 2, phoenix_install_nvidia_driver.sh: NVIDIA driver from NVIDIA's CUDA repository.

When the driver needs a reboot, the engine reboots, waits for the host and verifies in the
same run (the original stopped here and had to be started again).
"""

from __future__ import annotations

import re
from typing import Any

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.types import Change, InstallFile, Plan, Reboot, Run, Script
from phoenix_remote.errors import StepRefused
from phoenix_remote.facts import packages
from phoenix_remote.facts.batch import Out
from phoenix_remote.host.shell import sh
from phoenix_remote.steps.common import APT_ENV, apt_install

KEYRING = "/etc/apt/trusted.gpg.d/cuda-archive-keyring.gpg"


class Nvidia:
    id = "nvidia"
    title = "NVIDIA driver"

    def inputs(self, cfg: HostConfig) -> dict:
        return cfg.config.nvidia.model_dump()

    def skip_reason(self, cfg: HostConfig) -> str | None:
        return None if cfg.config.nvidia.enabled else "disabled in the configuration"

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        nv = cfg.config.nvidia
        return {
            "pveversion": "pveversion",
            "debian": "cat /etc/debian_version",
            "lspci": "lspci",
            "lsmod": "lsmod",
            # only with the module already loaded: nvidia-smi would otherwise load it
            "smi": "lsmod | grep -q '^nvidia ' && nvidia-smi",
            "krel": "uname -r",
            "blacklist": sh("cat {}", nv.blacklist_file),
            "pkgs": packages.installed_query([nv.driver_package, "proxmox-default-headers",
                                               *nv.extra_packages, "proxmox-headers-*"]),
            "repo": sh("cat {}", nv.repository_file),
            "key": sh("test -s {}", KEYRING),
            "initramfs": "stat -c %Y /boot/initrd.img-$(uname -r)",
            "module_built": "ls /lib/modules/$(uname -r)/updates/dkms/ 2>/dev/null | grep -c "
                            "'^nvidia'",
            "module_time": "stat -c %Y /lib/modules/$(uname -r)/updates/dkms/nvidia.ko",
        }

    def facts(self, out: dict[str, Out], host: Any, cfg: HostConfig) -> dict:
        pve = re.search(r"pve-manager/(\d+)\.", out["pveversion"].text)
        return {
            "pve_major": int(pve.group(1)) if pve else None,
            "debian": out["debian"].text.strip(),
            "gpu": bool(re.search(r"NVIDIA", out["lspci"].text)),
            "loaded": bool(re.search(r"^nvidia\s", out["lsmod"].text, re.M)),
            "smi_ok": out["smi"].ok,
            "smi": out["smi"].text,
            "krel": out["krel"].text.strip(),
            "blacklist": out["blacklist"].text if out["blacklist"].ok else "",
            "installed": packages.installed(out["pkgs"]),
            "repo": out["repo"].text if out["repo"].ok else "",
            "key": out["key"].ok,
            "initramfs_time": int(out["initramfs"].text.strip() or 0)
            if out["initramfs"].ok else 0,
            "module_time": int(out["module_time"].text.strip() or 0)
            if out["module_time"].ok else 0,
        }

    def plan(self, f: dict, cfg: HostConfig) -> Plan:
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
