"""Batched probes: many read-only shell commands in one SSH round trip.

Each command's stdout and exit code come back base64-framed, one line per command, so
any output (binary, empty, multi-line) survives. Commands are fixed strings built by the
steps from validated config values, each value quoted with host.ssh.quote.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from phoenix_remote.errors import ProbeUnknown


@dataclass(frozen=True)
class Out:
    code: int
    text: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def script_for(commands: dict[str, str]) -> str:
    lines = ["export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    for name, cmd in commands.items():
        lines.append(f"out=$( ( {cmd} ) 2>/dev/null | base64 -w0; exit ${{PIPESTATUS[0]}} ); "
                     f"printf '%s\\t%s\\t%s\\n' {name} $? \"$out\"")
    return "\n".join(lines) + "\n"


def parse(output: str, names: list[str]) -> dict[str, Out]:
    found: dict[str, Out] = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] in names:
            found[parts[0]] = Out(int(parts[1]), base64.b64decode(parts[2]).decode(
                errors="replace"))
    missing = [n for n in names if n not in found]
    if missing:
        raise ProbeUnknown(f"probe returned no answer for: {', '.join(missing)}")
    return found


def collect(host, commands: dict[str, str]) -> dict[str, Out]:
    """Run every command in one round trip; {name: Out(code, stdout)}."""
    for name in commands:
        assert name.isidentifier(), name
    result = host.script(script_for(commands), check=False)
    return parse(result.stdout, list(commands))
