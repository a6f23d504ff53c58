"""The shell that runs inside containers and edits their config, run for real with this
machine's sh and awk (pct exec only adds the container around it), and the probe's
commands and parsing."""

import hashlib
import shutil
import subprocess

import pytest

from phoenix_remote.host.batch import Out
from phoenix_remote.steps import lxc_inside, lxc_raw
from tests.steps.test_step_cases import host_config

SANDBOX_LIKE = {"config": {"lxc": {"containers": {"910": {
    "health_check": {"command": "curl -sf http://127.0.0.1:8080/", "retries": 2,
                     "interval_s": 0}}}}}}


def sh(script: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", script, "phoenix", *args], input=stdin,
                          capture_output=True, text=True, timeout=30)


def test_probe_prints_one_code_per_check_and_checks_get_no_stdin():
    r = sh(lxc_inside.PROBE, "true", "false", "exit 3", "read x && exit 0 || exit 7",
           stdin="would be eaten\n")
    assert r.stdout.splitlines() == ["rc=0", "rc=1", "rc=3", "rc=7"]


def test_guarded_setup_runs_only_when_its_check_fails(tmp_path):
    mark = tmp_path / "done"
    check = f"test -f {mark}"
    script = f"echo ran >> {tmp_path}/log\ntouch {mark}\n"
    first = sh(lxc_inside.GUARDED, check, stdin=script)
    second = sh(lxc_inside.GUARDED, check, stdin=script)
    assert (first.returncode, second.returncode) == (0, 0), (first.stderr, second.stderr)
    assert (tmp_path / "log").read_text() == "ran\n"  # once


def test_guarded_setup_fails_when_the_check_still_fails_after_it(tmp_path):
    r = sh(lxc_inside.GUARDED, f"test -f {tmp_path}/never", stdin="true\n")
    assert r.returncode == 1 and "check still fails" in r.stderr
    bad = sh(lxc_inside.GUARDED, "false", stdin="exit 4\n")
    assert bad.returncode == 4 and "setup script failed (exit 4)" in bad.stderr


def test_health_check_retries_then_fails(tmp_path):
    ok = sh(lxc_inside.RETRY, f"test -f {tmp_path}/x || {{ touch {tmp_path}/x; false; }}",
            "3", "0")
    assert ok.returncode == 0
    bad = sh(lxc_inside.RETRY, "false", "2", "0")
    assert bad.returncode == 1 and "health check failed 2 times" in bad.stderr


def test_probe_commands_and_their_answers():
    cfg = host_config({"containers": [900, 902, 910], **SANDBOX_LIKE})
    commands = lxc_inside.commands(cfg)
    assert list(commands) == ["inside_910"]  # stopped templates are not looked into
    assert commands["inside_910"].startswith("{ timeout -k 5 30 pct exec 910 -- env "
                                             "PHOENIX_VMID=910 ")
    assert "PHOENIX_NVIDIA_DRIVER=''" in commands["inside_910"]
    found = lxc_inside.results({"inside_910": Out(0, "rc=1\nrc=0\n")}, cfg)
    assert found == {910: {"setup docker": False, "health": True}}
    # a container that did not answer (stopped, missing) is not judged
    assert lxc_inside.results({"inside_910": Out(255, "")}, cfg) == {}


def test_a_gpu_container_is_probed_with_the_hosts_driver():
    cfg = host_config({"containers": [900, 901, 953]})
    commands = lxc_inside.commands(cfg)
    assert commands["inside_953"].startswith("drv=$(lsmod | grep -q '^nvidia ' && nvidia-smi "
                                             "--query-gpu=driver_version")
    assert 'PHOENIX_NVIDIA_DRIVER="$drv"' in commands["inside_953"]
    assert "host_driver" in commands


RAW_TEST = lxc_raw.RAW_EDIT.replace("f=/etc/pve/lxc/$vmid.conf", "f=$PVE_LXC/$vmid.conf")


def raw_edit(tmp_path, expect: str, lines: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", RAW_TEST, "phoenix-raw-lxc", "910", expect, lines,
                           str(tmp_path / "backups")], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PVE_LXC": str(tmp_path)}, timeout=30)


def test_raw_lines_replace_only_the_main_sections(tmp_path):
    conf = tmp_path / "910.conf"
    conf.write_text("cores: 6\nlxc.apparmor.profile = generated\nhostname: Portainer\n\n"
                    "[snap1]\ncores: 2\nlxc.apparmor.profile: generated\nsnaptime: 1\n")
    seen = [["lxc.apparmor.profile", "generated"]]
    r = raw_edit(tmp_path, lxc_raw.lines_digest(seen),
                 "lxc.idmap: u 0 100000 65536\nlxc.apparmor.profile: unconfined")
    assert r.returncode == 0, r.stderr
    assert conf.read_text() == (
        "cores: 6\nhostname: Portainer\nlxc.idmap: u 0 100000 65536\n"
        "lxc.apparmor.profile: unconfined\n\n"
        "[snap1]\ncores: 2\nlxc.apparmor.profile: generated\nsnaptime: 1\n")
    backup = r.stdout.split("\t", 1)[1].strip()
    assert "generated" in open(backup).read()  # the old file kept


def test_raw_lines_are_not_written_when_they_changed_since_the_probe(tmp_path):
    conf = tmp_path / "910.conf"
    conf.write_text("cores: 6\nlxc.apparmor.profile: someone-else\n")
    r = raw_edit(tmp_path, hashlib.sha1(b"").hexdigest(), "lxc.apparmor.profile: unconfined")
    assert r.returncode == 1 and "changed since phoenix read them" in r.stderr
    assert conf.read_text() == "cores: 6\nlxc.apparmor.profile: someone-else\n"


HOSTILE_LINES = [
    r"lxc.mount.entry: /fastData/my\040share srv/share none bind,create=dir 0 0",
    r"lxc.apparmor.raw: deny /x\ny/** rw, # not a new line",
    "lxc.environment: A=\"q'uo\"te\" & 100% %s %d \\\\ \\t",
    r"lxc.cgroup2.devices.allow: c 195:* rwm \& \1 $0 ${x}",
]


@pytest.mark.parametrize("awk", ["mawk", "gawk"])
def test_raw_lines_reach_the_file_byte_exact_with_either_awk(awk, tmp_path):
    """The real edit script, run by mawk (Debian's default) and by gawk: backslashes,
    quotes, & and % arrive as written, each declared line stays one line."""
    real = shutil.which(awk)
    assert real, f"{awk} is installed by tests/sandbox/prereqs.sh"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "awk").symlink_to(real)
    conf = tmp_path / "910.conf"
    conf.write_text("cores: 6\nhostname: Portainer\n")
    r = subprocess.run(["sh", "-c", RAW_TEST, "phoenix-raw-lxc", "910", "new",
                        "\n".join(HOSTILE_LINES), str(tmp_path / "backups")],
                       capture_output=True, text=True, timeout=30,
                       env={"PATH": f"{bindir}:/usr/bin:/bin", "PVE_LXC": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert conf.read_text() == "cores: 6\nhostname: Portainer\n" + "".join(
        line + "\n" for line in HOSTILE_LINES)
    # the probe's digest of those lines (as the API lists them) matches the file: a second
    # edit with it goes through and leaves the file as it is
    listed = [[k.strip(), v.strip()] for k, _, v in (ln.partition(":") for ln in HOSTILE_LINES)]
    before = conf.read_text()
    again = subprocess.run(["sh", "-c", RAW_TEST, "phoenix-raw-lxc", "910",
                            lxc_raw.lines_digest(listed), "\n".join(HOSTILE_LINES),
                            str(tmp_path / "backups")], capture_output=True, text=True,
                           timeout=30, env={"PATH": f"{bindir}:/usr/bin:/bin",
                                            "PVE_LXC": str(tmp_path)})
    assert again.returncode == 0, again.stderr
    assert conf.read_text() == before


FAKE_PCT = """#!/bin/sh
# pct exec VMID -- CMD...: runs CMD here (the container around it is pct's business)
shift 3
exec "$@"
"""


@pytest.mark.parametrize("check,why", [
    ("sleep 60", "its checks did not finish within 1 s"),
    ("yes phoenix", None),  # checks' output goes to /dev/null: a chatty check is fine
])
def test_a_hung_container_gives_unknown_for_itself(check, why, tmp_path, monkeypatch):
    """The real probe command, with a pct that runs the checks here: a check that hangs
    ends at the probe's timeout and the container's answer is unknown, not a stuck probe."""
    monkeypatch.setattr(lxc_inside, "PROBE_TIMEOUT_S", 1)
    (tmp_path / "pct").write_text(FAKE_PCT)
    (tmp_path / "pct").chmod(0o755)
    cfg = host_config({"containers": [910], "config": {"lxc": {"containers": {"910": {
        "setup": [], "health_check": {"command": check if why else "true"}}}}}})
    command = lxc_inside.commands(cfg)["inside_910"]
    if not why:
        command = command.replace("yes phoenix", "true")
    r = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30,
                       env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    found = lxc_inside.unanswered({"inside_910": Out(r.returncode, r.stdout)}, cfg)
    assert found == ({910: why} if why else {}), r.stdout


def test_a_container_that_floods_the_probe_is_cut_at_the_cap(tmp_path):
    """A container whose `sh` prints without end (a replaced binary inside it): the
    probe's output stops at the cap, and the container's answer is unknown."""
    (tmp_path / "pct").write_text("#!/bin/sh\nexec yes rc=0\n")
    (tmp_path / "pct").chmod(0o755)
    cfg = host_config({"containers": [910]})
    r = subprocess.run(["bash", "-c", lxc_inside.commands(cfg)["inside_910"]],
                       capture_output=True, text=True, timeout=30,
                       env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert len(r.stdout) == lxc_inside.PROBE_CAP
    found = lxc_inside.unanswered({"inside_910": Out(r.returncode, r.stdout)}, cfg)
    assert "more than" in found[910]
