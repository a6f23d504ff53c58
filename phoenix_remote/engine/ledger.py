"""The ledger on each host: what each step applied, when, with which inputs and backups.

/var/lib/phoenix_remote/state.json (configurable), written atomically through
Host.install and guarded by a lock held for the whole apply: `flock` on the host, kept by
an open SSH channel, so a killed run or a cut connection releases it by itself. Never
holds a secret.

Whenever the SSH connection was re-made (a reboot, a move, a silent reconnect after a
dropped link), the lock is gone: before the next write the ledger takes it again and
re-reads the file, then lays this run's records over what it finds. A ledger that cannot
be parsed is backed up before it is replaced.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import PurePosixPath
from typing import Any

from phoenix_remote import __version__
from phoenix_remote.errors import HostError, LockBusy
from phoenix_remote.host.shell import sh

SCHEMA = 1
LOCK_BUSY = 75


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Ledger:
    def __init__(self, host: Any, path: str, lock_timeout: float = 60.0):
        self.host = host
        self.path = path
        self.dir = str(PurePosixPath(path).parent)
        self.lock_timeout = lock_timeout
        self.data: dict = {}
        self.corrupt = False  # the file on the host did not parse: back it up first
        self._mine: dict[str, dict] = {}  # records this run wrote, re-laid after a re-read
        self._remembered: dict[tuple[str, str], dict] = {}  # remember()'d, re-laid too
        self._lock: Any = None  # the host's Lock while held

    def load(self) -> dict:
        return self.parse(self.host.read_file(self.path))

    def parse(self, raw: str | None) -> dict:
        """The ledger from its file's text (None: no ledger yet)."""
        self.corrupt = False
        try:
            data = json.loads(raw) if raw else {}
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError:
            self.corrupt = True
            data = {"note": f"previous ledger unreadable at {now()}; backed up"}
        data.setdefault("schema", SCHEMA)
        if not isinstance(data.get("steps"), dict):
            data["steps"] = {}
        if not isinstance(data.get("runs"), list):
            data["runs"] = []
        data["steps"].update(self._mine)
        for (section, key), values in self._remembered.items():
            data.setdefault(section, {}).setdefault(key, {}).update(values)
        self.data = data
        return data

    def remembered(self, section: str) -> dict[str, dict]:
        """What remember() keeps under a section (e.g. "containers": the ones phoenix made)."""
        found = self.data.get(section)
        return found if isinstance(found, dict) else {}

    def remember(self, section: str, key: str, values: dict, log_file: str) -> None:
        """Merge values into section/key and save now (one round trip)."""
        self._ensure_locked()
        self._remembered.setdefault((section, key), {}).update(values)
        if not isinstance(self.data.get(section), dict):
            self.data[section] = {}
        self.data[section].setdefault(key, {}).update(values)
        self._save([f"{section} {key}: " + ", ".join(f"{k}={v}" for k, v in values.items())],
                   log_file)

    def step(self, step_id: str) -> dict:
        return self.data.get("steps", {}).get(step_id, {})

    # ------------------------------------------------------------------ lock
    def acquire(self) -> None:
        """Take the host's lock (waits up to lock_timeout), held until release()."""
        lock = f"{self.dir}/lock"
        owner = f"{socket.gethostname()} pid {os.getpid()} since {now()}"
        inner = sh("echo {} > {}; echo locked; exec cat", owner, f"{lock}.owner")
        cmd = sh("mkdir -p {} && exec flock -w {} -E {} {} sh -c {}", self.dir,
                 f"{self.lock_timeout:.0f}", LOCK_BUSY, lock, inner)
        lock = self.host.hold_lock(cmd, self.lock_timeout + 30)
        try:
            line = lock.first_line()
        except OSError as e:
            raise HostError(f"{self.host.name}: lost connection while taking the lock: {e}"
                            ) from None
        if line != "locked":
            code = lock.exit_code()
            holder = self.host.read_file(f"{lock}.owner") or "unknown"
            if code == LOCK_BUSY:
                raise LockBusy(f"{self.host.name}: another phoenix run holds the lock "
                               f"({holder.strip()}); waited {self.lock_timeout:.0f} s")
            raise HostError(f"{self.host.name}: could not take the lock (exit {code})")
        self._lock = lock

    def reacquire(self) -> None:
        """After a reconnect: take the lock again and re-read what is on the host."""
        self.release()
        self.acquire()
        self.load()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _ensure_locked(self) -> None:
        self.host.ssh.connect()  # a dead link is re-made here, not in the middle of a write
        if self._lock is None or not self._lock.held:  # a reconnect, or its command ended
            self.reacquire()

    # ------------------------------------------------------------------ records
    def record(self, step_id: str, entry: dict, log_lines: list[str], log_file: str) -> None:
        """Save one step's record and append to the host's run log, in one round trip."""
        self._ensure_locked()
        self._mine[step_id] = {**entry, "version": __version__}
        self.data["steps"][step_id] = self._mine[step_id]
        self._save(log_lines, log_file)

    def finish_run(self, summary: dict, log_file: str) -> None:
        self._ensure_locked()
        self.data["runs"] = (self.data.get("runs", []) + [summary])[-20:]
        self._save([f"run finished: {summary.get('status')}"], log_file)

    def _save(self, log_lines: list[str], log_file: str) -> None:
        payload = json.dumps(self.data, indent=1, sort_keys=True) + "\n"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        # one record per line, whatever a message (e.g. a command's stderr) holds
        log = "".join(f"{stamp} [phoenix_remote] {' | '.join(line.splitlines())}\n"
                      for line in log_lines)
        self.host.install(self.path, payload, mode="0600",
                          backup=".corrupt-%Y%m%d-%H%M%S" if self.corrupt else "none",
                          log=(log_file, log))
        self.corrupt = False
