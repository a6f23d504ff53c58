"""Run the real `phoenix` CLI against sandbox hosts, with inventories made for a test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT

SENTINEL_ADMIN = "Sentinel-Adm1n-7c1f!"
SENTINEL_SMB = "Sentinel-Smb-93ab!"


def write_secret(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def make_inventory(tmp: Path, hosts: list[str] | None = None, edit=None) -> Path:
    """The sandbox inventory with the test's own sentinel secrets (absolute paths)."""
    inv = yaml.safe_load((ROOT / ".sandbox/inventory.yaml").read_text())
    secrets = {"admin_password": {"file": str(write_secret(tmp / "admin_pw", SENTINEL_ADMIN))},
               "smb_password": {"file": str(write_secret(tmp / "smb_pw", SENTINEL_SMB))}}
    inv["defaults"]["secrets"] = secrets
    for h in inv["hosts"].values():
        pw = h["api"]["password"]["file"]
        h["api"]["password"]["file"] = str(ROOT / ".sandbox" / pw)
    if hosts is not None:
        inv["hosts"] = {k: v for k, v in inv["hosts"].items() if k in hosts}
    if edit:
        edit(inv)
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    # the setup scripts the inventory names, beside it as they are beside the sandbox's
    shutil.copytree(ROOT / ".sandbox/lxc_setup", tmp / "lxc_setup", dirs_exist_ok=True)
    return path


def phoenix(*args: str, inventory: Path, tmp: Path, json_out: bool = False, timeout=900,
            known_hosts: Path | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "phoenix_remote", *args, "-i", str(inventory),
            "--known-hosts", str(known_hosts or tmp / "known_hosts"),
            "--log-dir", str(tmp / "logs"), "--failed-file", str(tmp / "failed")]
    if json_out:
        argv.append("--json")
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env)


def report(proc: subprocess.CompletedProcess) -> dict:
    """A run's --json output, held to its published schema (phoenix_remote/run/v1)."""
    from tests.cli.test_json_schemas import checked
    return checked("run-v1", json.loads(proc.stdout))


def statuses(doc: dict) -> dict[str, dict[str, str]]:
    return {h["host"]: {s["step"]: s["status"] for s in h["steps"]} for h in doc["hosts"]}
