#!/usr/bin/env python3
"""The sandbox's container runtime: what lxc-start, lxc-attach and `pct push` do on a PVE
node, with plain namespaces. A started container is the transient unit
pve-container@VMID (as on PVE), whose process is PID 1 of new mount, PID, UTS, IPC and
network namespaces, chrooted into the container's rootfs volume; each netN is a veth pair
(host side vethVMIDiN on the bridge, container side named as configured, with its address,
MAC and default route); mount points are bind mounts; devN entries bind the host's device
nodes. Before the start, /etc/hostname and /etc/hosts inside are written as PVE's setup
does.

Not simulated (docs/sandbox.md): user namespaces (an unprivileged container's processes
are the host's root, its files unshifted), cgroup limits (cores, memory, swap), systemd
inside (PID 1 is an idle shell loop), DHCP.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

RUN = "/run/sandbox-lxc"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IDLE = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"
HOST_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


class Error(Exception):
    pass


def unit(vmid):
    return f"pve-container@{vmid}"


def pid_of(vmid):
    """The host PID of the container's PID 1, or None when it is not running."""
    try:
        with open(f"{RUN}/{vmid}.pid") as f:
            pid = int(f.read())
        with open(f"{RUN}/{vmid}.json") as f:
            root = json.load(f)["rootfs"]
        if os.readlink(f"/proc/{pid}/root") == root:
            return pid
    except (OSError, ValueError, KeyError):
        pass
    return None


def sh(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True)
    if check and r.returncode:
        raise Error(f"{' '.join(argv)}: {r.stderr.strip() or r.returncode}")
    return r


def start(vmid, spec):
    """spec: rootfs (host path), hostname, nets [{name, bridge, ip, gw, hwaddr}],
    mounts [{source, path, ro}], devices [host paths]."""
    for net in spec["nets"]:
        if not os.path.isdir(f"/sys/class/net/{net['bridge']}/bridge"):
            raise Error(f"bridge '{net['bridge']}' does not exist")
    for dev in spec["devices"]:
        if not os.path.exists(dev):
            raise Error(f"Device '{dev}' does not exist")
    os.makedirs(RUN, exist_ok=True)
    for name in (f"{vmid}.pid", f"{vmid}.ready"):
        if os.path.exists(f"{RUN}/{name}"):
            os.unlink(f"{RUN}/{name}")
    with open(f"{RUN}/{vmid}.json", "w") as f:
        json.dump(spec, f)
    sh("systemctl", "reset-failed", unit(vmid), check=False)
    sh("systemd-run", f"--unit={unit(vmid)}", "--collect", "--quiet",
       f"--description=PVE LXC Container: {vmid}", "--",
       "unshare", "--mount", "--pid", "--uts", "--ipc", "--net", "--fork",
       "--kill-child=SIGKILL", "--propagation", "private",
       sys.executable, os.path.abspath(__file__), "__init", str(vmid))
    pid = _wait_for_init(vmid)
    try:
        for i, net in enumerate(spec["nets"]):
            _plug(vmid, i, pid, net)
        sh("nsenter", "-t", str(pid), "-n", "ip", "link", "set", "lo", "up")
    except Error:
        stop(vmid)
        raise


def _wait_for_init(vmid):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if os.path.exists(f"{RUN}/{vmid}.ready"):
            main = sh("systemctl", "show", "-p", "MainPID", "--value", unit(vmid)).stdout
            try:
                with open(f"/proc/{main.strip()}/task/{main.strip()}/children") as f:
                    pid = int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                pid = 0
            if pid:
                with open(f"{RUN}/{vmid}.pid", "w") as f:
                    f.write(str(pid))
                return pid
        time.sleep(0.05)
    log = sh("journalctl", "-u", unit(vmid), "-n", "20", "-o", "cat", check=False).stdout
    stop(vmid)
    raise Error(f"startup for container '{vmid}' failed: {log.strip()}")


def _plug(vmid, i, pid, net):
    host_side = f"veth{vmid}i{i}"
    sh("ip", "link", "add", host_side, "type", "veth", "peer", "name", net["name"],
       "netns", str(pid))
    sh("ip", "link", "set", host_side, "master", net["bridge"], "up")
    inside = ["nsenter", "-t", str(pid), "-n", "ip"]
    if net.get("hwaddr"):
        sh(*inside, "link", "set", net["name"], "address", net["hwaddr"])
    sh(*inside, "link", "set", net["name"], "up")
    if net.get("ip") and "/" in net["ip"]:
        sh(*inside, "addr", "add", net["ip"], "dev", net["name"])
        if net.get("gw"):
            sh(*inside, "route", "add", "default", "via", net["gw"])


def hotplug(vmid, spec):
    """A running container takes a changed netN or a new mount point at once (PVE's
    hotplug): the veth pairs are plugged anew, new bind mounts made inside."""
    pid = pid_of(vmid)
    if pid is None:
        return
    for i, net in enumerate(spec["nets"]):
        sh("ip", "link", "del", f"veth{vmid}i{i}", check=False)
        _plug(vmid, i, pid, net)
    inside = sh("nsenter", "-t", str(pid), "-m", "cat", "/proc/self/mounts").stdout
    for m in spec["mounts"]:
        target = f"{spec['rootfs']}/{m['path'].lstrip('/')}"
        if f" {target} " not in inside:
            sh("nsenter", "-t", str(pid), "-m", "mkdir", "-p", target)
            sh("nsenter", "-t", str(pid), "-m", "mount", "--bind", m["source"], target)


def init(vmid):
    """PID 1 of the new namespaces, still seeing the host's files: mounts, hostname, then
    chroot into the rootfs and idle."""
    with open(f"{RUN}/{vmid}.json") as f:
        spec = json.load(f)
    r = spec["rootfs"]
    for sub in ("proc", "sys", "dev", "run", "tmp"):
        os.makedirs(f"{r}/{sub}", exist_ok=True)
    sh("mount", "-t", "proc", "proc", f"{r}/proc")
    sh("mount", "-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", f"{r}/sys")
    sh("mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,size=1m", "tmpfs", f"{r}/dev")
    sh("mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev,size=64m", "tmpfs", f"{r}/run")
    for dev in [f"/dev/{d}" for d in HOST_DEVICES] + spec["devices"]:
        _bind(dev, f"{r}{dev}", ro=False, is_file=True)
    os.symlink("/proc/self/fd", f"{r}/dev/fd")
    for m in spec["mounts"]:
        _bind(m["source"], f"{r}/{m['path'].lstrip('/')}", m.get("ro"), is_file=False)
    _set_identity(r, spec["hostname"])
    socket.sethostname(spec["hostname"])
    with open(f"{RUN}/{vmid}.ready", "w"):
        pass
    os.chroot(r)
    os.chdir("/")
    os.execve("/bin/sh", ["/bin/sh", "-c", IDLE], {"PATH": PATH, "container": "lxc"})


def _bind(source, target, ro, is_file):
    if is_file:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    else:
        os.makedirs(target, exist_ok=True)
    sh("mount", "--bind", source, target)
    if ro:
        sh("mount", "-o", "remount,bind,ro", target)


def _set_identity(rootfs, hostname):
    """What PVE's container setup writes at each start (PVE::LXC::Setup::Debian)."""
    with open(f"{rootfs}/etc/hostname", "w") as f:
        f.write(hostname + "\n")
    hosts = f"{rootfs}/etc/hosts"
    lines = open(hosts).read().splitlines() if os.path.exists(hosts) else [
        "127.0.0.1 localhost.localdomain localhost"]
    lines = [ln for ln in lines if not ln.startswith("127.0.1.1")]
    lines.insert(1, f"127.0.1.1 {hostname}")
    with open(hosts, "w") as f:
        f.write("\n".join(lines) + "\n")


def stop(vmid):
    sh("systemctl", "stop", unit(vmid), check=False)
    sh("systemctl", "reset-failed", unit(vmid), check=False)
    for name in (f"{vmid}.pid", f"{vmid}.ready"):
        if os.path.exists(f"{RUN}/{name}"):
            os.unlink(f"{RUN}/{name}")


def exec_argv(vmid, argv):
    """`pct exec VMID -- argv`: the command inside every namespace of the container, with
    the environment lxc-attach gives (cleared, a standard PATH)."""
    pid = pid_of(vmid)
    if pid is None:
        raise Error(f"CT {vmid} not running")
    return ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p", "-r", "-w", "--",
            "/usr/bin/env", "-i", f"PATH={PATH}", "HOME=/root", "container=lxc", *argv]


def push(vmid, source, dest, perms=None):
    """`pct push`: a host file into the running container (the parent must exist)."""
    pid = pid_of(vmid)
    if pid is None:
        raise Error(f"CT {vmid} not running")
    if not dest.startswith("/") or re.search(r"(^|/)\.\.(/|$)", dest):
        raise Error(f"invalid destination path '{dest}'")
    target = f"/proc/{pid}/root{dest}"
    if not os.path.isdir(os.path.dirname(target)):
        raise Error(f"failed to open {dest} for writing: No such file or directory")
    with open(source, "rb") as src, open(target + ".pct-tmp", "wb") as out:
        out.write(src.read())
    os.chmod(target + ".pct-tmp", int(perms, 8) if perms else 0o644)
    os.replace(target + ".pct-tmp", target)


if __name__ == "__main__" and sys.argv[1:2] == ["__init"]:
    init(sys.argv[2])
