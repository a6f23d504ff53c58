"""Benchmark (not a test): phoenix apply and verify on sandbox hosts, with proof of what ran.

For 1 host and for N hosts (default 20), each run gets its own inventory file, and every
figure comes from what happened, not from what was asked:
- hosts contacted, SSH connections and round trips: from the run's own JSON (per host);
- CPU used inside the hosts: from the hosts' cgroups (cpu.stat usage_usec, before/after);
- CPU used on the workstation: the phoenix process's rusage.
A peer for the verify: the same probe commands over one `ssh` each, as a pile of scripts
would run them (pyinfra and Ansible are not installed here: see the issue's closing note).

    python bench/verify_fleet.py [N]        (root; starts, purges and converges the hosts)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.phoenix_run import make_inventory, phoenix  # noqa: E402
from tests.sandbox import lab  # noqa: E402

CGROUPS = (Path("/sys/fs/cgroup/unified/phoenix-sandbox"), Path("/sys/fs/cgroup/phoenix-sandbox"))


def host_cpu_s(names: list[str]) -> float:
    """CPU seconds the hosts' cgroups have used so far (all their processes). Looked up on
    every call: the sandbox makes its cgroup when it starts."""
    base = next(p for p in CGROUPS if p.exists())
    total = 0
    for name in names:
        stat = (base / name / "cpu.stat").read_text()
        total += next((int(line.split()[1]) for line in stat.splitlines()
                       if line.startswith("usage_usec")), 0)
    return total / 1e6


def measured(mode: str, inv: Path, work: Path, names: list[str]) -> dict:
    """Run phoenix once; return wall, CPU (workstation, hosts) and the run's own counts."""
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    in0, t0 = host_cpu_s(names), time.monotonic()
    proc = phoenix(mode, inventory=inv, tmp=work, json_out=True, timeout=3600)
    wall = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    doc = json.loads(proc.stdout)
    hosts = doc["hosts"]
    return {"exit": proc.returncode, "wall": wall,
            "ws_cpu": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
            "host_cpu": host_cpu_s(names) - in0,
            "contacted": sum(1 for h in hosts if h["connections"] > 0),
            "connections": sum(h["connections"] for h in hosts),
            "round_trips": sum(h["round_trips"] for h in hosts), "asked": len(names),
            "statuses": sorted({h["status"] for h in hosts})}


def show(label: str, r: dict) -> None:
    n = max(r["contacted"], 1)
    print(f"{label:<22} exit {r['exit']}  {r['contacted']}/{r['asked']} hosts contacted  "
          f"wall {r['wall']:7.2f} s  connections/host {r['connections'] / n:.1f}  "
          f"round trips/host {r['round_trips'] / n:.1f}  workstation CPU/host "
          f"{r['ws_cpu'] / n:.3f} s  CPU inside each host {r['host_cpu'] / n:.2f} s  "
          f"{','.join(r['statuses'])}")


def naive_peer(host: dict, inv: Path) -> tuple[float, int]:
    """The probe commands of one host over one OpenSSH connection each."""
    commands = probe_commands(inv)
    t0 = time.monotonic()
    for cmd in commands:
        subprocess.run(["ssh", *lab.SSH_OPTS, "-i", str(lab.SSH_KEY), f"root@{host['address']}",
                        cmd], capture_output=True, timeout=60)
    return time.monotonic() - t0, len(commands)


def probe_commands(inv: Path) -> list[str]:
    """Every command the steps' batch would run for the first host (de-duplicated)."""
    from phoenix_remote.config import inventory as inventory_mod
    from phoenix_remote.steps import STEPS
    result = inventory_mod.load(ROOT / "etc/hypervisor_config.json", inv, secrets="none")
    cfg = next(iter(result.hosts.values()))
    return list(dict.fromkeys(c for s in STEPS for c in s.commands(cfg).values()))


def fresh_hosts(n: int) -> list[dict]:
    """Hosts sb1..sbN factory-fresh (the sandbox stopped, their disks deleted) and started."""
    lab.down()
    for i in range(1, n + 1):
        lab.purge(i)
    lab.up(n)
    return lab.describe(list(range(1, n + 1)))


def main(n: int) -> int:
    work = Path(tempfile.mkdtemp(prefix="phoenix-bench-"))
    hosts = fresh_hosts(n)
    names = [h["name"] for h in hosts]
    (work / "one").mkdir()
    (work / "all").mkdir()
    inv_one = make_inventory(work / "one", hosts=names[:1])
    inv_all = make_inventory(work / "all")
    assert inv_one != inv_all  # the old benchmark wrote both to one file: never again
    results = {}
    # first apply: one host alone, then the other N-1 (fresh) together
    inv_rest = make_inventory(work / "all", hosts=names[1:]) if n > 1 else None
    results["apply 1 (fresh)"] = measured("apply", inv_one, work / "one", names[:1])
    if inv_rest:
        results[f"apply {n - 1} (fresh)"] = measured("apply", inv_rest, work / "all",
                                                   names[1:])
    inv_all = make_inventory(work / "all")
    results["apply 1 (converged)"] = measured("apply", inv_one, work / "one", names[:1])
    for rep in range(3):  # interleaved repetitions; the medians are printed below
        results[f"verify 1 #{rep}"] = measured("verify", inv_one, work / "one", names[:1])
        results[f"verify {n} #{rep}"] = measured("verify", inv_all, work / "all", names)
    for label, r in results.items():
        show(label, r)
    med = {k: sorted(results[f"verify {k} #{i}"]["wall"] for i in range(3))[1]
           for k in (1, n)}
    inside = {k: sorted(results[f"verify {k} #{i}"]["host_cpu"] for i in range(3))[1]
              for k in (1, n)}
    print(f"\nverify medians: 1 host {med[1]:.2f} s, {n} hosts {med[n]:.2f} s: "
          f"ratio {med[n] / med[1]:.2f}x (target <= 3x)")
    # the hosts share this machine's 2 cores: take their own probe CPU out of the wall time
    adj_1 = max(med[1] - inside[1], 0.01)
    adj_n = max(med[n] - inside[n] / 2, 0.01)  # 2 cores run the hosts' work in parallel
    print(f"  with the hosts' CPU taken out (2 cores): 1 host {adj_1:.2f} s, {n} hosts "
          f"{adj_n:.2f} s: ratio {adj_n / adj_1:.2f}x")
    t_naive, count = naive_peer(hosts[0], inv_one)
    print(f"peer: the same {count} probe commands over one ssh each: {t_naive:.2f} s; "
          f"phoenix verify of 1 host: {med[1]:.2f} s; phoenix is {t_naive / med[1]:.2f}x "
          "faster")
    bad = [k for k, r in results.items() if r["exit"] != 0 or r["contacted"] != r["asked"]]
    print("all runs exited 0 and contacted every host" if not bad else f"NOT OK: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
