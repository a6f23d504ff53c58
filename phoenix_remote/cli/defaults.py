"""Where the commands find their config and inventory when not told (a light module: both
the parser's help and the commands read it, so neither imports the other)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from phoenix_remote.errors import UsageError

DEFAULT_CONFIG = Path("etc/hypervisor_config.json")
DEFAULT_INVENTORY = Path("inventory/hosts.yaml")


def config_path(args: argparse.Namespace) -> Path:
    """-c, $PHOENIX_CONFIG, ./etc/hypervisor_config.json; a missing default says how to get
    a config (an installed phoenix has no project until `phoenix init`)."""
    if args.config is not None:
        return args.config
    if os.environ.get("PHOENIX_CONFIG"):
        return Path(os.environ["PHOENIX_CONFIG"])
    if not DEFAULT_CONFIG.exists():
        raise UsageError(f"no config: {DEFAULT_CONFIG} does not exist here ({Path.cwd()}); "
                         "give -c PATH, set PHOENIX_CONFIG, or make a project with "
                         "`phoenix init DIR`")
    return DEFAULT_CONFIG


def inventory_path(args: argparse.Namespace) -> Path:
    """Commands that talk to hosts need an inventory: -i, $PHOENIX_INVENTORY, the default."""
    if args.inventory is not None:
        return args.inventory
    return Path(os.environ.get("PHOENIX_INVENTORY") or DEFAULT_INVENTORY)
