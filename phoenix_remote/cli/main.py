"""The `phoenix` command: argument parsing, rendering, exit codes (documented in README).

Exit codes: 0 ok / in policy, 1 error, 2 changes pending (plan) or drift (verify),
3 invalid configuration or inventory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from phoenix_remote.config import inventory as inv
from phoenix_remote.config.secrets import MASK, Secret
from phoenix_remote.errors import ConfigError, PhoenixError

EXIT_OK, EXIT_ERROR, EXIT_PENDING, EXIT_INVALID = 0, 1, 2, 3

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Converge Proxmox VE hosts into Phoenix hypervisors, from a workstation.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect the resolved configuration.")
app.add_typer(config_app, name="config")

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="hypervisor config (JSON)")]
InventoryOpt = Annotated[Path | None, typer.Option("--inventory", "-i", help="inventory (YAML)")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="override a config value for every host: dotted.path=JSON, e.g. "
                  "time.timezone='\"UTC\"'")]
DEFAULT_CONFIG = Path("etc/hypervisor_config.json")


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise ConfigError([inv.Problem("--set", item, "expected dotted.path=value")])
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # a bare word is a string
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def load(config: Path, inventory: Path | None, sets: list[str] | None,
         secrets: str = "available") -> inv.Inventory:
    return inv.load(config, inventory, parse_sets(sets), secrets=secrets)


@app.command(epilog="Example: phoenix validate -i inventory/example.yaml")
def validate(config: ConfigOpt = DEFAULT_CONFIG, inventory: InventoryOpt = None,
             set_: SetOpt = None) -> None:
    """Check the config and inventory: shape, meaning, secret files. Exit 0 valid, 3 invalid."""
    result = load(config, inventory, set_)
    hosts = f", {len(result.hosts)} host(s)" if inventory else ""
    typer.echo(f"valid: {config}{' + ' + str(inventory) if inventory else ''}{hosts}")


@config_app.command("show", epilog="Example: phoenix config show pve1 -i inventory/example.yaml")
def config_show(host: str, config: ConfigOpt = DEFAULT_CONFIG, inventory: InventoryOpt = None,
                set_: SetOpt = None,
                as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print one host's resolved configuration; secrets are shown as ***."""
    result = load(config, inventory, set_)
    if host not in result.hosts:
        raise PhoenixError(f"unknown host {host!r}; known: {', '.join(result.hosts)}")
    data = masked(result.hosts[host].model_dump(mode="python", by_alias=True))
    text = json.dumps(data, indent=2, default=str)
    typer.echo(text if as_json else _yamlish(data))


@app.command(epilog="Example: phoenix hosts -i inventory/example.yaml --json")
def hosts(config: ConfigOpt = DEFAULT_CONFIG, inventory: InventoryOpt = None,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the inventory's hosts and groups."""
    result = load(config, inventory, None, secrets="none")
    rows = [{"name": h.name, "address": h.address, "groups": list(h.groups)}
            for h in result.hosts.values()]
    if as_json:
        typer.echo(json.dumps({"hosts": rows, "groups": {g: list(m) for g, m in
                                                         result.groups.items()}}, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['name']:<20} {r['address']:<20} {','.join(r['groups'])}")


def _register_runs() -> None:
    from phoenix_remote.cli import run as run_cli
    run_cli.register(app, load, DEFAULT_CONFIG)
    run_cli.register_inspect(app, load, DEFAULT_CONFIG)


_register_runs()


def masked(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


def _yamlish(data: Any) -> str:
    import yaml
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)


def run() -> None:
    """Console entry point: known errors become one clear message and an exit code."""
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except ConfigError as e:
        for p in e.problems:
            typer.echo(f"error: {p}", err=True)
        typer.echo(f"{len(e.problems)} problem(s) found", err=True)
        sys.exit(EXIT_INVALID)
    except PhoenixError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(EXIT_ERROR)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(EXIT_ERROR)
    except Exception as e:  # click usage errors and the like
        import click
        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise
