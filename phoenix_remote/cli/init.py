"""phoenix init DIR: a working project for an installed phoenix (no repository needed).

It writes what the package ships: the configuration with its JSON Schema beside it (the
config's `$schema`), the container setup scripts it names, the 4-drive example, a commented
inventory, and a .gitignore for run logs and secrets. Nothing that exists is overwritten:
if any of these files is there, nothing is written.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from phoenix_remote.errors import PhoenixError

GITIGNORE = """# phoenix run logs, the hosts that failed the last run, and secrets kept as files
.phoenix-logs/
.phoenix-failed
secrets/
*.pw
"""


def project_files() -> dict[str, str]:
    """Relative path -> text of every file a new project gets."""
    data = resources.files("phoenix_remote.data")
    out: dict[str, str] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif not child.name.startswith((".", "__")):
                out[prefix + child.name] = child.read_text()
    walk(data / "project", "")
    out["etc/hypervisor_config.schema.json"] = (data / "hypervisor_config.schema.json").read_text()
    out[".gitignore"] = GITIGNORE
    return out


def init_project(target: Path) -> list[Path]:
    """Write the project into target (created if missing); the paths written."""
    files = project_files()
    there = [rel for rel in files if (target / rel).exists() or (target / rel).is_symlink()]
    if there:
        raise PhoenixError(f"{target} already has {', '.join(sorted(there)[:5])}"
                           f"{' ...' if len(there) > 5 else ''}: phoenix init writes a new "
                           "project and overwrites nothing; choose an empty folder")
    written = []
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:  # "x": never over a file made meanwhile
            f.write(text)
        written.append(path)
    return written
