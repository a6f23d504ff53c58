"""The audit the peers run, built from phoenix's own config and a converged host, so that
pyinfra and Ansible check the same things phoenix's verify checks over SSH (phoenix also
checks what only the Proxmox API shows: storages, users, ACLs, containers; the peers do
not, which favours them).

Items: packages installed; files with exactly the content phoenix wrote (read from the
first converged host, kept only when every host has the same bytes); the admin user
(shell, group); services enabled and running; ZFS pools present and each dataset's
declared properties. Written as JSON for both peers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.sandbox import lab

ROOT = Path(__file__).resolve().parents[2]
FILES = ["/etc/modprobe.d/blacklist.conf", "/etc/logrotate.d/proxmox_setup", "/etc/exports",
         "/etc/samba/smb.conf", "/etc/sudoers.d/heads", "/etc/chrony/conf.d/phoenix.conf"]
SERVICES = ["smbd", "nfs-server", "chrony", "ssh"]


def read_on(address: str, key: Path, path: str) -> bytes | None:
    r = subprocess.run(["ssh", *lab.SSH_OPTS, "-i", str(key), f"root@{address}", "cat", path],
                       capture_output=True, timeout=60)
    return r.stdout if r.returncode == 0 else None


def build(addresses: list[str], key: Path, out_dir: Path) -> dict:
    cfg = json.loads((ROOT / "etc/hypervisor_config.json").read_text())
    nv = cfg["nvidia"]
    packages = (cfg["base_packages"] + cfg["samba_packages"] + cfg["nfs"]["packages"]
                + cfg["samba"]["packages"] + [cfg["zfs"]["package"]] + nv["header_packages"]
                + [nv["driver_package"]] + nv["extra_packages"])
    files = {}
    for path in FILES:
        seen = {read_on(a, key, path) for a in addresses}
        if len(seen) == 1 and None not in seen:
            local = out_dir / "files" / path.lstrip("/").replace("/", "__")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(seen.pop())
            files[path] = str(local)
    pools = [p for p, v in cfg["zfs"]["pools"].items() if v["enabled"]]
    datasets = {f"{pool}/{name}": props for pool, sets in cfg["zfs"]["datasets"].items()
                if pool in pools for name, props in sets.items()}
    user = cfg["admin_user"]
    items = {"packages": sorted(set(packages)), "files": files,
             "user": {"name": user["username"], "shell": user["shell"],
                      "group": user["group"]},
             "services": SERVICES, "pools": pools, "datasets": datasets}
    (out_dir / "audit.json").write_text(json.dumps(items, indent=1))
    return items
