"""The Step contract: probe the host (read-only, batched), plan the difference (pure).

    class Step:
        id: str                      # stable key in the ledger and on the command line
        title: str
        def inputs(cfg) -> dict      # the non-secret inputs: their hash is the fingerprint
        def probe(host, cfg) -> dict # facts; raises ProbeUnknown when it cannot tell
        def plan(facts, cfg) -> list[Change]   # pure: no I/O

A step may also set `skip_reason(cfg) -> str | None` to be skipped with a message
(e.g. NVIDIA on a GPU-less host when the config says so).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from phoenix_remote import __version__
from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.types import Change


class Step(Protocol):
    id: str
    title: str

    def inputs(self, cfg: HostConfig) -> dict[str, Any]: ...

    def probe(self, host, cfg: HostConfig) -> dict[str, Any]: ...

    def plan(self, facts: dict[str, Any], cfg: HostConfig) -> list[Change]: ...


def fingerprint(step: Step, cfg: HostConfig) -> str:
    blob = json.dumps({"step": step.id, "version": __version__, "inputs": step.inputs(cfg)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
