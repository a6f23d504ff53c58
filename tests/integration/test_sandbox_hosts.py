"""Sandbox hosts behave like fresh PVE 8 nodes where it matters to phoenix (issue 3)."""

import subprocess
import time
from pathlib import Path

import pytest

from tests.sandbox import lab

pytestmark = pytest.mark.sandbox


def test_hosts_accept_ssh_with_generated_key(sandbox):
    for host in sandbox:
        out = host.ssh("hostname; systemctl is-system-running; id -u").stdout.split()
        # phoenix may already have renamed the host (network step): phoenix-<name>
        assert out[0] in (host.name, f"phoenix-{host.name}") and out[1:] == ["running", "0"]


def test_drives_are_block_devices_that_survive_a_reboot_and_are_released(fresh_host):
    """What the original's drive discovery tests (`[ -b ]`) holds for every drive, through
    its by-id link too; a stop releases the machine's loop devices."""
    host = fresh_host
    names = sorted(lab.drives_of(host.index))
    links = [lab.by_id(d) for _, d in sorted(lab.drives_of(host.index).items())]
    checks = " && ".join(f"[ -b /dev/{n} ] && [ -b {link} ]" for n, link in zip(names, links))
    host.ssh(checks)
    assert host.ssh("blockdev --getsize64 /dev/nvme2n1").stdout.strip() == str(
        lab.drives_of(host.index)["nvme2n1"]["size"])
    images = lab.HOSTS / host.name / "drives"
    attached = subprocess.run(["losetup", "-j", str(images / "nvme0n1.img")],
                              capture_output=True, text=True).stdout
    assert attached.count("/dev/loop") == 1
    lab.fleet("stop", host.index)
    assert subprocess.run(["losetup", "-j", str(images / "nvme0n1.img")],
                          capture_output=True, text=True).stdout == ""
    lab.boot([host.index])
    host.ssh(checks)


def test_zfs_stand_in_prints_what_real_zfs_prints(fresh_host):
    d = fresh_host.info["drives"]
    fresh_host.ssh(f"zpool create -f -o autotrim=on -O compression=lz4 -O atime=off quickOS "
                   f"mirror {d[0]} {d[1]}")
    fresh_host.ssh("zfs create -o compression=lz4 -o dedup=on quickOS/vm-disks")
    out = fresh_host.ssh("zfs get -H -o name,property,value,source compression,dedup,atime "
                         "quickOS/vm-disks").stdout
    assert out == ("quickOS/vm-disks\tcompression\tlz4\tlocal\n"
                   "quickOS/vm-disks\tdedup\ton\tlocal\n"
                   "quickOS/vm-disks\tatime\toff\tinherited from quickOS\n")
    assert fresh_host.ssh("zpool get -H -o value autotrim quickOS").stdout == "on\n"
    assert fresh_host.ssh("test -d /quickOS/vm-disks && echo yes").stdout == "yes\n"
    again = fresh_host.ssh(f"zpool create -f fastData {d[1]}", check=False)
    assert again.returncode == 1
    assert again.stderr == ("invalid vdev specification\nthe following errors must be "
                            f"manually repaired:\n{d[1]} is part of active pool 'quickOS'\n")
    status = fresh_host.ssh("zpool status quickOS").stdout
    assert Path(d[0]).name in status and "mirror-0" in status
    dirty = fresh_host.ssh(f"zpool create fastData {d[3]}", check=False)
    assert dirty.returncode == 1 and "use '-f' to override" in dirty.stderr
    lsblk = fresh_host.ssh(f"lsblk -no FSTYPE {d[0]}-part1").stdout.strip()
    assert lsblk == "zfs_member"


def test_state_persists_and_reboot_drops_connection(sandbox):
    host = sandbox[0]
    host.ssh("echo intact > /root/reboot-marker")
    before = host.ssh("ps -o lstart= -p 1").stdout
    t0 = time.monotonic()
    dropped = host.ssh("reboot", check=False, timeout=60)
    assert dropped.returncode == 255  # ssh: the connection went away under the command
    while True:
        probe = host.ssh("cat /root/reboot-marker", check=False, timeout=10)
        if probe.returncode == 0:
            break
        assert time.monotonic() - t0 < 30, "host did not come back within 30 s"
        time.sleep(0.5)
    assert probe.stdout == "intact\n"
    assert host.ssh("ps -o lstart= -p 1").stdout != before  # a new PID 1: it really rebooted


def clock_offset() -> float:
    """Wall clock minus monotonic clock: changes only if something sets the clock."""
    return time.time() - time.monotonic()


def test_hosts_cannot_move_the_machine_clock(fresh_host):
    before = clock_offset()
    host = fresh_host
    assert host.ssh("systemctl is-active chrony").stdout == "active\n"
    host.ssh("timedatectl set-timezone America/New_York")
    assert host.ssh("readlink /etc/localtime").stdout.strip().endswith("America/New_York")
    host.ssh("timedatectl set-ntp false")
    moved = host.ssh("timedatectl set-time '2020-01-01 00:00:00'", check=False)
    assert moved.returncode != 0
    direct = host.ssh("date -s '2020-01-01 00:00:00'", check=False)
    assert direct.returncode != 0 and "not permitted" in direct.stderr
    assert "hwclock" not in host.ssh("ls /dev").stdout
    assert abs(clock_offset() - before) < 1.0


def test_down_leaves_nothing_behind(sandbox):
    lab.down()
    assert not lab.any_running()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "phx-sb" not in netns
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "phxbr0" not in links and "vsb" not in links
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True,
                            text=True).stdout
    assert "10.211.0." not in routes
    assert "phoenix-sandbox" not in Path("/proc/mounts").read_text()
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "fleet.sh" not in procs and "mirror_server" not in procs
    assert "phoenix-sandbox/mirror/gnupg" not in procs  # the mirror build's gpg-agent
    assert not Path("/sys/fs/cgroup/unified/phoenix-sandbox").exists()
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert "phoenix-sandbox" not in loops  # every drive's loop device was released
