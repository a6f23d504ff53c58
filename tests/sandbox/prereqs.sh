#!/usr/bin/env bash
# prereqs.sh - what the machine running the sandbox needs (Debian 12, root).
# Only Debian's archive is used. Idempotent: skips apt when all is present.
set -euo pipefail
need=(mmdebstrap iproute2 openssh-client smbclient util-linux procps psmisc
      gpg apt-utils dpkg-dev nfs-common python3-venv zstd gawk chromium)
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
# PVE 9 hosts are Debian 13: mmdebstrap checks trixie's Release with the keys that later
# bookworm updates of debian-archive-keyring carry
[ -e /usr/share/keyrings/debian-archive-trixie-stable.gpg ] || missing+=(debian-archive-keyring)
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "prereqs ok"
