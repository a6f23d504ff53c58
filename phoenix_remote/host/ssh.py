"""SSH transport: one verified connection per host, commands with hard timeouts.

Fabric builds the connection (so ~/.ssh/config aliases, ProxyJump, the agent and key files
work as in `ssh`); paramiko runs the commands, because on a dead link fabric's run() can
block forever while closing a channel: we use transport keepalives, channel timeouts and
our own deadline instead.

Host keys are strict: a key must match known_hosts or the inventory's pinned fingerprint;
an unknown key is accepted only when asked (`--accept-new-host-keys`, then recorded); a
changed key is always refused.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import fabric
import paramiko

from phoenix_remote.config.secrets import Secret
from phoenix_remote.errors import CommandFailed, HostError, HostKeyError
from phoenix_remote.host.known_hosts import DEFAULT_KNOWN_HOSTS
from phoenix_remote.host.shell import quote


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


# Scripts travel on stdin. `bash -s` would let any command in the script read (and eat) the
# rest of the script from that same stdin; reading it whole first gives commands an empty one.
SCRIPT = ("bash", "-c", 'eval "$(cat)"')


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


class _HostKeyCheck(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only for keys not in known_hosts."""

    def __init__(self, pinned: str | None, accept_new: bool, known_hosts: Path):
        self.pinned, self.accept_new, self.known_hosts = pinned, accept_new, known_hosts

    def missing_host_key(self, client, hostname, key):
        fp = fingerprint(key)
        if self.pinned:
            if fp != self.pinned:
                raise HostKeyError(f"{hostname}: host key {fp} does not match the pinned "
                                   f"fingerprint {self.pinned}: refusing to connect")
            return
        if not self.accept_new:
            raise HostKeyError(f"{hostname}: unknown host key {key.get_name()} {fp}; verify "
                               "it, then pin it as ssh.host_key_fingerprint in the inventory "
                               "or rerun with --accept-new-host-keys")
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.known_hosts, "a") as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class SshSession:
    """A verified SSH connection to one host; counts connections and round trips."""

    def __init__(self, address: str, user: str, port: int | None = None,
                 key_file: str | None = None,
                 alias: str | None = None, pinned: str | None = None,
                 accept_new: bool = False, known_hosts: Path = DEFAULT_KNOWN_HOSTS,
                 connect_timeout: float = 10.0):
        self.address, self.user, self.port = address, user, port
        self.key_file, self.alias, self.pinned = key_file, alias, pinned
        self.accept_new, self.known_hosts = accept_new, known_hosts.expanduser()
        self.connect_timeout = connect_timeout
        self.connections = 0
        self.round_trips = 0
        self.moved = False  # set by Host.move_to: dial self.address even with an alias
        self.seen_key: str | None = None  # fingerprint met on the first connection
        self.port_in_use = port or 22  # the SSH port actually used (an alias may set it)
        self._conn: fabric.Connection | None = None

    # ------------------------------------------------------------------ connection
    def connect(self) -> None:
        if self._conn is not None and self._alive():
            return
        self.close()
        pinned = self.pinned or self.seen_key
        conn = self.connection(pinned)
        try:
            conn.open()
        except paramiko.BadHostKeyException as e:
            raise HostKeyError(f"{self.address}: HOST KEY CHANGED: got {fingerprint(e.key)}, "
                               f"known_hosts has {fingerprint(e.expected_key)}; refusing to "
                               "connect (someone may be intercepting, or the host was "
                               "reinstalled: check, then remove the old line)") from None
        except HostKeyError:
            raise
        except (TimeoutError, OSError, paramiko.SSHException, EOFError) as e:
            raise HostError(f"{self.address}: cannot connect over SSH: {plain_words(e)}"
                            ) from None
        transport = conn.client.get_transport()
        assert transport is not None
        got = fingerprint(transport.get_remote_server_key())
        if pinned and got != pinned:
            conn.close()
            raise HostKeyError(f"{self.address}: host key {got} does not match "
                               + ("the pinned fingerprint" if self.pinned else
                                  "the key this host had before it moved")
                               + f" {pinned}: refusing to connect")
        transport.set_keepalive(5)
        self.seen_key = got  # a later connection (after a move) must meet the same key
        self.port_in_use = int(conn.port)  # from ~/.ssh/config when an alias sets it
        self._conn = conn
        self.connections += 1  # also tells a lock holder that its connection was replaced

    def connection(self, pinned: str | None) -> fabric.Connection:
        """The fabric Connection to open, with host keys checked on it and every hop."""
        kwargs: dict = {"banner_timeout": self.connect_timeout,
                        "auth_timeout": self.connect_timeout}
        if self.key_file:
            kwargs["key_filename"] = [str(Path(self.key_file).expanduser())]
        conn = fabric.Connection(self.alias or self.address, user=self.user,
                                 **({"port": self.port} if self.port else {}),
                                 connect_timeout=self.connect_timeout, connect_kwargs=kwargs)
        if self.moved:  # after a move: dial the new address, keep the alias's other settings
            conn.host = self.address
        # the target, and every ProxyJump hop fabric built from ~/.ssh/config, are checked
        # the same way (fabric itself would auto-add any key)
        self._check_keys(conn.client, pinned)
        hop = conn.gateway
        while isinstance(hop, fabric.Connection):
            self._check_keys(hop.client, None)
            hop = hop.gateway
        return conn

    def _check_keys(self, client: paramiko.SSHClient, pinned: str | None) -> None:
        # fabric loaded ~/.ssh/known_hosts as "system" keys; use exactly the file we were given
        client._system_host_keys.clear()
        client._host_keys.clear()
        if self.known_hosts.exists():
            client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(
            _HostKeyCheck(pinned, self.accept_new, self.known_hosts))

    def _alive(self) -> bool:
        t = self._conn.client.get_transport() if self._conn else None
        return bool(t and t.is_active())

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a dead connection must never hide the real error
                pass
        self._conn = None

    @property
    def transport(self) -> paramiko.Transport:
        self.connect()
        assert self._conn is not None
        t = self._conn.client.get_transport()
        assert t is not None
        return t

    # ------------------------------------------------------------------ commands
    def redirect(self, address: str) -> None:
        self.close()
        self.address, self.moved = address, True

    def open_channel(self, command: str) -> paramiko.Channel:
        chan = self.transport.open_session(timeout=self.connect_timeout)
        chan.exec_command(command)
        self.round_trips += 1
        return chan

    def run(self, argv: Sequence[str] | str, stdin: str | Secret | bytes | None = None,
            timeout: float = 1800.0, check: bool = True) -> Result:
        """Run argv (quoted here) or a prepared command line; stdin carries any secret."""
        command = argv if isinstance(argv, str) else quote(argv)
        shown = command if len(command) < 200 else command[:197] + "..."
        try:
            chan = self.open_channel(command)
            chan.settimeout(min(timeout, 30.0))
            if stdin is not None:
                data = stdin.reveal() if isinstance(stdin, Secret) else stdin
                chan.sendall(data.encode() if isinstance(data, str) else data)
            chan.shutdown_write()
            out, err = self._collect(chan, time.monotonic() + timeout, shown)
            code = chan.recv_exit_status()
        except (OSError, paramiko.SSHException, EOFError) as e:
            self.close()
            raise HostError(f"{self.address}: connection lost during `{shown}`: "
                            f"{e or type(e).__name__}") from None
        result = Result(code, out.decode(errors="replace"), err.decode(errors="replace"))
        if check and code != 0:
            raise CommandFailed(self.address, shown, result)
        return result

    def _collect(self, chan: paramiko.Channel, deadline: float, shown: str
                 ) -> tuple[bytes, bytes]:
        out, err = bytearray(), bytearray()
        while True:
            if chan.recv_ready():
                out += chan.recv(65536)
                continue
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
                continue
            # sshd may send the exit status before the last output: wait for EOF as well
            if chan.exit_status_ready() and chan.eof_received and not chan.recv_ready() \
                    and not chan.recv_stderr_ready():
                break
            if not self._alive():
                raise OSError("connection closed")
            if time.monotonic() > deadline:
                chan.close()
                raise HostError(f"{self.address}: `{shown}` did not finish in time")
            chan.status_event.wait(0.05)
        while chan.recv_ready():
            out += chan.recv(65536)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
        return bytes(out), bytes(err)


def plain_words(e: BaseException) -> str:
    """What went wrong connecting, as an operator says it (paramiko's own text reads
    "[Errno None] Unable to connect to port 22 on ...")."""
    if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
        errnos = {getattr(x, "errno", None) for x in e.errors.values()}
        port = next(iter(e.errors))[1] if e.errors else "?"
        if errnos & {errno.ECONNREFUSED}:
            return f"connection refused (nothing listens on port {port}: is sshd running?)"
        return f"cannot reach port {port} ({', '.join(str(x) for x in e.errors.values())})"
    if isinstance(e, TimeoutError | socket.timeout):
        return "timed out (the host or a firewall does not answer; ssh.connect_timeout)"
    if isinstance(e, paramiko.SSHException) and (
            "no authentication methods" in str(e).lower() or "no existing session" in str(e)):
        return "no key offered: set ssh.key_file or start an agent with the key"
    if isinstance(e, paramiko.AuthenticationException):
        return f"authentication failed ({e}): the host does not take this user's key"
    if isinstance(e, ConnectionResetError | EOFError):
        return "the host closed the connection (sshd refused the session, or MaxStartups)"
    if isinstance(e, OSError) and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "no route to the host (address or network wrong?)"
    return str(e) or type(e).__name__
