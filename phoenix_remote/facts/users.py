"""Linux accounts and the Samba password database.

`getent passwd` exits 2 and `id` exits 1 for "no such user": answers. Anything else (no
getent, a broken NSS module, no perl) is unknown, so a verify never reports "user missing"
or "password differs" for a host it could not read.
"""

from __future__ import annotations

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts.parsers import passwd_entry, pdbedit_hash
from phoenix_remote.host.batch import Out
from phoenix_remote.host.files import ABSENT
from phoenix_remote.host.shell import sh

# Reads "user:password" on fd 3 (the batch's stdin), says whether the shadow entry holds that
# password; nothing is printed. Perl is in every Debian (perl-base is essential) and its crypt()
# is libcrypt's (yescrypt included), whatever Python the host has. Exit 0 matches, 1 differs,
# 2 no usable password (empty or locked), 3 no such user.
CHECK_PASSWORD = ("perl -e 'my ($u, $p) = split(/:/, scalar(<STDIN>), 2); chomp $p; "
                  "my $h = (getpwnam($u))[1]; exit 3 unless defined $h; "
                  "exit 2 if $h eq q() || $h =~ /^[!*]/; exit(crypt($p, $h) eq $h ? 0 : 1)' <&3")
PASSWORD_ANSWERS = {0: "matches", 1: "differs", 2: "unset", 3: "no user"}
SAMBA_PASSDB = "pdbedit -L -w"
NOT_INSTALLED = 127  # the shell's "command not found"


def account_query(user: str) -> str:
    return sh("getent passwd {}", user)


def account(out: Out) -> dict[str, str] | None:
    if out.code == 2:
        return None
    entry = passwd_entry(out.text) if out.ok else None
    if entry is None:
        raise ProbeUnknown(f"getent passwd exited {out.code} without an entry")
    return entry


def groups_query(user: str) -> str:
    return sh("id -nG {}", user)


def groups(out: Out) -> list[str]:
    if out.ok:
        return out.text.split()
    if out.code == 1:
        return []  # no such user (yet)
    raise ProbeUnknown(f"id -nG exited {out.code}")


def password(out: Out) -> str:
    """matches / differs / unset / no user, from CHECK_PASSWORD's exit code."""
    if out.code in PASSWORD_ANSWERS:
        return PASSWORD_ANSWERS[out.code]
    raise ProbeUnknown(f"the password check exited {out.code} (is perl there?)")


def _in_home(user: str, command: str) -> str:
    return (sh("home=$(getent passwd {} | cut -d: -f6); ", user)
            + 'test -e "$home/.ssh/authorized_keys" || exit 100; ' + command)


def ssh_modes_query(user: str) -> str:
    return _in_home(user, "stat -c '%a %U' \"$home/.ssh\" \"$home/.ssh/authorized_keys\"")


def keys_query(user: str) -> str:
    return _in_home(user, 'cat -- "$home/.ssh/authorized_keys"')


def home_lines(out: Out, what: str) -> list[str]:
    """Lines of ssh_modes_query/keys_query; [] when there is no authorized_keys yet."""
    if out.ok:
        return out.text.splitlines()
    if out.code == ABSENT:
        return []
    raise ProbeUnknown(f"cannot read {what} (exit {out.code})")


def samba_hash(out: Out, user: str) -> str | None:
    """The user's NT hash in Samba's passdb; None when unset or Samba is not installed."""
    if out.ok:
        return pdbedit_hash(out.text, user)
    if out.code == NOT_INSTALLED:
        return None
    raise ProbeUnknown(f"pdbedit -L -w exited {out.code}")
