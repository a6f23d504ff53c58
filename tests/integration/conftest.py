"""Fixtures that start sandbox hosts (network namespaces on this machine; needs root)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

import pytest

from tests.sandbox import lab
from tests.sandbox.paths import host_ip

N_HOSTS = int(os.environ.get("SANDBOX_HOSTS", "5"))
# Set when this pytest session started sandbox hosts: only then may it stop them. A unit
# run, or a session that found the hosts already running, leaves them alone.
started_here: list[int] = []


@dataclass
class SandboxHost:
    index: int
    info: dict

    @property
    def name(self) -> str:
        return self.info["name"]

    @property
    def address(self) -> str:
        return self.info["address"]

    def ssh(self, command: str, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a command over real ssh as root (how an operator would look)."""
        proc = subprocess.run(["ssh", *lab.SSH_OPTS, "-i", str(lab.SSH_KEY),
                               f"root@{host_ip(self.index)}", command], capture_output=True,
                              text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name}: {command!r} exited {proc.returncode}:\n"
                                 f"{proc.stdout}{proc.stderr}")
        return proc

    def exec(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run inside the host without ssh (works even if a test broke sshd or the firewall)."""
        return subprocess.run(["bash", str(lab.FLEET), "exec", str(self.index), *argv],
                              env=lab.ENV, capture_output=True, text=True, check=check)


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("sandbox hosts need root (network namespaces)")


@pytest.fixture
def sandbox() -> list[SandboxHost]:
    """N_HOSTS running sandbox hosts; started when not running (about 3 s warm)."""
    _need_root()
    if not all(lab.running(i) for i in range(1, N_HOSTS + 1)):
        lab.up(N_HOSTS)
        started_here[:] = list(range(1, N_HOSTS + 1))
    infos = lab.describe(list(range(1, N_HOSTS + 1)))
    return [SandboxHost(i + 1, info) for i, info in enumerate(infos)]


@pytest.fixture
def fresh_host(sandbox) -> SandboxHost:
    """The last sandbox host, factory-reset (empty disk) and booted."""
    i = N_HOSTS
    lab.purge(i)
    lab.seed_disk(i)
    lab.boot([i])
    # its new host key (and CA) must reach .sandbox/inventory.yaml, which tests copy
    lab.write_state(lab.describe(list(range(1, N_HOSTS + 1))))
    return SandboxHost(i, lab.describe([i])[0])


def pytest_sessionfinish(session, exitstatus):
    if started_here and os.environ.get("SANDBOX_KEEP") != "1":
        lab.down()
        started_here.clear()
