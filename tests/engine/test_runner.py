"""The runner and the fleet without sandbox hosts: FakeTransport runs the engine's own
shell (ledger, lock, preflight) on this machine; the steps are small fakes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typing_extensions import TypedDict

from phoenix_remote.cli import run as run_cli
from phoenix_remote.config.inventory import Inventory
from phoenix_remote.engine import runner
from phoenix_remote.engine.fleet import run_fleet
from phoenix_remote.engine.runner import RunOptions
from phoenix_remote.engine.step import Step
from phoenix_remote.engine.types import Change, Plan, Run, Status
from phoenix_remote.errors import StepFailed
from phoenix_remote.host.host import Host
from phoenix_remote.host.shell import sh
from phoenix_remote.host.ssh import Result
from tests.fake_transport import FakeTransport, local_bash, program
from tests.steps.test_step_cases import host_config


class MarkerFacts(TypedDict):
    there: bool


class MarkerStep(Step):
    """Converged when its marker file exists; apply creates it (with a real command)."""

    title = "marker"
    facts_model = MarkerFacts

    def __init__(self, step_id: str, marker: Path, crash_on: str = ""):
        self.id, self.marker, self.crash_on = step_id, marker, crash_on

    def inputs(self, cfg):  # type: ignore[no-untyped-def]
        return {"marker": str(self.marker)}

    def commands(self, cfg):  # type: ignore[no-untyped-def]
        return {"there": sh("test -e {}", f"{self.marker}.{cfg.name}")}

    def facts(self, out, host, cfg):  # type: ignore[no-untyped-def]
        if cfg.name == self.crash_on:
            raise KeyError("a bug in a step")
        return {"there": out["there"].ok}

    def plan(self, facts, cfg):  # type: ignore[no-untyped-def]
        if facts["there"]:
            return Plan()
        return Plan([Change(f"marker of {self.id}", "missing", "present",
                            (Run(("touch", f"{self.marker}.{cfg.name}")),))])


class NeverConverges(MarkerStep):
    def plan(self, facts, cfg):  # type: ignore[no-untyped-def]
        return Plan([Change("always different", "a", "b", (Run(("true",)),))])


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """Five hosts whose ledger and log live under tmp_path; every Host gets a FakeTransport."""
    transports: dict[str, FakeTransport] = {}

    def make_host(cfg, **kw):  # type: ignore[no-untyped-def]
        transports[cfg.name] = FakeTransport()
        return Host(cfg, transport=transports[cfg.name], **kw)

    monkeypatch.setattr(runner, "Host", make_host)
    hosts = []
    for i in range(1, 6):
        d = tmp_path / f"h{i}"
        cfg = host_config({"config": {"ledger_path": f"{d}/state.json",
                                      "logging": {"log_file": f"{d}/setup.log"}}})
        hosts.append(cfg.model_copy(update={"name": f"h{i}", "address": f"192.0.2.{i}"}))
    return hosts, transports


def events():  # type: ignore[no-untyped-def]
    seen: list[tuple[str, str, str, str]] = []
    return seen, lambda *e: seen.append(e)


def test_apply_then_verify_converges_and_records(fleet, tmp_path):
    hosts, transports = fleet
    steps = [MarkerStep("one", tmp_path / "m1"), MarkerStep("two", tmp_path / "m2")]
    seen, emit = events()
    reports = run_fleet(hosts, steps, RunOptions(mode="apply"), emit, forks=5)
    assert [r.status for r in reports] == [Status.CHANGED] * 5
    ledger = json.loads((tmp_path / "h1" / "state.json").read_text())
    assert ledger["steps"]["one"]["result"] == "changed" and ledger["runs"][-1]["status"]
    assert "one: marker of one" in (tmp_path / "h1" / "setup.log").read_text()
    again = run_fleet(hosts, steps, RunOptions(mode="verify"), emit, forks=5)
    assert [r.status for r in again] == [Status.OK] * 5
    assert all(t.connections == 1 for t in transports.values())
    # verify: one round trip per host for the ledger, the CA and both steps' probes
    assert all(t.round_trips == 1 for t in transports.values())


def test_a_crash_on_one_host_leaves_the_others_results(fleet, tmp_path, monkeypatch, capsys):
    hosts, _ = fleet
    steps = [MarkerStep("one", tmp_path / "m", crash_on="h3")]
    monkeypatch.setattr("phoenix_remote.steps.STEPS", steps)
    req = run_cli.RunRequest(mode="apply", as_json=True, forks=5,
                             failed_file=tmp_path / "failed", log_dir=tmp_path / "logs")
    code = run_cli.run_mode(req, Inventory(tmp_path, {}, {h.name: h for h in hosts}))
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert code == 1 and doc["exit_code"] == 1
    by = {h["host"]: h for h in doc["hosts"]}
    assert len(by) == 5
    assert [by[f"h{i}"]["status"] for i in (1, 2, 4, 5)] == ["changed"] * 4
    assert by["h3"]["status"] == "failed" and "internal error: KeyError" in by["h3"]["error"]
    assert (tmp_path / "failed").read_text() == "h3\n"
    log = next((tmp_path / "logs").glob("*-apply.log")).read_text()
    assert "Traceback" in log and "Traceback" not in out.err


@pytest.mark.parametrize("mode,expect", [("plan", 2), ("verify", 2), ("apply", 0)])
def test_exit_codes(fleet, tmp_path, mode, expect):
    from phoenix_remote.cli.render import exit_code
    hosts, _ = fleet
    _seen, emit = events()
    reports = run_fleet(hosts[:1], [MarkerStep("one", tmp_path / "m")], RunOptions(mode=mode),
                        emit)
    assert exit_code(reports, mode) == expect


def test_did_not_converge_fails_and_never_reboots(fleet, tmp_path, monkeypatch):
    hosts, transports = fleet
    cfg = hosts[0].model_copy(update={"config": hosts[0].config.model_copy(
        update={"final_reboot": "always"})})
    reboots: list[str] = []
    monkeypatch.setattr(Host, "reboot_and_wait", lambda self, *a: reboots.append(self.name))
    seen, emit = events()
    [report] = run_fleet([cfg], [NeverConverges("stuck", tmp_path / "x")],
                         RunOptions(mode="apply"), emit)
    assert report.status == Status.FAILED and "did not converge" in report.steps[0].error
    assert reboots == [] and any("not rebooting" in e[3] for e in seen)


def test_verify_never_writes(fleet, tmp_path):
    hosts, transports = fleet
    _seen, emit = events()
    run_fleet(hosts[:1], [MarkerStep("one", tmp_path / "m")], RunOptions(mode="verify"), emit)
    assert not (tmp_path / "h1" / "state.json").exists()
    assert not any("touch" in c or "install" in c for c in transports["h1"].commands)


def test_an_unreachable_host_fails_alone(fleet, tmp_path, monkeypatch):
    hosts, _ = fleet

    def make_host(cfg, **kw):  # type: ignore[no-untyped-def]
        t = FakeTransport()
        t.refuse = cfg.name == "h2"
        return Host(cfg, transport=t, **kw)

    monkeypatch.setattr(runner, "Host", make_host)
    _seen, emit = events()
    reports = run_fleet(hosts, [MarkerStep("one", tmp_path / "m")], RunOptions(mode="apply"),
                        emit, forks=5)
    assert [r.status.value for r in reports] == ["changed", "failed", "changed", "changed",
                                                 "changed"]
    assert "refused" in (reports[1].error or "")


def test_step_failed_is_reported_not_raised(fleet, tmp_path):
    class Refuses(MarkerStep):
        def plan(self, facts, cfg):  # type: ignore[no-untyped-def]
            raise StepFailed("bad state the operator must fix")

    hosts, _ = fleet
    _seen, emit = events()
    [report] = run_fleet(hosts[:1], [Refuses("r", tmp_path / "m"),
                                     MarkerStep("after", tmp_path / "a")],
                         RunOptions(mode="apply"), emit)
    assert [s.status.value for s in report.steps] == ["failed", "skipped"]


def test_reboot_and_resume_retakes_the_lock_and_finishes(fleet, tmp_path, monkeypatch):
    """A step that needs a reboot: the host goes down (the connection with it), the run
    reconnects, takes the lock again, re-reads the ledger and converges."""
    from phoenix_remote.engine.types import Reboot

    class NeedsReboot(MarkerStep):
        def plan(self, facts, cfg):  # type: ignore[no-untyped-def]
            if facts["there"]:
                return Plan()
            return Plan([Change("driver loaded", "no", "yes",
                                (Run(("touch", f"{self.marker}.{cfg.name}")), Reboot(60)))])

    hosts, transports = fleet
    made: list[FakeTransport] = []

    def rebooting(command: str, stdin: bytes) -> Result:
        if program(command) == "reboot":  # the host goes down: its channels (the lock) end
            made[0].drop()
            return Result(0, "", "")
        return local_bash(command, stdin)

    def make_host(cfg, **kw):  # type: ignore[no-untyped-def]
        made.append(FakeTransport(rebooting))
        return Host(cfg, transport=made[-1], **kw)

    monkeypatch.setattr(runner, "Host", make_host)
    monkeypatch.setattr("phoenix_remote.host.host.time.sleep", lambda s: None)
    seen, emit = events()
    [report] = run_fleet(hosts[:1], [NeedsReboot("nvidia", tmp_path / "drv")],
                         RunOptions(mode="apply"), emit)
    t = made[0]
    assert report.status == Status.CHANGED, (report.error, report.steps)
    assert any("reboot" in c for c in t.commands)
    assert t.connections == 2  # the reboot ended the first connection
    locks = [c for c in t.commands if c.startswith("mkdir -p") and "flock" in c]
    assert len(locks) == 2  # taken, and taken again after the reboot
    assert any("rebooted and answered again" in e[3] for e in seen)


class Containers(MarkerStep):
    """Three items: 901 fails (its command exits 1), 953 is cloned from it, 910 stands
    alone; each item's change touches its own marker."""

    def commands(self, cfg):  # type: ignore[no-untyped-def]
        return {str(v): sh("test -e {}", f"{self.marker}.{v}") for v in (901, 953, 910)}

    def facts(self, out, host, cfg):  # type: ignore[no-untyped-def]
        return {"there": all(o.ok for o in out.values())}

    def plan(self, facts, cfg):  # type: ignore[no-untyped-def]
        def change(vmid, needs=()):
            argv = ("false",) if vmid == 901 else ("touch", f"{self.marker}.{vmid}")
            return Change(f"container {vmid}", "missing", "made", (Run(argv),), item=vmid,
                          needs=needs)
        return Plan([] if facts["there"] else [change(901), change(953, (901,)), change(910)])


def test_one_failing_container_does_not_stop_an_independent_one(fleet, tmp_path):
    hosts, _ = fleet
    seen, emit = events()
    [report] = run_fleet(hosts[:1], [Containers("lxc", tmp_path / "ct")],
                         RunOptions(mode="apply"), emit)
    assert report.steps[0].status == Status.FAILED
    assert (tmp_path / "ct.910").exists()  # independent: made
    assert not (tmp_path / "ct.953").exists()  # its clone source failed: skipped
    error = report.steps[0].error or ""
    assert error.startswith("901: ") and "953: skipped: 901 failed" in error
    assert any(e[2] == "note" and "skipped (901 failed): container 953" in e[3] for e in seen)


def test_drift_is_corrective_when_the_host_changed_and_intended_when_the_config_did(
        fleet, tmp_path):
    hosts, _ = fleet
    _seen, emit = events()
    step = MarkerStep("one", tmp_path / "m")
    run_fleet(hosts[:1], [step], RunOptions(mode="apply"), emit)
    (tmp_path / "m.h1").unlink()  # the host changed: the config is as applied
    [report] = run_fleet(hosts[:1], [step], RunOptions(mode="verify"), emit)
    assert (report.steps[0].status, report.steps[0].drift_class) == (Status.DRIFT,
                                                                     "corrective")
    # a new config value (another marker): the drift is the config's, not the host's
    [report] = run_fleet(hosts[:1], [MarkerStep("one", tmp_path / "n")],
                         RunOptions(mode="verify"), emit)
    assert report.steps[0].drift_class == "intended"
    assert report.as_dict()["steps"][0]["drift_class"] == "intended"
