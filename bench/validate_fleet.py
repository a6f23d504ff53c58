"""Benchmark (not a test): `phoenix validate` of a large generated inventory.

Every host has its own address, drives and network identity (as a real inventory would),
so no two hosts share a resolved config. Prints the wall time per host count and the ratio
to the 5 s target for 10,000 hosts (issue: hostile input / 10,000-host inventory).

    .venv/bin/python bench/validate_fleet.py [HOSTS ...]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 5.0


def inventory(n: int) -> str:
    lines = ["defaults:", "  secrets: {admin_password: {env: PH_BENCH_A}, "
             "smb_password: {env: PH_BENCH_B}}", "hosts:"]
    for i in range(n):
        a, b = divmod(i, 250)
        ip = f"10.{100 + a // 250}.{a % 250}.{b + 1}"
        lines += [f"  pve{i}:", f"    address: {ip}", "    drives:",
                  f"      quickOS: [/dev/disk/by-id/nvme-A{i}, /dev/disk/by-id/nvme-B{i}]",
                  f"      fastData: [/dev/disk/by-id/nvme-C{i}]",
                  "    config:",
                  f"      network: {{hostname: pve{i}, interface: vmbr0, address: {ip}/8, "
                  "gateway: 10.0.0.1, dns: 10.0.0.1}"]
    return "\n".join(lines) + "\n"


def main(counts: list[int]) -> None:
    work = Path(tempfile.mkdtemp(prefix="phoenix-bench-validate-"))
    print(f"{'hosts':>6} {'wall s':>8} {'ms/host':>8}  result")
    for n in counts:
        path = work / f"inv-{n}.yaml"
        path.write_text(inventory(n))
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, "-m", "phoenix_remote", "validate", "-i", str(path)],
                           cwd=ROOT, capture_output=True, text=True)
        took = time.monotonic() - t0
        # the run's own output says how many hosts it resolved: proof of what ran
        print(f"{n:>6} {took:8.2f} {1000 * took / n:8.3f}  exit {p.returncode}: "
              f"{(p.stdout or p.stderr).strip().splitlines()[-1][:90]}")
        if n == 10000:
            print(f"10,000 hosts: {took:.2f} s = {took / TARGET_S:.2f}x the "
                  f"{TARGET_S:.0f} s target")


if __name__ == "__main__":
    main([int(x) for x in sys.argv[1:]] or [1, 100, 1000, 10000])
