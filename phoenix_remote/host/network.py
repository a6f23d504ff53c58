"""A network change that cannot lock the operator out ("commit confirmed", as on routers).

1. The new interfaces file is staged outside the sourced directory and checked with
   `ifquery -i` (a file ifupdown cannot read never reaches /etc/network).
2. The old file is copied to the ledger's backups.
3. A detached job (systemd-run, outside this SSH session) puts the new file in place,
   flushes the interface's old IPv4 routes and global addresses, restarts networking and
   waits `window` seconds for a confirmation token.
4. The workstation reconnects at the (new) address, checking the same host key, and touches
   the token - only after the job says the restart happened. A node that moved gets a new
   certificate for its new address (`pvecm updatecerts --force`, pveproxy restarted), as
   PVE's documentation asks after an IP change: the API's TLS check would fail otherwise.
5. No token in time: the job restores the previous file and restarts networking again; the
   workstation finds the host at its old address and the step fails, saying so.
"""

from __future__ import annotations

import time
from typing import Any

from phoenix_remote.errors import HostError, StepFailed
from phoenix_remote.host.shell import sh

COMMIT = r"""set -u
file=$1 new=$2 prev=$3 iface=$4 token=$5 window=$6
rm -f -- "$token" "$token.restarted" "$token.reverted"
restart() {
  ip -4 route flush dev "$iface" 2>/dev/null
  ip -4 addr flush dev "$iface" scope global 2>/dev/null
  systemctl restart networking
}
mv -f -- "$new" "$file"
restart
touch -- "$token.restarted"
end=$(( $(date +%s) + window ))
while [ "$(date +%s)" -lt "$end" ]; do
  if [ -e "$token" ]; then rm -f -- "$token" "$token.restarted"; exit 0; fi
  sleep 1
done
if [ -e "$prev" ]; then cp -a -- "$prev" "$file"; else rm -f -- "$file"; fi
restart
rm -f -- "$token.restarted"
echo "not confirmed within $window s: previous $file restored" > "$token.reverted"
"""


def commit_network(host: Any, path: str, content: str, interface: str, address: str,
                   window: float) -> list[str]:
    """Apply a new interfaces file as described above; returns the backup it made. Raises
    StepFailed when the change was not confirmed (the host has reverted by then)."""
    staging = f"{host.state_dir}/network/{interface}.cfg"
    token = f"/run/phoenix-network-{interface}"
    host.install(staging, content, backup="none", check=("ifquery", "-i", staging, interface))
    backup = host.backup_path(path, "ledger")
    kept = host.run(["sh", "-c", sh("if [ -e {0} ]; then mkdir -p -- \"$(dirname -- {1})\" "
                                    "&& cp -a -- {0} {1} && echo kept; fi", path, backup)])
    host.run(["systemd-run", "--collect", "--on-active=1", "sh", "-c", COMMIT, "phoenix-net",
              path, staging, backup, interface, token, str(int(window))])
    old = host.ssh.address
    t0 = time.monotonic()
    time.sleep(2)  # the job starts a second from now; give the restart a head start
    try:
        host.move_to(address, deadline_s=max(window - 10, 10))
        _confirm(host, token, t0 + window - 3)
        if address != old:
            host.run(["pvecm", "updatecerts", "--force"])
            host.run(["systemctl", "restart", "pveproxy"])
    except HostError as e:
        took = time.monotonic() - t0
        host.move_to(old, deadline_s=window + 120 - took)
        reverted = host.read_file(f"{token}.reverted") or "no revert note found"
        raise StepFailed(f"network change not confirmed: {address} did not answer from this "
                         f"workstation within {window:.0f} s ({e}); the host restored its "
                         f"previous network configuration and answers at {old} again "
                         f"({reverted.strip()})") from None
    return [backup] if "kept" in kept.stdout else []


def _confirm(host: Any, token: str, deadline: float) -> None:
    """Touch the token once the job has restarted networking (not before: a confirmation
    over the old configuration would prove nothing)."""
    while time.monotonic() < deadline:
        r = host.run(["sh", "-c", sh("test -e {} && touch -- {}", f"{token}.restarted",
                                     token)], check=False)
        if r.code == 0:
            return
        time.sleep(0.5)
    raise HostError("reconnected, but the network restart never reported in")
