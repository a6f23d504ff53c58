"""Benchmark (not a test): phoenix verify against pyinfra --dry and ansible-playbook --check,
auditing the same converged sandbox hosts, at 1 and N hosts (default 20), interleaved reps.

What each tool did is counted on the hosts, not taken from the tools: SSH connections and
the commands run over them from sshd's journal (LogLevel VERBOSE: "Accepted publickey",
"Starting session: command|subsystem"), Proxmox API requests from the API's own request
log, CPU inside the hosts from their cgroups; the workstation's CPU is the tool process's
rusage. Before timing, each peer must report 0 changes on the converged hosts and must
catch a drift injected on one host (a file's content and a ZFS property), as phoenix does.

The peers run from their own venv (bench/peers/requirements.txt, pinned), made here.

    python bench/compare.py [N] [REPS]        (root; purges, starts and converges N hosts)
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.peers import audit_items  # noqa: E402
from bench.verify_fleet import fresh_hosts, host_cpu_s  # noqa: E402
from tests.integration.phoenix_run import make_inventory  # noqa: E402
from tests.sandbox import lab  # noqa: E402

PEERS = ROOT / "bench" / "peers"
VENV = ROOT / ".bench-venv"
TOOLS = ("phoenix", "pyinfra", "ansible")


def peer_venv() -> Path:
    """The peers' venv, made once from the pinned requirements."""
    req = (PEERS / "requirements.txt").read_text()
    stamp = VENV / "requirements.txt"
    if not stamp.exists() or stamp.read_text() != req:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin/pip"), "install", "-q", "-r",
                        str(PEERS / "requirements.txt")], check=True)
        stamp.write_text(req)
    return VENV / "bin"


def peer_inventories(hosts: list[dict], work: Path, tag: str) -> dict[str, Path]:
    names = [h["name"] for h in hosts]
    pyinfra = work / f"pyinfra-{tag}.py"
    pyinfra.write_text("hosts = [\n" + "".join(
        f"    ({h['address']!r}, {{'ssh_user': 'root', 'ssh_key': {str(lab.SSH_KEY)!r}, "
        f"'ssh_known_hosts_file': '/dev/null', 'ssh_strict_host_key_checking': 'no'}}),\n"
        for h in hosts) + "]\n")
    ansible = work / f"ansible-{tag}.ini"
    ansible.write_text("[all]\n" + "".join(
        f"{h['name']} ansible_host={h['address']} ansible_user=root "
        f"ansible_ssh_private_key_file={lab.SSH_KEY}\n" for h in hosts))
    return {"pyinfra": pyinfra, "ansible": ansible, "names": names}  # type: ignore[dict-item]


def command_for(tool: str, inv: dict, work: Path, bin_dir: Path) -> list[str]:
    if tool == "phoenix":
        return [sys.executable, "-m", "phoenix_remote", "verify", "--json", "-i",
                str(inv["phoenix"]), "--known-hosts", str(work / "known_hosts"),
                "--log-dir", str(work / "logs")]
    if tool == "pyinfra":
        return [str(bin_dir / "pyinfra"), "--dry", "--parallel", "20",
                str(inv["pyinfra"]), str(PEERS / "pyinfra_deploy.py")]
    return [str(bin_dir / "ansible-playbook"), "--check", "-f", "20", "-i",
            str(inv["ansible"]), str(PEERS / "playbook.yml")]


def changes_reported(tool: str, proc: subprocess.CompletedProcess) -> int:
    """How many changes (or failed checks) the tool reported: 0 means in policy."""
    if tool == "phoenix":
        doc = json.loads(proc.stdout)
        return sum(len(s["changes"]) + (s["status"] in ("failed", "unknown"))
                   for h in doc["hosts"] for s in h["steps"])
    if tool == "pyinfra":
        # --dry prints one row per operation: its name, then "Change" and "Conditional
        # Change" as "-" or "N (hosts...)"; a failed fact makes the run exit non-zero
        text = proc.stdout + proc.stderr
        if proc.returncode or "Conditional Change" not in text:
            return 10**6
        table = text.split("Conditional Change", 1)[1]
        return sum(int(n) for n in re.findall(r"\s(\d+) \(", table))
    recap = re.findall(r"changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", proc.stdout)
    return sum(int(c) + int(u) + int(f) for c, u, f in recap) if recap else 10**6


def counted_on_hosts(names: list[str], since: float) -> dict[str, int]:
    """Hosts contacted, SSH connections, commands and API requests the hosts logged since
    `since`."""
    out = {"contacted": 0, "connections": 0, "commands": 0, "api": 0}
    for name in names:
        # by sshd's identifier, not its unit: after PAM opens the session, journald files
        # a connection's lines under session-N.scope
        log = "".join(lab.fleet("exec", int(name[2:]), "journalctl", "-o", "cat", "--no-pager",
                                f"--since=@{since:.3f}", *match, check=False).stdout
                      for match in (("-t", "sshd", "-t", "sshd-session"), ("-u", "pveproxy")))
        connections = log.count("Accepted publickey for root")
        out["contacted"] += connections > 0
        out["connections"] += connections
        out["commands"] += len(re.findall(r"Starting session: (command|subsystem)", log))
        out["api"] += len(re.findall(r'"(GET|POST|PUT|DELETE) /api2/', log))
    return out


def run_tool(tool: str, argv: list[str], names: list[str], env: dict) -> dict:
    time.sleep(1.1)  # journal timestamps: keep runs apart
    since = time.time()
    # Ansible multiplexes each host's commands over one connection (ControlPersist); each
    # run gets its own control directory, so that it starts cold as the others do
    env = {**env, "ANSIBLE_SSH_CONTROL_PATH_DIR": tempfile.mkdtemp(prefix="ansible-cp-")}
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    in0, t0 = host_cpu_s(names), time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=3600)
    wall = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    time.sleep(1.0)  # let the journals catch up
    counts = counted_on_hosts(names, since)
    return {"wall": wall, "ws_cpu": cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime
            - cpu0.ru_stime, "host_cpu": host_cpu_s(names) - in0,
            "changes": changes_reported(tool, proc), "exit": proc.returncode, **counts,
            "tail": proc.stdout[-1500:] + proc.stderr[-1500:]}


def drift_check(tools: dict, sb1: int) -> None:
    """Every tool: 0 changes when converged, >0 with a drift injected on sb1."""
    for tool, (argv, names, env) in tools.items():
        r = run_tool(tool, argv, names, env)
        assert r["changes"] == 0, f"{tool} reports changes on converged hosts:\n{r['tail']}"
    lab.fleet("exec", sb1, "sh", "-c", "echo drift >> /etc/logrotate.d/proxmox_setup && "
              "zfs set compression=off fastData/shared-iso")
    try:
        for tool, (argv, names, env) in tools.items():
            r = run_tool(tool, argv, names, env)
            assert r["changes"] > 0, f"{tool} missed the injected drift:\n{r['tail']}"
            print(f"  {tool}: 0 changes when converged; the injected drift reported "
                  f"({r['changes']} change(s)/failed checks)")
    finally:
        lab.fleet("exec", sb1, "sh", "-c", "sed -i '/^drift$/d' /etc/logrotate.d/proxmox_setup"
                  " && zfs set compression=lz4 fastData/shared-iso")


def no_containers(inv: dict) -> None:
    """The host audit only: the peers have no container audit to compare with."""
    for h in inv["hosts"].values():
        h.pop("containers", None)


def main(n: int, reps: int) -> int:
    bin_dir = peer_venv()
    versions = {t: subprocess.run([str(bin_dir / t), "--version"], capture_output=True,
                                  text=True).stdout.split("\n")[0] for t in ("pyinfra",
                                                                           "ansible")}
    work = Path(tempfile.mkdtemp(prefix="phoenix-compare-"))
    hosts = fresh_hosts(n)
    inv_all = make_inventory(work, edit=no_containers)
    t0 = time.monotonic()
    first = subprocess.run([sys.executable, "-m", "phoenix_remote", "apply", "-i", str(inv_all),
                            "--known-hosts", str(work / "known_hosts"), "--log-dir",
                            str(work / "logs")], cwd=ROOT, capture_output=True, text=True)
    print(f"converged {n} fresh hosts with phoenix apply in {time.monotonic() - t0:.1f} s "
          f"(exit {first.returncode})")
    if first.returncode:
        print(first.stdout[-3000:])
        return 1
    audit_items.build([h["address"] for h in hosts], lab.SSH_KEY, work)
    env = dict(os.environ, PHOENIX_AUDIT=str(work / "audit.json"),
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
               ANSIBLE_STDOUT_CALLBACK="default", COLUMNS="200")
    sets = {}
    for k in (1, n):
        tag = str(k)
        inv = peer_inventories(hosts[:k], work, tag)
        (work / tag).mkdir()
        inv["phoenix"] = make_inventory(work / tag, hosts=inv["names"], edit=no_containers)
        sets[k] = {t: (command_for(t, inv, work, bin_dir), inv["names"], env)
                   for t in TOOLS}
    print(f"peers: {versions['pyinfra']}, {versions['ansible']}")
    print("honesty check on 1 host:")
    drift_check(sets[1], 1)
    results: dict[tuple[str, int], list[dict]] = {}
    for _rep in range(reps):
        for k in (1, n):
            for tool in TOOLS:
                argv, names, e = sets[k][tool]
                r = run_tool(tool, argv, names, e)
                if r["changes"]:
                    print(f"{tool} at {k} hosts reported {r['changes']} changes:\n{r['tail']}")
                    return 1
                results.setdefault((tool, k), []).append(r)
    report(results, n)
    return 0


def report(results: dict, n: int) -> None:
    def med(tool: str, k: int, key: str) -> float:
        return statistics.median(r[key] for r in results[(tool, k)])
    print(f"\nmedians of {len(results[('phoenix', 1)])} interleaved reps "
          "(counts from the hosts' journals and cgroups):")
    print(f"{'':34}" + "".join(f"{t:>14}" for t in TOOLS))
    rows = [("1 host, wall (s)", lambda t: med(t, 1, "wall")),
            (f"{n} hosts, wall (s)", lambda t: med(t, n, "wall")),
            ("CPU inside each host (s)", lambda t: med(t, n, "host_cpu") / n),
            (f"workstation CPU/host, {n} hosts (s)", lambda t: med(t, n, "ws_cpu") / n),
            ("SSH connections per host", lambda t: med(t, n, "connections") / n),
            ("remote commands per host", lambda t: med(t, n, "commands") / n),
            ("API requests per host", lambda t: med(t, n, "api") / n)]
    for label, f in rows:
        print(f"{label:34}" + "".join(f"{f(t):>14.2f}" for t in TOOLS))
    # the hosts share this machine's 2 cores: their CPU (mostly the sandbox's Python
    # stand-ins) is part of every wall time above; taken out, what is left is the tool's
    print(f"{n} hosts, wall - hosts' CPU/2 (s)".ljust(34) + "".join(
        f"{max(med(t, n, 'wall') - med(t, n, 'host_cpu') / 2, 0):>14.2f}" for t in TOOLS))
    for k in (1, n):
        p = med("phoenix", k, "wall")
        print(f"phoenix / pyinfra wall at {k} host(s): {p / med('pyinfra', k, 'wall'):.2f} "
              f"(goal <= 0.5); phoenix / ansible: {p / med('ansible', k, 'wall'):.2f}")
    print(f"phoenix {n} hosts / 1 host: {med('phoenix', n, 'wall') / med('phoenix', 1, 'wall'):.2f}"
          " (goal <= 3)")


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20,
                  int(sys.argv[2]) if len(sys.argv) > 2 else 3))
