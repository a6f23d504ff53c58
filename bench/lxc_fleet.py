"""Benchmark (not a test): containers on 1 host and on N hosts (default 5), from fresh hosts.

Every host gets the sandbox's container set (template base, GPU template and Docker
template cloned from it, a service with setup and health check cloned from the Docker one,
a GPU service: tests/sandbox/lab.py), each host with its own addresses and MACs (a fleet
may not share them). Printed per run: exit code, wall time, hosts contacted, SSH
connections and round trips (from the run's JSON), containers running on the hosts and
`pct exec` answers from inside them (asked of the hosts after the runs).

    python bench/lxc_fleet.py [N]        (root; purges and starts sandbox hosts)
"""

from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.verify_fleet import fresh_hosts, measured, show  # noqa: E402
from tests.integration.phoenix_run import make_inventory  # noqa: E402
from tests.sandbox import lab  # noqa: E402

VMIDS = [900, 901, 902, 910, 953]


def with_containers(inv: dict) -> None:
    """Give every host sb1's container set, addresses and MACs made unique per host."""
    base = inv["hosts"]["sb1"]["config"]["lxc"]
    for name, host in inv["hosts"].items():
        i = int(name[2:])
        lxc = copy.deepcopy(base)
        for n, vmid in enumerate(VMIDS):
            ct = lxc["containers"].setdefault(str(vmid), {})
            ct["net"] = {"net0": {"ip": f"10.0.0.{20 * (n + 1) + i}/24",
                                  "hwaddr": f"52:54:00:{i:02X}:{n:02X}:01"}}
        host["config"]["lxc"] = lxc
        host["containers"] = VMIDS


def inside_answers(names: list[str]) -> str:
    """Containers running and answering `pct exec` on each host, asked over ssh."""
    out = []
    for name in names:
        i = int(name[2:])
        r = lab.fleet("exec", i, "sh", "-c", "pct list | grep -c running; "
                      "for v in 910 953; do pct exec $v -- hostname; done", check=False)
        lines = r.stdout.split()
        out.append(f"{name}: {lines[0] if lines else '?'} running, exec answers "
                   f"{'/'.join(lines[1:]) or 'none'}")
    return "; ".join(out)


def run(n: int, work: Path) -> None:
    names = [h["name"] for h in fresh_hosts(n)]
    inv = make_inventory(work, edit=lambda d: (d.update(hosts={k: v for k, v in d["hosts"].items()
                                                               if k in names}),
                                               with_containers(d)))
    assert sorted(yaml.safe_load(inv.read_text())["hosts"]) == sorted(names)
    for label in ("first apply", "second apply", "verify"):
        r = measured("apply" if "apply" in label else "verify", inv, work, names)
        show(f"{label}, {n} host(s)", r)
    print(f"  inside: {inside_answers(names)}")


def main(n: int) -> int:
    for hosts in (1, n):
        work = Path(tempfile.mkdtemp(prefix=f"phoenix-lxc-bench-{hosts}-"))
        run(hosts, work)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
