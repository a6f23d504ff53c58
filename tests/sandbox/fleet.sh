#!/usr/bin/env bash
# fleet.sh - sandbox hosts as network-namespace "machines" (no Docker): ip netns + veth on
# a private bridge + unshare(mnt,pid,uts,ipc,cgroup) + overlayfs + pivot_root + systemd.
#
#   fleet.sh start I      start host sbI (a supervisor keeps it; `reboot` inside restarts it)
#   fleet.sh stop I       clean halt of sbI (SIGRTMIN+3 to its systemd)
#   fleet.sh kill I       power cut: SIGKILL to the whole PID namespace
#   fleet.sh exec I CMD   run CMD inside sbI (nsenter, no ssh)
#   fleet.sh pid1 I       PID (on this machine) of sbI's systemd
#   fleet.sh down         stop all hosts; remove netns, veth, bridge, guard route, cgroups
#
# Layers: $SB_BASE/rootfs (Debian, cached) < $SB_BASE/custom (stand-ins, rebuilt when the
# hosts are down) < hosts/sbI/upper (the host's own disk: survives stop/start and reboot).
# Safety: the subnet exists only on the bridge and in our namespaces; hosts get no route out;
# an "unreachable" guard route keeps packets for a stopped host from leaving this machine;
# each host runs with CAP_SYS_TIME, CAP_SYS_MODULE, CAP_SYS_BOOT, CAP_SYS_RAWIO, CAP_MKNOD
# and friends removed from its bounding set, and a /dev without any real block device.
set -euo pipefail
SB_BASE=${SB_BASE:-/var/tmp/phoenix-sandbox}
HOSTS=$SB_BASE/hosts
BR=phxbr0
NET=10.211.0
SELF=$(readlink -f "$0")
DROP_CAPS=-sys_time,-sys_module,-sys_boot,-sys_rawio,-wake_alarm,-mknod,-syslog,-mac_admin,-mac_override,-sys_pacct,-block_suspend
CG_ROOT=/sys/fs/cgroup/unified/phoenix-sandbox
[ -d /sys/fs/cgroup/unified ] || CG_ROOT=/sys/fs/cgroup/phoenix-sandbox

ip_of() { echo "$NET.$((10 + $1))"; }

ensure_bridge() {
    if ! ip link show "$BR" >/dev/null 2>&1; then
        ip link add "$BR" type bridge
        ip addr add "$NET.1/24" dev "$BR"
        ip link set "$BR" up
    fi
    ip route replace unreachable "$NET.0/24" metric 4000 2>/dev/null || true
    [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -ge 4096 ] || \
        sysctl -qw fs.inotify.max_user_instances=4096
}

prepare_net() {
    local i=$1 n=sb$1
    if [ ! -e "/run/netns/phx-$n" ]; then
        ip netns add "phx-$n"
        ip link add "v$n" type veth peer name eth0 netns "phx-$n"
        ip link set "v$n" master "$BR" up
    fi
    ip -n "phx-$n" link set lo up
    # Until the host configures eth0 itself (ifupdown, e.g. phoenix's network step), its
    # address is set from here, as an installer would have left it. A host with its own
    # eth0 stanza brings the NIC up at boot like a real one (its halt took it down).
    if ! grep -qs '^iface eth0' "$HOSTS/$n/upper/etc/network/interfaces" \
            "$HOSTS/$n"/upper/etc/network/interfaces.d/*; then
        ip -n "phx-$n" addr replace "$(ip_of "$i")/24" dev eth0
        ip -n "phx-$n" link set eth0 up
    fi
}

# The host's NVMe drives as real block devices: one loop device per drive over a sparse
# file of the drive's size (it takes no space), bound onto the host's /dev/<drive> while
# this stage can still see the machine's /dev. Kept across the host's reboots; released
# by `stop` and `down`. Partitions stay files (sbstate.sync_dev makes them).
drive_nodes() {
    local d=$1 m=$2 name size img loop
    [ -f "$d/upper/var/lib/sandbox/drives.json" ] || return 0
    mkdir -p "$d/drives"
    python3 -c 'import json, sys
for name, drive in sorted(json.load(open(sys.argv[1])).items()):
    print(name, drive["size"])' "$d/upper/var/lib/sandbox/drives.json" |
    while read -r name size; do
        img=$d/drives/$name.img
        [ -e "$img" ] || truncate -s "$size" "$img"
        loop=$(losetup -j "$img" | cut -d: -f1 | head -n 1)
        [ -n "$loop" ] || loop=$(losetup -f --show "$img")
        touch "$m/dev/$name"
        mount --bind "$loop" "$m/dev/$name"
    done
}

release_drives() {     # release_drives DIR: detach the loop devices over its drive files
    local img loop
    for img in "$1"/drives/*.img; do
        [ -e "$img" ] || continue
        for loop in $(losetup -j "$img" | cut -d: -f1); do losetup -d "$loop" 2>/dev/null || true; done
    done
}

# PID 1 of the host's new PID namespace, still seeing this machine's files.
stage1() {
    local n=$1 d=$HOSTS/$1 m=$HOSTS/$1/merged
    # the host's PVE release (hosts/sbI/flavour): 8 on Debian 12, 9 on Debian 13
    local lower=$SB_BASE/custom:$SB_BASE/rootfs
    [ "$(cat "$d/flavour" 2>/dev/null)" != 9 ] || lower=$SB_BASE/custom-9:$SB_BASE/rootfs-trixie
    mount --make-rprivate /
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work" "$m"
    mount -t proc proc "$m/proc"
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$m/sys"
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$m/sys/fs/cgroup"
    mount -t tmpfs -o mode=0755,nosuid,size=1m tmpfs "$m/dev"
    local node
    for node in null zero full random urandom tty; do
        touch "$m/dev/$node"; mount --bind "/dev/$node" "$m/dev/$node"
    done
    mkdir -p "$m/dev/pts" "$m/dev/shm" "$m/dev/mqueue"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$m/dev/pts"
    ln -s pts/ptmx "$m/dev/ptmx"
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$m/dev/shm"
    mount -t mqueue mqueue "$m/dev/mqueue"
    ln -s /proc/self/fd "$m/dev/fd"; ln -s /proc/self/fd/0 "$m/dev/stdin"
    ln -s /proc/self/fd/1 "$m/dev/stdout"; ln -s /proc/self/fd/2 "$m/dev/stderr"
    mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m tmpfs "$m/run"
    drive_nodes "$d" "$m"
    hostname "$(cat "$d/upper/etc/hostname" 2>/dev/null || echo "$n")"
    cd "$m"
    mkdir -p .oldroot
    pivot_root . .oldroot
    umount -l /.oldroot
    rmdir /.oldroot 2>/dev/null || true
    cd /
    env -i PATH=/usr/sbin:/usr/bin /usr/local/lib/sandbox/sb-boot
    exec setpriv --bounding-set "$DROP_CAPS" -- \
        env -i container=other TERM=dumb /lib/systemd/systemd --log-target=console
}

launch() {      # one boot of host I, in the background; prints the unshare PID
    local i=$1 n=sb$1 d=$HOSTS/sb$1
    mkdir -p "$CG_ROOT/$n"
    setsid sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG_ROOT/$n" \
        ip netns exec "phx-$n" \
        unshare --mount --pid --uts --ipc --cgroup --fork --kill-child=SIGKILL \
        env SB_BASE="$SB_BASE" "$SELF" __stage1 "$n" >>"$d/console.log" 2>&1 </dev/null &
    echo $!
}

pid1_of() {
    local d=$HOSTS/sb$1 up
    up=$(cat "$d/unshare.pid" 2>/dev/null) || return 1
    awk '{print $1}' "/proc/$up/task/$up/children" 2>/dev/null
}

halt_pid() {    # halt_pid UNSHARE_PID PID1: clean halt, SIGKILL after 10 s
    local up=$1 p1=$2 t
    [ -n "$p1" ] && kill -s RTMIN+3 "$p1" 2>/dev/null || true
    for t in $(seq 100); do kill -0 "$up" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$up" 2>/dev/null || true
}

# Keeps host I running: boots it, and boots it again when it asks to reboot
# (the `reboot` stand-in writes var/lib/sandbox/reboot-requested on the host's disk).
supervise() {
    local i=$1 d=$HOSTS/sb$1 up marker=$HOSTS/sb$1/upper/var/lib/sandbox/reboot-requested
    while :; do
        rm -f "$marker"
        prepare_net "$i"
        up=$(launch "$i")
        echo "$up" > "$d/unshare.pid"
        while kill -0 "$up" 2>/dev/null; do
            if [ -e "$marker" ]; then
                echo "supervisor: reboot requested" >> "$d/console.log"
                halt_pid "$up" "$(pid1_of "$i" || true)"
                break
            fi
            sleep 0.2
        done
        wait "$up" 2>/dev/null || true
        [ -e "$marker" ] && [ ! -e "$d/stop-requested" ] || break
        sleep 2   # the host stays down for a moment, as a real reboot does
    done
    rm -f "$d/unshare.pid" "$d/supervisor.pid"
}

start_host() {
    local i=$1 d=$HOSTS/sb$1
    if [ -f "$d/supervisor.pid" ] && kill -0 "$(cat "$d/supervisor.pid")" 2>/dev/null; then
        return 0
    fi
    [ -d "$d/upper" ] || { echo "host sb$i has no disk; run the sandbox 'up' first" >&2; exit 1; }
    mkdir -p "$d/work" "$d/merged"
    ensure_bridge
    rm -f "$d/stop-requested"
    setsid "$SELF" __supervise "$i" </dev/null >>"$d/console.log" 2>&1 &
    echo $! > "$d/supervisor.pid"
}

stop_host() {   # stop_host I [TERM|KILL]
    local i=$1 sig=${2:-TERM} d=$HOSTS/sb$1 sup up t
    touch "$d/stop-requested"
    up=$(cat "$d/unshare.pid" 2>/dev/null || true)
    if [ -n "$up" ]; then
        if [ "$sig" = TERM ]; then halt_pid "$up" "$(pid1_of "$i" || true)"; else kill -KILL "$up" 2>/dev/null || true; fi
    fi
    sup=$(cat "$d/supervisor.pid" 2>/dev/null || true)
    if [ -n "$sup" ]; then
        for t in $(seq 100); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$sup" 2>/dev/null || true
    fi
    rm -f "$d/supervisor.pid" "$d/unshare.pid"
    release_drives "$d"
}

cmd=${1:-}; shift || true
case $cmd in
__stage1) stage1 "$@" ;;
__supervise) supervise "$@" ;;
start) start_host "$1" ;;
stop) stop_host "$1" TERM ;;
kill) stop_host "$1" KILL ;;
pid1) pid1_of "$1" ;;
exec)
    i=$1; shift
    p1=$(pid1_of "$i")
    exec nsenter -t "$p1" -m -u -i -n -p -r -w env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
    ;;
down)
    # halt all hosts at once (each stop waits for its own host), then clean up
    for d in "$HOSTS"/sb*; do [ -d "$d" ] && stop_host "${d##*/sb}" TERM & done
    wait
    for d in "$HOSTS"/sb*; do
        [ -d "$d" ] || continue
        n=${d##*/}
        ip link del "v$n" 2>/dev/null || true
        ip netns del "phx-$n" 2>/dev/null || true
        [ -d "$CG_ROOT/$n" ] && find "$CG_ROOT/$n" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    ip link del "$BR" 2>/dev/null || true
    ip route del unreachable "$NET.0/24" metric 4000 2>/dev/null || true
    rmdir "$CG_ROOT" 2>/dev/null || true
    ;;
*) sed -n '2,12p' "$0"; exit 2 ;;
esac
