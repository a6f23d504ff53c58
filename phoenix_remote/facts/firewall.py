"""ufw's state. `ufw status` failing where ufw is not installed is an answer (no firewall
yet: the plan installs and enables it); failing where it is installed is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts.parsers import ufw_status
from phoenix_remote.host.batch import Out

STATUS = "ufw status"


@dataclass(frozen=True)
class UfwState:
    """ufw as its status reads: active or not, and its ALLOW rules as (to, from)."""
    active: bool
    rules: frozenset[tuple[str, str]]


def status_text(out: Out, installed: bool) -> str:
    """The text of `ufw status` ("" where ufw is not installed yet)."""
    if out.ok:
        return out.text
    if not installed:
        return ""
    raise ProbeUnknown(f"ufw status exited {out.code} although ufw is installed")


def state(out: Out, installed: bool) -> UfwState:
    """What the plans read: parsed here, in the probe, not in the plans."""
    return parse(status_text(out, installed))


def parse(text: str) -> UfwState:
    active, rules = ufw_status(text)
    return UfwState(active, frozenset(rules))
