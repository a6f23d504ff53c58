"""Secrets: where they come from (env, file, prompt, OS keyring) and how they stay hidden.

A `Secret` never shows its value in str/repr/format, so it cannot leak into a log line,
a diff, the ledger or an exception by accident; code that truly needs the value calls
`reveal()` and sends it over stdin or in an API body, never in argv.
"""

from __future__ import annotations

import getpass
import os
import stat
import string
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phoenix_remote.config.loading import NotRegularFile, bad_char, read_regular

MASK = "***"
SOURCES = ("env", "file", "prompt", "keyring")


class Secret:
    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str):
        self._value = value
        self.origin = origin  # e.g. "env PHOENIX_ADMIN_PASSWORD": safe to show

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK} from {self.origin})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):  # never pickled, copied into a process pool, or dumped
        raise TypeError("a Secret cannot be serialised")


@dataclass(frozen=True)
class SecretRef:
    """Where a secret comes from: exactly one of env / file / prompt / keyring."""

    kind: str
    target: str  # variable name, file path, prompt text, or "service/username"

    def describe(self) -> str:
        return f"{self.kind} {self.target}"


class SecretUnavailable(Exception):
    """The source exists in config but yields no value; message names the fix."""


class SecretInvalid(SecretUnavailable):
    """The source yields a value that cannot be used (a line break, empty, ...)."""


def parse_ref(raw: Any) -> SecretRef:
    """Turn `{"env": "X"}`-style config into a SecretRef; ValueError names the fix."""
    if isinstance(raw, str):
        raise ValueError(
            "a secret is never written inline; give its source instead, e.g. "
            '{"env": "PHOENIX_ADMIN_PASSWORD"} or {"file": "/path/mode-600-file"}'
        )
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in SOURCES:
        raise ValueError(f"expected exactly one of {', '.join(SOURCES)} as the secret source")
    kind, target = next(iter(raw.items()))
    if kind == "keyring":
        if not isinstance(target, dict) or set(target) != {"service", "username"}:
            raise ValueError('keyring source needs {"service": ..., "username": ...}')
        target = f"{target['service']}/{target['username']}"
    if not isinstance(target, str) or not target:
        raise ValueError(f"the {kind} source needs a non-empty string")
    return SecretRef(kind, target)


def resolve(ref: SecretRef, base_dir: Path | None = None) -> Secret:
    """Fetch the value. Raises SecretUnavailable with the fix; never includes the value."""
    if ref.kind == "env":
        value = os.environ.get(ref.target)
        if not value:
            raise SecretUnavailable(f"environment variable {ref.target} is not set; export it")
    elif ref.kind == "file":
        value = _read_secret_file(Path(ref.target).expanduser(), base_dir)
        # one final line break is how editors save a file; it is not part of the secret
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    elif ref.kind == "prompt":
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise SecretUnavailable(
                f"prompt '{ref.target}' needs a terminal; use an env or file source in batch runs"
            )
        value = getpass.getpass(f"{ref.target}: ")
    else:
        value = _from_keyring(ref.target)
    if problem := value_problem(value):
        raise SecretInvalid(f"the secret from {ref.describe()} {problem}")
    return Secret(value, ref.describe())


def value_problem(value: str) -> str | None:
    """A secret travels as one line (e.g. `user:password` on chpasswd's stdin, where a line
    break would set a second account's password): refuse empty values and control
    characters. The message never contains the value."""
    if not value:
        return "is empty"
    if why := bad_char(value):
        return f"holds {why}; a secret must be one line of text"
    if len(value) > 1024:
        return "is longer than 1024 characters"
    return None


def _read_secret_file(path: Path, base_dir: Path | None) -> str:
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        st, data = read_regular(path, 4096)
    except FileNotFoundError:
        raise SecretUnavailable(f"secret file {path} does not exist") from None
    except PermissionError:
        raise SecretUnavailable(f"secret file {path} is not readable by this user") from None
    except OSError as e:
        raise SecretUnavailable(f"secret file {path}: {e.strerror}") from None
    except NotRegularFile:
        raise SecretUnavailable(f"secret file {path} is not a regular file (a directory, "
                                "FIFO or device); give the path of a file") from None
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise SecretUnavailable(
            f"secret file {path} is readable by group/others (mode {mode:o}); "
            f"run: chmod 600 {path}"
        )
    if st.st_size > 4096 or len(data) > 4096:
        raise SecretUnavailable(f"secret file {path} is larger than 4096 bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretUnavailable(f"secret file {path} is not UTF-8 text") from None


def _from_keyring(target: str) -> str:
    service, _, username = target.partition("/")
    try:
        import keyring  # optional extra: pip install phoenix_remote[keyring]
    except ImportError:
        raise SecretUnavailable(
            "keyring source needs the keyring package: pip install 'phoenix_remote[keyring]'"
        ) from None
    value = keyring.get_password(service, username)
    if not value:
        raise SecretUnavailable(f"no keyring entry for service {service!r}, user {username!r}")
    return value


def password_problem(secret: Secret) -> str | None:
    """The original's rule for every password: >= 8 characters and >= 1 punctuation."""
    value = secret.reveal()
    if len(value) < 8 or not any(c in string.punctuation for c in value):
        return "password must have at least 8 characters and at least 1 punctuation character"
    return None
