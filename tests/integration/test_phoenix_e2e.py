"""phoenix plan/apply/verify on fresh sandbox hosts, checked with the hosts' own tools
(issues 5 and 6). One fleet is converged once per module; tests then inspect and disturb it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_json_schemas import checked
from tests.config.test_shipped_values import SPEC_DATASETS as SPEC_PROPS
from tests.conftest import ROOT
from tests.integration.conftest import N_HOSTS, SandboxHost
from tests.integration.phoenix_run import (
    SENTINEL_ADMIN,
    SENTINEL_SMB,
    make_inventory,
    phoenix,
    report,
    statuses,
)
from tests.sandbox import lab

pytestmark = pytest.mark.sandbox
TIMES: dict[str, float] = {}
SPEC_STORAGE = {"vm-disks": ("zfspool", "images"), "lxc-disks": ("zfspool", "rootdir"),
                "shared-prod-data": ("dir", "images"), "shared-prod-data-sync": ("dir", "images"),
                "shared-backups": ("dir", "backup"), "shared-iso": ("dir", "iso,vztmpl"),
                "shared-test-data": ("dir", "images"), "shared-bulk-data": ("dir", "images")}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def fleet(work) -> list[SandboxHost]:
    """N_HOSTS factory-fresh hosts, converged by one `phoenix apply` (timed): a mixed fleet,
    PVE 8 (Debian 12) on sb1, sb3, sb5 and PVE 9 (Debian 13) on sb2, sb4."""
    if os.geteuid() != 0:
        pytest.skip("sandbox hosts need root")
    lab.down()
    for i in range(1, N_HOSTS + 1):
        lab.purge(i)
    lab.up(N_HOSTS, pve="8,9")
    hosts = [SandboxHost(i, info) for i, info in enumerate(lab.describe(
        list(range(1, N_HOSTS + 1))), start=1)]
    inv = make_inventory(work)
    t0 = time.monotonic()
    first = phoenix("apply", inventory=inv, tmp=work, json_out=True)
    TIMES[f"first apply, {N_HOSTS} hosts"] = time.monotonic() - t0
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    (work / "first-apply.json").write_text(first.stdout)
    (work / "first-apply.err").write_text(first.stderr)
    return hosts


def test_second_apply_changes_nothing_and_verify_passes(fleet, work):
    inv = make_inventory(work)
    t0 = time.monotonic()
    second = phoenix("apply", inventory=inv, tmp=work, json_out=True)
    TIMES[f"second apply, {N_HOSTS} hosts"] = time.monotonic() - t0
    assert second.returncode == 0, second.stderr[-3000:]
    doc = report(second)
    assert all(s["changes"] == [] for h in doc["hosts"] for s in h["steps"])
    assert {st for h in statuses(doc).values() for st in h.values()} == {"ok", "skipped"}
    assert [h for h, st in statuses(doc).items() if st["lxc"] == "ok"] == ["sb1"]
    t0 = time.monotonic()
    verify = phoenix("verify", inventory=inv, tmp=work, json_out=True)
    TIMES[f"verify, {N_HOSTS} hosts"] = time.monotonic() - t0
    assert verify.returncode == 0, verify.stdout[-3000:]
    plan = phoenix("plan", inventory=inv, tmp=work)
    assert plan.returncode == 0, plan.stdout[-3000:]
    one = make_inventory(work, hosts=["sb1"])
    for mode in ("apply", "verify"):
        t0 = time.monotonic()
        assert phoenix(mode, inventory=one, tmp=work).returncode == 0
        TIMES[f"{'second ' if mode == 'apply' else ''}{mode}, 1 host"] = time.monotonic() - t0


def test_monitoring_files_follow_drift_and_repair(fleet, work):
    """verify --prometheus/--html on a real host: a file changed by hand shows as corrective
    drift (metric 1, an orange cell in the page Chromium renders); after apply the next
    verify clears it (metric 0, the host in policy)."""
    from prometheus_client.parser import text_string_to_metric_families

    from tests.cli.test_monitoring import headless, matrix
    sb1 = fleet[0]
    inv = make_inventory(work, hosts=["sb1"])
    prom, page = work / "phoenix.prom", work / "report.html"

    def audit() -> tuple[int, dict]:
        run = phoenix("verify", "--only", "initial_setup", "--prometheus", str(prom),
                      "--html", str(page), inventory=inv, tmp=work)
        values = {(s.name, tuple(sorted(s.labels.items()))): s.value
                  for f in text_string_to_metric_families(prom.read_text())
                  for s in f.samples}
        return run.returncode, values
    drift = ("phoenix_step_drift", (("class", "corrective"), ("host", "sb1"),
                                    ("step", "initial_setup")))
    sb1.ssh("echo '# edited by hand' >> /etc/logrotate.d/proxmox_setup")
    code, values = audit()
    assert code == 2 and values[drift] == 1
    assert values[("phoenix_host_in_policy", (("host", "sb1"),))] == 0
    assert matrix(headless("--dump-dom", page.as_uri()).stdout)[("sb1", "initial_setup")] \
        == "drift"
    # the same verify with its stdout closed before it writes (`| head -1`): still exit 2,
    # and the run went to its end (its log has the host's result)
    read_end, write_end = os.pipe()
    os.close(read_end)
    piped = subprocess.run([sys.executable, "-m", "phoenix_remote", "verify", "--only",
                            "initial_setup", "-i", str(inv), "--known-hosts",
                            str(work / "known_hosts"), "--log-dir", str(work / "piped-logs")],
                           cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
                           timeout=300)
    os.close(write_end)
    assert piped.returncode == 2 and "Traceback" not in piped.stderr, piped.stderr
    assert re.search(r"sb1 +initial_setup +drift", next(
        (work / "piped-logs").glob("*-verify.log")).read_text())
    assert phoenix("apply", "--only", "initial_setup", inventory=inv, tmp=work).returncode == 0
    code, values = audit()
    assert code == 0 and values[drift] == 0
    assert values[("phoenix_host_in_policy", (("host", "sb1"),))] == 1
    assert values[("phoenix_host_last_in_policy_timestamp_seconds", (("host", "sb1"),))] > 0


def test_junit_and_transient_api_errors_are_retried(fleet, work):
    """A dropped API connection is retried (tenacity, retry policy from the config) and
    verify still passes; --junit writes one testcase per host and step."""
    import xml.etree.ElementTree as ET
    host = fleet[0]
    inv = make_inventory(work, hosts=[host.name])
    host.ssh("echo '{\"drop\": 2}' > /var/lib/sandbox/pve-faults.json")
    try:
        out = phoenix("verify", "--junit", str(work / "junit.xml"), "--set",
                      "retry.delay_seconds=0.2", inventory=inv, tmp=work)
    finally:
        host.ssh("rm -f /var/lib/sandbox/pve-faults.json")
    assert out.returncode == 0, out.stdout[-3000:]
    assert host.ssh("cat /var/lib/sandbox/pve-faults.json 2>/dev/null || echo gone"
                    ).stdout.strip() == "gone"
    suites = ET.parse(work / "junit.xml").getroot()
    cases = [c.get("name") for c in suites.iter("testcase")]
    assert cases == ["initial_setup", "nvidia", "admin_user", "zfsutils", "zfs_pools",
                     "zfs_datasets", "storage", "nfs", "samba", "lxc"]
    assert not list(suites.iter("failure")) and not list(suites.iter("error"))


def test_first_apply_rebooted_for_nvidia_and_converged_all_steps(fleet, work):
    doc = json.loads((work / "first-apply.json").read_text())
    for host, steps in statuses(doc).items():
        containers = "changed" if host == "sb1" else "skipped"  # only sb1 runs containers
        assert steps == {s: "changed" for s in steps} | {"zfsutils": "ok", "lxc": containers}, \
            (host, steps)
    nvidia = [s for h in doc["hosts"] for s in h["steps"] if s["step"] == "nvidia"][0]
    assert any("reboot" in c["summary"] for c in nvidia["changes"])
    host = fleet[0]
    assert "nvidia " in host.ssh("lsmod").stdout
    assert "575.57.08" in host.ssh("nvidia-smi").stdout


def test_host_state_checked_with_real_tools(fleet, work):
    host = fleet[0]
    pools = host.ssh("zpool list -H -o name").stdout.split()
    assert sorted(pools) == ["fastData", "quickOS"]
    assert "mirror-0" in host.ssh("zpool status quickOS").stdout
    assert host.ssh("zpool get -H -o value autotrim quickOS").stdout == "on\n"
    for ds, props in SPEC_PROPS.items():
        out = host.ssh(f"zfs get -H -o property,value,source {','.join(props)},mountpoint {ds}")
        got = {p: (v, s) for p, v, s in (line.split("\t") for line in out.stdout.splitlines())}
        assert got["mountpoint"] == (f"/{ds}", "local")
        for p, v in props.items():
            assert got[p] == (v, "local"), (ds, p, got[p])
    from proxmoxer import ProxmoxAPI  # an independent client reads the API's storage list
    api = ProxmoxAPI(host.address, user="root@pam", verify_ssl=host.info["ca_file"],
                     password=open(host.info["root_password_file"]).read().strip())
    storage = {s["storage"]: s for s in api.storage.get()}
    for sid, (kind, content) in SPEC_STORAGE.items():
        assert storage[sid]["type"] == kind and storage[sid]["content"] == content, sid
    assert storage["shared-iso"]["path"] == "/fastData/shared-iso"
    assert storage["vm-disks"]["pool"] == "quickOS/vm-disks"
    cfg_text = host.ssh("cat /etc/pve/storage.cfg").stdout
    assert "dir: shared-backups" in cfg_text and "zfspool: vm-disks" in cfg_text
    # Samba, from this machine: the shares are listed and the SMB user logs in
    auth = work / "smb-auth"
    auth.write_text(f"username = heads\npassword = {SENTINEL_SMB}\n")
    auth.chmod(0o600)
    listing = subprocess.run(["smbclient", "-L", f"//{host.address}", "-A", str(auth)],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    for share in ("shared-backups", "shared-iso", "shared-test-data", "shared-bulk-data",
                  "shared-prod-data", "shared-prod-data-sync"):
        assert share in listing.stdout
    host.ssh("echo hello > /fastData/shared-iso/hello.txt")
    get = subprocess.run(["smbclient", f"//{host.address}/shared-iso", "-A", str(auth), "-c",
                          "get hello.txt -"], capture_output=True, text=True, timeout=60)
    assert get.returncode == 0 and "hello" in get.stdout, get.stdout + get.stderr
    auth.write_text("username = heads\npassword = wrong-password!\n")
    denied = subprocess.run(["smbclient", "-L", f"//{host.address}", "-A", str(auth)],
                            capture_output=True, text=True, timeout=60)
    assert denied.returncode != 0 and "LOGON_FAILURE" in denied.stdout + denied.stderr
    # NFS exports (none configured by default: the file holds only the header)
    assert host.ssh("grep -v '^#' /etc/exports | grep -c . || true").stdout.strip() == "0"
    # the admin logs in over SSH with its key and can sudo with its password
    admin = subprocess.run(["ssh", *lab.SSH_OPTS, "-i", str(lab.ADMIN_KEY),
                            f"heads@{host.address}", "sudo -S -p '' id -u"],
                           input=SENTINEL_ADMIN + "\n", capture_output=True, text=True,
                           timeout=60)
    assert admin.returncode == 0 and admin.stdout.strip() == "0", admin.stderr
    acl = host.ssh("pveum acl list").stdout
    assert "/\tuser\theads@pve\tAdministrator\t1" in acl
    ufw = host.ssh("ufw status").stdout
    assert "Status: active" in ufw
    for rule in ("OpenSSH", "8006/tcp", "2049/tcp", "111/tcp", "Samba"):
        assert rule in ufw, rule
    sources = host.ssh("cat /etc/apt/sources.list").stdout
    assert "deb http://download.proxmox.com/debian/pve bookworm pve-no-subscription" in sources
    assert "deb http://download.proxmox.com/debian/ceph-quincy bookworm no-subscription" in sources
    assert host.ssh("ls /etc/apt/sources.list.d/").stdout.split() == [
        "ceph.list.bak", "nvidia.list", "pve-enterprise.list.bak"]
    assert host.ssh("timedatectl show -p Timezone --value").stdout.strip() == "America/New_York"
    assert host.ssh("hostname").stdout.strip() == f"phoenix-{host.name}"
    assert "s-tui" in host.ssh("dpkg-query -W s-tui").stdout


def test_sentinel_passwords_appear_nowhere(fleet, work):
    """Neither password is stored in clear anywhere on a host (shadow and passdb hold
    hashes), nor in the local logs or the tool's output."""
    for host in fleet:
        upper = lab.HOSTS / host.name / "upper"
        for sentinel in (SENTINEL_ADMIN, SENTINEL_SMB):
            hits = subprocess.run(["grep", "-rlaF", sentinel, str(upper)], capture_output=True,
                                  text=True).stdout.split()
            assert hits == [], (host.name, hits)
    local = [p for p in work.rglob("*") if p.is_file() and p.name not in ("admin_pw", "smb_pw",
                                                                             "smb-auth")]
    assert local, "expected logs and outputs to check"
    for p in local:
        text = p.read_text(errors="replace")
        assert SENTINEL_ADMIN not in text and SENTINEL_SMB not in text, p


def snapshot(upper: Path) -> dict[str, str]:
    """Content hash and metadata of every file on a host's disk, except login records that
    sshd itself writes for any SSH session (wtmp, lastlog, btmp) and the browse list nmbd
    rewrites on its own timer."""
    skip = {"var/log/wtmp", "var/log/lastlog", "var/log/btmp", "var/cache/samba/browse.dat"}
    out = {}
    for p in sorted(upper.rglob("*")):
        rel = str(p.relative_to(upper))
        if rel in skip or p.is_dir():
            continue
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            st = p.stat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            out[rel] = f"{digest}:{st.st_mode:o}:{st.st_mtime_ns}"
    return out


def test_drift_is_named_by_verify_and_repaired_by_apply(fleet, work):
    host = fleet[1]

    def root_api():  # type: ignore[no-untyped-def]
        from proxmoxer import ProxmoxAPI
        return ProxmoxAPI(host.address, user="root@pam", verify_ssl=host.info["ca_file"],
                          password=open(host.info["root_password_file"]).read().strip())
    inv = make_inventory(work, hosts=[host.name])
    host.ssh("zfs set compression=off quickOS/vm-disks")
    host.ssh("pvesm remove shared-iso")
    host.ssh("python3 - <<'EOF'\nimport re\np='/etc/samba/smb.conf'\ns=open(p).read()\n"
             "s=re.sub(r'\\[shared-test-data\\].*?\\n\\n', '', s, flags=re.S)\n"
             "open(p,'w').write(s)\nEOF")
    host.ssh("echo '/srv 192.0.2.0/24(rw)' >> /etc/exports")
    host.ssh("sed -i '/admin_id_ed25519/d' /home/heads/.ssh/authorized_keys")
    root_api().access.password.put(userid="heads@pve", password="Changed-By-Hand-1!")
    upper = lab.HOSTS / host.name / "upper"
    before = snapshot(upper)
    verify = phoenix("verify", inventory=inv, tmp=work, json_out=True)
    assert verify.returncode == 2, verify.stdout[-3000:] + verify.stderr[-2000:]
    assert snapshot(upper) == before, "verify changed files on the host"
    doc = report(verify)
    st = statuses(doc)[host.name]
    assert {k for k, v in st.items() if v == "drift"} == {"zfs_datasets", "storage", "samba",
                                                            "nfs", "admin_user"}, st
    changes = {s["step"]: " ".join(c["summary"] for c in s["changes"])
               for s in doc["hosts"][0]["steps"]}
    assert "quickOS/vm-disks compression" in changes["zfs_datasets"]
    assert "storage shared-iso" in changes["storage"]
    assert "/etc/samba/smb.conf" in changes["samba"]
    assert "/etc/exports" in changes["nfs"]
    assert "SSH key of heads" in changes["admin_user"]
    assert "Proxmox password of heads@pve" in changes["admin_user"]
    apply = phoenix("apply", inventory=inv, tmp=work)
    assert apply.returncode == 0, apply.stdout[-3000:]
    assert phoenix("verify", inventory=inv, tmp=work).returncode == 0
    # the secret logs in again (an independent client asks PVE for a ticket)
    from proxmoxer import ProxmoxAPI
    ProxmoxAPI(host.address, user="heads@pve", password=SENTINEL_ADMIN,
               verify_ssl=host.info["ca_file"]).version.get()
    assert host.ssh("zfs get -H -o value compression quickOS/vm-disks").stdout == "lz4\n"
    backups = host.ssh("ls /etc/samba/ /etc/").stdout
    assert "smb.conf.phoenix.bak." in backups and "exports.bak." in backups


def test_interrupted_runs_resume(fleet, work):
    """The SSH connection cut mid-step, then the phoenix process SIGKILLed mid-step: the next
    apply converges and the ledger always parses."""
    host = fleet[2]
    inv = make_inventory(work, hosts=[host.name])
    for how in ("cut", "kill"):
        host.ssh("zfs destroy -r quickOS/shared-prod-data-sync && pvesm remove vm-disks && "
                 "rm /etc/logrotate.d/proxmox_setup")
        proc = subprocess.Popen([sys.executable, "-m", "phoenix_remote", "apply", "-i", str(inv),
                                 "--known-hosts", str(work / "kh"), "--log-dir",
                                 str(work / f"logs-{how}")], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        seen = ""
        while "initial_setup    change" not in seen and time.monotonic() < deadline:
            logs = list((work / f"logs-{how}").glob("*.log"))
            seen = logs[0].read_text() if logs else ""
            time.sleep(0.05)
        if how == "cut":
            subprocess.run(["ip", "netns", "exec", f"phx-{host.name}", "ss", "-K", "state",
                            "established", "( sport = :22 )"], check=True)
        else:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
        # a kill ends the run; a cut ends it when a command was in flight, else the run
        # re-makes the link and goes on (the ledger retakes the lock): both are fine
        assert proc.returncode != 0 or how == "cut"
        json.loads(host.ssh("cat /var/lib/phoenix_remote/state.json").stdout)
        again = phoenix("apply", inventory=inv, tmp=work)
        assert again.returncode == 0, (how, again.stdout[-3000:])
        assert phoenix("verify", inventory=inv, tmp=work).returncode == 0
        json.loads(host.ssh("cat /var/lib/phoenix_remote/state.json").stdout)


def test_two_concurrent_applies_do_not_interleave(fleet, work):
    host = fleet[3]
    inv = make_inventory(work, hosts=[host.name])
    host.ssh("echo '{\"slow_seconds\": 1.5}' > /var/lib/sandbox/pve-faults.json")
    try:
        argv = [sys.executable, "-m", "phoenix_remote", "apply", "-i", str(inv),
                "--known-hosts", str(work / "kh"), "--lock-timeout", "1"]
        a = subprocess.Popen(argv + ["--log-dir", str(work / "la")], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)
        b = subprocess.run(argv + ["--log-dir", str(work / "lb")], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        a_out, _ = a.communicate(timeout=300)
    finally:
        host.ssh("rm -f /var/lib/sandbox/pve-faults.json")
    # whichever run took the lock first converges; the other waits 1 s and fails cleanly
    results = sorted([(a.returncode, a_out), (b.returncode, b.stdout + b.stderr)])
    assert [code for code, _ in results] == [0, 1], results
    assert "another phoenix run holds the lock" in results[1][1]
    json.loads(host.ssh("cat /var/lib/phoenix_remote/state.json").stdout)


def test_network_identity_move_continues_on_the_new_address(fleet, work):
    """A new address in the config: the network restart runs outside the session, the run
    reconnects at the new address, says so, and converges; then the host moves back."""
    host = fleet[3]
    prefix, last = host.address.rsplit(".", 1)
    old, new = host.address, f"{prefix}.{100 + int(last)}"

    def to(address, reach):
        def edit(inv):
            h = inv["hosts"][host.name]
            h["address"] = reach
            h["config"]["network"]["address"] = f"{address}/24"
        return edit
    for target, reach in ((new, old), (old, new)):
        inv = make_inventory(work, hosts=[host.name], edit=to(target, reach))
        moved = phoenix("apply", "--only", "initial_setup", inventory=inv, tmp=work)
        assert moved.returncode == 0, moved.stdout[-3000:] + moved.stderr[-2000:]
        assert f"host moved to {target}; continuing there" in moved.stderr
        inv = make_inventory(work, hosts=[host.name], edit=to(target, target))
        assert phoenix("verify", "--only", "initial_setup", inventory=inv,
                       tmp=work).returncode == 0
    assert host.ssh("ip -4 -o addr show eth0").stdout.split()[3] == f"{old}/24"
    assert host.ssh("ip -4 -o addr show eth0 | wc -l").stdout.strip() == "1"
    assert host.ssh("systemctl is-active networking").stdout.strip() == "active"
    assert "default via 10.211.0.254" in host.ssh("ip route").stdout
    # the replaced files were backed up outside the sourced directory
    assert host.ssh("ls /etc/network/interfaces.d").stdout.split() == ["50-eth0.cfg"]
    assert "50-eth0.cfg" in host.ssh("find /var/lib/phoenix_remote/backups -type f").stdout
    assert json.loads(host.ssh("cat /var/lib/phoenix_remote/state.json").stdout)[
        "steps"]["initial_setup"]["result"] == "changed"


def test_unreachable_new_address_is_rolled_back_by_the_host(fleet, work):
    """Commit confirmed: the new address cannot be reached from this machine (a blackhole
    route of the test's own, for that one sandbox address): the host restores its previous
    network configuration by itself within the window, the step fails saying so, and the
    host answers at its old address with its old file."""
    host = fleet[3]
    prefix, last = host.address.rsplit(".", 1)
    new = f"{prefix}.{150 + int(last)}"
    before = host.ssh("cat /etc/network/interfaces.d/50-eth0.cfg").stdout

    def edit(inv):
        inv["hosts"][host.name]["config"]["network"].update(address=f"{new}/24",
                                                            confirm_seconds=20)
    inv = make_inventory(work, hosts=[host.name], edit=edit)
    subprocess.run(["ip", "route", "add", "blackhole", f"{new}/32"], check=True)
    try:
        t0 = time.monotonic()
        run = phoenix("apply", "--only", "initial_setup", inventory=inv, tmp=work,
                      json_out=True)
        took = time.monotonic() - t0
    finally:
        subprocess.run(["ip", "route", "del", "blackhole", f"{new}/32"], check=False)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    error = report(run)["hosts"][0]["steps"][0]["error"]
    assert "network change not confirmed" in error and f"answers at {host.address}" in error
    assert "previous /etc/network/interfaces.d/50-eth0.cfg restored" in error
    assert took < 20 + 60, took
    assert host.ssh("cat /etc/network/interfaces.d/50-eth0.cfg").stdout == before
    assert host.ssh("ip -4 -o addr show eth0").stdout.split()[3] == f"{host.address}/24"
    TIMES["network rollback (20 s window)"] = took
    # the host is whole: the next apply (old address kept) has nothing to do there
    inv = make_inventory(work, hosts=[host.name])
    assert phoenix("verify", "--only", "initial_setup", inventory=inv, tmp=work).returncode == 0


def test_host_keys_and_api_certificates_are_verified(fleet, work):
    host = fleet[4]

    def unpinned(inv):
        inv["hosts"][host.name]["ssh"] = {}
    inv = make_inventory(work, hosts=[host.name], edit=unpinned)
    kh = work / "kh-strict"
    kh.unlink(missing_ok=True)
    refused = phoenix("verify", inventory=inv, tmp=work, known_hosts=kh)
    assert refused.returncode == 1 and "unknown host key" in refused.stdout + refused.stderr
    accepted = phoenix("verify", "--accept-new-host-keys", inventory=inv, tmp=work,
                       known_hosts=kh)
    assert accepted.returncode == 0, accepted.stdout[-2000:]
    assert host.address in kh.read_text()
    assert phoenix("verify", inventory=inv, tmp=work, known_hosts=kh).returncode == 0
    line = kh.read_text().split()[:2]  # record another host's key under this address
    kh.write_text(f"{line[0]} {line[1]} " + (lab.HOSTS / "sb1" / "upper/etc/ssh/"
                  "ssh_host_ed25519_key.pub").read_text().split()[1] + "\n")
    changed = phoenix("verify", inventory=inv, tmp=work, known_hosts=kh)
    assert changed.returncode == 1 and "HOST KEY CHANGED" in changed.stdout + changed.stderr

    def wrong_ca(inv):
        inv["hosts"][host.name]["api"]["ca_file"] = str(ROOT / ".sandbox/ca/sb1-pve-root-ca.pem")
    inv = make_inventory(work, hosts=[host.name], edit=wrong_ca)
    bad = phoenix("verify", inventory=inv, tmp=work)
    assert bad.returncode == 1 and "TLS verification" in bad.stdout + bad.stderr
    insecure = phoenix("verify", "--insecure", inventory=inv, tmp=work)
    assert insecure.returncode == 0, insecure.stdout[-2000:]
    assert "--insecure" in insecure.stderr and "NOT" in insecure.stderr


def test_gpu_less_host_fails_by_default_and_skips_when_configured(fleet, work):
    host = fleet[4]
    host.ssh("rm /var/lib/sandbox/gpu")
    try:
        inv = make_inventory(work, hosts=[host.name])
        # the driver stays installed, so lspci (no GPU) decides
        failing = phoenix("verify", "--only", "nvidia", inventory=inv, tmp=work)
        assert failing.returncode == 1 and "no NVIDIA GPU" in failing.stdout

        def skip(inv):
            inv["hosts"][host.name]["config"]["nvidia"] = {"when_no_gpu": "skip"}
        inv = make_inventory(work, hosts=[host.name], edit=skip)
        skipped = phoenix("verify", "--only", "nvidia", inventory=inv, tmp=work, json_out=True)
        assert skipped.returncode == 0
        assert "skipped as configured" in json.dumps(report(skipped))
    finally:
        host.ssh("echo 'NVIDIA Corporation AD102 [GeForce RTX 4090]' > /var/lib/sandbox/gpu")


def test_pve9_hosts_converged_with_their_own_values(fleet, work):
    """sb2 runs PVE 9 on Debian 13: its enterprise repositories are disabled in their deb822
    files and the no-subscription ones added through PVE's repository API, apt-get update
    works against the mirror, the 580 driver from the debian13 CUDA repository is loaded
    after the reboot, and the admin's password check converged (no Python crypt there)."""
    sb2 = fleet[1]
    assert sb2.ssh("cat /etc/debian_version").stdout.startswith("13.")
    assert "pve-manager/9.1" in sb2.ssh("pveversion").stdout
    for name in ("pve-enterprise.sources", "ceph.sources"):
        assert "Enabled: no" in sb2.ssh(f"cat /etc/apt/sources.list.d/{name}").stdout, name
    proxmox = sb2.ssh("cat /etc/apt/sources.list.d/proxmox.sources").stdout
    assert "Components: pve-no-subscription" in proxmox and "Suites: trixie" in proxmox
    assert "no-subscription" in sb2.ssh("cat /etc/apt/sources.list.d/ceph.sources").stdout
    assert sb2.ssh("test -e /etc/apt/sources.list", check=False).returncode == 1
    update = sb2.ssh("apt-get update -q", check=False)
    assert update.returncode == 0 and "enterprise.proxmox.com" not in update.stdout, update
    cuda = sb2.ssh("cat /etc/apt/sources.list.d/nvidia-cuda.sources").stdout
    assert "/debian13/" in cuda and "Signed-By: /usr/share/keyrings/cuda-archive-keyring.gpg" \
        in cuda
    assert "580.76.05" in sb2.ssh("nvidia-smi").stdout and "nvidia " in sb2.ssh("lsmod").stdout
    # OpenZFS 2.3: new pools get its features (a PVE 8 host could not import them) unless
    # compatibility=openzfs-2.2-linux (zfs.pool_options) keeps them at 2.2's
    assert sb2.ssh("zpool version").stdout.startswith("zfs-2.3.")
    assert sb2.ssh("zpool get -H -o value feature@fast_dedup quickOS").stdout == "enabled\n"
    assert fleet[0].ssh("zpool get -H -o value feature@fast_dedup quickOS",
                        check=False).returncode == 2  # unknown to 2.2
    sb2.ssh("zpool create -f -o compatibility=openzfs-2.2-linux tank /dev/nvme3n1")
    try:
        assert sb2.ssh("zpool get -H -o value feature@fast_dedup,feature@blake3 tank"
                       ).stdout == "disabled\nenabled\n"
    finally:
        sb2.ssh("zpool destroy tank")
    doc = json.loads((work / "first-apply.json").read_text())
    assert statuses(doc)["sb2"]["admin_user"] == "changed"
    one = make_inventory(work, hosts=["sb2"])
    again = phoenix("apply", inventory=one, tmp=work, json_out=True)
    assert again.returncode == 0
    assert all(s["changes"] == [] for s in report(again)["hosts"][0]["steps"])
    assert phoenix("verify", inventory=one, tmp=work).returncode == 0


def test_containers_made_by_the_first_apply(fleet, work):
    """sb1's five containers: the template downloaded from the appliance index (checksum
    checked), 900 created from it and set up, 901 (the GPU) and 902 cloned from 900's
    snapshot, 910 from 902's with a bind mount of a Phoenix dataset, 953 from 901's;
    templates stopped, the services running; the host's GPU init unit installed and
    enabled."""
    sb1 = fleet[0]
    listing = sb1.ssh("pct list").stdout
    for row in (r"900\s+stopped\s+BaseTemplate", r"901\s+stopped\s+BaseTemplateGPU",
                r"902\s+stopped\s+BaseTemplateDocker", r"910\s+running\s+Portainer",
                r"953\s+running\s+gpu-services-lxc"):
        assert re.search(row, listing), listing
    conf = dict(line.split(": ", 1) for line in sb1.ssh("pct config 910").stdout.splitlines())
    assert (conf["cores"], conf["memory"], conf["tags"], conf["features"]) == \
        ("6", "32768", "phoenix", "nesting=1")
    assert conf["mp0"] == "/fastData/shared-bulk-data,mp=/data"
    assert "hwaddr=52:54:00:67:89:99" in conf["net0"] and "ip=10.0.0.99/24" in conf["net0"]
    assert conf["rootfs"] == "lxc-disks:subvol-910-disk-0,size=128G"  # grown from 32 GB
    main = sb1.ssh("cat /etc/pve/lxc/910.conf").stdout.split("\n[")[0]
    assert main.endswith("lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 33\n"
                         "lxc.idmap: g 33 33 1\nlxc.idmap: g 34 100034 65502\n"
                         "lxc.apparmor.profile: unconfined\n"
                         "lxc.mount.entry: /fastData/shared-bulk-data/my\\040share srv/share "
                         "none bind,create=dir,optional 0 0\n"), main  # \040 byte-exact
    gpu = sb1.ssh("pct config 901").stdout
    for i, dev in enumerate(("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm",
                             "/dev/nvidia-uvm-tools")):
        assert f"dev{i}: {dev}\n" in gpu, gpu
    assert sb1.ssh("systemctl is-enabled nvidia-gpu-init.service").stdout.strip() == "enabled"
    assert "Before=pve-guests.service" in sb1.ssh(
        "cat /etc/systemd/system/nvidia-gpu-init.service").stdout
    assert "[base_snapshot]" in sb1.ssh("cat /etc/pve/nodes/*/lxc/900.conf").stdout
    assert "[docker_snapshot]" in sb1.ssh("cat /etc/pve/nodes/*/lxc/902.conf").stdout
    assert sb1.ssh("zfs get -H -o value refquota quickOS/lxc-disks/subvol-910-disk-0"
                   ).stdout.strip() == "128G"
    status = subprocess.run([sys.executable, "-m", "phoenix_remote", "status", "--json", "-i",
                             str(make_inventory(work, hosts=["sb1"])), "--known-hosts",
                             str(work / "known_hosts")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    items = checked("status-v1", json.loads(status.stdout))["hosts"]["sb1"]["steps"]["lxc"][
        "items"]
    assert {k: v["result"] for k, v in items.items()} == {
        "900": "changed", "901": "changed", "902": "changed", "910": "changed",
        "953": "changed", "host": "changed"}, items
    got = sb1.ssh("sha512sum /fastData/shared-iso/template/cache/"
                  "debian-12-standard_12.7-1_amd64.tar.zst").stdout.split()[0]
    assert f"sha512sum: {got}" in sb1.ssh(
        "cat /var/lib/pve-manager/apl-info/download.proxmox.com").stdout


def test_inside_the_running_containers(fleet, work):
    """The started containers are real: pct exec shows each one's hostname, address, route,
    mounts and processes; the setup results are there (the template's from its snapshot,
    the service's own); the host reaches the service on the bridge; the GPU container's
    userspace driver is the host's."""
    sb1 = fleet[0]

    def inside(vmid: int, command: str) -> str:
        r = sb1.ssh(f"pct exec {vmid} -- sh -c '{command}'")
        assert r.returncode == 0, (command, r.stdout, r.stderr)
        return r.stdout

    assert inside(910, "hostname").strip() == "Portainer"
    assert "inet 10.0.0.99/24" in inside(910, "ip -4 addr show eth0")
    assert "link/ether 52:54:00:67:89:99" in inside(910, "ip link show eth0")
    assert "default via 10.0.0.1" in inside(910, "ip route")
    sb1.ssh("echo from-the-host > /fastData/shared-bulk-data/phoenix-e2e.txt")
    assert inside(910, "cat /data/phoenix-e2e.txt").strip() == "from-the-host"
    assert " /data " in inside(910, "cat /proc/mounts")
    assert inside(910, "ps -o pid= -p 1").strip() == "1"  # its own PID namespace
    assert "base 1" in inside(910, "cat /etc/phoenix-base")  # 900's setup, via 902's snapshot
    assert inside(910, "id -un phoenix-svc").strip() == "phoenix-svc"
    assert sb1.ssh("curl -sf http://10.0.0.99:8080/").stdout.strip() == "Portainer"
    driver = sb1.ssh("nvidia-smi --query-gpu=driver_version --format=csv,noheader").stdout
    assert inside(953, "nvidia-smi --query-gpu=driver_version --format=csv,noheader") == driver
    assert inside(953, "hostname").strip() == "gpu-services-lxc"
    assert "inet 10.0.0.153/24" in inside(953, "ip -4 addr show eth0")
    stopped = sb1.ssh("pct exec 900 -- true", check=False)
    assert stopped.returncode == 255 and "CT 900 not running" in stopped.stderr


def lxc_drift(inv: Path, work: Path) -> list[str]:
    """verify (which must exit 2): the lxc step's change summaries on the first host."""
    verify = phoenix("verify", inventory=inv, tmp=work, json_out=True)
    assert verify.returncode == 2, verify.stdout[-2000:]
    lxc = [s for s in report(verify)["hosts"][0]["steps"] if s["step"] == "lxc"][0]
    return [c["summary"] for c in lxc["changes"]]


def test_container_setup_undone_by_hand_is_run_again(fleet, work):
    """A setup's result removed inside a running container: verify names the setup, apply
    runs its script (and only that), the health check passes again."""
    sb1 = fleet[0]
    sb1.ssh("pct exec 910 -- rm /srv/www/index.html")
    inv = make_inventory(work, hosts=["sb1"])
    assert lxc_drift(inv, work) == ["container 910 Portainer: setup sandbox_web"]
    apply = phoenix("apply", inventory=inv, tmp=work)
    assert apply.returncode == 0, apply.stdout[-2000:]
    assert sb1.ssh("curl -sf http://10.0.0.99:8080/").stdout.strip() == "Portainer"
    assert phoenix("verify", inventory=inv, tmp=work).returncode == 0


def test_raw_lxc_lines_edited_by_hand_are_put_back(fleet, work):
    """A raw line removed from the config file by hand: verify names the raw lines and the
    restart they need; apply writes them back (the file's other keys kept, the old file
    backed up) and reboots the container once."""
    sb1 = fleet[0]
    sb1.ssh("sed -i '/^lxc.apparmor.profile/d' /etc/pve/lxc/910.conf")
    inv = make_inventory(work, hosts=["sb1"])
    assert lxc_drift(inv, work) == ["container 910 Portainer: raw lxc lines",
                                    "container 910 Portainer: restart"]
    apply = phoenix("apply", inventory=inv, tmp=work)
    assert apply.returncode == 0, apply.stdout[-2000:]
    conf = sb1.ssh("cat /etc/pve/lxc/910.conf").stdout
    assert "lxc.apparmor.profile: unconfined\n" in conf and "cores: 6\n" in conf
    backups = sb1.ssh("grep -rL apparmor /var/lib/phoenix_remote/backups/*/etc/pve/lxc/",
                      check=False).stdout.split()
    assert any(b.split("/")[-1].startswith("910.conf") for b in backups), backups
    assert sb1.ssh("pct status 910").stdout.strip() == "status: running"
    assert sb1.ssh("curl -sf http://10.0.0.99:8080/").stdout.strip() == "Portainer"
    assert phoenix("verify", inventory=inv, tmp=work).returncode == 0


def test_container_drift_repaired_without_recreating(fleet, work):
    """Cores, memory, net0, features and a mount point changed by hand: verify names them,
    apply sets back only those keys (features and the changed mount point wait for a
    restart on a running container: one reboot, after which its setup runs again), nothing
    is made again."""
    sb1 = fleet[0]
    volume = "quickOS/lxc-disks/subvol-910-disk-0"
    created = sb1.ssh(f"zfs get -H -o value creation {volume}").stdout
    # set while stopped (so they are current, not pending), then started again
    sb1.ssh("pct shutdown 910 && pct set 910 --cores 4 --memory 1024 --features "
            "nesting=1,keyctl=1 --net0 name=eth0,bridge=vmbr0,ip=10.0.0.98/24,gw=10.0.0.1,"
            "hwaddr=52:54:00:67:89:99 --mp0 /fastData/shared-bulk-data,mp=/mnt/other && "
            "pct start 910")
    assert "10.0.0.98/24" in sb1.ssh("pct exec 910 -- ip -4 addr show eth0").stdout
    inv = make_inventory(work, hosts=["sb1"])
    listing = subprocess.run([sys.executable, "-m", "phoenix_remote", "lxc", "list", "--json",
                              "-i", str(inv), "--known-hosts", str(work / "known_hosts")],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert listing.returncode == 2, listing.stderr
    rows = {r["vmid"]: r for r in checked("lxc-list-v1", json.loads(listing.stdout))["guests"]}
    drift = ["container 910 Portainer: cores, memory, net0, features, mp0",
             "container 910 Portainer: restart"]
    assert rows[910]["drift"] == drift
    assert rows[900]["drift"] == [] and rows[900]["owner"] == "phoenix"
    verify = phoenix("verify", inventory=inv, tmp=work, json_out=True)
    assert verify.returncode == 2, verify.stdout[-2000:]
    lxc = [s for s in report(verify)["hosts"][0]["steps"] if s["step"] == "lxc"][0]
    assert [c["summary"] for c in lxc["changes"]] == drift
    apply = phoenix("apply", inventory=inv, tmp=work, json_out=True)
    assert apply.returncode == 0, apply.stdout[-2000:]
    conf = sb1.ssh("pct config 910 --current").stdout
    assert "cores: 6" in conf and "features: nesting=1\n" in conf and "memory: 32768" in conf
    assert "mp0: /fastData/shared-bulk-data,mp=/data\n" in conf
    assert "inet 10.0.0.99/24" in sb1.ssh("pct exec 910 -- ip -4 addr show eth0").stdout
    assert " /data " in sb1.ssh("pct exec 910 -- cat /proc/mounts").stdout
    assert sb1.ssh("curl -sf http://10.0.0.99:8080/").stdout.strip() == "Portainer"
    assert "pve:pending" not in sb1.ssh("cat /etc/pve/nodes/*/lxc/910.conf").stdout
    assert sb1.ssh("pct status 910").stdout.strip() == "status: running"
    assert sb1.ssh(f"zfs get -H -o value creation {volume}").stdout == created
    assert phoenix("verify", inventory=inv, tmp=work).returncode == 0


def test_containers_phoenix_did_not_make_are_refused_and_untouched(fleet, work):
    """A container at a configured vmid without the phoenix tag, and a setting PVE fixes at
    creation: both refused with what to do, nothing changed."""
    sb2 = fleet[1]
    sb2.ssh("cd /fastData/shared-iso && mkdir -p template/cache && "
            "tar -czf template/cache/other.tar.gz -C /etc hostname && "
            "pct create 900 shared-iso:vztmpl/other.tar.gz --hostname BaseTemplate "
            "--rootfs lxc-disks:4")
    before = sb2.ssh("pct config 900").stdout
    inv = make_inventory(work, hosts=["sb2"],
                         edit=lambda inv: inv["hosts"]["sb2"].update(containers=[900]))
    run = phoenix("apply", inventory=inv, tmp=work, json_out=True)
    assert run.returncode == 1
    lxc = [s for s in report(run)["hosts"][0]["steps"] if s["step"] == "lxc"][0]
    assert lxc["status"] == "failed"
    assert "vmid 900 is a container phoenix did not create (BaseTemplate, no 'phoenix' tag)" \
        in lxc["error"]
    assert sb2.ssh("pct config 900").stdout == before

    # the tag set by hand does not make it phoenix's: the ledger has no record of it
    sb2.ssh("pct set 900 --tags phoenix")
    tagged = sb2.ssh("pct config 900").stdout
    run = phoenix("apply", inventory=inv, tmp=work, json_out=True)
    lxc = [s for s in report(run)["hosts"][0]["steps"] if s["step"] == "lxc"][0]
    assert run.returncode == 1 and "ledger has no record of phoenix making it" in lxc["error"]
    assert "phoenix lxc adopt sb2 900" in lxc["error"]
    assert sb2.ssh("pct config 900").stdout == tagged
    # adopting checks what PVE fixed at creation (it is privileged, the config says not)
    adopt = adopt_run(inv, work, "sb2", "900")
    assert adopt.returncode == 1 and "unprivileged is 0" in adopt.stdout, adopt.stdout
    assert sb2.ssh("pct config 900").stdout == tagged
    inv = make_inventory(work, hosts=["sb2"], edit=lambda inv: (
        inv["hosts"]["sb2"].update(containers=[900]),
        inv["hosts"]["sb2"]["config"].setdefault("lxc", {}).setdefault("containers", {})
        .setdefault("900", {}).update(unprivileged=False)))
    adopt = adopt_run(inv, work, "sb2", "900")
    assert adopt.returncode == 0, adopt.stdout + adopt.stderr
    ledger = json.loads(sb2.ssh("cat /var/lib/phoenix_remote/state.json").stdout)
    assert ledger["containers"]["900"]["rootfs"].startswith("lxc-disks:")
    assert "adopted" in ledger["containers"]["900"]
    plan = phoenix("plan", "--only", "lxc", inventory=inv, tmp=work, json_out=True)
    assert plan.returncode == 2, plan.stdout[-2000:]  # managed now: changes, no refusal

    def privileged(inv):
        inv["hosts"]["sb1"]["config"]["lxc"]["containers"]["910"]["unprivileged"] = False
    inv = make_inventory(work, hosts=["sb1"], edit=privileged)
    run = phoenix("verify", inventory=inv, tmp=work, json_out=True)
    lxc = [s for s in report(run)["hosts"][0]["steps"] if s["step"] == "lxc"][0]
    assert run.returncode == 1 and lxc["status"] == "unknown"
    assert "PVE sets it only at creation" in lxc["error"]
    assert "pct restore --unprivileged 0" in lxc["error"]


def adopt_run(inv, work, host: str, *vmids: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "phoenix_remote", "lxc", "adopt", host,
                           *vmids, "-i", str(inv), "--known-hosts", str(work / "known_hosts")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_template_from_a_url_is_checked_before_use(fleet, work):
    """A template given by URL and checksum (download-url): a wrong checksum fails the step
    and leaves neither the file nor a container; the right one downloads and creates."""
    sb3 = fleet[2]
    archive = lab.BASE / "mirror/www/images/system/debian-12-standard_12.7-1_amd64.tar.zst"
    url = "http://download.proxmox.com/images/system/" + archive.name

    def with_checksum(checksum: str):  # type: ignore[no-untyped-def]
        def edit(inv):  # type: ignore[no-untyped-def]
            h = inv["hosts"]["sb3"]
            h["containers"] = [900]
            h["config"]["lxc"] = {
                "templates": {"web": {"file": "debian-12-web.tar.zst", "storage": "shared-iso",
                                      "url": url, "checksum": checksum,
                                      "checksum_algorithm": "sha256"}},
                "containers": {"900": {"template": "web", "setup": []}}}
        return edit
    bad = phoenix("apply", inventory=make_inventory(work, hosts=["sb3"],
                                                    edit=with_checksum("0" * 64)),
                  tmp=work, json_out=True)
    lxc = [s for s in report(bad)["hosts"][0]["steps"] if s["step"] == "lxc"][0]
    assert bad.returncode == 1 and "checksum mismatch" in lxc["error"], lxc
    assert "900" not in sb3.ssh("pct list").stdout
    cache = "/fastData/shared-iso/template/cache/"
    assert "debian-12-web" not in sb3.ssh(f"ls {cache}").stdout
    good = phoenix("apply", inventory=make_inventory(
        work, hosts=["sb3"], edit=with_checksum(hashlib.sha256(archive.read_bytes()).hexdigest())),
        tmp=work)
    assert good.returncode == 0, good.stdout[-2000:]
    assert re.search(r"900\s+stopped\s+BaseTemplate", sb3.ssh("pct list").stdout)
    assert "debian-12-web.tar.zst" in sb3.ssh(f"ls {cache}").stdout


def test_zz_report_times(fleet):
    """Not an assertion about speed: prints the wall times for the closing note."""
    print("\nwall times: " + ", ".join(f"{k}: {v:.1f} s" for k, v in TIMES.items()))
    assert TIMES
