"""ufw's state. `ufw status` failing where ufw is not installed is an answer (no firewall
yet: the plan installs and enables it); failing where it is installed is unknown.
"""

from __future__ import annotations

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.host.batch import Out

STATUS = "ufw status"


def status_text(out: Out, installed: bool) -> str:
    """The text of `ufw status` (parse it with parsers.ufw_status)."""
    if out.ok:
        return out.text
    if not installed:
        return ""
    raise ProbeUnknown(f"ufw status exited {out.code} although ufw is installed")
