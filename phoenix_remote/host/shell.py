"""The one place where values become shell text: every value is quoted here.

    quote(["zfs", "set", "x=y", name])          -> a command line
    sh("test -d {} && echo {}", path, name)      -> a template with quoted values
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


def quote(argv: Sequence[str]) -> str:
    """argv as one shell command line."""
    return shlex.join(str(a) for a in argv)


def sh(template: str, *args: object) -> str:
    """`template` with each {} replaced by a shell-quoted value (write {{ }} for braces)."""
    return template.format(*(shlex.quote(str(a)) for a in args))
