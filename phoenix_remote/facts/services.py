"""systemd units. `systemctl is-active`/`is-enabled` print the state and exit non-zero for
any state but active/enabled: the printed word is the answer. Nothing printed (no systemctl,
no systemd) is unknown, except `is-enabled`'s exit 1 for a unit that does not exist."""

from __future__ import annotations

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.host.batch import Out
from phoenix_remote.host.shell import sh


def active_query(unit: str) -> str:
    return sh("systemctl is-active {}", unit)


def enabled_query(unit: str) -> str:
    return sh("systemctl is-enabled {}", unit)


def active(out: Out, unit: str) -> str:
    """active, inactive, failed, activating, ..."""
    if words := out.text.split():
        return words[0]
    raise ProbeUnknown(f"systemctl is-active {unit} printed no state (exit {out.code})")


def enabled(out: Out, unit: str) -> str:
    """enabled, disabled, masked, static, ...; not-found when there is no such unit."""
    if words := out.text.split():
        return words[0]
    if out.code == 1:
        return "not-found"
    raise ProbeUnknown(f"systemctl is-enabled {unit} printed no state (exit {out.code})")
