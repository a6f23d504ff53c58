"""phoenix schedule install|remove: a verify that runs by itself on this workstation, as a
systemd user timer and service, feeding the Prometheus textfile (and the HTML page).

The service runs the same `phoenix` with absolute paths (config, inventory, outputs, the
folder it runs in), quiet; drift (exit 2) is a result the metrics carry, not a failed
service. Secrets must come from files or the keyring (a timer has no shell environment),
or from an optional EnvironmentFile ~/.config/phoenix/env (mode 600). Files phoenix did not
write are never overwritten or removed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from phoenix_remote.cli.local_files import write_atomically
from phoenix_remote.errors import PhoenixError, UsageError

MARK = "# written by `phoenix schedule install`; `phoenix schedule remove` takes it away"
SPAN = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:in)?)?(?:(\d+)s)?$")
UNIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a file name, never a path


def unit_paths(name: str) -> tuple[Path, Path]:
    """The timer and the service of a schedule called `name` (--name)."""
    if not UNIT_NAME.match(name) or ".." in name:
        raise UsageError(f"--name {name[:80]!r}: letters, digits, _ . - only (it names the "
                         "unit files)")
    return unit_dir() / f"{name}.timer", unit_dir() / f"{name}.service"


def seconds_of(every: str) -> int:
    """'15m', '1h', '2h30m', '1d' -> seconds (1 minute .. 7 days)."""
    m = SPAN.match(every.strip())
    if not every.strip() or not m or not any(m.groups()):
        raise UsageError(f"--every {every!r}: expected a span such as 15m, 1h or 2h30m")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    total = ((d * 24 + h) * 60 + mi) * 60 + s
    if not 60 <= total <= 7 * 86400:
        raise UsageError(f"--every {every}: between 1m and 7d")
    return total


def unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def _quote(arg: str) -> str:
    """One ExecStart argument (systemd's own quoting: double quotes, \\ and " escaped;
    % doubled so specifiers are not expanded)."""
    text = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{text}"' if re.search(r'[\s"\\;$]', arg) or not arg else text


def this_phoenix() -> list[str]:
    """The command that runs this very phoenix (its console script, or python -m)."""
    if Path(sys.argv[0]).name == "phoenix":
        return [str(Path(sys.argv[0]).resolve())]
    return [str(Path(sys.executable).resolve()), "-m", "phoenix_remote"]


def units(name: str, every_s: int, argv: list[str], workdir: Path) -> dict[str, str]:
    command = " ".join(_quote(a) for a in [*this_phoenix(), *argv])
    return {
        f"{name}.service": f"""{MARK}
[Unit]
Description=phoenix verify: audit of the Proxmox hosts ({name})
After=network-online.target

[Service]
Type=oneshot
WorkingDirectory={_quote(str(workdir))}
EnvironmentFile=-%h/.config/phoenix/env
ExecStart={command}
# drift (2) is what the metrics report; only errors fail the service
SuccessExitStatus=2
""",
        f"{name}.timer": f"""{MARK}
[Unit]
Description=phoenix verify every {every_s} s ({name})

[Timer]
OnBootSec=5min
OnUnitActiveSec={every_s}s
Persistent=true

[Install]
WantedBy=timers.target
""",
    }


def _systemctl(*args: str) -> str | None:
    """Run systemctl --user; None when it worked, else what it said."""
    try:
        p = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if p.returncode == 0 else (p.stderr.strip() or f"exit {p.returncode}")


def install(name: str, every: str, verify_args: list[str], enable: bool) -> list[Path]:
    span = seconds_of(every)
    workdir = Path.cwd().resolve()
    folder = unit_paths(name)[0].parent
    texts = units(name, span, ["verify", "--quiet", *verify_args], workdir)
    for file in texts:
        path = folder / file
        if path.exists() and MARK not in path.read_text(errors="replace"):
            raise PhoenixError(f"{path} exists and phoenix did not write it: left as it is; "
                               "choose another --name")
    written = []
    for file, text in texts.items():
        write_atomically(folder / file, text)
        written.append(folder / file)
    if enable:
        for args in (("daemon-reload",), ("enable", "--now", f"{name}.timer")):
            if why := _systemctl(*args):
                print(f"warning: systemctl --user {' '.join(args)}: {why}; run it yourself "
                      "in your session", file=sys.stderr)
                break
    return written


def remove(name: str) -> list[Path]:
    paths = list(unit_paths(name))
    ours = [p for p in paths if p.exists() and MARK in p.read_text(errors="replace")]
    foreign = [p for p in paths if p.exists() and p not in ours]
    if foreign:
        raise PhoenixError(f"{', '.join(map(str, foreign))}: not written by phoenix; left as "
                           "they are")
    if ours:
        _systemctl("disable", "--now", f"{name}.timer")
    for p in ours:
        p.unlink()
    if ours:
        _systemctl("daemon-reload")
    return ours
