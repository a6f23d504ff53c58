"""Benchmark (not a test): phoenix verify on converged sandbox hosts.

Reports, for a converged host: SSH connections opened and round trips per step; the wall
time of verify for 1 and for N hosts (default 20) and their ratio; and the same probes run
the naive way (one `ssh` per command, as a pile of scripts would) as a peer, for a ratio.
Targets (issue 5): 1 connection per host, <= 2 round trips per step, N hosts <= 3x one.

    python bench/verify_fleet.py [N]        (root; starts and converges the sandbox hosts)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.phoenix_run import make_inventory, phoenix  # noqa: E402
from tests.sandbox import lab  # noqa: E402


def timed(fn):
    t0 = time.monotonic()
    result = fn()
    return result, time.monotonic() - t0


def naive_probe_time(host: dict, commands: list[str]) -> float:
    """One OpenSSH connection per probe command: the peer the batched probes replace."""
    t0 = time.monotonic()
    for cmd in commands:
        subprocess.run(["ssh", *lab.SSH_OPTS, "-i", str(lab.SSH_KEY),
                        f"root@{host['address']}", cmd], capture_output=True, timeout=60)
    return time.monotonic() - t0


def main(n: int) -> int:
    work = Path(tempfile.mkdtemp(prefix="phoenix-bench-"))
    lab.up(n)
    hosts = lab.describe(list(range(1, n + 1)))
    inv_all = make_inventory(work)
    inv_one = make_inventory(work, hosts=["sb1"])
    converge, t_apply = timed(lambda: phoenix("apply", inventory=inv_all, tmp=work,
                                              timeout=3600))
    if converge.returncode != 0:
        print(converge.stdout[-3000:], converge.stderr[-3000:])
        return 1
    one, t_one = timed(lambda: phoenix("verify", inventory=inv_one, tmp=work, json_out=True))
    many, t_many = timed(lambda: phoenix("verify", inventory=inv_all, tmp=work,
                                         json_out=True, timeout=3600))
    assert one.returncode == 0 and many.returncode == 0, (one.stdout[-2000:], many.stdout[-2000:])
    doc = json.loads(one.stdout)["hosts"][0]
    print(f"converging apply of {n} hosts: {t_apply:.1f} s")
    print(f"verify, 1 converged host: {doc['connections']} SSH connection(s), "
          f"{doc['round_trips']} round trips in all")
    for s in doc["steps"]:
        print(f"  {s['step']:<14} {s['round_trips']} round trip(s)  {s['duration_s']:.2f} s")
    worst = max(s["round_trips"] for s in doc["steps"])
    print(f"verify wall time: 1 host {t_one:.2f} s, {n} hosts {t_many:.2f} s, "
          f"ratio {t_many / t_one:.2f}x (target <= 3x)")
    commands = probe_commands()
    t_naive = naive_probe_time(hosts[0], commands)
    print(f"peer: the same {len(commands)} probe commands over one ssh each: {t_naive:.2f} s; "
          f"phoenix verify of 1 host: {t_one:.2f} s; ratio {t_naive / t_one:.2f}x")
    ok = doc["connections"] == 1 and worst <= 2 and t_many / t_one <= 3
    print("targets met" if ok else "targets NOT met")
    return 0


def probe_commands() -> list[str]:
    """The probe commands of every step, as the steps build them for the sandbox host."""
    import phoenix_remote.facts.batch as batch
    from phoenix_remote.config import inventory as inv
    from phoenix_remote.host.host import Host
    from phoenix_remote.steps import STEPS
    seen: list[str] = []
    real = batch.collect

    def record(host, commands):
        seen.extend(commands.values())
        return real(host, commands)
    batch.collect = record
    cfg = inv.load(ROOT / "etc/hypervisor_config.json", ROOT / ".sandbox/inventory.yaml",
                   secrets="available").hosts["sb1"]
    host = Host(cfg, readonly=True, known_hosts=Path("/dev/null"))
    for step in STEPS:
        mod = sys.modules[type(step).__module__]
        mod.collect = record  # the steps imported collect by name
        try:
            step.probe(host, cfg)
        finally:
            mod.collect = real
    host.close()
    return seen


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
