"""Start, stop and describe sandbox hosts (`python -m tests.sandbox up N | down | ...`).

A host's disk is $SB_BASE/hosts/sbI/upper; what the user and the tests need to reach the
hosts is written to .sandbox/ in the project: hosts.json, inventory.yaml, secrets/ (one file
per secret, mode 600) and the SSH keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.sandbox import mirror
from tests.sandbox.paths import (
    BASE,
    BRIDGE_IP,
    GATEWAY,
    GUEST,
    HERE,
    STATE,
    SUBNET,
    host_ip,
    host_name,
    run,
)

ENV = dict(os.environ, SB_BASE=str(BASE))
HOSTS = BASE / "hosts"
FLEET = HERE / "fleet.sh"
SSH_KEY = STATE / "id_ed25519"
ADMIN_KEY = STATE / "admin_id_ed25519"
SECRETS = STATE / "secrets"
SSH_OPTS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
            "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=2"]


def fleet(*args: object, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(FLEET), *map(str, args)], env=ENV, check=check,
                          capture_output=True, text=True)


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def running(i: int) -> bool:
    pid = HOSTS / host_name(i) / "supervisor.pid"
    try:
        os.kill(int(pid.read_text()), 0)
        return True
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False


def any_running() -> bool:
    return any(running(int(d.name[2:])) for d in HOSTS.glob("sb*") if d.name[2:].isdigit())


# ------------------------------------------------------------------------- images
def build(flavours: tuple[str, ...] = ("8",)) -> None:
    """Rootfs (cached), CA, mirror and the custom layer of each PVE release asked for
    ("8": Debian 12, "9": Debian 13); each step skips when current."""
    from tests.sandbox import ca  # needs cryptography (the venv); `down` must not
    for flavour in flavours:
        run(["bash", HERE / "build-rootfs.sh", mirror.PLATFORMS[flavour]["suite"]], env=ENV,
            capture_output=False)
    ca.ensure_ca(BASE / "ca")
    if not (BASE / "ca" / "mirror.pem").exists():
        ca.issue(BASE / "ca", BASE / "ca", mirror.HOSTNAMES + [BRIDGE_IP], "mirror")
    mirror.build(BASE / "rootfs", flavours)
    for flavour in flavours:
        suffix = "" if flavour == "8" else f"-{flavour}"
        stamp = _layer_stamp(flavour)
        stamp_file = BASE / f"custom{suffix}.stamp"
        if stamp_file.exists() and stamp_file.read_text() == stamp:
            continue
        if any_running():
            print("sandbox: stand-ins changed but hosts are running; run 'make sandbox-down' "
                  "to pick the changes up")
            return
        run(["bash", HERE / "customize.sh", *mirror.fake_deb_paths(flavour)],
            env={**ENV, "FLAVOUR": flavour})
        stamp_file.write_text(stamp)


def _layer_stamp(flavour: str) -> str:
    h = hashlib.sha256()
    data = HERE.parents[1] / "phoenix_remote" / "data"
    for f in sorted(GUEST.glob("*.py")) + [HERE / "customize.sh", HERE / "mirror.py",
                                           data / "pve-8.4-endpoints.json",
                                           data / "pve-9.1-endpoints.json",
                                           BASE / "mirror" / "aplinfo.dat",
                                           BASE / "mirror" / f"platform-{flavour}.json",
                                           BASE / "mirror" / "mirror-key.gpg", BASE / "ca/ca.pem"]:
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def set_flavour(i: int, release: str) -> None:
    """The PVE release host i plays (fleet.sh picks its layers). A host that changes
    release gets a fresh disk: its old one belongs to the other Debian."""
    d = HOSTS / host_name(i)
    if flavour_of(i) != release and (d / "upper").exists():
        purge(i)
    d.mkdir(parents=True, exist_ok=True)
    (d / "flavour").write_text(release + "\n")


def flavour_of(i: int) -> str:
    f = HOSTS / host_name(i) / "flavour"
    return f.read_text().strip() if f.exists() else "8"


# ------------------------------------------------------------------------- host disks
def drives_of(i: int) -> dict[str, dict]:
    """Four fake NVMe drives per host; the fourth carries an old ext4 partition."""
    s = f"{i:03d}"
    return {
        "nvme0n1": {"size": 2000398934016, "model": "Samsung SSD 990 PRO 2TB",
                    "serial": f"S7KHNJ0W{s}001A", "eui": f"eui.0025385b71b0{s}1",
                    "partitions": [], "fstype": None},
        "nvme1n1": {"size": 2000398934016, "model": "Samsung SSD 990 PRO 2TB",
                    "serial": f"S7KHNJ0W{s}002B", "eui": f"eui.0025385b71b0{s}2",
                    "partitions": [], "fstype": None},
        "nvme2n1": {"size": 4000787030016, "model": "WD_BLACK SN850X 4000GB",
                    "serial": f"23101A8{s}01", "eui": f"eui.e8238fa6bf53{s}1",
                    "partitions": [], "fstype": None},
        "nvme3n1": {"size": 1000204886016, "model": "CT1000P5PSSD8",
                    "serial": f"2100{s}01", "eui": f"eui.6479a7fa0000{s}1",
                    "partitions": [{"n": 1, "fstype": "ext4", "label": None}],
                    "fstype": None},
    }


def by_id(d: dict) -> str:
    model = "".join(c if c.isalnum() or c in "._-" else "_" for c in d["model"])
    return f"/dev/disk/by-id/nvme-{model}_{d['serial']}"


def seed_disk(i: int, gpu: bool = True) -> None:
    """First start of host i: identity, root's key, drives, GPU. Written to the upper dir
    while nothing is mounted on it."""
    name, up = host_name(i), HOSTS / host_name(i) / "upper"
    if (up / "etc/hostname").exists():
        return
    (up / "etc").mkdir(parents=True, exist_ok=True)
    (up / "etc/hostname").write_text(name + "\n")
    names = " ".join(mirror.HOSTNAMES)
    (up / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n{host_ip(i)}\t{name}\n"
                                  f"# sandbox: the package mirror answers for these names\n"
                                  f"{BRIDGE_IP}\t{names}\n")
    ssh_dir = up / "root/.ssh"
    ssh_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    (up / "root").chmod(0o700)
    shutil.copy(f"{SSH_KEY}.pub", ssh_dir / "authorized_keys")
    (ssh_dir / "authorized_keys").chmod(0o600)
    state = up / "var/lib/sandbox"
    state.mkdir(parents=True, exist_ok=True)
    (state / "drives.json").write_text(json.dumps(drives_of(i), indent=1))
    if gpu:
        (state / "gpu").write_text("NVIDIA Corporation AD102 [GeForce RTX 4090]\n")


# Keys and secrets belong with the host disks they open (so every checkout using the same
# $SB_BASE reaches the same hosts); .sandbox/ gets copies for the user and the tests.
CREDENTIALS = BASE / "credentials"


def ensure_keys_and_secrets() -> None:
    (CREDENTIALS / "secrets").mkdir(mode=0o700, parents=True, exist_ok=True)
    for key in (SSH_KEY, ADMIN_KEY):
        master = CREDENTIALS / key.name
        if not master.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"sandbox {key.name}",
                 "-f", master])
    for name in ("admin_password", "smb_password"):
        write_secret(name, secrets.token_urlsafe(12) + "!")
    sync_credentials()


def sync_credentials() -> None:
    STATE.mkdir(exist_ok=True)
    SECRETS.mkdir(mode=0o700, exist_ok=True)
    for f in CREDENTIALS.glob("*id_ed25519*"):
        shutil.copy2(f, STATE / f.name)
    for f in (CREDENTIALS / "secrets").iterdir():
        shutil.copy2(f, SECRETS / f.name)


def write_secret(name: str, value: str, replace: bool = False) -> Path:
    """A generated secret, kept under $SB_BASE/credentials; returns the .sandbox copy."""
    path = CREDENTIALS / "secrets" / name
    if replace or not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value + "\n")
    SECRETS.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy2(path, SECRETS / name)
    return SECRETS / name


# ------------------------------------------------------------------------- lifecycle
def wait_ssh(indexes: list[int], deadline_s: float = 90) -> None:
    end = uptime() + deadline_s
    for i in indexes:
        while True:
            ok = subprocess.run(["ssh", *SSH_OPTS, "-i", str(SSH_KEY), f"root@{host_ip(i)}",
                                 "systemctl is-system-running --wait >/dev/null 2>&1; true"],
                                capture_output=True, timeout=60).returncode == 0
            if ok:
                break
            if uptime() > end:
                log = (HOSTS / host_name(i) / "console.log").read_text()[-3000:]
                raise RuntimeError(f"sandbox host {host_name(i)} did not answer SSH within "
                                   f"{deadline_s:.0f} s; console:\n{log}")
            time.sleep(0.2)


def start_mirror() -> None:
    pidfile = BASE / "mirror.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text()), 0)
            return
        except (ProcessLookupError, ValueError):
            pass
    log = open(BASE / "mirror.log", "a")
    proc = subprocess.Popen(["python3", "-m", "tests.sandbox.mirror_server"], cwd=HERE.parents[1],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    pidfile.write_text(str(proc.pid))
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex((BRIDGE_IP, 80)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"mirror server did not start; see {BASE / 'mirror.log'}")


def stop_mirror() -> None:
    pidfile = BASE / "mirror.pid"
    try:
        os.kill(int(pidfile.read_text()), 15)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    pidfile.unlink(missing_ok=True)


def up(n: int, gpu_less: tuple[int, ...] = (), pve: str = "8") -> list[dict]:
    """Start hosts sb1..sbN. `pve`: the release of each host, "8", "9" or a list such as
    "8,9" (host i gets the ((i-1) mod len)-th)."""
    t0 = uptime()
    releases = pve.split(",")
    build(tuple(sorted(set(releases))))
    ensure_keys_and_secrets()
    indexes = list(range(1, n + 1))
    for i in indexes:
        set_flavour(i, releases[(i - 1) % len(releases)])
        seed_disk(i, gpu=i not in gpu_less)
    start_mirror()
    boot(indexes)
    hosts = describe(indexes)
    write_state(hosts)
    print(f"sandbox: {n} host(s) up in {uptime() - t0:.1f} s: "
          + ", ".join(f"{h['name']} {h['address']}" for h in hosts))
    return hosts


def boot(indexes: list[int]) -> None:
    """Start hosts (all at once) and wait until SSH and the API answer."""
    for i in indexes:
        fleet("start", i)
    wait_ssh(indexes)
    for i in indexes:
        set_root_password(i)
        fetch_pve_ca(i)
    wait_api(indexes)


def set_root_password(i: int) -> None:
    name = host_name(i)
    marker = HOSTS / name / "upper/var/lib/sandbox/root-password-set"
    path = write_secret(f"{name}-root-password", secrets.token_urlsafe(12) + "!")
    if marker.exists():
        return
    subprocess.run(["bash", str(FLEET), "exec", str(i), "chpasswd"], env=ENV, check=True,
                   input=f"root:{path.read_text().strip()}\n", text=True, capture_output=True)
    subprocess.run(["bash", str(FLEET), "exec", str(i), "touch",
                    "/var/lib/sandbox/root-password-set"], env=ENV, check=True)


def fetch_pve_ca(i: int) -> Path:
    """Copy the host's own PVE CA out (read from its disk, not over the network)."""
    dest = STATE / "ca" / f"{host_name(i)}-pve-root-ca.pem"
    dest.parent.mkdir(exist_ok=True)
    src = HOSTS / host_name(i) / "upper/etc/pve/pve-root-ca.pem"
    shutil.copy(src, dest)
    return dest


def wait_api(indexes: list[int], deadline_s: float = 30) -> None:
    end = uptime() + deadline_s
    for i in indexes:
        while True:
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex((host_ip(i), 8006)) == 0:
                    break
            if uptime() > end:
                raise RuntimeError(f"the API of {host_name(i)} did not answer on :8006")
            time.sleep(0.1)


def host_key_fingerprint(i: int) -> str:
    pub = (HOSTS / host_name(i) / "upper/etc/ssh/ssh_host_ed25519_key.pub").read_text()
    blob = base64.b64decode(pub.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def describe(indexes: list[int]) -> list[dict]:
    out = []
    for i in indexes:
        name = host_name(i)
        drives = drives_of(i)
        out.append({
            "name": name, "address": host_ip(i), "ssh_user": "root", "ssh_key": str(SSH_KEY),
            "ssh_port": 22, "host_key_fingerprint": host_key_fingerprint(i),
            "api_url": f"https://{host_ip(i)}:8006",
            "ca_file": str(STATE / "ca" / f"{name}-pve-root-ca.pem"),
            "root_password_file": str(SECRETS / f"{name}-root-password"),
            "drives": [by_id(d) for d in drives.values()],
        })
    return out


# sb1 runs a template base, a GPU template and a Docker template cloned from it, a service
# cloned from the Docker one (a bind mount of a Phoenix dataset, a web page it serves, a
# health check) and a GPU service cloned from the GPU template; the template is the one
# the mirror offers. The example's setup scripts fetch from the internet, which sandbox
# containers cannot reach: these use the sandbox's own (tests/sandbox/lxc_setup), and the
# sandbox's one GPU.
SETUP = "lxc_setup"  # beside the inventory: write_state copies tests/sandbox/lxc_setup there
CONTAINERS = [
    "      lxc:",
    "        templates: {debian-12: {file: debian-12-standard_12.7-1_amd64.tar.zst, "
    "storage: shared-iso}}",
    "        setup:",
    f"          sandbox_base: {{script: {SETUP}/base.sh, check: 'id phoenix-svc && "
    "grep -qx \"base 1\" /etc/phoenix-base'}",
    f"          sandbox_web: {{script: {SETUP}/web.sh, check: 'grep -qxF \"$PHOENIX_HOSTNAME\" "
    "/srv/www/index.html && kill -0 \"$(cat /run/phoenix-web.pid)\"'}",
    f"          sandbox_nvidia: {{script: {SETUP}/nvidia.sh, check: 'nvidia-smi "
    "--query-gpu=driver_version --format=csv,noheader | grep -qxF \"$PHOENIX_NVIDIA_DRIVER\"'}",
    "        containers:",
    "          '900': {template: debian-12, setup: [sandbox_base]}",
    "          '901': {gpus: [0], setup: [sandbox_nvidia]}",
    "          '902': {setup: []}",
    "          '910': {setup: [sandbox_web], mounts: {mp0: {dataset: fastData/shared-bulk-data, "
    "path: /data}}, health_check: {command: 'curl -sf http://127.0.0.1:8080/', retries: 10, "
    "interval_s: 1}, idmap: ['u 0 100000 65536', 'g 0 100000 33', 'g 33 33 1', "
    "'g 34 100034 65502'], allow_host_access: true, raw_lxc: ['lxc.apparmor.profile: "
    "unconfined', 'lxc.mount.entry: /fastData/shared-bulk-data/my\\040share srv/share none "
    "bind,create=dir,optional 0 0']}",
    "          '953': {gpus: [0], setup: []}",
    "    containers: [900, 901, 902, 910, 953]",
]


def write_state(hosts: list[dict]) -> None:
    (STATE / "hosts.json").write_text(json.dumps(hosts, indent=2) + "\n")
    lines = [
        "# Generated by `make sandbox`: the sandbox hosts as a phoenix inventory.",
        "defaults:",
        f"  ssh: {{user: root, key_file: {SSH_KEY}}}",
        "  secrets:",
        "    admin_password: {file: secrets/admin_password}",
        "    smb_password: {file: secrets/smb_password}",
        "hosts:",
    ]
    for h in hosts:
        d = drives_of(int(h["name"][2:]))
        lines += [
            f"  {h['name']}:",
            f"    address: {h['address']}",
            f"    ssh: {{host_key_fingerprint: '{h['host_key_fingerprint']}'}}",
            f"    api: {{user: root@pam, password: {{file: secrets/{h['name']}-root-password}}}}",
            "    drives:",
            f"      quickOS: [{by_id(d['nvme0n1'])}, {by_id(d['nvme1n1'])}]",
            f"      fastData: [{by_id(d['nvme2n1'])}]",
            "    config:",
            f"      network: {{hostname: phoenix-{h['name']}, interface: eth0, "
            f"address: {h['address']}/24, gateway: {GATEWAY}, dns: {BRIDGE_IP}}}",
            f"      nfs: {{subnet: {SUBNET}.0/24}}",
            f"      admin_user: {{ssh_public_key_file: {ADMIN_KEY}.pub}}",
        ]
        if h["name"] == "sb1":
            lines += CONTAINERS
    (STATE / "inventory.yaml").write_text("\n".join(lines) + "\n")
    shutil.copytree(HERE / "lxc_setup", STATE / "lxc_setup", dirs_exist_ok=True)


def down() -> None:
    fleet("down", check=False)
    stop_mirror()
    # the mirror build's gpg started an agent; it must not outlive the sandbox
    subprocess.run(["gpgconf", "--homedir", str(mirror.GNUPG), "--kill", "gpg-agent"],
                   capture_output=True)


def purge(i: int) -> None:
    """Factory reset of one host: stop it and delete its disk."""
    fleet("stop", i, check=False)
    shutil.rmtree(HOSTS / host_name(i), ignore_errors=True)
