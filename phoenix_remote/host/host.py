"""Host: the only door to a target machine (SSH commands, files, reboot, Proxmox API).

Steps and facts talk to a Host, never to fabric or proxmoxer. A Host opened for `verify`
or `plan` is read-only: anything that would change the machine raises instead.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from pathlib import Path

from phoenix_remote.config.models import HostConfig
from phoenix_remote.config.secrets import Secret
from phoenix_remote.errors import HostError, PhoenixError
from phoenix_remote.host.known_hosts import DEFAULT_KNOWN_HOSTS
from phoenix_remote.host.ssh import SCRIPT, Result, SshSession, quote


class ReadOnlyHost(PhoenixError):
    """A change was attempted through a Host opened read-only (a bug in a step)."""


class Host:
    def __init__(self, cfg: HostConfig, readonly: bool, accept_new_host_keys: bool = False,
                 known_hosts: Path = DEFAULT_KNOWN_HOSTS, insecure: bool = False):
        self.cfg = cfg
        self.name = cfg.name
        self.readonly = readonly
        self.insecure = insecure
        self.backups: list[str] = []  # files this run backed up, for the ledger
        self.backup_dir = cfg.config.ledger_path.rsplit("/", 1)[0] + "/backups"
        self.ssh = SshSession(cfg.address, cfg.ssh.user, cfg.ssh.port, cfg.ssh.key_file,
                              cfg.ssh.alias, cfg.ssh.host_key_fingerprint,
                              accept_new_host_keys, known_hosts, cfg.ssh.connect_timeout)
        self._api = None
        # set by the engine in apply mode: drop and retake the host's lock around a
        # reconnect (a reboot or a move ends the session that holds it)
        self.before_disconnect = lambda: None
        self.after_reconnect = lambda: None

    # ------------------------------------------------------------------ reading
    def query(self, argv: Sequence[str] | str, stdin: str | None = None,
              check: bool = True) -> Result:
        """A command that only reads (allowed in every mode)."""
        return self.ssh.run(argv, stdin, self.cfg.ssh.command_timeout, check)

    def script(self, text: str, check: bool = True) -> Result:
        """A read-only shell script in one round trip (sent on stdin, never in argv)."""
        return self.query(list(SCRIPT), stdin=text, check=check)

    def read_file(self, path: str) -> str | None:
        r = self.query(f"if [ -e {quote([path])} ]; then cat -- {quote([path])}; "
                       "else exit 3; fi", check=False)
        if r.code == 3:
            return None
        if r.code != 0:
            raise HostError(f"{self.name}: cannot read {path}: {r.stderr.strip()}")
        return r.stdout

    # ------------------------------------------------------------------ changing
    def _writable(self, what: str) -> None:
        if self.readonly:
            raise ReadOnlyHost(f"{self.name}: refusing to {what}: this run is read-only")

    def run(self, argv: Sequence[str] | str, stdin: str | Secret | None = None,
            check: bool = True, timeout: float | None = None) -> Result:
        """A command that may change the host (apply only)."""
        self._writable(f"run `{argv if isinstance(argv, str) else quote(argv)}`")
        return self.ssh.run(argv, stdin, timeout or self.cfg.ssh.command_timeout, check)

    def run_script(self, text: str) -> Result:
        """A changing shell script in one round trip, sent on stdin (never in argv)."""
        self._writable("run a script")
        return self.ssh.run(list(SCRIPT), text, self.cfg.ssh.command_timeout)

    def write_file(self, path: str, content: str, mode: str = "0644", owner: str = "root:root",
                   backup: bool = True) -> str | None:
        """Atomic write (temp file + rename) that keeps a timestamped backup of the old file.
        Returns the backup's path, or None when there was nothing to back up."""
        self._writable(f"write {path}")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        q = quote([path])
        # Backups go under the ledger's directory, never beside the file: a copy left in
        # interfaces.d, logrotate.d or the like would be read as configuration too.
        backup_path = f"{self.backup_dir}/{stamp}{path}"
        payload = base64.b64encode(content.encode()).decode()
        script = f"""set -e
target={q}
dir=$(dirname -- "$target")
mkdir -p -- "$dir"
made_backup=
if [ -e "$target" ] && [ {1 if backup else 0} = 1 ]; then
  mkdir -p -- {quote([backup_path.rsplit("/", 1)[0]])}
  cp -a -- "$target" {quote([backup_path])}; made_backup=1
fi
tmp=$(mktemp "$dir/.phoenix.XXXXXX")
base64 -d > "$tmp" <<'PHOENIX_EOF'
{payload}
PHOENIX_EOF
chmod {quote([mode])} "$tmp"
chown {quote([owner])} "$tmp"
sync -- "$tmp" 2>/dev/null || true
mv -f -- "$tmp" "$target"
[ -n "$made_backup" ] && echo backup || true
"""
        r = self.ssh.run(list(SCRIPT), script, self.cfg.ssh.command_timeout)
        if r.stdout.strip() == "backup":
            self.backups.append(backup_path)
            return backup_path
        return None

    def reboot_and_wait(self, deadline_s: float = 600.0) -> float:
        """Reboot, wait until SSH answers again, reconnect. Returns seconds it took."""
        self._writable("reboot")
        t0 = time.monotonic()
        self.before_disconnect()
        try:
            self.ssh.run(["sh", "-c", "nohup reboot >/dev/null 2>&1 &"], timeout=30)
        except HostError:
            pass  # the connection may drop before the command returns
        self.ssh.close()
        time.sleep(3)  # give the host time to go down before we look for it again
        self._reconnect(t0, deadline_s, "after reboot")
        if self._api is not None:
            self._api.reset()
        return time.monotonic() - t0

    def move_to(self, address: str, deadline_s: float = 120.0) -> None:
        """The host's address changed (network step): talk to it at the new one."""
        self.before_disconnect()
        self.ssh.close()
        self.ssh.address = address
        self._reconnect(time.monotonic(), deadline_s, f"at its new address {address}")
        if self._api is not None:
            self._api.reset(address)

    def _reconnect(self, t0: float, deadline_s: float, when: str) -> None:
        last: Exception | None = None
        while time.monotonic() - t0 < deadline_s:
            try:
                self.ssh.connect()
                self.ssh.run(["true"], timeout=30)
                self.after_reconnect()
                return
            except HostError as e:
                last = e
                self.ssh.close()
                time.sleep(1)
        raise HostError(f"{self.name}: did not answer {when} within {deadline_s:.0f} s: "
                        f"{last}")

    # ------------------------------------------------------------------ API
    @property
    def api(self):
        if self._api is None:
            from phoenix_remote.host.api import PveClient
            self._api = PveClient(self)
        return self._api

    def close(self) -> None:
        self.ssh.close()
