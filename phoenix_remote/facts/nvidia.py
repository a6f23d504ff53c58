"""The GPU and its driver: what lspci sees, whether the module is loaded, whether
nvidia-smi answers, and the times that say whether the initramfs holds the built module."""

from __future__ import annotations

import re

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.host.batch import Out
from phoenix_remote.host.files import ABSENT

LSPCI = "lspci"
LSMOD = "lsmod"
# only with the module already loaded: nvidia-smi would otherwise load it
SMI = "lsmod | grep -q '^nvidia ' && nvidia-smi"
MODULE_DIR = "/lib/modules/$(uname -r)/updates/dkms"


def _mtime_query(path: str) -> str:
    # the path holds $(uname -r): shell text on purpose, fixed here, no config value in it
    return f'f={path}; test -e "$f" || exit {ABSENT}; stat -c %Y "$f"'


INITRAMFS_TIME = _mtime_query("/boot/initrd.img-$(uname -r)")
MODULE_TIME = _mtime_query(f"{MODULE_DIR}/nvidia.ko")


def gpu(out: Out) -> bool:
    if not out.ok:
        raise ProbeUnknown(f"lspci exited {out.code}: cannot tell whether there is a GPU")
    return bool(re.search(r"NVIDIA", out.text))


def loaded(out: Out) -> bool:
    if not out.ok:
        raise ProbeUnknown(f"lsmod exited {out.code}")
    return bool(re.search(r"^nvidia\s", out.text, re.M))


def mtime(out: Out, what: str) -> int:
    """Seconds since the epoch; 0 when the file does not exist."""
    if out.code == ABSENT:
        return 0
    if out.ok and out.text.strip().isdigit():
        return int(out.text)
    raise ProbeUnknown(f"cannot read the time of {what} (exit {out.code})")
