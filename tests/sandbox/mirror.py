"""The sandbox's package mirror: Debian, Proxmox and NVIDIA repositories, served inside it.

Real Debian packages the steps install (s-tui and what it needs beyond the rootfs) are
fetched with `apt-get download` from Debian's archive on this machine; what Debian lacks
(Proxmox headers, the NVIDIA driver, ZFS tools, pveversion) is built here as small real
.debs carrying the sandbox stand-ins. Release files are signed: the Debian and Proxmox
suites with a key the hosts trust, the CUDA repository with its own key that a host trusts
only after the NVIDIA step imports it from the key URL, as on a real node.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.sandbox.paths import BASE, KREL, run

MIRROR = BASE / "mirror"
WWW = MIRROR / "www"
GNUPG = MIRROR / "gnupg"
REAL_PACKAGES = ["s-tui"]
GUEST_LIB = "/usr/local/lib/sandbox"

PVEPROXY_UNIT = f"""[Unit]
Description=PVE API Proxy Server (sandbox stand-in)
After=network.target

[Service]
ExecStart=/usr/bin/python3 {GUEST_LIB}/pveapi.py
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
"""

# What each PVE release of the sandbox looks like (tests/sandbox/guest reads platform.json)
PLATFORMS = {
    "8": {"pve": "8.4.1", "release": "8.4", "repoid": "2a5fa54a8503f96d", "krel": KREL,
          "driver": "575.57.08", "zfs": "2.2.7-pve2", "container": "5.2.6", "suite": "bookworm",
          "debian": "12", "cuda": "debian12", "ceph": "ceph-quincy"},
    "9": {"pve": "9.1.1", "release": "9.1", "repoid": "42db4a6cf33dac83",
          "krel": "6.17.2-1-pve", "driver": "580.76.05", "zfs": "2.3.4-pve1",
          "container": "6.0.18", "suite": "trixie", "debian": "13", "cuda": "debian13",
          "ceph": "ceph-squid"},
}


def fake_debs(flavour: str) -> dict[str, tuple[str, str, str, dict[str, str], str]]:
    """name -> (version, repo, depends, {path in package: symlink target or file text},
    postinst) for one release."""
    p = PLATFORMS[flavour]
    krel, driver, x = p["krel"], p["driver"], "" if flavour == "8" else flavour
    debs = {
        "zfsutils-linux": (p["zfs"], f"pve{x}", "", {
            "usr/sbin/zpool": f"->{GUEST_LIB}/sbzfs.py", "usr/sbin/zfs": f"->{GUEST_LIB}/sbzfs.py",
        }, ""),
        "pve-manager": (p["pve"], f"pve{x}", "", {
            "usr/bin/pveversion": f"->{GUEST_LIB}/sbhw.py",
            "usr/bin/pvecm": f"->{GUEST_LIB}/sbhw.py",  # pve-cluster's, on a real node
            "usr/sbin/pvesm": f"->{GUEST_LIB}/pvecli.py",
            "usr/sbin/pveum": f"->{GUEST_LIB}/pvecli.py",
            "usr/lib/systemd/system/pveproxy.service": PVEPROXY_UNIT,
            "etc/systemd/system/multi-user.target.wants/pveproxy.service":
                "->/usr/lib/systemd/system/pveproxy.service",
        }, ""),
        "pve-container": (p["container"], f"pve{x}", "",
                          {"usr/sbin/pct": f"->{GUEST_LIB}/pvecli.py"}, ""),
        f"proxmox-headers-{krel}": (krel.rsplit("-", 1)[0], f"pve{x}", "", {
            f"usr/src/linux-headers-{krel}/Makefile": "# sandbox kernel headers\n",
            f"lib/modules/{krel}/build": f"->/usr/src/linux-headers-{krel}",
        }, ""),
        "proxmox-default-headers": ("1.1.0" if x == "" else "2.0.0", f"pve{x}",
                                    f"proxmox-headers-{krel}", {}, ""),
        f"nvidia-open-{driver}": (f"{driver}-1", f"cuda{x}", "", {
            f"usr/src/nvidia-{driver}/dkms.conf": f'PACKAGE_NAME="nvidia"\nPACKAGE_VERSION='
                                                 f'"{driver}"\nAUTOINSTALL="yes"\n',
            "usr/bin/nvidia-smi": f"->{GUEST_LIB}/sbhw.py",
        }, f"dkms autoinstall -k {krel} >/dev/null 2>&1 || true\n"),
        "nvtop": ("3.0.1-1" if x == "" else "3.2.0-1", f"debian{x}", "",
                  {"usr/bin/nvtop": "#!/bin/sh\necho 'nvtop 3.0.1'\n"}, ""),
    }
    if flavour == "8":  # gone in PVE 9
        debs["pve-headers"] = ("8.4.0", "pve", "proxmox-default-headers", {}, "")
    return debs


PREINSTALLED = ["zfsutils-linux", "pve-manager", "pve-container"]  # on a fresh PVE node

# repository -> (directory under www, suite path, component or None for a flat repo)
REPOS = {
    "debian": ("debian", "bookworm", "main contrib"),
    "debian-updates": ("debian", "bookworm-updates", "main contrib"),
    "security": ("debian-security", "bookworm-security", "main contrib"),
    "pve": ("debian/pve", "bookworm", "pve-no-subscription"),
    "ceph": ("debian/ceph-quincy", "bookworm", "no-subscription"),
    "cuda": ("compute/cuda/repos/debian12/x86_64", None, None),
    "debian9": ("debian", "trixie", "main contrib non-free-firmware"),
    "debian9-updates": ("debian", "trixie-updates", "main contrib non-free-firmware"),
    "security9": ("debian-security", "trixie-security", "main contrib non-free-firmware"),
    "pve9": ("debian/pve", "trixie", "pve-no-subscription"),
    "ceph9": ("debian/ceph-squid", "trixie", "no-subscription"),
    "cuda9": ("compute/cuda/repos/debian13/x86_64", None, None),
}
FLAVOUR_REPOS = {"8": [r for r in REPOS if not r[-1].isdigit() and "9" not in r],
                 "9": [r for r in REPOS if "9" in r]}
HOSTNAMES = ["deb.debian.org", "ftp.debian.org", "security.debian.org", "download.proxmox.com",
             "developer.download.nvidia.com"]
CUDA_KEYS = {"cuda": "3bf863cc.pub", "cuda9": "8793F200.pub"}  # each CUDA repository's own key



def gpg(*args: str, **kw) -> subprocess.CompletedProcess:
    return run(["gpg", "--homedir", str(GNUPG), "--batch", "--quiet", *args], **kw)


def ensure_keys() -> None:
    if (GNUPG / "done").exists():
        return
    shutil.rmtree(GNUPG, ignore_errors=True)
    GNUPG.mkdir(parents=True, mode=0o700)
    for uid in ("Phoenix Sandbox Mirror <mirror@sandbox.invalid>",
                "Sandbox CUDA repository <cuda@sandbox.invalid>"):
        gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never")
    (GNUPG / "done").touch()


def build_fake_deb(name: str, flavour: str, out_dir: Path) -> Path:
    version, _repo, depends, files, postinst = fake_debs(flavour)[name]
    root = MIRROR / "build" / flavour / name
    shutil.rmtree(root, ignore_errors=True)
    (root / "DEBIAN").mkdir(parents=True)
    control = (f"Package: {name}\nVersion: {version}\nArchitecture: amd64\n"
               f"Maintainer: Phoenix sandbox <sandbox@sandbox.invalid>\n"
               f"Description: sandbox stand-in for {name}\n")
    if depends:
        control += f"Depends: {depends}\n"
    (root / "DEBIAN/control").write_text(control)
    if postinst:
        (root / "DEBIAN/postinst").write_text("#!/bin/sh\nset -e\n" + postinst)
        (root / "DEBIAN/postinst").chmod(0o755)
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("->"):
            target.symlink_to(content[2:])
        else:
            target.write_text(content)
            target.chmod(0o755 if content.startswith("#!") else 0o644)
    out_dir.mkdir(parents=True, exist_ok=True)
    deb = out_dir / f"{name}_{version}_amd64.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)])
    return deb


def fetch_real_debs(rootfs: Path, out_dir: Path, suite: str = "bookworm") -> None:
    """apt-get download the packages (and dependencies) the rootfs does not have. Another
    suite than this machine's uses package lists of its own under the mirror's build dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.glob("s-tui_*.deb")):
        return
    opts: list[str] = []
    if suite != "bookworm":
        apt = MIRROR / "build" / f"apt-{suite}"
        (apt / "lists/partial").mkdir(parents=True, exist_ok=True)
        (apt / "cache/archives/partial").mkdir(parents=True, exist_ok=True)
        (apt / "sources.list").write_text(f"deb http://deb.debian.org/debian {suite} main\n")
        opts = ["-o", f"Dir::Etc::SourceList={apt}/sources.list", "-o",
                "Dir::Etc::SourceParts=-", "-o", f"Dir::State::Lists={apt}/lists",
                "-o", f"Dir::Cache={apt}/cache"]
    argv = ["apt-get", *opts, "install", "--simulate", "--no-install-recommends",
            "-o", f"Dir::State::status={rootfs}/var/lib/dpkg/status", *REAL_PACKAGES]
    try:
        sim = run(argv)
    except RuntimeError:  # the package lists may be missing or stale
        run(["apt-get", *opts, "update", "-qq"])
        sim = run(argv)
    wanted = [line.split()[1] for line in sim.stdout.splitlines() if line.startswith("Inst ")]
    run(["apt-get", *opts, "download", "-q", *wanted], cwd=out_dir)


def pool_dir(repo: str) -> Path:
    base, suite, _ = REPOS[repo]
    return WWW / base / ("pool" if suite else "")


def index(repo: str) -> None:
    base, suite, component = REPOS[repo]
    top = WWW / base
    key = "Sandbox CUDA" if repo in CUDA_KEYS else "Phoenix Sandbox Mirror"
    if suite is None:  # flat repository: Packages beside the .debs
        top.mkdir(parents=True, exist_ok=True)
        packages = run(["apt-ftparchive", "packages", "."], cwd=top).stdout
        _write_packages(top, packages)
        release_dir, opts = top, []
    else:
        pool = f"pool/{repo}"
        (top / pool).mkdir(parents=True, exist_ok=True)
        packages = run(["apt-ftparchive", "packages", pool], cwd=top).stdout
        for comp in component.split():  # the first component holds the packages
            bin_dir = top / "dists" / suite / comp / "binary-amd64"
            bin_dir.mkdir(parents=True, exist_ok=True)
            _write_packages(bin_dir, packages if comp == component.split()[0] else "")
        release_dir = top / "dists" / suite
        opts = [f"-oAPT::FTPArchive::Release::{k}={v}" for k, v in (
            ("Suite", suite), ("Codename", suite), ("Components", component),
            ("Architectures", "amd64"), ("Origin", "sandbox"), ("Label", repo))]
    for stale in ("Release", "InRelease", "Release.gpg"):
        (release_dir / stale).unlink(missing_ok=True)
    release = run(["apt-ftparchive", *opts, "release", "."], cwd=release_dir).stdout
    (release_dir / "Release").write_text(release)
    gpg("--yes", "--local-user", key, "--clearsign", "-o", str(release_dir / "InRelease"),
        str(release_dir / "Release"))
    gpg("--yes", "--local-user", key, "-abs", "-o", str(release_dir / "Release.gpg"),
        str(release_dir / "Release"))


def _write_packages(directory: Path, text: str) -> None:
    (directory / "Packages").write_text(text)
    with gzip.open(directory / "Packages.gz", "wt") as f:
        f.write(text)


def build(rootfs: Path, flavours: tuple[str, ...] = ("8",)) -> None:
    """Build (or refresh) the mirror for these PVE releases; cheap when the real .debs are
    cached. `rootfs` is the PVE 8 (Debian 12) root; PVE 9's is beside it (rootfs-trixie)."""
    ensure_keys()
    for flavour in flavours:
        (MIRROR / f"platform-{flavour}.json").write_text(json.dumps(PLATFORMS[flavour]))
        for name, (_v, repo, *_rest) in fake_debs(flavour).items():
            build_fake_deb(name, flavour, pool_dir(repo) / (repo if REPOS[repo][1] else ""))
        debian = FLAVOUR_REPOS[flavour][0]
        fetch_real_debs(rootfs_of(flavour), pool_dir(debian) / debian,
                        PLATFORMS[flavour]["suite"])
        for repo in FLAVOUR_REPOS[flavour]:
            index(repo)
    gpg("--yes", "-o", str(MIRROR / "mirror-key.gpg"), "--export", "Phoenix Sandbox Mirror")
    armored = gpg("--armor", "--export", "Sandbox CUDA").stdout
    for repo, name in CUDA_KEYS.items():
        (WWW / REPOS[repo][0]).mkdir(parents=True, exist_ok=True)
        (WWW / REPOS[repo][0] / name).write_text(armored)
    build_template(rootfs)


def rootfs_of(flavour: str) -> Path:
    return BASE / ("rootfs" if flavour == "8" else f"rootfs-{PLATFORMS[flavour]['suite']}")


# The container template the sandbox offers through PVE's appliance index: a real archive of
# the sandbox's own Debian 12 root (docs, manuals and apt lists left out), so its name says
# what it holds. Served like download.proxmox.com/images/system/.
TEMPLATE = "debian-12-standard_12.7-1_amd64.tar.zst"
APLINFO = MIRROR / "aplinfo.dat"  # installed on hosts as pveam update would leave it


def build_template(rootfs: Path) -> None:
    archive = WWW / "images" / "system" / TEMPLATE
    stamp = (rootfs.parent / "rootfs.stamp") if (rootfs.parent / "rootfs.stamp").exists() \
        else rootfs
    if archive.exists() and APLINFO.exists() and archive.stat().st_mtime >= stamp.stat().st_mtime:
        return
    archive.parent.mkdir(parents=True, exist_ok=True)
    run(["tar", "-C", rootfs, "--exclude=./usr/share/doc", "--exclude=./usr/share/man",
         "--exclude=./usr/share/locale", "--exclude=./var/lib/apt/lists",
         "--exclude=./var/cache/apt", "--numeric-owner", "-I", "zstd -T0 -3", "-cf",
         f"{archive}.tmp", "."])
    os.replace(f"{archive}.tmp", archive)
    sha512 = hashlib.sha512(archive.read_bytes()).hexdigest()
    APLINFO.write_text(
        "Package: debian-12-standard\nVersion: 12.7-1\nType: lxc\nOS: debian-12\n"
        "Section: system\nMaintainer: Phoenix sandbox <sandbox@sandbox.invalid>\n"
        "Architecture: amd64\nInfopage: https://pve.proxmox.com/wiki/Linux_Container\n"
        f"Location: system/{TEMPLATE}\nsha512sum: {sha512}\n"
        "Description: Debian 12 Bookworm (standard)\n"
        " The sandbox's own Debian 12 root, as a container template.\n\n")


def fake_deb_paths(flavour: str = "8") -> list[Path]:
    out = []
    for name in PREINSTALLED:
        version, repo, *_ = fake_debs(flavour)[name]
        out += sorted((pool_dir(repo) / repo).glob(f"{name}_{version}_*.deb"))
    return out


if __name__ == "__main__":
    build(BASE / "rootfs")
    print("mirror built under", WWW, os.listdir(WWW))
