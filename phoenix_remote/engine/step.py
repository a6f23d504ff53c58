"""The Step contract: read-only commands (batched by the engine), facts, a pure plan.

    class Step:
        id: str                      # stable key in the ledger and on the command line
        title: str
        def inputs(cfg) -> dict      # the non-secret inputs: their hash is the fingerprint
        def commands(cfg) -> dict[str, str]   # read-only shell commands, by name
        def facts(out, host, cfg) -> dict     # parse their output (+ read-only API calls)
                                              # with facts/*; ProbeUnknown when it cannot tell
        facts_model: type                     # a TypedDict: the shape facts() returns
        def plan(facts, cfg) -> list[Change]   # pure: no I/O

A step may also set `skip_reason(cfg) -> str | None` to be skipped with a message (e.g.
NVIDIA on a GPU-less host when the config says so), and `probe_stdin(cfg)` for the one
probe that reads a secret (on fd 3 of the batch).

`gather` runs the commands of many steps (and any extra ones) in one round trip;
`checked_facts` parses them and holds the result to the step's facts_model, so a parser
and the plan cannot drift apart (the step cases are held to the same models).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from phoenix_remote import __version__
from phoenix_remote.config.models import HostConfig
from phoenix_remote.config.secrets import Secret
from phoenix_remote.engine.types import Plan
from phoenix_remote.host.batch import Out, collect

if TYPE_CHECKING:
    from phoenix_remote.engine.ledger import Ledger
    from phoenix_remote.host.api import PveClient


class HostView(Protocol):
    """What a step's facts() may know of a host: the API client, the SSH port the run
    uses, the ledger's records (read in the preflight). Never the SSH session itself:
    every shell probe goes through commands() and the batch."""

    name: str

    @property
    def api(self) -> PveClient: ...

    @property
    def ssh_port_in_use(self) -> int: ...

    @property
    def ledger(self) -> Ledger | None: ...


class Step:
    """The base of every step: the hooks a step may leave out have their defaults here
    (the engine calls them all, never looks them up)."""

    id: str
    title: str
    facts_model: type  # a TypedDict: the shape facts() returns

    def inputs(self, cfg: HostConfig) -> dict[str, Any]:
        """The non-secret inputs: their hash is the ledger's fingerprint of the step."""
        return {}

    def skip_reason(self, cfg: HostConfig) -> str | None:
        """Why this host skips the step (None: it runs)."""
        return None

    def probe_stdin(self, cfg: HostConfig) -> Secret | None:
        """The one secret a probe may read (on fd 3 of the batch)."""
        return None

    def commands(self, cfg: HostConfig) -> dict[str, str]:
        """Read-only shell commands by name, run in the batch."""
        return {}

    def facts(self, out: dict[str, Out], host: HostView, cfg: HostConfig) -> Mapping[str, Any]:
        raise NotImplementedError

    def plan(self, facts: Any, cfg: HostConfig) -> Plan:  # facts: facts_model
        raise NotImplementedError

    def ledger_items(self, changes: Plan, cfg: HostConfig) -> dict[str, dict] | None:
        """A step that manages several things (lxc: containers) records each one's result."""
        return None


def gather(host: Any, steps: list[Step], cfg: HostConfig, extra: dict[str, str] | None = None
           ) -> tuple[dict[str, dict[str, Out]], dict[str, Out]]:
    """One round trip for every step's commands and `extra`: (outputs by step id, outputs
    of extra). Commands two steps share run once."""
    per_step = [step.commands(cfg) for step in steps]
    commands = dict(extra or {})
    for i, cmds in enumerate(per_step):
        commands.update({f"s{i}_{name}": cmd for name, cmd in cmds.items()})
    stdins = [s for step in steps if (s := step.probe_stdin(cfg))]
    assert len(stdins) <= 1, "one probe at most may read a secret"
    out = collect(host, commands, stdins[0] if stdins else None)
    by_step = {step.id: {name: out[f"s{i}_{name}"] for name in cmds}
               for i, (step, cmds) in enumerate(zip(steps, per_step))}
    return by_step, {name: out[name] for name in extra or {}}


@cache
def _validator(model: type) -> Any:
    from pydantic import TypeAdapter
    return TypeAdapter(model)


def check_facts(step: Step, facts: Any) -> None:
    """Raise (a bug) when facts do not have the shape of the step's facts_model: a key it
    does not declare (ValueError), a missing key or a wrong type (pydantic's ValidationError)."""
    extra = set(facts) - set(step.facts_model.__annotations__)
    if extra:
        raise ValueError(f"{step.id}: facts the model does not declare: {sorted(extra)}")
    _validator(step.facts_model).validate_python(facts)


def checked_facts(step: Step, out: dict[str, Out], host: HostView, cfg: HostConfig
                  ) -> Mapping[str, Any]:
    facts = step.facts(out, host, cfg)
    check_facts(step, facts)
    return facts


def probe(host: Any, step: Step, cfg: HostConfig) -> Mapping[str, Any]:
    """One step's facts, in one round trip of its own (after it changed the host)."""
    out, _ = gather(host, [step], cfg)
    return checked_facts(step, out[step.id], host, cfg)


def fingerprint(step: Step, cfg: HostConfig) -> str:
    blob = json.dumps({"step": step.id, "version": __version__, "inputs": step.inputs(cfg)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
