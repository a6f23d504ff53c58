"""phoenix verify --prometheus FILE: the audit as node_exporter textfile metrics, so a cron'd
verify feeds alerts that clear by themselves once the host is back in policy.

    phoenix_step_state{host,step,state}        1 for the step's state, 0 for the others
    phoenix_step_drift{host,step,class}        1 while the step drifts (corrective/intended)
    phoenix_step_duration_seconds{host,step}
    phoenix_host_in_policy{host}               1 when every step is ok
    phoenix_host_reboot_needed{host}
    phoenix_host_last_in_policy_timestamp_seconds{host}   carried over from the last file
    phoenix_verify_timestamp_seconds, phoenix_verify_exit_code

Written atomically (cli/local_files.py), as node_exporter's textfile collector asks, so a
scrape never reads half a file.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from phoenix_remote.cli.local_files import write_atomically
from phoenix_remote.engine.types import HostReport, Status

STATES = [s.value for s in Status]
HELP = {
    "phoenix_step_state": "1 for the state of a step in the last verify (ok, drift, ...)",
    "phoenix_step_drift": "1 while a step drifts; class: corrective (the host changed) or "
                          "intended (the config changed)",
    "phoenix_step_duration_seconds": "how long the step's probe and plan took",
    "phoenix_host_in_policy": "1 when every step of the host is ok",
    "phoenix_host_reboot_needed": "1 when the host needs a reboot no run has done",
    "phoenix_host_last_in_policy_timestamp_seconds": "when a verify last found the host in "
                                                     "policy",
    "phoenix_verify_timestamp_seconds": "when this verify ran",
    "phoenix_verify_exit_code": "the verify's exit code (0 in policy, 2 drift, 1 error)",
}
LAST_OK = re.compile(r'^phoenix_host_last_in_policy_timestamp_seconds\{host="((?:[^"\\]|\\.)*)"\}'
                     r" ([0-9.e+]+)$")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def previous_last_ok(path: Path) -> dict[str, float]:
    try:
        text = path.read_text()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        if m := LAST_OK.match(line):
            found[m.group(1).replace('\\"', '"').replace("\\\\", "\\")] = float(m.group(2))
    return found


def render(reports: list[HostReport], code: int, now: float, last_ok: dict[str, float]
           ) -> str:
    samples: dict[str, list[str]] = {name: [] for name in HELP}

    def add(name: str, labels: dict[str, str], value: float) -> None:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        samples[name].append(f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}")

    for r in reports:
        in_policy = r.status == Status.OK and not r.error
        for s in r.steps:
            where = {"host": r.host, "step": s.step}
            for state in STATES:
                add("phoenix_step_state", {**where, "state": state},
                    1 if s.status.value == state else 0)
            for kind in ("corrective", "intended"):
                add("phoenix_step_drift", {**where, "class": kind},
                    1 if s.status == Status.DRIFT and s.drift_class == kind else 0)
            add("phoenix_step_duration_seconds", where, round(s.duration, 3))
        add("phoenix_host_in_policy", {"host": r.host}, 1 if in_policy else 0)
        add("phoenix_host_reboot_needed", {"host": r.host}, 1 if r.reboot_needed else 0)
        seen = now if in_policy else last_ok.get(r.host)
        if seen is not None:
            add("phoenix_host_last_in_policy_timestamp_seconds", {"host": r.host}, seen)
    add("phoenix_verify_timestamp_seconds", {}, now)
    add("phoenix_verify_exit_code", {}, code)
    out = []
    for name, lines in samples.items():
        if lines:
            out += [f"# HELP {name} {HELP[name]}", f"# TYPE {name} gauge", *lines]
    return "\n".join(out) + "\n"


def write(path: Path, reports: list[HostReport], code: int) -> None:
    write_atomically(path, render(reports, code, time.time(), previous_last_ok(path)))
