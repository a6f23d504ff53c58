"""Where the sandbox keeps its files and how its addresses are laid out."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BASE = Path(os.environ.get("SB_BASE", "/var/tmp/phoenix-sandbox"))
HERE = Path(__file__).resolve().parent
GUEST = HERE / "guest"
PROJECT = HERE.parents[1]
STATE = PROJECT / ".sandbox"  # hosts.json, inventory.yaml, secrets/ for the user

KREL = "6.8.12-10-pve"
BRIDGE = "phxbr0"
SUBNET = "10.211.0"  # /24, exists only on the bridge and inside our namespaces
BRIDGE_IP = f"{SUBNET}.1"
GATEWAY = f"{SUBNET}.254"  # no such host: a default route through it leads nowhere


def host_name(i: int) -> str:
    return f"sb{i}"


def host_ip(i: int) -> str:
    return f"{SUBNET}.{10 + i}"


def run(argv, **kw) -> subprocess.CompletedProcess:
    """Run a build command; on failure raise with its output (these are our own tools)."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run([str(a) for a in argv], **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n"
                           f"{proc.stdout}{proc.stderr}")
    return proc
