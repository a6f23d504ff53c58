"""The ledger on each host: what each step applied, when, with which inputs and backups.

/var/lib/phoenix_remote/state.json (configurable), written atomically (temp + rename) and
guarded by a lock held for the whole apply: `flock` on the host, kept by an open SSH
channel, so a killed run or a cut connection releases it by itself. Never holds a secret.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import PurePosixPath

from phoenix_remote import __version__
from phoenix_remote.errors import HostError, LockBusy
from phoenix_remote.host.ssh import quote

SCHEMA = 1
LOCK_BUSY = 75


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Ledger:
    def __init__(self, host, path: str, lock_timeout: float = 60.0):
        self.host = host
        self.path = path
        self.dir = str(PurePosixPath(path).parent)
        self.lock_timeout = lock_timeout
        self.data: dict = {}
        self._lock_chan = None

    def load(self) -> dict:
        return self.parse(self.host.read_file(self.path))

    def parse(self, raw: str | None) -> dict:
        """The ledger from its file's text (None: no ledger yet)."""
        if not raw:
            self.data = {"schema": SCHEMA, "steps": {}, "runs": []}
            return self.data
        try:
            self.data = json.loads(raw)
        except json.JSONDecodeError:
            # atomic writes make this unlikely; keep the evidence, start a fresh record
            self.data = {"schema": SCHEMA, "steps": {}, "runs": [],
                         "note": f"previous ledger unreadable at {now()}"}
        self.data.setdefault("steps", {})
        self.data.setdefault("runs", [])
        return self.data

    def step(self, step_id: str) -> dict:
        return self.data.get("steps", {}).get(step_id, {})

    # ------------------------------------------------------------------ lock
    def acquire(self) -> None:
        """Take the host's lock (waits up to lock_timeout), held until release()."""
        lock = f"{self.dir}/lock"
        owner = f"{socket.gethostname()} pid {os.getpid()} since {now()}"
        cmd = (f"mkdir -p {quote([self.dir])} && exec flock -w {self.lock_timeout:.0f} "
               f"-E {LOCK_BUSY} {quote([lock])} sh -c "
               + quote([f"echo {quote([owner])} > {lock}.owner; echo locked; exec cat"]))
        chan = self.host.ssh.open_channel(cmd)
        chan.settimeout(self.lock_timeout + 30)
        try:
            line = chan.makefile("r").readline().strip()
        except OSError as e:
            raise HostError(f"{self.host.name}: lost connection while taking the lock: {e}"
                            ) from None
        if line != "locked":
            code = chan.recv_exit_status()
            holder = self.host.read_file(f"{lock}.owner") or "unknown"
            if code == LOCK_BUSY:
                raise LockBusy(f"{self.host.name}: another phoenix run holds the lock "
                               f"({holder.strip()}); waited {self.lock_timeout:.0f} s")
            raise HostError(f"{self.host.name}: could not take the lock (exit {code})")
        self._lock_chan = chan

    def release(self) -> None:
        if self._lock_chan is not None:
            try:
                self._lock_chan.shutdown_write()
                self._lock_chan.close()
            except OSError:
                pass
            self._lock_chan = None

    # ------------------------------------------------------------------ records
    def record(self, step_id: str, entry: dict, log_lines: list[str], log_file: str) -> None:
        """Save one step's record and append to the host's run log, in one round trip."""
        self.data["steps"][step_id] = {**entry, "version": __version__}
        self._save(log_lines, log_file)

    def finish_run(self, summary: dict, log_file: str) -> None:
        self.data["runs"] = (self.data.get("runs", []) + [summary])[-20:]
        self._save([f"run finished: {summary.get('status')}"], log_file)

    def _save(self, log_lines: list[str], log_file: str) -> None:
        payload = json.dumps(self.data, indent=1, sort_keys=True)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log = "".join(f"{stamp} [phoenix_remote] {line}\n" for line in log_lines)
        script = f"""set -e
mkdir -p {quote([self.dir])}
tmp=$(mktemp {quote([self.path + '.XXXXXX'])})
cat > "$tmp" <<'PHOENIX_LEDGER'
{payload}
PHOENIX_LEDGER
chmod 600 "$tmp"
sync -- "$tmp" 2>/dev/null || true
mv -f -- "$tmp" {quote([self.path])}
cat >> {quote([log_file])} <<'PHOENIX_LOG'
{log}PHOENIX_LOG
chmod 644 {quote([log_file])}
"""
        self.host.run_script(script)
