"""Batched probes: every read-only shell command of a run's steps in one SSH round trip.

Each command's stdout and exit code come back base64-framed, one line per command, so any
output (binary, empty, multi-line) survives. Commands are fixed strings built by the steps
from validated config values, every value quoted by host/shell.py. The script travels in
argv (it holds no secret); stdin is free for the one probe that needs a secret (the admin
password check), which reads it from fd 3 - every other command gets /dev/null.
Identical commands of different steps run once.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from phoenix_remote.config.secrets import Secret
from phoenix_remote.errors import ProbeUnknown

PATH = "export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Out:
    code: int
    text: str

    @property
    def ok(self) -> bool:
        return self.code == 0


LANES = 4  # commands run in this many concurrent lanes on the host


def script_for(commands: Mapping[str, str]) -> str:
    """The batch: commands dealt round-robin to LANES concurrent lanes (process
    substitutions, each one sequential); their output read lane by lane, so lines never
    interleave and nothing is written to the host's disk."""
    lanes: list[list[str]] = [[] for _ in range(min(LANES, len(commands)) or 1)]
    for i, (name, cmd) in enumerate(commands.items()):
        lanes[i % len(lanes)].append(
            f"out=$( ( {cmd} ) 2>/dev/null | base64 -w0; exit ${{PIPESTATUS[0]}} ); "
            f"printf '%s\\t%s\\t%s\\n' {name} $? \"$out\"")
    lines = [PATH, "exec 3<&0 </dev/null"]
    for i, lane in enumerate(lanes):
        lines.append(f"exec {i + 4}< <(\n" + "\n".join(lane) + "\n)")
    lines.append("; ".join(f"cat <&{i + 4}" for i in range(len(lanes))))
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


def collect(host: Any, commands: Mapping[str, str], stdin: Secret | str | None = None
            ) -> dict[str, Out]:
    """Run every command in one round trip; {name: Out(code, stdout)}. Commands with the
    same text run once and answer for every name that asked for them."""
    first: dict[str, str] = {}  # command text -> the batch name that runs it
    alias: dict[str, str] = {}  # asked name -> batch name
    for name, cmd in commands.items():
        assert name.isidentifier(), name
        alias[name] = first.setdefault(cmd, f"c{len(first)}")
    batch = {b: cmd for cmd, b in first.items()}
    if not batch:
        return {}  # nothing to ask: no round trip
    result = host.probe_script(script_for(batch), stdin)
    out = parse(result.stdout, list(batch))
    return {name: out[b] for name, b in alias.items()}
