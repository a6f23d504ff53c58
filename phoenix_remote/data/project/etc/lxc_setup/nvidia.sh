#!/bin/sh
# nvidia - the orchestrator's NVIDIA feature, inside a GPU container: the userspace driver
# of exactly the host's kernel module version (PHOENIX_NVIDIA_DRIVER, read from the host's
# nvidia-smi by phoenix: LXC_SPEC §9's version conflict cannot happen) from NVIDIA's runfile,
# and the CUDA 12.8 toolkit from NVIDIA's ubuntu2404 repository. The device nodes come from
# the container's devN entries (phoenix sets them through the API). Fixed: the driver was
# reinstalled and the container restarted on every run; the CUDA key travelled between two
# pct exec calls mixed with log lines.
set -eu
export DEBIAN_FRONTEND=noninteractive
ver=${PHOENIX_NVIDIA_DRIVER:?the host reports no NVIDIA driver: apply the nvidia step first}
have=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 || true)
apt-get update
apt-get install -y wget build-essential pkg-config libglvnd-dev curl gnupg
if [ "$have" != "$ver" ]; then
    run=/tmp/NVIDIA-Linux-x86_64-$ver.run
    wget -q "https://us.download.nvidia.com/XFree86/Linux-x86_64/$ver/NVIDIA-Linux-x86_64-$ver.run" -O "$run"
    sh "$run" --silent --no-kernel-module --no-x-check --no-nouveau-check --no-nvidia-modprobe --no-dkms
    rm -f "$run"
fi
repo=https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/
keyring=/usr/share/keyrings/cuda-archive-keyring.gpg
if [ ! -s "$keyring" ]; then
    wget -qO /etc/apt/preferences.d/cuda-repository-pin-600 "${repo}cuda-ubuntu2404.pin"
    wget -qO- "${repo}3bf863cc.pub" | gpg --dearmor > "$keyring.tmp"
    mv "$keyring.tmp" "$keyring"
    chmod 644 "$keyring"
fi
echo "deb [signed-by=$keyring] $repo /" > /etc/apt/sources.list.d/cuda.list
apt-get update
apt-get install -y cuda-toolkit-12-8
