"""Host: the only door to a target machine (SSH commands, files, reboot, Proxmox API).

Steps and facts talk to a Host, never to fabric or proxmoxer. A Host opened for `verify`
or `plan` is read-only: anything that would change the machine raises instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from phoenix_remote.config.models import HostConfig
from phoenix_remote.config.secrets import Secret
from phoenix_remote.errors import HostError, PhoenixError
from phoenix_remote.host.install import backups_in, install_command
from phoenix_remote.host.known_hosts import DEFAULT_KNOWN_HOSTS
from phoenix_remote.host.shell import quote
from phoenix_remote.host.ssh import SCRIPT, Result, SshSession

if TYPE_CHECKING:  # the API client (requests, proxmoxer) loads only when a step needs it
    from phoenix_remote.host.api import PveClient


class Transport(Protocol):
    """How a Host reaches its machine: SshSession in real runs, a fake in unit tests."""

    address: str
    connections: int  # connections made so far (a lock taken on an older one is gone)
    round_trips: int
    moved: bool  # the host moved: dial `address` from now on
    port_in_use: int  # the SSH port the connection actually uses

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def run(self, argv: Sequence[str] | str, stdin: str | Secret | bytes | None = None,
            timeout: float = 1800.0, check: bool = True) -> Result: ...

    def open_channel(self, command: str) -> Any:
        """A long-lived command (the ledger's lock): readline via makefile(), settimeout,
        exit_status_ready, recv_exit_status, shutdown_write, close."""
        ...

    def redirect(self, address: str) -> None:
        """The host moved: close, and dial `address` from now on (an alias too)."""
        ...


class Lock:
    """A lock held on the host by a long-lived command on an open channel (the ledger's
    flock): it holds while that command runs on the connection it was taken on; a
    reconnect (a reboot, a move, a dropped link) means it is gone."""

    def __init__(self, transport: Transport, channel: Any, timeout: float):
        self.transport, self.channel = transport, channel
        self.generation = transport.connections
        channel.settimeout(timeout)

    def first_line(self) -> str:
        """What the command printed first (raises OSError when the link went away)."""
        return str(self.channel.makefile("r").readline()).strip()

    def exit_code(self) -> int:
        return int(self.channel.recv_exit_status())

    @property
    def held(self) -> bool:
        return (self.generation == self.transport.connections
                and not self.channel.exit_status_ready())

    def release(self) -> None:
        try:
            self.channel.shutdown_write()
            self.channel.close()
        except OSError:
            pass


class ReadOnlyHost(PhoenixError):
    """A change was attempted through a Host opened read-only (a bug in a step)."""


class Host:
    def __init__(self, cfg: HostConfig, readonly: bool, accept_new_host_keys: bool = False,
                 known_hosts: Path = DEFAULT_KNOWN_HOSTS, insecure: bool = False,
                 transport: Transport | None = None):
        self.cfg = cfg
        self.name = cfg.name
        self.readonly = readonly
        self.insecure = insecure
        self.state_dir = cfg.config.state_dir  # the ledger's directory
        self.ledger: Any = None  # the run's Ledger, once read (facts read records from it)
        self.backup_dir = self.state_dir + "/backups"
        # SSH by default; tests pass a FakeTransport (tests/fake_transport.py)
        self.ssh: Transport = transport or SshSession(
            cfg.address, cfg.ssh.user, cfg.ssh.port, cfg.ssh.key_file, cfg.ssh.alias,
            cfg.ssh.host_key_fingerprint, accept_new_host_keys, known_hosts,
            cfg.ssh.connect_timeout)
        self._api: PveClient | None = None
        # set by the engine in apply mode: drop and retake the host's lock around a
        # reconnect (a reboot or a move ends the session that holds it)
        self.before_disconnect = lambda: None
        self.after_reconnect = lambda: None

    # ------------------------------------------------------------------ reading
    def query(self, argv: Sequence[str] | str, stdin: str | None = None,
              check: bool = True) -> Result:
        """A command that only reads (allowed in every mode)."""
        return self.ssh.run(argv, stdin, self.cfg.ssh.command_timeout, check)

    def probe_script(self, text: str, stdin: str | Secret | None = None) -> Result:
        """A read-only batch script (host/batch.py): the script in argv (it holds no
        secret), stdin free for the one probe that reads a secret."""
        return self.ssh.run(["bash", "-c", text], stdin, self.cfg.ssh.command_timeout,
                            check=False)

    def read_file(self, path: str) -> str | None:
        from phoenix_remote.host import files
        r = self.query(files.read(path), check=False)
        if r.code == files.ABSENT:
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

    def hold_lock(self, command: str, timeout: float) -> Lock:
        """Start a long-lived command whose open channel holds a lock on the host (the
        ledger's flock): it ends, and the lock with it, when the channel or link does."""
        self._writable("take the host's lock")
        return Lock(self.ssh, self.ssh.open_channel(command), timeout)

    def install(self, path: str, content: str, mode: str = "0644", owner: str = "root:root",
                backup: str = "ledger", check: Sequence[str] = (), reload: Sequence[str] = (),
                log: tuple[str, str] | None = None) -> list[str]:
        """Atomically make `path` hold `content` (see host/install.py); optionally append
        log text to a log file in the same round trip. Returns the backups it made."""
        self._writable(f"write {path}")
        data = content.encode()
        log_path, log_text = log or (None, "")
        command = install_command(path, len(data), mode, owner, self.backup_path(path, backup),
                                  check, reload, log_path)
        result = self.ssh.run(command, data + log_text.encode(), self.cfg.ssh.command_timeout)
        return backups_in(result.stdout)

    def backup_path(self, path: str, backup: str) -> str | None:
        """Where a backup of `path` goes (InstallFile.backup's values), None for "none"."""
        if backup == "none":
            return None
        if backup == "ledger":
            # under the ledger's directory, never beside the file: a copy left in
            # interfaces.d, logrotate.d or the like would be read as configuration too
            return f"{self.backup_dir}/{time.strftime('%Y%m%d-%H%M%S')}{path}"
        return path + time.strftime(backup)

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
        self.ssh.redirect(address)
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

    @property
    def ssh_port_in_use(self) -> int:
        return self.ssh.port_in_use

    # ------------------------------------------------------------------ API
    @property
    def api(self) -> PveClient:
        if self._api is None:
            from phoenix_remote.host.api import PveClient
            self._api = PveClient(self)
        return self._api

    def close(self) -> None:
        self.ssh.close()
