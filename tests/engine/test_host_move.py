"""A network change that moves the host, without the sandbox: the fake host answers only at
the address its (simulated) network job has configured. The run follows it there, takes the
lock again, proves the step converged and runs the next step at the new address; when the
new address never answers, the host reverts and the step fails saying so."""

from __future__ import annotations

import os
import shlex
import shutil
import time
from pathlib import Path

import pytest
from typing_extensions import TypedDict

from phoenix_remote.engine import runner
from phoenix_remote.engine.fleet import run_fleet
from phoenix_remote.engine.runner import RunOptions
from phoenix_remote.engine.step import Step
from phoenix_remote.engine.types import Change, CommitNetwork, Plan, Status
from phoenix_remote.errors import HostError
from phoenix_remote.host import files
from phoenix_remote.host.host import Host
from phoenix_remote.host.ssh import Result
from tests.engine.test_runner import MarkerStep
from tests.fake_transport import FakeTransport, local_bash, program
from tests.steps.test_step_cases import host_config

OLD, NEW = "192.0.2.21", "192.0.2.22"
IFACE = f"phx{os.getpid() % 100000}"  # names the confirmation token in /run: unique
TOKEN = f"/run/phoenix-network-{IFACE}"


class Clock:
    """time for host/host.py and host/network.py: sleeping advances it at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(time, name)


class MovingHost(FakeTransport):
    """Answers at `answers_at` only. The network job (systemd-run) puts the staged file in
    place and moves the host to the address in it, unless `new_address_dead`: then the new
    address never answers and the job restores the previous file once the old address is
    dialled again (what the real job does when its window ends)."""

    def __init__(self, new_address_dead: bool = False):
        super().__init__(self.handle, OLD)
        self.answers_at = OLD
        self.new_address_dead = new_address_dead
        self.job: list[str] = []
        self.addresses: list[str] = []  # the address of every command, in order
        self.job_after: list[str] = []  # what ran on the host after the move

    def connect(self) -> None:
        if self.address != self.answers_at:
            if self.new_address_dead and self.job and self.address == OLD:
                self.revert()
            else:
                raise HostError(f"{self.address}: cannot connect over SSH: no route")
        super().connect()

    def handle(self, command: str, stdin: bytes) -> Result:
        self.addresses.append(self.address)
        if program(command) in ("pvecm", "systemctl"):  # the node's new certificate
            self.job_after.append(command)
            return Result(0, "", "")
        if program(command) == "systemd-run":
            self.job = shlex.split(command)[7:]  # path staging backup iface token window
            path, staging = self.job[0], self.job[1]
            os.replace(staging, path)
            Path(self.job[4] + ".restarted").touch()
            self.answers_at = "nowhere" if self.new_address_dead else NEW
            self.drop()  # networking restarted: the session is gone
            return Result(0, "", "")
        return local_bash(command, stdin)

    def revert(self) -> None:
        path, _staging, backup, _iface, token, _window = self.job
        if Path(backup).exists():
            shutil.copy2(backup, path)  # the job copies: the backup stays
        Path(token + ".reverted").write_text(f"not confirmed: previous {path} restored\n")
        self.answers_at = OLD


class NetworkFacts(TypedDict):
    content: str | None


class NetworkStep(Step):
    """Makes `path` hold the new address, through a commit-confirmed CommitNetwork."""

    id = "initial_setup"
    title = "network"
    facts_model = NetworkFacts

    def __init__(self, path: Path):
        self.path = path

    def inputs(self, cfg):  # type: ignore[no-untyped-def]
        return {"address": NEW}

    def commands(self, cfg):  # type: ignore[no-untyped-def]
        return {"content": files.read(str(self.path))}

    def facts(self, out, host, cfg):  # type: ignore[no-untyped-def]
        return {"content": files.content(out["content"], str(self.path))}

    def plan(self, facts, cfg):  # type: ignore[no-untyped-def]
        want = f"address {NEW}/24\n"
        if facts["content"] == want:
            return Plan()
        return Plan([Change(f"network identity {IFACE}", "old address", NEW,
                            (CommitNetwork(str(self.path), want, IFACE, NEW, 60),))])


@pytest.fixture
def moving(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr("phoenix_remote.host.host.time", clock)
    monkeypatch.setattr("phoenix_remote.host.network.time", clock)
    bin_dir = tmp_path / "bin"  # the staged file's check: ifupdown is not on this machine
    bin_dir.mkdir()
    (bin_dir / "ifquery").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "ifquery").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    made: list[MovingHost] = []

    def start(dead: bool = False):  # type: ignore[no-untyped-def]
        def make_host(cfg, **kw):  # type: ignore[no-untyped-def]
            made.append(MovingHost(dead))
            return Host(cfg, transport=made[-1], **kw)
        monkeypatch.setattr(runner, "Host", make_host)
        d = tmp_path / "host"
        (d / "interfaces.d").mkdir(parents=True)
        iface = d / "interfaces.d" / f"50-{IFACE}.cfg"
        iface.write_text(f"address {OLD}/24\n")
        cfg = host_config({"config": {"ledger_path": f"{d}/state.json",
                                      "logging": {"log_file": f"{d}/setup.log"}}})
        cfg = cfg.model_copy(update={"name": "h1", "address": OLD})
        return cfg, iface, made
    yield start
    for suffix in ("", ".restarted", ".reverted"):
        Path(TOKEN + suffix).unlink(missing_ok=True)


def test_the_run_follows_the_host_to_its_new_address(moving, tmp_path):
    cfg, iface, made = moving()
    seen: list[tuple] = []
    after = MarkerStep("nvidia", tmp_path / "after")
    [report] = run_fleet([cfg], [NetworkStep(iface), after], RunOptions(mode="apply"),
                         lambda *e: seen.append(e))
    t = made[0]
    assert report.status == Status.CHANGED, (report.error, report.steps)
    assert iface.read_text() == f"address {NEW}/24\n"
    assert Path(TOKEN).exists()  # confirmed from the new address
    move = t.addresses.index(NEW)
    assert set(t.addresses[:move]) == {OLD} and set(t.addresses[move:]) == {NEW}
    assert t.connections == 2
    locks = [c for c in t.commands if c.startswith("mkdir -p") and "flock" in c]
    assert len(locks) == 2  # the lock is taken again at the new address
    assert (tmp_path / "after.h1").exists()  # the next step ran, at the new address
    assert any("host moved to 192.0.2.22" in e[3] for e in seen)
    assert t.job_after == ["pvecm updatecerts --force", "systemctl restart pveproxy"]
    backups = report.steps[0].backups
    assert len(backups) == 1 and Path(backups[0]).read_text() == f"address {OLD}/24\n"


def test_a_dead_new_address_reverts_and_fails_the_step(moving, tmp_path):
    cfg, iface, made = moving(dead=True)
    after = MarkerStep("nvidia", tmp_path / "after")
    [report] = run_fleet([cfg], [NetworkStep(iface), after], RunOptions(mode="apply"),
                         lambda *e: None)
    t = made[0]
    assert report.status == Status.FAILED
    error = report.steps[0].error or ""
    assert "not confirmed" in error and f"answers at {OLD} again" in error, error
    assert iface.read_text() == f"address {OLD}/24\n"  # the host put the old file back
    assert NEW not in t.addresses and not Path(TOKEN).exists()
    assert [s.status for s in report.steps] == [Status.FAILED, Status.SKIPPED]
