"""The one error tree of phoenix_remote.

    PhoenixError                 anything we raise on purpose; never shown as a traceback
    ├── UsageError               a bad command line (exit 64)
    ├── ConfigError              bad config/inventory/secret: carries every Problem found
    ├── HostError                a host could not be reached or answered unexpectedly
    │   ├── CommandFailed        a remote command exited non-zero
    │   ├── HostKeyError         unknown or changed SSH host key
    │   └── LockBusy             another run holds the host's ledger lock
    ├── ApiError                 the Proxmox API refused a call (carries PVE's message;
    │   │                        status None: no HTTP answer, e.g. the connection was lost)
    │   └── TaskFailed           a task (UPID) ended in error; carries its log's tail
    ├── ProbeUnknown             a probe could not tell the state ("unknown" is not "absent")
    └── StepFailed               a step could not finish
        ├── StepRefused          the host is in a state the operator must fix first
        └── DidNotConverge       apply ran, but probing again still finds differences
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PhoenixError(Exception):
    """Base of every error phoenix_remote raises on purpose."""


class UsageError(PhoenixError):
    """The command line itself is wrong: unknown option, bad value, missing argument."""


@dataclass(frozen=True)
class Problem:
    """One finding of validation: where, what was found, what is expected."""

    source: str  # file name, or "inventory host <name>"
    path: str  # JSON path such as $.zfs.pools.quickOS
    message: str  # what was found and what is expected / the fix

    def __str__(self) -> str:
        return f"{self.source}: {self.path}: {self.message}"


class ConfigError(PhoenixError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class HostError(PhoenixError):
    pass


class CommandFailed(HostError):
    """A command exited non-zero: `result` is its whole Result (code, stdout, stderr)."""

    def __init__(self, host: str, argv_shown: str, result: Any):
        self.host, self.argv_shown, self.result = host, argv_shown, result
        self.code = result.code
        self.stderr = result.stderr or result.stdout
        super().__init__(f"{host}: `{argv_shown}` exited {self.code}: "
                         f"{self.stderr.strip()[-800:]}")


class HostKeyError(HostError):
    pass


class LockBusy(HostError):
    pass


class ApiError(PhoenixError):
    """status: the HTTP status PVE answered with, or None when no answer came."""

    def __init__(self, status: int | None, message: str, errors: dict | None = None):
        self.status, self.message, self.errors = status, message, errors or {}
        detail = "".join(f"; {k}: {v}" for k, v in sorted(self.errors.items()))
        code = status if status is not None else "(no answer)"
        super().__init__(f"Proxmox API {code}: {message}{detail}")


class TaskFailed(ApiError):
    """A PVE task (UPID) ended in error."""


class ProbeUnknown(PhoenixError):
    pass


class StepFailed(PhoenixError):
    pass


class StepRefused(StepFailed):
    """Bad state on the host (or in its inventory entry) that the operator must fix."""


class DidNotConverge(StepFailed):
    """The step's actions ran, yet the host still differs from the configuration."""
