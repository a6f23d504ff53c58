#!/usr/bin/python3
"""Hardware and Proxmox-platform stand-ins of a sandbox host, by command name.

lspci, lsmod, nvidia-smi, dkms, update-initramfs, proxmox-boot-tool, pveversion,
uname, reboot/shutdown, and `sb-boot` (run once per boot before systemd starts).

The NVIDIA module is loaded at boot only when a GPU is present (/var/lib/sandbox/gpu),
the driver's module was built by dkms, nouveau is blacklisted in /etc/modprobe.d and
the initramfs was regenerated after the module was built: what a real node needs.
"""

import glob
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import sbstate  # noqa: E402

KREL = "6.8.12-10-pve"
PVE = "pve-manager/8.4.1/2a5fa54a8503f96d (running kernel: 6.8.12-10-pve)"
DRIVER = "575.57.08"
ROOT = os.environ.get("SANDBOX_ROOT", "")
RUN = ROOT + "/run/sandbox"
GPU_FILE = os.path.join(sbstate.STATE, "gpu")
STAMP = os.path.join(sbstate.STATE, "initramfs-stamp")
NVIDIA_KO = ROOT + f"/lib/modules/{KREL}/updates/dkms/nvidia.ko"
BASE_MODULES = [("zfs", 6352896, "6"), ("spl", 118784, "1 zfs"), ("nf_tables", 356352, "0"),
                ("bridge", 421888, "0"), ("kvm_amd", 208896, "0"), ("kvm", 1363968, "1 kvm_amd")]
NVIDIA_MODULES = [("nvidia_uvm", 1531904, "0"), ("nvidia_drm", 94208, "0"),
                  ("nvidia_modeset", 1339392, "1 nvidia_drm"),
                  ("nvidia", 54231040, "2 nvidia_uvm,nvidia_modeset")]
PCI = ["00:00.0 Host bridge: Advanced Micro Devices, Inc. [AMD] Starship/Matisse Root Complex",
       "00:01.0 Host bridge: Advanced Micro Devices, Inc. [AMD] Starship/Matisse PCIe Dummy "
       "Host Bridge"]
GPU_PCI = ["01:00.0 VGA compatible controller [0300]: NVIDIA Corporation AD102 [GeForce RTX "
           "4090] [10de:2684] (rev a1)",
           "01:00.1 Audio device [0403]: NVIDIA Corporation AD102 High Definition Audio "
           "Controller [10de:22ba] (rev a1)"]
NVME_PCI = "{slot}:00.0 Non-Volatile memory controller [0108]: {vendor} NVMe SSD Controller"


def gpu_present():
    return os.path.exists(GPU_FILE)


def loaded_modules():
    try:
        with open(RUN + "/modules") as f:
            return [line.split(maxsplit=2) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def nouveau_blacklisted():
    for path in glob.glob(ROOT + "/etc/modprobe.d/*.conf"):
        with open(path) as f:
            if re.search(r"^\s*blacklist\s+nouveau\s*$", f.read(), re.M):
                return True
    return False


def sb_boot(_args):
    """Per boot: host identity on first boot, /dev drive nodes, which modules load."""
    env = dict(os.environ, PATH="/usr/sbin:/usr/bin:/sbin:/bin")
    if not glob.glob(ROOT + "/etc/ssh/ssh_host_*_key"):
        for kind in ("ed25519", "ecdsa", "rsa"):
            subprocess.run(["ssh-keygen", "-q", "-N", "", "-t", kind, "-f",
                            f"/etc/ssh/ssh_host_{kind}_key"], check=True, env=env)
    if not os.path.exists("/etc/machine-id") or not open("/etc/machine-id").read().strip():
        with open("/etc/machine-id", "w") as f:
            f.write(os.urandom(16).hex() + "\n")
    pve_certificates(env)
    sbstate.sync_dev()
    mods = list(BASE_MODULES)
    if gpu_present():
        built = os.path.exists(NVIDIA_KO)
        fresh = built and os.path.exists(STAMP) and \
            os.path.getmtime(STAMP) >= os.path.getmtime(NVIDIA_KO)
        if built and fresh and nouveau_blacklisted():
            mods = NVIDIA_MODULES + mods
        elif not nouveau_blacklisted():
            mods = [("nouveau", 2793472, "0")] + mods
    os.makedirs(RUN, exist_ok=True)
    with open(RUN + "/modules", "w") as f:
        f.writelines(f"{n} {s} {u}\n" for n, s, u in mods)
    return 0


def pve_certificates(env):
    """Like a PVE install: a CA of this node (/etc/pve/pve-root-ca.pem) signing the
    certificate pveproxy serves on :8006 for the node's names and addresses."""
    pve = ROOT + "/etc/pve"
    if os.path.exists(pve + "/local/pve-ssl.pem"):
        return
    os.makedirs(pve + "/priv", exist_ok=True)
    os.makedirs(pve + "/local", exist_ok=True)
    ou = os.urandom(8).hex()

    def ssl(*argv):
        subprocess.run(["openssl", *argv], check=True, env=env, capture_output=True)
    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", pve + "/priv/pve-root-ca.key", "-out", pve + "/pve-root-ca.pem",
        "-days", "3650", "-subj", f"/CN=Proxmox Virtual Environment/OU={ou}/O=PVE Cluster "
        "Manager CA")
    host = open(ROOT + "/etc/hostname").read().strip() if os.path.exists(
        ROOT + "/etc/hostname") else "localhost"
    addrs = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                           env=env).stdout
    ips = [line.split()[3].split("/")[0] for line in addrs.splitlines() if " inet " in line]
    san = ",".join([f"DNS:{host}", "DNS:localhost"] + [f"IP:{ip}" for ip in ips])
    ext = pve + "/priv/san.cnf"
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", pve + "/local/pve-ssl.key", "-out", pve + "/priv/pve-ssl.csr",
        "-subj", f"/OU=PVE Cluster Node/O=Proxmox Virtual Environment/CN={host}")
    ssl("x509", "-req", "-in", pve + "/priv/pve-ssl.csr", "-CA", pve + "/pve-root-ca.pem",
        "-CAkey", pve + "/priv/pve-root-ca.key", "-CAcreateserial", "-days", "730",
        "-extfile", ext, "-out", pve + "/local/pve-ssl.pem")
    os.chmod(pve + "/local/pve-ssl.key", 0o600)


def lsmod(_args):
    print("Module                  Size  Used by")
    for name, size, used in loaded_modules():
        print(f"{name:<19}{size:>9}  {used}")
    return 0


def lspci(args):
    lines = PCI + (GPU_PCI if gpu_present() else [])
    for i, (name, d) in enumerate(sorted(sbstate.drives().items())):
        lines.append(f"{i + 2:02x}:00.0 Non-Volatile memory controller [0108]: "
                     f"{d['model'].split()[0]} NVMe SSD Controller [144d:a80c]")
    numeric = "-nn" in args or "-n" in args
    vendor = args[args.index("-d") + 1].split(":")[0] if "-d" in args else None
    for line in lines:
        if vendor and f"[{vendor}:" not in line:
            continue
        print(line if numeric else re.sub(r" \[[0-9a-f]{4}(:[0-9a-f]{4})?\]", "", line))
    return 0


def nvidia_smi(args):
    if not any(m[0] == "nvidia" for m in loaded_modules()):
        print("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
              "Make sure that the latest NVIDIA driver is installed and running.\n")
        return 9
    query = next((a.split("=", 1)[1] for a in args if a.startswith("--query-gpu=")), None)
    if query:
        values = {"name": "NVIDIA GeForce RTX 4090", "driver_version": DRIVER,
                  "memory.total": "24564 MiB", "pci.bus_id": "00000000:01:00.0"}
        print(", ".join(values.get(q, "[N/A]") for q in query.split(",")))
        return 0
    print(f"""{time.strftime('%a %b %d %H:%M:%S %Y')}
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI {DRIVER}              Driver Version: {DRIVER}      CUDA Version: 12.9     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|=========================================+========================+======================|
|   0  NVIDIA GeForce RTX 4090        Off |   00000000:01:00.0 Off |                  Off |
|  0%   34C    P8             19W /  450W |       2MiB /  24564MiB |      0%      Default |
+-----------------------------------------+------------------------+----------------------+""")
    return 0


def dkms(args):
    sources = sorted(glob.glob(ROOT + "/usr/src/nvidia-*/dkms.conf"))
    if not args or args[0] == "status":
        if os.path.exists(NVIDIA_KO):
            print(f"nvidia/{DRIVER}, {KREL}, x86_64: installed")
        elif sources:
            print(f"nvidia/{DRIVER}: added")
        return 0
    if args[0] in ("autoinstall", "install"):
        krel = args[args.index("-k") + 1] if "-k" in args else KREL
        if not sources:
            return 0
        if not os.path.isdir(ROOT + f"/lib/modules/{krel}/build"):
            print(f"Error! Your kernel headers for kernel {krel} cannot be found at "
                  f"/lib/modules/{krel}/build or /lib/modules/{krel}/source.", file=sys.stderr)
            return 1
        if os.path.exists(NVIDIA_KO):
            return 0
        print(f"Autoinstall of module nvidia/{DRIVER} for kernel {krel} (x86_64)\n"
              f"Building module(s)..... done.\nSigning module /var/lib/dkms/nvidia/{DRIVER}/"
              f"build/kernel-open/nvidia.ko\nInstalling /lib/modules/{krel}/updates/dkms/"
              "nvidia.ko\nRunning depmod... done.\n\nAutoinstall on "
              f"{krel} succeeded for module(s) nvidia.")
        os.makedirs(os.path.dirname(NVIDIA_KO), exist_ok=True)
        with open(NVIDIA_KO, "w") as f:
            f.write(f"sandbox stand-in for nvidia.ko {DRIVER}\n")
        return 0
    print(f"Error! Unknown action specified: {args[0]}", file=sys.stderr)
    return 2


def update_initramfs(args):
    if "-u" not in args and "-c" not in args:
        print("Usage: update-initramfs {-c|-d|-u} [-k version] [-v] [-b directory]",
              file=sys.stderr)
        return 2
    print(f"update-initramfs: Generating /boot/initrd.img-{KREL}\n"
          "Running hook script 'zz-proxmox-boot'..\nRe-executing '/etc/kernel/postinst.d/"
          "zz-proxmox-boot' in new private mount namespace..\nNo /etc/kernel/"
          "proxmox-boot-uuids found, skipping ESP sync.")
    os.makedirs(os.path.dirname(STAMP), exist_ok=True)
    with open(STAMP, "w") as f:
        f.write(f"{time.time()}\n")
    return 0


def proxmox_boot_tool(args):
    if args[:1] != ["refresh"]:
        print(f"unknown command '{' '.join(args)}'", file=sys.stderr)
        return 2
    print("Running hook script 'proxmox-auto-removal'..\nRunning hook script "
          "'zz-proxmox-boot'..\nRe-executing '/usr/sbin/proxmox-boot-tool' in new private "
          "mount namespace..\nNo /etc/kernel/proxmox-boot-uuids found, skipping ESP sync.")
    return 0


def pveversion(args):
    print(PVE)
    return 0


def uname(args):
    real = subprocess.run(["/usr/bin/uname.real", *args], capture_output=True, text=True)
    out = real.stdout
    release = subprocess.run(["/usr/bin/uname.real", "-r"], capture_output=True,
                             text=True).stdout.strip()
    sys.stdout.write(out.replace(release, KREL) if release else out)
    sys.stderr.write(real.stderr)
    return real.returncode


def reboot(args):
    """Ask the sandbox supervisor (outside the host) to take this host down and up."""
    os.makedirs(sbstate.STATE, exist_ok=True)
    with open(os.path.join(sbstate.STATE, "reboot-requested"), "w") as f:
        f.write(f"{time.time()}\n")
    if "--no-wait" not in args:
        time.sleep(30)  # like a real reboot: the host goes down under the running command
    return 0


def shutdown(args):
    if "-r" in args or "--reboot" in args:
        return reboot(args)
    print("sandbox: only 'shutdown -r' is supported", file=sys.stderr)
    return 1


TOOLS = {"sb-boot": sb_boot, "lsmod": lsmod, "lspci": lspci, "nvidia-smi": nvidia_smi,
         "dkms": dkms, "update-initramfs": update_initramfs,
         "proxmox-boot-tool": proxmox_boot_tool, "pveversion": pveversion, "uname": uname,
         "reboot": reboot, "shutdown": shutdown}

if __name__ == "__main__":
    sys.exit(TOOLS[os.path.basename(sys.argv[0])](sys.argv[1:]))
