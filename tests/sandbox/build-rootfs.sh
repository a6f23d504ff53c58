#!/usr/bin/env bash
# build-rootfs.sh - the shared, read-only Debian 12 root that every sandbox
# host overlays. Built with mmdebstrap from Debian's archive, cached under
# $SB_BASE/rootfs and rebuilt only when the package list below changes
# (its hash is stored in the rootfs).
set -euo pipefail
SB_BASE=${SB_BASE:-/var/tmp/phoenix-sandbox}
TARGET=$SB_BASE/rootfs
MIRROR=${SB_MIRROR:-http://deb.debian.org/debian}

# A fresh Proxmox VE 8 node is Debian 12 plus these; what PVE itself adds
# (pveversion, the API, zfsutils) comes from stand-ins (customize-rootfs.sh).
PKGS=systemd,systemd-sysv,dbus,openssh-server,sudo,samba,smbclient,samba-common-bin
PKGS=$PKGS,nfs-kernel-server,ufw,chrony,python3,iproute2,ifupdown,procps,passwd
PKGS=$PKGS,apt-utils,gnupg,curl,ca-certificates,openssl,logrotate,less,kmod,locales
PKGS=$PKGS,iputils-ping,util-linux,libpam-systemd
hash=$(echo "$PKGS $MIRROR" | sha256sum | cut -c1-16)

if [ -e "$TARGET/etc/os-release" ] && [ "$(cat "$TARGET/.sandbox-pkghash" 2>/dev/null)" = "$hash" ]; then
    echo "rootfs cached at $TARGET"; exit 0
fi
rm -rf "$TARGET" "$TARGET.tmp"
mkdir -p "$SB_BASE"
start=$(cut -d' ' -f1 /proc/uptime)
mmdebstrap --variant=minbase --components=main,contrib \
    --include="$PKGS" \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='chroot "$1" apt-get clean' \
    bookworm "$TARGET.tmp" "$MIRROR" \
    "deb $MIRROR bookworm-updates main contrib" \
    "deb http://deb.debian.org/debian-security bookworm-security main contrib"
# host keys and machine-id are per host (made at first boot)
rm -f "$TARGET.tmp"/etc/ssh/ssh_host_*
: > "$TARGET.tmp/etc/machine-id"
echo "$hash" > "$TARGET.tmp/.sandbox-pkghash"
mv "$TARGET.tmp" "$TARGET"
end=$(cut -d' ' -f1 /proc/uptime)
awk -v s="$start" -v e="$end" 'BEGIN{printf "rootfs built in %.1f s\n", e-s}'
