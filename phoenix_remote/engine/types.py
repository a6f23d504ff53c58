"""What steps return and what the engine reports: Changes made of Actions, step results.

A Change is one difference between the host and the configuration, with a human-readable
before/after and the actions that remove it. Actions are data: the engine executes them
(apply) or only shows them (plan, verify), so no step ever branches on the mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Literal, Protocol

from phoenix_remote.config.secrets import Secret
from phoenix_remote.host.shell import quote


@dataclass(frozen=True)
class Run:
    """A command as argv; a secret, if any, goes on stdin."""
    argv: tuple[str, ...]
    stdin: Secret | str | None = None
    timeout: float | None = None
    title: str | None = None  # shown instead of a long argv

    def describe(self) -> str:
        if self.title:
            return self.title
        return quote(self.argv) + (" <<< ***" if isinstance(self.stdin, Secret) else "")


@dataclass(frozen=True)
class Script:
    """A shell script run in one round trip (sent on stdin). Never contains a secret."""
    text: str
    title: str

    def describe(self) -> str:
        return f"script: {self.title}"


@dataclass(frozen=True)
class InstallFile:
    """Make `path` hold exactly `content` (sent as data, never as shell text).

    backup: "ledger" keeps the old file under the ledger's backups directory; "none" keeps
    nothing; any other value is a strftime suffix for a backup beside the file (the
    original scripts' own naming, e.g. ".bak.%Y-%m-%d_%H-%M-%S"). A backup name is never
    reused. `check` runs after the file is in place; if it fails the previous file is put
    back and the action fails. `reload` runs after a passing check."""
    path: str
    content: str
    mode: str = "0644"
    owner: str = "root:root"
    backup: str = "ledger"
    check: tuple[str, ...] = ()
    reload: tuple[str, ...] = ()

    def describe(self) -> str:
        text = f"install {self.path} ({len(self.content.splitlines())} lines, mode {self.mode})"
        if self.check:
            text += f", checked by `{quote(self.check)}`"
        if self.reload:
            text += f", then `{quote(self.reload)}`"
        return text


@dataclass(frozen=True)
class Api:
    """A Proxmox API call; values may be Secrets (sent in the body, shown as ***)."""
    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    wait_task: bool = False

    def describe(self) -> str:
        shown = ", ".join(f"{k}={'***' if isinstance(v, Secret) else v}"
                          for k, v in self.params.items())
        return f"API {self.method} {self.path} {shown}".rstrip()


@dataclass(frozen=True)
class Reboot:
    deadline_s: float = 600.0

    def describe(self) -> str:
        return "reboot and wait for the host"


@dataclass(frozen=True)
class CommitNetwork:
    """A new interfaces file, applied "commit confirmed" (host/network.py): the host puts
    the previous file back by itself unless this run reaches it at `address` in time."""
    path: str
    content: str
    interface: str
    address: str
    window_s: float = 90.0

    def describe(self) -> str:
        return (f"install {self.path} and restart networking outside the session; reconnect "
                f"at {self.address} and confirm within {self.window_s:.0f} s, or the host "
                "restores the previous file")


@dataclass(frozen=True)
class Remember:
    """Write `values` under section/key of the host's ledger now (not at the step's end),
    so a run that stops right after the action before it still has the record; `read`
    fills a value from the API: {name: (GET path, key)} (e.g. the rootfs a create made)."""
    section: str
    key: str
    values: dict[str, Any] = field(default_factory=dict)
    read: dict[str, tuple[str, str]] = field(default_factory=dict)

    def describe(self) -> str:
        what = ", ".join([*self.values, *self.read])
        return f"ledger: {self.section} {self.key} := {what}"


Action = Run | Script | InstallFile | Api | Reboot | CommitNetwork | Remember


@dataclass(frozen=True)
class Change:
    summary: str
    before: str
    after: str
    actions: tuple[Action, ...] = ()
    # what the change is about when a step manages several things (a container's vmid):
    # a failing change stops only the later changes of its item and of the items that
    # `needs` it (a clone needs its source); None: the host, whose failure stops the step
    item: int | None = None
    needs: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        return {"summary": self.summary, "before": self.before, "after": self.after,
                "actions": [a.describe() for a in self.actions]}


# how a note starts that names a way a guest may reach the host (allowed by the config's
# allow_host_access): plan and verify print it in red
HOST_ACCESS = "HOST ACCESS: "


@dataclass(frozen=True, init=False)
class Plan:
    """What a step's plan found, as a value: the changes (iterating a Plan gives them),
    notes for the operator, differences held back on purpose (the config says to leave
    them: verify reports them as drift, apply leaves them), parts the probe got no answer
    about (a hung container: verify says unknown, apply repairs the rest and then fails
    naming them), and whether the host needs a reboot no change of this run will do.
    Built from the facts alone; parts are combined with Plan.join, which keeps every field."""

    changes: tuple[Change, ...]
    notes: tuple[str, ...]
    held: tuple[str, ...]
    unknown: tuple[str, ...]
    reboot_needed: bool

    def __init__(self, changes: Iterable[Change] = (), notes: Iterable[str] = (),
                 reboot_needed: bool = False, held: Iterable[str] = (),
                 unknown: Iterable[str] = ()):
        for name, value in (("changes", tuple(changes)), ("notes", tuple(notes)),
                            ("held", tuple(held)), ("unknown", tuple(unknown)),
                            ("reboot_needed", reboot_needed)):
            object.__setattr__(self, name, value)

    @staticmethod
    def join(*plans: Plan) -> Plan:
        return Plan([c for p in plans for c in p.changes], [n for p in plans for n in p.notes],
                    any(p.reboot_needed for p in plans), [h for p in plans for h in p.held],
                    [u for p in plans for u in p.unknown])

    def for_item(self, item: int, needs: tuple[int, ...] = ()) -> Plan:
        """The same plan with every change marked as being about `item`."""
        return Plan([replace(c, item=item, needs=needs) for c in self.changes], self.notes,
                    self.reboot_needed, self.held, self.unknown)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __getitem__(self, i: int) -> Change:
        return self.changes[i]


class Status(str, Enum):
    OK = "ok"  # in policy, nothing done
    CHANGED = "changed"  # apply changed the host and it converged
    PENDING = "pending"  # plan: changes would be made
    DRIFT = "drift"  # verify: host differs from the configuration
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"  # a probe could not tell


@dataclass
class StepResult:
    step: str
    status: Status
    changes: list[Change] = field(default_factory=list)
    duration: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    round_trips: int = 0
    backups: list[str] = field(default_factory=list)  # files this step's apply backed up
    reboot_needed: bool = False  # the plan says a reboot (not done by this run) is needed
    # verify's drift: "corrective" (the config is as last applied: the host changed) or
    # "intended" (the config changed since, or was never applied: apply brings it)
    drift_class: Literal["corrective", "intended"] | None = None

    def as_dict(self) -> dict:
        return {"step": self.step, "status": self.status.value, "drift_class": self.drift_class,
                "changes": [c.as_dict() for c in self.changes],
                "duration_s": round(self.duration, 3), "error": self.error,
                "notes": self.notes, "round_trips": self.round_trips,
                "backups": self.backups}


@dataclass
class HostReport:
    host: str
    address: str
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0
    reboot_needed: bool = False
    connections: int = 0
    round_trips: int = 0

    @property
    def status(self) -> Status:
        if self.error or any(s.status == Status.FAILED for s in self.steps):
            return Status.FAILED
        for st in (Status.UNKNOWN, Status.DRIFT, Status.PENDING, Status.CHANGED):
            if any(s.status == st for s in self.steps):
                return st
        return Status.OK

    def as_dict(self) -> dict:
        return {"host": self.host, "address": self.address, "status": self.status.value,
                "error": self.error, "duration_s": round(self.duration, 3),
                "reboot_needed": self.reboot_needed, "connections": self.connections,
                "round_trips": self.round_trips, "steps": [s.as_dict() for s in self.steps]}


# What a run reports as it goes, besides a step's Status (which is reported too)
ProgressWord = Literal["connected", "running", "action", "change", "note", "warning",
                       "traceback"]


class EventSink(Protocol):
    """Where a run's events go: the CLI's progress lines and run log (cli/render.py), a
    list in the tests. `step` is "" for events of the host as a whole."""

    def __call__(self, host: str, step: str, kind: ProgressWord | Status, text: str, /) -> None: ...
