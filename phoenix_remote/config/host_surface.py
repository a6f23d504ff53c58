"""Values of the host steps that would run something as root, open the host, or lock the
operator out: Samba parameters that run commands or read host files, module options that
are hooks, repositories apt would trust without a signature, NFS exports that hand out
root, a firewall that drops SSH, and host addresses that are not one host's.

Where an operator may really want one (root-squash off for a backup target), an explicit
flag accepts it and plan names it; the rest are refused with the reason.
"""

from __future__ import annotations

import ipaddress
import re

from phoenix_remote.config.models import HypervisorConfig
from phoenix_remote.errors import Problem

# smb.conf(5) parameters whose value is a command smbd/winbindd runs (most as root), or a
# file/directory it reads config, passwords or state from; and share escapes
SMB_COMMANDS = frozenset(
    "abort shutdown script|add group script|add machine script|add share command|"
    "add user script|add user to group script|addport command|addprinter command|"
    "change share command|check password script|delete group script|delete share command|"
    "delete user from group script|delete user script|deleteprinter command|dfree command|"
    "dns update command|enumports command|get quota command|gpo update command|"
    "log nt token command|lppause command|lpq command|lpresume command|lprm command|"
    "magic script|message command|mit kdc command|nsupdate command|panic action|"
    "passwd program|postexec|preexec|exec|preexec close|print command|queuepause command|"
    "queueresume command|rename user script|root postexec|root preexec|root preexec close|"
    "samba kcc command|set primary group script|set quota command|shutdown script|"
    "spn update command|username map script".split("|"))
SMB_FILES = frozenset(
    "include|config file|smb passwd file|username map|private dir|lock directory|"
    "state directory|cache directory|pid directory|ncalrpc dir|binddns dir|usershare path|"
    "root directory|log file|dedicated keytab file|tls cafile|tls certfile|tls crlfile|"
    "tls dh params file|tls keyfile|template homedir|utmp directory|wtmp directory|"
    "winbindd socket directory|ntp signd socket directory".split("|"))
# Debian's own smb.conf sets these (the original keeps them): accepted with exactly this value
SMB_DEBIAN_DEFAULTS = {"panic action": "/usr/share/samba/panic-action %d",
                       "passwd program": "/usr/bin/passwd %u",
                       "log file": "/var/log/samba/log.%m"}
SMB_SHARE_ONLY_FROM_DATASET = {"path": "a share's path is its dataset's mountpoint"}

MODPROBE_LINE = re.compile(r"^(blacklist [A-Za-z0-9_-]+|"
                           r"options [A-Za-z0-9_-]+( [A-Za-z0-9_]+=[A-Za-z0-9_.,:-]+)+)$")
# apt options that make apt take packages without a valid signature
APT_INSECURE = re.compile(r"\b(trusted|allow-insecure|allow-weak|allow-downgrade-to-insecure)"
                          r"\s*=\s*yes\b")
# plain-http origins whose signing keys every Proxmox VE host carries (the Release file is
# signed; http only hides nothing): anything else over http needs signed-by=
SIGNED_HTTP_ORIGINS = ("http://download.proxmox.com/", "http://deb.debian.org/",
                       "http://security.debian.org/", "http://ftp.debian.org/")
ROOT_EXPORT = ("no_root_squash", "insecure", "no_all_squash")


def samba_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    out = []
    places = [("$.samba.global", cfg.samba.global_)] + [
        (f"$.samba.shares[{i}].options", s.options) for i, s in enumerate(cfg.samba.shares)]
    for where, params in places:
        for key, value in params.items():
            if SMB_DEBIAN_DEFAULTS.get(key) == value and where == "$.samba.global":
                continue
            if key in SMB_COMMANDS:
                out.append(Problem(src, f"{where}[{key!r}]", f"{key!r} runs a command on the "
                                   "host (as root): refused"))
            elif key in SMB_FILES:
                out.append(Problem(src, f"{where}[{key!r}]", f"{key!r} points Samba at a host "
                                   "file or directory: refused (Debian's default is kept)"))
            elif key in SMB_SHARE_ONLY_FROM_DATASET and where != "$.samba.global":
                out.append(Problem(src, f"{where}[{key!r}]",
                                   f"{SMB_SHARE_ONLY_FROM_DATASET[key]}: remove {key!r}"))
            elif key == "allow insecure wide links" and value.lower() in ("yes", "true", "1"):
                out.append(Problem(src, f"{where}[{key!r}]", "wide links let clients follow "
                                   "symlinks out of the share into the host: refused"))
    return out


def module_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    """modprobe.d lines: only blacklisting and options; `install`/`remove` lines are
    commands run as root at the next modprobe, `softdep` loads other modules."""
    out = []
    for at, nv in cfg.nvidia.variants_at():
        for i, line in enumerate(nv.blacklist_lines):
            if not MODPROBE_LINE.match(line):
                out.append(Problem(src, f"{at}.blacklist_lines[{i}]",
                                   f"found {line[:80]!r}: only `blacklist MODULE` and `options "
                                   "MODULE key=value` lines (an install/remove line is a "
                                   "command run as root)"))
    return out


def repository_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    """Repository lines apt would take unsigned packages from."""
    lines = [(f"$.apt.repositories[{i}]", r) for i, r in enumerate(cfg.apt.repositories)]
    out = []
    for at, nv in cfg.nvidia.variants_at():
        lines.append((f"{at}.repository", nv.repository))
        if not nv.repository_key_url.startswith("https://"):
            out.append(Problem(src, f"{at}.repository_key_url", "the signing key must come "
                               "over https (over http anyone on the path could replace it)"))
    for where, line in lines:
        if APT_INSECURE.search(line):
            out.append(Problem(src, where, "the line tells apt to take unsigned packages "
                                           "(trusted=yes / allow-insecure): refused"))
        elif (" http://" in line and "signed-by=" not in line
              and not any(o in line for o in SIGNED_HTTP_ORIGINS)
              and not where.startswith("$.nvidia")):
            out.append(Problem(src, where, "a plain-http repository needs its key named: add "
                                           "[signed-by=/usr/share/keyrings/NAME.gpg] or use "
                                           "https"))
    return out


def nfs_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    """Export options that hand out root or unprivileged ports need the export's
    `allow_root_access: true` (plan names it)."""
    out = []
    default = [o for o in cfg.nfs.default_options.split(",") if o in ROOT_EXPORT]
    if default:
        out.append(Problem(src, "$.nfs.default_options", f"{', '.join(default)} would apply "
                           "to every export: set them on the exports that need them, with "
                           "allow_root_access: true"))
    for i, e in enumerate(cfg.nfs.exports):
        risky = [o for o in (e.options or "").split(",") if o in ROOT_EXPORT]
        if risky and not e.allow_root_access:
            out.append(Problem(src, f"$.nfs.exports[{i}].options",
                               f"{', '.join(risky)} lets clients act as root on "
                               f"{e.dataset} (or connect from unprivileged ports): set "
                               f"$.nfs.exports[{i}].allow_root_access: true if that is meant"))
    return out


def allows_ssh(allow: tuple[str, ...], port: int) -> bool:
    """Whether ufw with these rules lets SSH on `port` in (the OpenSSH profile and the
    ssh service name open 22 only: another port needs its own rule)."""
    names = {str(port), f"{port}/tcp"} | ({"OpenSSH", "ssh"} if port == 22 else set())
    return any(rule in names for rule in allow)


def firewall_problems(cfg: HypervisorConfig, src: str, ssh_port: int | None) -> list[Problem]:
    """ufw is enabled with exactly these rules: without one for the port phoenix reaches
    the host on, the apply locks the operator out of the host it is converging."""
    port = ssh_port or 22
    if not allows_ssh(cfg.firewall.allow, port):
        rule = "OpenSSH" if port == 22 else f"{port}/tcp"
        return [Problem(src, "firewall.allow", f"no rule allows SSH (port {port}): enabling "
                        f"ufw would lock phoenix and you out; add {rule!r}")]
    return []


def network_address_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    iface = ipaddress.ip_interface(cfg.network.address)
    net = iface.network
    if net.prefixlen == 0 or iface.ip.is_unspecified:
        return [Problem(src, "$.network.address", f"{cfg.network.address} is not one host's "
                                                  "address: give the host its own, e.g. "
                                                  "10.0.0.13/24")]
    if net.prefixlen <= 30 and iface.ip in (net.network_address, net.broadcast_address):
        kind = "network" if iface.ip == net.network_address else "broadcast"
        return [Problem(src, "$.network.address", f"{iface.ip} is the {kind} address of "
                                                  f"{net}: give the host an address inside it")]
    return []


def host_surface_problems(cfg: HypervisorConfig, src: str) -> list[Problem]:
    """The config's own checks (the firewall's needs the host's SSH port: inventory)."""
    return (samba_problems(cfg, src) + module_problems(cfg, src)
            + repository_problems(cfg, src) + nfs_problems(cfg, src)
            + network_address_problems(cfg, src))
