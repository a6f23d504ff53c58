"""How a run looks: live progress (coloured on a TTY, plain lines otherwise), the final
host x step table, JSON (versioned schema) and JUnit XML. Secrets are masked in all of it."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from phoenix_remote.config.loading import CONTROL_CHARS
from phoenix_remote.engine.types import HOST_ACCESS, HostReport, Status

JSON_SCHEMA = "phoenix_remote/run/v1"
# ANSI colours by status, used only when the stream is a terminal
STYLE = {"ok": "32", "changed": "36", "pending": "33", "drift": "33", "failed": "1;31",
         "skipped": "2", "unknown": "35", "warning": "33"}


def printable(text: str, indent: str | None = None) -> str:
    """text from a host (guest names, stderr, API messages) with every control character
    and line separator escaped (the ones configs may not hold either), so no terminal
    escape runs and no log line is forged; with `indent`, line breaks are kept
    and each following line starts with it (a diff stays readable, and no line a host
    wrote can start at the left margin as if phoenix had printed it)."""
    def escape(part: str) -> str:
        return CONTROL_CHARS.sub(lambda m: (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                                       else f"\\u{ord(m.group()):04x}"), part)
    if indent is None:
        return escape(text)
    return ("\n" + indent).join(escape(line) for line in text.split("\n"))


def colours(stream: Any) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (no-color.org) or TERM=dumb."""
    return (stream.isatty() and not os.environ.get("NO_COLOR")
            and os.environ.get("TERM") != "dumb")


def paint(text: str, status: str, tty: bool) -> str:
    code = STYLE.get(status)
    return f"\033[{code}m{text}\033[0m" if tty and code else text


class PipeSafe(io.TextIOBase):
    """A stream whose reader may go away (`phoenix apply ... | head -1`): from the first
    write to a closed pipe on, output is dropped (the descriptor is pointed at /dev/null,
    so nothing fails at exit either); the run goes on, its log file gets everything, and
    the exit code stays the run's."""

    def __init__(self, stream: Any):
        self.stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.gone = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def isatty(self) -> bool:
        return not self.gone and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()


class Masker:
    """Replaces every known secret value with *** (belt and braces: Secrets never print)."""

    def __init__(self, values: list[str]):
        self.values = sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for v in self.values:
            text = text.replace(v, "***")
        return text


class Progress:
    """Receives engine events from worker threads; prints them and keeps a run log."""

    def __init__(self, mask: Masker, log_path: Path | None, quiet: bool = False,
                 stream=None, verbose: bool = False):
        self.mask = mask
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.color = colours(self.stream)
        self.quiet, self.verbose = quiet, verbose
        self.lock = threading.Lock()
        self.log = open(log_path, "a") if log_path else None
        self.t0 = time.monotonic()

    def __call__(self, host: str, step: str, kind: str, message: str, /) -> None:
        status = getattr(kind, "value", kind)  # a Status, or a progress word
        message = printable(message)
        line = self.mask(f"{host:<12} {step or '-':<16} {status:<9} {message}")
        with self.lock:
            if self.log:
                self.log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
                self.log.flush()
            if self.quiet or status == "traceback" or (status == "action"
                                                         and not self.verbose):
                return  # for the run log only
            if self.tty:
                line = self.mask(f"{time.monotonic() - self.t0:6.1f}s {host:<12} "
                                 f"{step or '':<16} "
                                 f"{paint(f'{status:<9}', status, self.color)} {message}")
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.log:
            self.log.close()


def table(reports: list[HostReport], mode: str, mask: Masker, stream=None) -> None:
    out = stream or sys.stdout
    tty = colours(out)
    steps: list[str] = []
    for r in reports:
        for s in r.steps:
            if s.step not in steps:
                steps.append(s.step)
    header = ["host", *steps, "time", "reboot"]
    rows = []
    for r in reports:
        by = {s.step: s for s in r.steps}
        cells = [by[s].status.value if s in by else ("failed" if r.error else "-")
                 for s in steps]
        rows.append([r.host, *cells, f"{r.duration:.1f}s", "needed" if r.reboot_needed else ""])
    widths = [max(len(x) for x in col) for col in zip(header, *rows)]

    def line(cells: list[str], color: bool) -> str:
        parts = []
        for i, (cell, w) in enumerate(zip(cells, widths)):
            text = cell.rjust(w) if header[i] == "time" else cell.ljust(w)
            parts.append(paint(text, cell, color) if 0 < i <= len(steps) else text)
        return "  ".join(parts).rstrip()

    print(f"phoenix {mode}", file=out)
    print(line(header, False), file=out)
    for row in rows:
        print(line(row, tty), file=out)
    p = printable
    for r in reports:
        if r.error:
            print(mask(f"{paint(r.host, 'failed', tty)}: {p(r.error)}"), file=out)
        for s in r.steps:
            if s.error:
                print(mask(f"{paint(f'{r.host} {s.step}', 'failed', tty)}: {p(s.error)}"),
                      file=out)
            if mode not in ("plan", "verify"):
                continue
            for c in s.changes:
                print(mask(f"  {r.host} {s.step}: {p(c.summary)}\n"
                           f"      - {p(c.before, ' ' * 8)}\n      + {p(c.after, ' ' * 8)}"),
                      file=out)
            if s.drift_class:
                print(f"  {r.host} {s.step}: {DRIFT_CLASS[s.drift_class]}", file=out)
            for note in s.notes:  # a container let reach the host: in red
                style = "failed" if note.startswith(HOST_ACCESS) else "skipped"
                print(mask(f"  {r.host} {s.step}: {paint(p(note), style, tty)}"), file=out)


DRIFT_CLASS = {"corrective": "corrective drift: the config is as last applied, the host "
                              "changed (apply puts it back)",
               "intended": "intended drift: the config changed since the last apply (or was "
                           "never applied): apply brings the change"}


def exit_code(reports: list[HostReport], mode: str) -> int:
    statuses = {r.status for r in reports}
    if Status.FAILED in statuses or Status.UNKNOWN in statuses:
        return 1
    if mode == "plan" and Status.PENDING in statuses:
        return 2
    if mode == "verify" and Status.DRIFT in statuses:
        return 2
    return 0


def as_json(reports: list[HostReport], mode: str, code: int, mask: Masker) -> str:
    doc = {"schema": JSON_SCHEMA, "mode": mode, "exit_code": code,
           "hosts": [r.as_dict() for r in reports]}
    return mask(json.dumps(doc, indent=2))


def junit(reports: list[HostReport], mode: str, path: Path, mask: Masker) -> None:
    suites = ET.Element("testsuites", name=f"phoenix {mode}")
    for r in reports:
        suite = ET.SubElement(suites, "testsuite", name=r.host, tests=str(len(r.steps)),
                              time=f"{r.duration:.3f}")
        if r.error:
            case = ET.SubElement(suite, "testcase", classname=r.host, name="connect")
            ET.SubElement(case, "error", message=mask(r.error))
        for s in r.steps:
            case = ET.SubElement(suite, "testcase", classname=r.host, name=s.step,
                                 time=f"{s.duration:.3f}")
            if s.status in (Status.FAILED, Status.UNKNOWN):
                ET.SubElement(case, "error", message=mask(s.error or s.status.value))
            elif s.status in (Status.DRIFT, Status.PENDING):
                kind = f", {s.drift_class} drift" if s.drift_class else ""
                ET.SubElement(case, "failure", message=f"{len(s.changes)} change(s){kind}",
                              type=s.drift_class or s.status.value).text = \
                    mask("\n".join(c.summary for c in s.changes))
            elif s.status == Status.SKIPPED:
                ET.SubElement(case, "skipped")
    ET.ElementTree(suites).write(path, encoding="unicode", xml_declaration=True)
