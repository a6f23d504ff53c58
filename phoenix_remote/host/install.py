"""The one way a file is written on a host: content as data on stdin, never as shell text.

A fixed script (below) receives everything else as positional arguments: it writes stdin's
first N bytes to a temp file beside the target, backs up the old file under a name that is
never reused, sets mode and owner, renames into place, runs the optional check (restoring
the previous file if the check fails) and the optional reload, and appends the rest of
stdin to an optional log file. One round trip, whatever the content holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from phoenix_remote.host.shell import quote

INSTALL = r"""set -eu
target=$1 mode=$2 owner=$3 backup=$4 size=$5 check=$6 reload=$7 log=$8
dir=$(dirname -- "$target")
mkdir -p -- "$dir"
tmp=$(mktemp "$dir/.phoenix.XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
head -c "$size" > "$tmp"
[ "$(wc -c < "$tmp")" = "$size" ] || { echo "short content: expected $size bytes" >&2; exit 1; }
made=
if [ -n "$backup" ] && [ -e "$target" ]; then
  mkdir -p -- "$(dirname -- "$backup")"
  n=0; b=$backup
  while [ -e "$b" ]; do n=$((n + 1)); b="$backup.$n"; done
  cp -a -- "$target" "$b"; made=$b
fi
chmod -- "$mode" "$tmp"
chown -- "$owner" "$tmp"
sync -- "$tmp" 2>/dev/null || true
mv -f -- "$tmp" "$target"
if [ -n "$check" ] && ! out=$(eval "$check" 2>&1); then
  if [ -n "$made" ]; then cp -a -- "$made" "$target"; else rm -f -- "$target"; fi
  printf 'check failed, previous file restored: %s\n' "$out" >&2
  exit 1
fi
[ -n "$made" ] && printf 'PHOENIX-BACKUP\t%s\n' "$made"
[ -z "$reload" ] || eval "$reload"
if [ -n "$log" ]; then
  mkdir -p -- "$(dirname -- "$log")"
  cat >> "$log"
  chmod 644 -- "$log"
fi
"""


def install_command(path: str, size: int, mode: str, owner: str, backup: str | None,
                    check: Sequence[str] | None, reload: Sequence[str] | None,
                    log: str | None) -> str:
    """The command line that runs INSTALL; its stdin must be the content (`size` bytes),
    then the text to append to `log`."""
    return quote(["bash", "-c", INSTALL, "phoenix-install", path, mode, owner, backup or "",
                  str(size), quote(check) if check else "", quote(reload) if reload else "",
                  log or ""])


def backups_in(stdout: str) -> list[str]:
    return [line.split("\t", 1)[1] for line in stdout.splitlines()
            if line.startswith("PHOENIX-BACKUP\t")]
