"""What each `phoenix` subcommand does with its parsed arguments. Heavy imports (SSH, API,
the engine) happen inside the commands that need them, so `--help` and `validate` start fast.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from phoenix_remote.cli.defaults import DEFAULT_INVENTORY, config_path, inventory_path
from phoenix_remote.config import inventory as inv
from phoenix_remote.config.overrides import parse_sets
from phoenix_remote.config.secrets import MASK, Secret
from phoenix_remote.errors import UsageError


def load(args: argparse.Namespace, inventory: bool, secrets: str = "available",
         limit: str | None = None) -> inv.Inventory:
    """Config + inventory; with a limit, only the selected hosts are resolved and checked."""
    path = inventory_path(args) if inventory else args.inventory
    return inv.load(config_path(args), path, parse_sets(getattr(args, "sets", None)),
                    secrets=secrets, limit=limit)


def init(args: argparse.Namespace) -> int:
    from phoenix_remote.cli.init import init_project
    written = init_project(args.dir)
    print(f"wrote {len(written)} files into {args.dir}:")
    for path in written:
        print(f"  {path}")
    print(f"next: cd {args.dir}; cp inventory/example.yaml inventory/hosts.yaml; edit it; "
          "phoenix validate")
    return 0


def validate(args: argparse.Namespace) -> int:
    """The config, and the inventory the other commands would use: -i, $PHOENIX_INVENTORY,
    or inventory/hosts.yaml when it exists (none of them: the config alone)."""
    if args.inventory is None and (os.environ.get("PHOENIX_INVENTORY")
                                   or DEFAULT_INVENTORY.exists()):
        args.inventory = inventory_path(args)
    result = load(args, inventory=False)
    hosts = f", {len(result.hosts)} host(s)" if args.inventory else ""
    print(f"valid: {config_path(args)}"
          f"{' + ' + str(args.inventory) if args.inventory else ''}{hosts}")
    return 0


def config_show(args: argparse.Namespace) -> int:
    result = load(args, inventory=True, limit=args.host)
    host = result.hosts[args.host]
    data = {"schema": "phoenix_remote/config-show/v1",
            **masked(host.model_dump(mode="python", by_alias=True)),
            "values_by_pve_release": by_release(host)}
    if args.as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        import yaml
        print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100),
              end="")
    return 0


def by_release(host: Any) -> dict[str, Any]:
    """What the release-dependent steps use on a host running each known PVE release (the
    release itself is read from the host when a run connects)."""
    from phoenix_remote.pve_schema import schema_version
    c = host.config
    majors = sorted({8, *map(int, c.nvidia.by_pve_major), *map(int, c.apt.by_pve_major)})
    out = {}
    for m in majors:
        api = c.apt.by_pve_major.get(str(m))
        out[str(m)] = {
            "repositories": ("through the node's API: disable "
                             f"{', '.join(api.disable_uri_prefixes)}; add "
                             f"{', '.join(api.add_handles)}") if api else
                            f"{c.apt.sources_list} lines; rename "
                            f"{', '.join(c.apt.disable_lists)}",
            "nvidia": {k: v for k, v in c.nvidia.for_pve(m).model_dump().items()
                       if k in ("repository_file", "repository", "repository_keyring",
                                "driver_package", "header_packages")},
            "api_schema": schema_version(m)}
    return out


def hosts(args: argparse.Namespace) -> int:
    result = load(args, inventory=True, secrets="none")
    rows = [{"name": h.name, "address": h.address, "groups": list(h.groups)}
            for h in result.hosts.values()]
    if args.as_json:
        print(json.dumps({"schema": "phoenix_remote/hosts/v1", "hosts": rows,
                          "groups": {g: list(m) for g, m in result.groups.items()}}, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:<20} {r['address']:<20} {','.join(r['groups'])}")
    return 0


def _run(mode: str, args: argparse.Namespace) -> int:
    from phoenix_remote.cli.run import RunRequest, run_mode
    overlap = set(args.only or ()) & set(args.skip or ())
    if overlap:
        raise UsageError(f"step(s) {', '.join(sorted(overlap))} given to both --only and --skip")
    result = load(args, inventory=True, secrets="all" if mode == "apply" else "available",
                  limit=args.limit)
    return run_mode(RunRequest.from_args(mode, args), result)


def plan(args: argparse.Namespace) -> int:
    return _run("plan", args)


def apply(args: argparse.Namespace) -> int:
    return _run("apply", args)


def verify(args: argparse.Namespace) -> int:
    return _run("verify", args)


def lxc_list(args: argparse.Namespace) -> int:
    from phoenix_remote.cli.inspect import show_containers
    return show_containers(args, load(args, inventory=True, limit=args.limit))


def lxc_adopt(args: argparse.Namespace) -> int:
    from phoenix_remote.cli.adopt import adopt_containers
    return adopt_containers(args, load(args, inventory=True, limit=args.host))


def schedule_remove(args: argparse.Namespace) -> int:
    from phoenix_remote.cli import schedule as sched
    gone = sched.remove(args.name)
    print("\n".join(f"removed {p}" for p in gone) or f"no {args.name} units to remove")
    return 0


def completion(args: argparse.Namespace) -> int:
    from phoenix_remote.cli.completion import script
    print(script(args.shell), end="")
    return 0


def schedule_install(args: argparse.Namespace) -> int:
    from pathlib import Path

    from phoenix_remote.cli import schedule as sched
    load(args, inventory=True, secrets="none", limit=args.limit)  # a schedule that can run
    absolute = [("-c", config_path(args)), ("-i", inventory_path(args)),
                ("--known-hosts", args.known_hosts.expanduser()),
                ("--prometheus", args.prometheus),
                ("--log-dir", Path(".phoenix-logs")), ("--failed-file", Path(".phoenix-failed"))]
    argv = [x for flag, path in absolute for x in (flag, str(path.resolve()))]
    argv += ["--html", str(args.html.resolve())] if args.html else []
    argv += ["--limit", args.limit] if args.limit else []
    argv += ["--insecure"] if args.insecure else []
    for path in sched.install(args.name, args.every, argv, enable=not args.no_enable):
        print(f"wrote {path}")
    return 0


def status(args: argparse.Namespace) -> int:
    from phoenix_remote.cli.inspect import show_status
    return show_status(args, load(args, inventory=True, secrets="none", limit=args.limit))


def disks(args: argparse.Namespace) -> int:
    from phoenix_remote.cli.inspect import show_disks
    return show_disks(args, load(args, inventory=True, limit=args.host))


def masked(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value
