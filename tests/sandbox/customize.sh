#!/usr/bin/env bash
# customize.sh - build $SB_BASE/custom, the layer between the cached Debian rootfs and each
# host's own disk: what makes a Debian 12 root look like a fresh Proxmox VE 8 node here.
# Run only while no host is running (overlay layers must not change under a mount).
#   * hardware/platform stand-ins installed under the real command names (dpkg-divert)
#   * zfsutils-linux and pve-manager stand-in packages, installed with dpkg as PVE has them
#   * apt sources of a fresh PVE node (enterprise lists included), the mirror's key trusted
#   * the sandbox CA trusted (HTTPS key downloads), sshd and NFS/chrony/journald drop-ins
set -euo pipefail
SB_BASE=${SB_BASE:-/var/tmp/phoenix-sandbox}
HERE=$(cd "$(dirname "$0")" && pwd)
FLAVOUR=${FLAVOUR:-8}  # the PVE release: 8 (Debian 12) or 9 (Debian 13)
C=$SB_BASE/custom ROOTFS=$SB_BASE/rootfs SUITE=bookworm
if [ "$FLAVOUR" = 9 ]; then C=$SB_BASE/custom-9 ROOTFS=$SB_BASE/rootfs-trixie SUITE=trixie; fi
if [ "${1:-}" != __inside ]; then
    rm -rf "$C" "$C.work" "$C.merged"
    mkdir -p "$C" "$C.work" "$C.merged"
    exec unshare --mount "$0" __inside "$@"
fi
shift
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$C,workdir=$C.work" "$C.merged"
R=$C.merged
mount --bind /proc "$R/proc"
mount -t tmpfs tmpfs "$R/tmp"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

L=/usr/local/lib/sandbox
# The stand-ins' code lives in $L/lib, compiled once here; $L/<name>.py (what the tools'
# names point to) is a launcher that runs the compiled module: a stand-in called 70 times
# per probe would otherwise compile its source on every call (Python never caches the
# script it runs), which made the sandbox's in-host CPU a measure of that, not of the probe.
install -d "$R$L/lib"
install -m 0644 "$HERE"/guest/*.py "$R$L/lib/"
install -m 0644 "$HERE"/../../phoenix_remote/data/pve-8.4-endpoints.json \
    "$HERE"/../../phoenix_remote/data/pve-9.1-endpoints.json \
    "$HERE"/../../phoenix_remote/data/pve-8-storage-types.json "$R$L/lib/"
# which PVE release this host plays (read by the stand-ins)
install -m 0644 "$SB_BASE/mirror/platform-$FLAVOUR.json" "$R$L/lib/platform.json"
for f in "$HERE"/guest/*.py; do
    m=$(basename "$f" .py)
    printf '#!/usr/bin/python3 -S\nimport runpy, sys\nsys.path.insert(0, "%s/lib")\nrunpy.run_module("%s", run_name="__main__")\n' \
        "$L" "$m" > "$R$L/$m.py"
    chmod 0755 "$R$L/$m.py"
done
in_root python3 -m compileall -q "$L/lib"
ln -sf sbhw.py "$R$L/sb-boot"
# the appliance index as `pveam update` leaves it (the mirror answers for download.proxmox.com)
install -D -m 0644 "$SB_BASE/mirror/aplinfo.dat" \
    "$R/var/lib/pve-manager/apl-info/download.proxmox.com"

# fake packages a fresh PVE node already has (zfsutils-linux, pve-manager)
mkdir -p "$R/tmp/debs"
cp "$@" "$R/tmp/debs/"
in_root sh -c 'dpkg -i /tmp/debs/*.deb >/dev/null'

# stand-ins under the real names; the real binaries are diverted to <name>.real
divert() {  # divert /usr/sbin/lsmod sbhw.py
    local path=$1 tool=$2
    in_root dpkg-divert --quiet --local --rename --divert "$path.real" --add "$path"
    ln -sf "$L/$tool" "$R$path"
}
divert /usr/sbin/lsmod sbhw.py
divert /usr/bin/uname sbhw.py
divert /usr/sbin/reboot sbhw.py
divert /usr/sbin/shutdown sbhw.py
divert /usr/bin/lsblk sbdisk.py
divert /usr/sbin/blkid sbdisk.py
divert /usr/sbin/wipefs sbdisk.py
for tool in lspci dkms update-initramfs proxmox-boot-tool; do
    case $tool in lspci) dest=/usr/bin ;; *) dest=/usr/sbin ;; esac
    ln -sf "$L/sbhw.py" "$R$dest/$tool"
done

rm -f "$R"/etc/apt/sources.list.d/*
if [ "$FLAVOUR" = 8 ]; then
# apt as on a fresh PVE 8 node: Debian + the enterprise repos it ships with
cat > "$R/etc/apt/sources.list" <<'SRC'
deb http://ftp.debian.org/debian bookworm main contrib
deb http://ftp.debian.org/debian bookworm-updates main contrib

# security updates
deb http://security.debian.org/debian-security bookworm-security main contrib
SRC
echo "deb https://enterprise.proxmox.com/debian/pve bookworm pve-enterprise" \
    > "$R/etc/apt/sources.list.d/pve-enterprise.list"
echo "deb https://enterprise.proxmox.com/debian/ceph-quincy bookworm enterprise" \
    > "$R/etc/apt/sources.list.d/ceph.list"
install -m 0644 "$SB_BASE/mirror/mirror-key.gpg" "$R/etc/apt/trusted.gpg.d/proxmox-release-bookworm.gpg"
else
# apt as on a fresh PVE 9 node: deb822 .sources only, each trusting its own keyring. The
# sandbox mirror signs every suite with its key, so that key is both keyrings here.
rm -f "$R/etc/apt/sources.list"
install -m 0644 "$SB_BASE/mirror/mirror-key.gpg" "$R/usr/share/keyrings/proxmox-archive-keyring.gpg"
install -m 0644 "$SB_BASE/mirror/mirror-key.gpg" "$R/usr/share/keyrings/debian-archive-keyring.gpg"
cat > "$R/etc/apt/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian/
Suites: trixie trixie-updates
Components: main contrib non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.debian.org/debian-security/
Suites: trixie-security
Components: main contrib non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
cat > "$R/etc/apt/sources.list.d/pve-enterprise.sources" <<'SRC'
Types: deb
URIs: https://enterprise.proxmox.com/debian/pve
Suites: trixie
Components: pve-enterprise
Signed-By: /usr/share/keyrings/proxmox-archive-keyring.gpg
SRC
cat > "$R/etc/apt/sources.list.d/ceph.sources" <<'SRC'
Types: deb
URIs: https://enterprise.proxmox.com/debian/ceph-squid
Suites: trixie
Components: enterprise
Signed-By: /usr/share/keyrings/proxmox-archive-keyring.gpg
SRC
fi
printf 'Acquire::Retries "0";\nAcquire::http::Timeout "5";\nAcquire::https::Timeout "5";\n' \
    > "$R/etc/apt/apt.conf.d/90sandbox"

# the sandbox CA (signs the mirror's HTTPS certificate and each host's PVE certificate)
install -m 0644 "$SB_BASE/ca/ca.pem" "$R/usr/local/share/ca-certificates/phoenix-sandbox-ca.crt"
in_root update-ca-certificates >/dev/null 2>&1

# the id ranges root may delegate to containers, as a PVE node has them (root:100000:65536),
# plus the line PVE's id-mapping guide has an operator add for container 910's map of
# www-data's gid 33 (the sandbox's example of an id map)
printf 'root:100000:65536\n' > "$R/etc/subuid"
printf 'root:100000:65536\nroot:33:1\n' > "$R/etc/subgid"

mkdir -p "$R/etc/ssh/sshd_config.d"
cat > "$R/etc/ssh/sshd_config.d/10-sandbox.conf" <<'SSHD'
# sandbox: root by key only (as a PVE node set up with an SSH key), no DNS lookups
PermitRootLogin prohibit-password
UseDNS no
MaxStartups 100:30:200
# each connection and each command it runs in the journal ("Starting session: command"):
# what the benchmark counts on the hosts
LogLevel VERBOSE
SSHD

D=$R/usr/lib/systemd/system
# no nfsd in this kernel: the NFS server keeps exportfs bookkeeping only
mkdir -p "$D/nfs-server.service.d"
printf '[Service]\nExecStart=\nExecStart=/usr/sbin/exportfs -r\nExecStop=\nExecStop=/usr/sbin/exportfs -au\n' \
    > "$D/nfs-server.service.d/sandbox-no-nfsd.conf"
for u in proc-fs-nfsd.mount run-rpc_pipefs.mount nfs-mountd.service nfs-idmapd.service \
         nfsdcld.service rpc-statd.service rpc-svcgssd.service; do
    mkdir -p "$D/$u.d"
    printf '[Unit]\nConditionPathExists=/proc/net/rpc\n' > "$D/$u.d/sandbox-no-nfsd.conf"
done
# chrony runs for real but may never steer the clock (-x); CAP_SYS_TIME is dropped anyway
mkdir -p "$D/chrony.service.d"
printf '[Unit]\nConditionCapability=\n[Service]\nExecStart=\nExecStart=!/usr/sbin/chronyd $DAEMON_OPTS -x\n' \
    > "$D/chrony.service.d/sandbox-no-clock.conf"
# no hardware clock, no kernel modules here: skip the units that would fail on them
for u in systemd-timesyncd.service systemd-modules-load.service kmod-static-nodes.service \
         systemd-udevd.service systemd-udev-trigger.service systemd-networkd-wait-online.service; do
    ln -sf /dev/null "$R/etc/systemd/system/$u"
done
mkdir -p "$R/usr/lib/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=8M\n' > "$R/usr/lib/systemd/journald.conf.d/sandbox.conf"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$R/etc/resolv.conf"
printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' > "$R/etc/network/interfaces"
umount "$R/tmp" "$R/proc"
umount "$R"
echo "custom layer ready"
