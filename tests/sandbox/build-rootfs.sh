#!/usr/bin/env bash
# build-rootfs.sh [bookworm|trixie] - the shared, read-only Debian root that
# every sandbox host of one PVE release overlays (Debian 12 for PVE 8, Debian 13
# for PVE 9). Built with mmdebstrap from Debian's archive, cached under
# $SB_BASE/rootfs (bookworm) or $SB_BASE/rootfs-trixie and rebuilt only when
# the package list below changes (its hash is stored in the rootfs).
set -euo pipefail
SB_BASE=${SB_BASE:-/var/tmp/phoenix-sandbox}
SUITE=${1:-bookworm}
TARGET=$SB_BASE/rootfs
[ "$SUITE" = bookworm ] || TARGET=$SB_BASE/rootfs-$SUITE
MIRROR=${SB_MIRROR:-http://deb.debian.org/debian}

# A fresh Proxmox VE 8 node is Debian 12 plus these; what PVE itself adds
# (pveversion, the API, zfsutils) comes from stand-ins (customize-rootfs.sh).
PKGS=systemd,systemd-sysv,dbus,openssh-server,sudo,samba,smbclient,samba-common-bin
# PVE 9 (trixie) brings ifupdown2 where PVE 8 nodes installed before 8.1 had ifupdown
IFUPDOWN=ifupdown
[ "$SUITE" = bookworm ] || IFUPDOWN=ifupdown2
PKGS=$PKGS,nfs-kernel-server,ufw,chrony,python3,iproute2,$IFUPDOWN,procps,passwd
PKGS=$PKGS,apt-utils,gnupg,curl,ca-certificates,openssl,logrotate,less,kmod,locales
PKGS=$PKGS,iputils-ping,util-linux,libpam-systemd,zstd
hash=$(echo "$PKGS $MIRROR $SUITE" | sha256sum | cut -c1-16)
[ "$SUITE" != bookworm ] || hash=$(echo "$PKGS $MIRROR" | sha256sum | cut -c1-16)  # as before

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
    "$SUITE" "$TARGET.tmp" "$MIRROR" \
    "deb $MIRROR $SUITE-updates main contrib" \
    "deb http://deb.debian.org/debian-security $SUITE-security main contrib"
# host keys and machine-id are per host (made at first boot)
rm -f "$TARGET.tmp"/etc/ssh/ssh_host_*
: > "$TARGET.tmp/etc/machine-id"
echo "$hash" > "$TARGET.tmp/.sandbox-pkghash"
mv "$TARGET.tmp" "$TARGET"
end=$(cut -d' ' -f1 /proc/uptime)
awk -v s="$start" -v e="$end" 'BEGIN{printf "rootfs built in %.1f s\n", e-s}'
