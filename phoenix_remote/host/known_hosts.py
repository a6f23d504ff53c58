"""Where SSH host keys are kept by default (a light module: the CLI imports it at start-up)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_KNOWN_HOSTS = Path(os.environ.get("PHOENIX_KNOWN_HOSTS", "~/.ssh/known_hosts"))
