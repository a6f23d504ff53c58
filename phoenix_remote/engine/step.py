"""The Step contract: read-only commands (batched by the engine), facts, a pure plan.

    class Step:
        id: str                      # stable key in the ledger and on the command line
        title: str
        def inputs(cfg) -> dict      # the non-secret inputs: their hash is the fingerprint
        def commands(cfg) -> dict[str, str]   # read-only shell commands, by name
        def facts(out, host, cfg) -> dict     # parse their output (+ read-only API calls);
                                              # raises ProbeUnknown when it cannot tell
        def plan(facts, cfg) -> list[Change]   # pure: no I/O

A step may also set `skip_reason(cfg) -> str | None` to be skipped with a message (e.g.
NVIDIA on a GPU-less host when the config says so), and `probe_stdin(cfg)` for the one
probe that reads a secret (on fd 3 of the batch).

`gather` runs the commands of many steps (and any extra ones) in one round trip.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from phoenix_remote import __version__
from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.types import Change
from phoenix_remote.facts.batch import Out, collect


class Step(Protocol):
    id: str
    title: str

    def inputs(self, cfg: HostConfig) -> dict[str, Any]: ...

    def commands(self, cfg: HostConfig) -> dict[str, str]: ...

    def facts(self, out: dict[str, Out], host: Any, cfg: HostConfig) -> dict[str, Any]: ...

    def plan(self, facts: dict[str, Any], cfg: HostConfig) -> list[Change]: ...


def gather(host: Any, steps: list[Step], cfg: HostConfig, extra: dict[str, str] | None = None
           ) -> tuple[dict[str, dict[str, Out]], dict[str, Out]]:
    """One round trip for every step's commands and `extra`: (outputs by step id, outputs
    of extra). Commands two steps share run once."""
    per_step = [step.commands(cfg) for step in steps]
    commands = dict(extra or {})
    for i, cmds in enumerate(per_step):
        commands.update({f"s{i}_{name}": cmd for name, cmd in cmds.items()})
    stdins = [s for step in steps if (s := getattr(step, "probe_stdin", lambda c: None)(cfg))]
    assert len(stdins) <= 1, "one probe at most may read a secret"
    out = collect(host, commands, stdins[0] if stdins else None)
    by_step = {step.id: {name: out[f"s{i}_{name}"] for name in cmds}
               for i, (step, cmds) in enumerate(zip(steps, per_step))}
    return by_step, {name: out[name] for name in extra or {}}


def probe(host: Any, step: Step, cfg: HostConfig) -> dict[str, Any]:
    """One step's facts, in one round trip of its own (after it changed the host)."""
    out, _ = gather(host, [step], cfg)
    return step.facts(out[step.id], host, cfg)


def fingerprint(step: Step, cfg: HostConfig) -> str:
    blob = json.dumps({"step": step.id, "version": __version__, "inputs": step.inputs(cfg)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
