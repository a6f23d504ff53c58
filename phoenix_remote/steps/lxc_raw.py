"""A container's raw `lxc.*` lines (idmap included): what the API cannot set.

PVE keeps them in the main section of /etc/pve/lxc/VMID.conf and shows them as the `lxc`
list of GET config. They are written over SSH the way PVE edits its own config: under the
container's config lock (/run/lock/lxc/pve-config-VMID.lock), the file read again under
the lock, the old file backed up under the ledger's directory, the new one renamed into
place. Only the main section's lxc.* lines change; snapshot sections and every other key
keep theirs. The optimistic check is on what is rewritten: the lines must still be the
ones the probe read through the API (their SHA-1), not the whole file's digest, because a
PUT of other keys in the same run (itself checked against the API digest) changes the
file first. A container whose config declares no raw lines is left as it is.
"""

from __future__ import annotations

import hashlib

from phoenix_remote.config.lxc import ContainerConfig
from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.types import Run

RAW_EDIT = r"""set -eu
vmid=$1 expect=$2 lines=$3
f=/etc/pve/lxc/$vmid.conf
backup=$4/$(date +%Y%m%d-%H%M%S)/etc/pve/lxc/$vmid.conf.$$
mkdir -p /run/lock/lxc
exec 9>>"/run/lock/lxc/pve-config-$vmid.lock"
flock -w 30 9 || { echo "container $vmid: its config stays locked" >&2; exit 1; }
have=$(awk '/^\[/ { exit } /^lxc\./ { k = $0; sub(/[ \t]*(:|=).*/, "", k)
  v = $0; sub(/^[^:=]*(:|=)[ \t]*/, "", v); sub(/[ \t]+$/, "", v); print k ": " v }' "$f" |
  sha1sum | cut -c1-40)
if [ "$expect" != new ] && [ "$have" != "$expect" ]; then
  echo "container $vmid: its lxc.* lines changed since phoenix read them: run again" >&2
  exit 1
fi
mkdir -p -- "$(dirname -- "$backup")"
cp -- "$f" "$backup"
tmp="$f.tmp.$$"
# the lines reach awk through its environment: `awk -v` would expand backslash escapes
# (a literal \n would become a line of its own; \040 in a mount entry would be changed)
PHOENIX_RAW_LINES="$lines" awk '
BEGIN { new = ENVIRON["PHOENIX_RAW_LINES"] }
function flush() { if (new != "") print new; flushed = 1 }
!flushed && /^\[/ { flush(); print ""; print; next }
!flushed && /^lxc\./ { next }
!flushed && /^$/ { blanks++; next }
!flushed { for (; blanks > 0; blanks--) print ""; print; next }
{ print }
END { if (!flushed) flush() }' "$f" > "$tmp"
mv -f -- "$tmp" "$f"
echo "PHOENIX-BACKUP	$backup"
"""


def wanted(ct: ContainerConfig) -> list[list[str]]:
    """The declared lines as PVE's API lists them: [[key, value], ...], idmap first."""
    out = [["lxc.idmap", m] for m in ct.idmap]
    for line in ct.raw_lxc:
        key, _, value = line.partition(":")
        out.append([key.strip(), value.strip()])
    return out


def declared(ct: ContainerConfig) -> bool:
    return bool(ct.idmap or ct.raw_lxc)


def lines_differ(have: object, ct: ContainerConfig) -> bool:
    current = [[str(k), str(v).strip()] for k, v in (have or [])]  # type: ignore[attr-defined]
    return declared(ct) and current != wanted(ct)


def lines_digest(have: object) -> str:
    """SHA-1 of lxc.* lines as the edit script reads them from the file."""
    return hashlib.sha1("".join(f"{k}: {str(v).strip()}\n"
                                for k, v in (have or [])).encode()).hexdigest()  # type: ignore[attr-defined]


def edit(vmid: int, ct: ContainerConfig, cfg: HostConfig, digest: str | None) -> Run:
    """The edit as one command; `digest` (lines_digest of the probed lines) None for a
    container this run creates."""
    text = "\n".join(f"{k}: {v}" for k, v in wanted(ct))
    backups = cfg.config.state_dir + "/backups"
    return Run(("sh", "-c", RAW_EDIT, "phoenix-raw-lxc", str(vmid), digest or "new", text,
                backups),
               title=f"{vmid}.conf: main section's lxc.* lines := {len(wanted(ct))} declared "
                     f"(under pve-config-{vmid}.lock, old file backed up)")
