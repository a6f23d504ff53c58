#!/bin/sh
# Sandbox setup "sandbox_nvidia": stands in for NVIDIA's runfile (no download here). It
# installs a userspace nvidia-smi of exactly the host's driver version (PHOENIX_NVIDIA_DRIVER,
# read from the host by phoenix) that, like the real one, fails without the device nodes
# the container's devN entries pass through.
set -eu
ver=${PHOENIX_NVIDIA_DRIVER:?the host reports no NVIDIA driver}
cat > /usr/bin/nvidia-smi <<SMI
#!/bin/sh
[ -e /dev/nvidiactl ] && [ -e /dev/nvidia0 ] || {
    echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."; exit 9; }
case "\$*" in
*driver_version*) echo $ver ;;
*) echo "NVIDIA-SMI $ver    Driver Version: $ver" ;;
esac
SMI
chmod 755 /usr/bin/nvidia-smi
