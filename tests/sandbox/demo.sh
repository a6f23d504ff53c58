#!/usr/bin/env bash
# demo.sh - `make demo`: one fresh sandbox host, then phoenix plan, apply and verify on it.
set -uo pipefail
cd "$(dirname "$0")/../.."
PHX=.venv/bin/phoenix
INV=.sandbox/inventory.yaml
KH=.sandbox/known_hosts     # the inventory pins host keys; nothing is added to ~/.ssh
host=$(.venv/bin/python -c 'import json; print(json.load(open(".sandbox/hosts.json"))[0]["address"])')
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1/3 phoenix plan: what would change on the fresh host sb1 ($host)"
$PHX plan -i "$INV" --limit sb1 --known-hosts "$KH"; echo "exit code $? (2 = changes pending)"

say "2/3 phoenix apply: converge sb1 (NVIDIA reboot included), then prove it"
$PHX apply -i "$INV" --limit sb1 --known-hosts "$KH"; rc=$?; echo "exit code $rc (0 = converged)"

say "3/3 phoenix verify: read-only audit"
$PHX verify -i "$INV" --limit sb1 --known-hosts "$KH"; echo "exit code $? (0 = in policy, 2 = drift)"

cat <<MSG

Look around:
  ssh -i .sandbox/id_ed25519 root@$host          # the host (zpool status, smbclient, ...)
  ssh -i .sandbox/admin_id_ed25519 heads@$host   # the admin user phoenix created (sudo works)
  $PHX verify -i $INV --known-hosts $KH          # audit again (try changing something first)
  $PHX status -i $INV --known-hosts $KH          # the ledger on the host
  make sandbox-down                              # stop and remove the sandbox
MSG
exit $rc
