"""A file's content. A missing file is an answer (None); one that exists but cannot be read
(permissions, an I/O error, no `cat`) is unknown, never "missing"."""

from __future__ import annotations

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.host.batch import Out
from phoenix_remote.host.shell import sh

ABSENT = 100  # the exit code that means "no such file"


def read(path: str) -> str:
    return sh("test -e {0} || exit 100; cat -- {0}", path)


def content(out: Out, path: str) -> str | None:
    if out.ok:
        return out.text
    if out.code == ABSENT:
        return None
    raise ProbeUnknown(f"cannot read {path} (exit {out.code})")


def exists(path: str, nonempty: bool = False) -> str:
    """A probe for existence alone (`nonempty`: and holding something): exit 0 there,
    ABSENT not there."""
    return sh("test -s {} || exit 100" if nonempty else "test -e {} || exit 100", path)


def present(out: Out, path: str) -> bool:
    if out.code in (0, ABSENT):
        return out.ok
    raise ProbeUnknown(f"cannot tell whether {path} exists (exit {out.code})")
