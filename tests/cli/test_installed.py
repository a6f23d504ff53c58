"""phoenix as people install it: the sdist and the wheel built from this checkout (the
wheel from the sdist, so the sdist must be complete), the wheel installed into a fresh
venv outside the checkout with the lock's versions, and the CLI run from another folder
(a data file missing from the package fails here, as it failed every non-editable install)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from phoenix_remote import __version__
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the installed `phoenix`, the dist folder)."""
    work = tmp_path_factory.mktemp("installed")
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist),
                    str(ROOT)], check=True, capture_output=True, text=True, timeout=600)
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True,
                   timeout=300)
    wheel = next(dist.glob("*.whl"))
    pip = subprocess.run([str(work / "venv/bin/pip"), "install", "-q", "-c",
                          str(ROOT / "requirements.lock"), str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return work / "venv/bin/phoenix", dist


def phx(exe: Path, *args: str, cwd: Path, env: dict | None = None
        ) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**clean, **(env or {})})


def test_the_installed_cli_runs_outside_the_checkout(installed, tmp_path):
    exe, _dist = installed
    assert not str(exe).startswith(str(ROOT))
    version = phx(exe, "--version", cwd=tmp_path)
    assert version.stdout.strip() == f"phoenix {__version__}"
    # no project here: one line saying how to get one
    empty = phx(exe, "validate", cwd=tmp_path)
    assert empty.returncode == 64 and "phoenix init DIR" in empty.stderr, empty.stderr
    init = phx(exe, "init", "p", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    project = tmp_path / "p"
    ok = phx(exe, "validate", "-i", "inventory/example.yaml", cwd=project)
    assert ok.returncode == 0 and "valid:" in ok.stdout, ok.stdout + ok.stderr
    # $PHOENIX_CONFIG and $PHOENIX_INVENTORY from anywhere
    env = {"PHOENIX_CONFIG": str(project / "etc/hypervisor_config.json"),
           "PHOENIX_INVENTORY": str(project / "inventory/example.yaml")}
    by_env = phx(exe, "validate", cwd=tmp_path, env=env)
    assert by_env.returncode == 0 and "2 host(s)" in by_env.stdout, by_env.stderr
    hosts = phx(exe, "hosts", "--json", cwd=tmp_path, env=env)
    assert [h["name"] for h in json.loads(hosts.stdout)["hosts"]] == ["pve1", "pve2"]
    show = phx(exe, "config", "show", "pve1", "--json", cwd=tmp_path, env=env)
    assert show.returncode == 0 and json.loads(show.stdout)["name"] == "pve1"
    again = phx(exe, "init", "p", cwd=tmp_path)
    assert again.returncode == 1 and "overwrites nothing" in again.stderr


def test_the_installed_package_reads_every_data_file(installed, tmp_path):
    """A config that reaches the Samba parameter list, the storage rules and the API
    schemas: refused for what it says, not for a file the package lacks."""
    exe, _dist = installed
    assert phx(exe, "init", "p", cwd=tmp_path).returncode == 0
    cfg = tmp_path / "p/etc/hypervisor_config.json"
    doc = json.loads(cfg.read_text())
    doc["samba"]["global"]["root preexec"] = "/bin/id"
    doc["samba"]["global"]["no such parameter"] = "x"
    cfg.write_text(json.dumps(doc))
    bad = phx(exe, "validate", cwd=tmp_path / "p")
    assert bad.returncode == 3, bad.stderr
    assert "runs a command on the host" in bad.stderr
    assert "is not a Samba parameter" in bad.stderr
    assert "internal error" not in bad.stderr


@pytest.mark.parametrize("command", ["init", "validate", "config show", "hosts", "plan",
                                     "apply", "verify", "status", "lxc list", "lxc adopt",
                                     "disks", "schedule install", "schedule remove",
                                     "completion"])
def test_every_command_has_help(installed, command, tmp_path):
    exe, _dist = installed
    out = phx(exe, *command.split(), "--help", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("usage: phoenix"), out.stderr


def test_the_sdist_carries_what_its_tests_need(installed):
    _exe, dist = installed
    # the version is written once (phoenix_remote.__version__): the builds carry it
    assert {p.name for p in dist.iterdir()} == {
        f"phoenix_remote-{__version__}.tar.gz", f"phoenix_remote-{__version__}-py3-none-any.whl"}
    with tarfile.open(next(dist.glob("*.tar.gz"))) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for needed in ("LICENSE", "requirements.lock", "Makefile", "tests/conftest.py",
                   "etc/hypervisor_config.json", "inventory/example.yaml",
                   "phoenix_remote/data/smb_parameters.txt",
                   "phoenix_remote/data/project/etc/lxc_setup/docker.sh"):
        assert needed in names, needed
