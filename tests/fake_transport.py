"""A Transport for unit tests: commands run on this machine under bash (so the real shell
text, the install script and flock are exercised), or are answered by a handler; every
command is recorded. `drop()` cuts the "connection" like a dead link would."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence

from phoenix_remote.config.secrets import Secret
from phoenix_remote.errors import CommandFailed, HostError
from phoenix_remote.host.shell import quote
from phoenix_remote.host.ssh import Result

Handler = Callable[[str, bytes], Result]


# programs that act on the machine itself: a fake host must never run them here
MACHINE_WIDE = {"reboot", "shutdown", "poweroff", "halt", "systemctl", "systemd-run", "ip",
                "ufw", "apt-get", "dpkg", "zpool", "zfs", "wipefs", "useradd", "usermod",
                "chpasswd", "hostnamectl", "timedatectl", "env"}


def program(command: str) -> str:
    """The program a command line starts (through `sh -c` and `nohup` when wrapped)."""
    argv = shlex.split(command)
    while argv:
        if argv[:2] == ["sh", "-c"] and len(argv) > 2:
            argv = shlex.split(argv[2])
        elif argv[0] == "nohup":
            argv = argv[1:]
        else:
            break
    return argv[0] if argv else ""


def local_bash(command: str, stdin: bytes) -> Result:
    if program(command) in MACHINE_WIDE:
        raise AssertionError(f"FakeTransport refuses to run {command[:80]!r} on this machine; "
                             "answer it with a handler")
    p = subprocess.run(["bash", "-c", command], input=stdin, capture_output=True, timeout=60)
    return Result(p.returncode, p.stdout.decode(errors="replace"),
                  p.stderr.decode(errors="replace"))


class LocalChannel:
    """A long-lived command, like a paramiko channel running it."""

    def __init__(self, command: str):
        self.proc = subprocess.Popen(["bash", "-c", command], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def settimeout(self, _seconds: float) -> None:
        pass

    def makefile(self, _mode: str):  # type: ignore[no-untyped-def]
        return self.proc.stdout

    def exit_status_ready(self) -> bool:
        return self.proc.poll() is not None

    def recv_exit_status(self) -> int:
        return self.proc.wait(timeout=60)

    def shutdown_write(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()

    def close(self) -> None:
        self.shutdown_write()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class FakeTransport:
    def __init__(self, handler: Handler = local_bash, address: str = "192.0.2.10"):
        self.handler = handler
        self.address = address
        self.commands: list[str] = []
        self.stdins: list[bytes] = []
        self.channels: list[LocalChannel] = []
        self.connections = 0
        self.round_trips = 0
        self.alive = False
        self.moved = False
        self.port_in_use = 22
        self.refuse = False  # True: the host does not answer (connect fails)

    def connect(self) -> None:
        if self.refuse:
            raise HostError(f"{self.address}: cannot connect over SSH: refused")
        if not self.alive:
            self.connections += 1
            self.alive = True

    def close(self) -> None:
        self.alive = False

    def drop(self) -> None:
        """The link died: channels end (a lock held by one is released), next use reconnects."""
        for chan in self.channels:
            chan.close()
        self.channels.clear()
        self.alive = False

    def run(self, argv: Sequence[str] | str, stdin: str | Secret | bytes | None = None,
            timeout: float = 1800.0, check: bool = True) -> Result:
        self.connect()
        command = argv if isinstance(argv, str) else quote(argv)
        data = stdin.reveal() if isinstance(stdin, Secret) else stdin
        raw = data.encode() if isinstance(data, str) else (data or b"")
        self.commands.append(command)
        self.stdins.append(raw)
        self.round_trips += 1
        result = self.handler(command, raw)
        if check and result.code != 0:
            raise CommandFailed(self.address, command[:200], result)
        return result

    def redirect(self, address: str) -> None:
        self.close()
        self.address, self.moved = address, True

    def open_channel(self, command: str) -> LocalChannel:
        self.connect()
        self.commands.append(command)
        self.round_trips += 1
        chan = LocalChannel(command)
        self.channels.append(chan)
        return chan
