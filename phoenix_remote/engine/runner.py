"""One host, all its steps in order: probe -> plan -> (show | report drift | apply + prove).

apply: a step whose plan is empty is left alone (its ledger record is refreshed only when
its inputs changed); otherwise its actions run, the host is probed again, and the step
fails unless the new plan is empty ("did not converge"). The first failure stops the
host's remaining steps (later steps build on earlier ones). verify/plan never write.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine import privileges
from phoenix_remote.engine.ledger import Ledger, now
from phoenix_remote.engine.step import Step, checked_facts, fingerprint, gather, probe
from phoenix_remote.engine.types import (
    Api,
    Change,
    CommitNetwork,
    EventSink,
    HostReport,
    InstallFile,
    Plan,
    Reboot,
    Remember,
    Run,
    Script,
    Status,
    StepResult,
)
from phoenix_remote.errors import DidNotConverge, PhoenixError, StepFailed, StepRefused
from phoenix_remote.host.batch import Out
from phoenix_remote.host.host import Host
from phoenix_remote.host.known_hosts import DEFAULT_KNOWN_HOSTS
from phoenix_remote.host.network import commit_network
from phoenix_remote.host.shell import sh


@dataclass
class RunOptions:
    mode: str
    accept_new_host_keys: bool = False
    known_hosts: Path = DEFAULT_KNOWN_HOSTS
    insecure: bool = False
    lock_timeout: float = 60.0
    reboot_deadline: float = 600.0
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()




def selected(steps: list[Step], opts: RunOptions) -> list[Step]:
    return [s for s in steps if (not opts.only or s.id in opts.only) and s.id not in opts.skip]


def execute(host: Host, change: Change, emit: EventSink, step_id: str,
            backups: list[str], ledger: Ledger | None = None, log_file: str = "") -> None:
    """Carry out one change's actions in order; the backups they make are added to
    `backups` as they happen (a failure midway still records the earlier ones)."""
    for action in change.actions:
        emit(host.name, step_id, "action", action.describe())
        if isinstance(action, Run):
            host.run(list(action.argv), stdin=action.stdin, timeout=action.timeout)
        elif isinstance(action, Script):
            host.run_script(action.text)
        elif isinstance(action, InstallFile):
            backups += host.install(action.path, action.content, action.mode, action.owner,
                                    action.backup, action.check, action.reload)
        elif isinstance(action, Api):
            params = {k: (v.reveal() if hasattr(v, "reveal") else v)
                      for k, v in action.params.items()}
            result = host.api.call(action.method, action.path, params)
            if action.wait_task:
                host.api.wait_task(result)
        elif isinstance(action, Reboot):
            took = host.reboot_and_wait(action.deadline_s)
            emit(host.name, step_id, "note", f"host rebooted and answered again in {took:.1f} s")
        elif isinstance(action, Remember):
            assert ledger is not None, "Remember needs the ledger"
            values = dict(action.values, at=now())
            for name, (path, key) in action.read.items():
                values[name] = str(host.api.get(path).get(key, ""))
            ledger.remember(action.section, action.key, values, log_file)
        elif isinstance(action, CommitNetwork):
            before = host.ssh.address
            backups += commit_network(host, action.path, action.content, action.interface,
                                      action.address, action.window_s)
            if action.address != before:
                emit(host.name, step_id, "note",
                     f"host moved to {action.address}; continuing there")


def run_host(cfg: HostConfig, steps: list[Step], opts: RunOptions, emit: EventSink) -> HostReport:
    report = HostReport(cfg.name, cfg.address)
    t0 = time.monotonic()
    host = Host(cfg, readonly=opts.mode != "apply", accept_new_host_keys=opts.accept_new_host_keys,
                known_hosts=opts.known_hosts, insecure=opts.insecure)
    ledger = Ledger(host, cfg.config.ledger_path, opts.lock_timeout)
    host.ledger = ledger  # what a step's facts may read of it (the containers phoenix made)
    log_file = cfg.config.logging.log_file
    try:
        host.ssh.connect()
        emit(cfg.name, "", "connected", cfg.address)
        if opts.insecure:
            emit(cfg.name, "", "warning", "--insecure: the Proxmox API's TLS certificate is NOT "
                                          "verified for this host")
        if opts.mode == "apply":
            ledger.acquire()
            host.before_disconnect = ledger.release
            host.after_reconnect = ledger.reacquire
        chosen = selected(steps, opts)
        probing = [s for s in chosen if not skip_reason(s, cfg)]
        # one round trip: the ledger, the node's CA and every step's probe commands
        outputs, pre = gather(host, probing, cfg, preflight_commands(ledger))
        preflight(host, ledger, pre)
        if any(s.id in privileges.API_STEPS for s in probing):
            why = privileges.check(host.api, [s.id for s in probing], cfg,
                                   writes=opts.mode == "apply")
            if why:
                raise StepRefused(why)
        failed = False
        for step in chosen:
            if failed:
                report.steps.append(StepResult(step.id, Status.SKIPPED,
                                               error="an earlier step failed"))
                emit(cfg.name, step.id, Status.SKIPPED, "an earlier step failed")
                continue
            if step in probing and step.id not in outputs:  # an earlier step changed the host
                outputs, _ = gather(host, probing[probing.index(step):], cfg)
            result = run_step(host, ledger, step, cfg, opts, emit, log_file,
                              outputs.get(step.id, {}))
            if result.status == Status.CHANGED:
                outputs = {}  # what later steps see may have changed: look again
            report.steps.append(result)
            emit(cfg.name, step.id, result.status, result.error or
                 f"{len(result.changes)} change(s)")
            if result.status == Status.FAILED and opts.mode == "apply":
                failed = True
            if result.reboot_needed:
                report.reboot_needed = True
        if opts.mode == "apply":
            ledger.finish_run({"finished": now(), "status": report.status.value,
                               "steps": {s.step: s.status.value for s in report.steps}},
                              log_file)
            final = cfg.config.final_reboot
            wanted = final == "always" or (final == "when-needed" and report.reboot_needed)
            if wanted and report.status == Status.FAILED:
                emit(cfg.name, "", "note", f"final_reboot={final}: not rebooting a host whose "
                                           "apply failed")
            elif wanted:
                host.reboot_and_wait(opts.reboot_deadline)
                report.reboot_needed = False
    except PhoenixError as e:
        report.error = str(e)
        emit(cfg.name, "", Status.FAILED, str(e))
    except Exception as e:  # noqa: BLE001 - a bug: this host fails, its results so far stay
        report.error = internal_error(cfg.name, e, emit)
    finally:
        ledger.release()
        report.connections = host.ssh.connections
        report.round_trips = host.ssh.round_trips
        host.close()
        report.duration = time.monotonic() - t0
    return report


def internal_error(host: str, e: Exception, emit: EventSink) -> str:
    """A bug hit while running `host`: one line for the operator, the traceback in the run
    log only. Returns the line (the host's error)."""
    error = f"internal error: {type(e).__name__}: {e}"
    emit(host, "", Status.FAILED, error)
    emit(host, "", "traceback", traceback.format_exc())
    return error


def skip_reason(step: Step, cfg: HostConfig) -> str | None:
    return step.skip_reason(cfg)


def preflight_commands(ledger: Ledger) -> dict[str, str]:
    from phoenix_remote.host.api import CA_PATH
    return {"ledger": sh("cat {}", ledger.path), "ca": sh("cat {}", CA_PATH)}


def preflight(host: Host, ledger: Ledger, out: dict[str, Out]) -> None:
    """Before the steps: the ledger, and the node's CA for the API client."""
    ledger.parse(out["ledger"].text if out["ledger"].ok else None)
    if out["ca"].ok and not host.cfg.api.ca_file:
        host.api.use_ca(out["ca"].text)


def run_step(host: Host, ledger: Ledger, step: Step, cfg: HostConfig, opts: RunOptions,
             emit: EventSink, log_file: str, out: dict[str, Out]) -> StepResult:
    t0 = time.monotonic()
    trips0 = host.ssh.round_trips
    result = StepResult(step.id, Status.OK)
    emit(cfg.name, step.id, "running", step.title)
    try:
        skip = skip_reason(step, cfg)
        if skip:
            result.status = Status.SKIPPED
            result.notes.append(skip)
            return result
        facts = checked_facts(step, out, host, cfg)
        changes = step.plan(facts, cfg)
        result.changes = list(changes)
        held = changes.held
        result.notes += [*changes.notes, *(f"left as is: {h}" for h in held)]
        result.reboot_needed = changes.reboot_needed
        unknown = changes.unknown
        if opts.mode == "plan":
            result.status = Status.PENDING if changes else Status.OK
            result.notes += [f"unknown: {u}" for u in unknown]
        elif opts.mode == "verify":
            result.status = Status.DRIFT if changes or held else Status.OK
            if result.status == Status.DRIFT:
                result.drift_class = drift_class(ledger.step(step.id), fingerprint(step, cfg))
            if unknown:
                result.status, result.error = Status.UNKNOWN, "; ".join(unknown)
        else:
            apply_step(host, ledger, step, cfg, changes, result, emit, log_file)
            if unknown:
                raise StepFailed("could not tell: " + "; ".join(unknown))
    except PhoenixError as e:
        result.status = Status.UNKNOWN if opts.mode == "verify" else Status.FAILED
        result.error = str(e)
        if opts.mode == "apply":
            try:
                ledger.record(step.id, {"fingerprint": fingerprint(step, cfg), "result": "failed",
                                        "finished": now(), "error": str(e)[-2000:],
                                        "backups": result.backups},
                              [f"{step.id}: FAILED: {str(e)[-500:]}"], log_file)
            except PhoenixError:
                pass  # the host may be unreachable; the error above is what matters
    finally:
        result.duration = time.monotonic() - t0
        result.round_trips = host.ssh.round_trips - trips0
    return result


def drift_class(record: dict, fp: str) -> Literal["corrective", "intended"]:
    """Corrective: the step's inputs are those of its last successful apply, so the host
    moved away from them; intended: the config changed since (or was never applied)."""
    applied = record.get("result") in ("ok", "changed")
    return "corrective" if applied and record.get("fingerprint") == fp else "intended"


def items_of(step: Step, changes: Plan, cfg: HostConfig) -> dict[str, Any]:
    """A step that manages several things (lxc: containers) records each one's result."""
    items = step.ledger_items(changes, cfg)
    return {"items": items} if items is not None else {}


def apply_step(host: Host, ledger: Ledger, step: Step, cfg: HostConfig, changes: Plan,
               result: StepResult, emit: EventSink, log_file: str) -> None:
    fp = fingerprint(step, cfg)
    previous = ledger.step(step.id)
    if not changes:
        result.status = Status.OK
        if previous.get("fingerprint") != fp or previous.get("result") == "failed":
            ledger.record(step.id, {"fingerprint": fp, "result": "ok", "finished": now(),
                                    "changes": [], "backups": [],
                                    **items_of(step, changes, cfg)},
                          [f"{step.id}: in policy"], log_file)
        return
    started = now()
    failed: dict[int, str] = {}  # item -> why its changes stopped
    for change in changes:
        blocked = [i for i in (change.item, *change.needs) if i is not None and i in failed]
        if blocked:
            failed.setdefault(change.item, f"skipped: {blocked[-1]} failed")  # type: ignore[arg-type]
            emit(cfg.name, step.id, "note", f"skipped ({blocked[-1]} failed): {change.summary}")
            continue
        emit(cfg.name, step.id, "change", change.summary)
        try:
            execute(host, change, emit, step.id, result.backups, ledger, log_file)
        except PhoenixError as e:
            if change.item is None:
                raise
            failed[change.item] = str(e)  # the other items' changes go on
            emit(cfg.name, step.id, Status.FAILED, f"{change.summary}: {e}")
    if failed:
        raise StepFailed("; ".join(f"{item}: {why}" for item, why in failed.items()))
    again = step.plan(probe(host, step, cfg), cfg)
    if again:
        raise DidNotConverge(f"{step.id} did not converge; still different: "
                         + "; ".join(c.summary for c in again))
    result.status = Status.CHANGED
    ledger.record(step.id, {"fingerprint": fp, "result": "changed", "started": started,
                            "finished": now(), "changes": [c.summary for c in changes],
                            "backups": result.backups, **items_of(step, changes, cfg)},
                  [f"{step.id}: {c.summary}" for c in changes], log_file)
