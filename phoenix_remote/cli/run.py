"""phoenix plan / apply / verify / status / disks: select hosts, run the engine, report."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from phoenix_remote.cli import render
from phoenix_remote.config import inventory as inv
from phoenix_remote.engine.fleet import run_fleet
from phoenix_remote.engine.runner import RunOptions
from phoenix_remote.errors import PhoenixError
from phoenix_remote.host.ssh import DEFAULT_KNOWN_HOSTS

LimitOpt = Annotated[str | None, typer.Option(
    "--limit", "-l", help="HOST, GROUP, comma list, or @file (one host per line)")]
StepsOpt = Annotated[list[str] | None, typer.Option(help="step id (repeatable)")]


def choose(result: inv.Inventory, limit: str | None) -> list:
    if not limit:
        return list(result.hosts.values())
    names: list[str] = []
    for item in limit.split(","):
        item = item.strip()
        if item.startswith("@"):
            path = Path(item[1:])
            if not path.exists():
                raise PhoenixError(f"--limit {item}: file {path} not found")
            names += [x.strip() for x in path.read_text().splitlines() if x.strip()]
        elif item in result.groups:
            names += list(result.groups[item])
        elif item in result.hosts:
            names.append(item)
        else:
            raise PhoenixError(f"--limit: {item!r} is neither a host nor a group; known hosts: "
                               f"{', '.join(result.hosts)}; groups: {', '.join(result.groups)}")
    return [result.hosts[n] for n in dict.fromkeys(names)]


def run_mode(mode: str, result: inv.Inventory, limit, only, skip, forks, as_json, junit,
             fail_fast, accept_new_host_keys, known_hosts, insecure, lock_timeout,
             failed_file: Path, log_dir: Path) -> int:
    from phoenix_remote.steps import STEPS, step_ids
    hosts = choose(result, limit)
    for name in (only or []) + (skip or []):
        if name not in step_ids():
            raise PhoenixError(f"unknown step {name!r}; steps: {', '.join(step_ids())}")
    mask = render.Masker([s.reveal() for h in result.hosts.values() for s in h.secrets.values()])
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{mode}.log"
    progress = render.Progress(mask, log_path, quiet=as_json)
    if insecure:
        progress("-", "", "warning", "--insecure: the Proxmox API's TLS certificate is NOT "
                                     "verified")
    opts = RunOptions(mode=mode, accept_new_host_keys=accept_new_host_keys,
                      known_hosts=known_hosts, insecure=insecure, lock_timeout=lock_timeout,
                      only=tuple(only or ()), skip=tuple(skip or ()))
    import warnings
    warnings.simplefilter("ignore")  # urllib3's per-request warning under --insecure
    reports = run_fleet(hosts, list(STEPS), opts, progress, forks, fail_fast)
    progress.close()
    code = render.exit_code(reports, mode)
    if as_json:
        print(render.as_json(reports, mode, code, mask))
    else:
        render.table(reports, mode, mask)
        print(f"run log: {log_path}")
    if junit:
        render.junit(reports, mode, junit, mask)
    failed = [r.host for r in reports if r.status.value in ("failed", "unknown")]
    if failed:
        failed_file.write_text("\n".join(failed) + "\n")
        print(f"failed hosts written to {failed_file} (rerun with --limit @{failed_file})",
              file=sys.stderr)
    return code


def register(app: typer.Typer, load, DEFAULT_CONFIG) -> None:
    def make(mode: str, doc: str, example: str):
        def command(
            config: Annotated[Path, typer.Option("--config", "-c")] = DEFAULT_CONFIG,
            inventory: Annotated[Path, typer.Option("--inventory", "-i")] = Path(
                "inventory/hosts.yaml"),
            limit: LimitOpt = None, only: StepsOpt = None, skip: StepsOpt = None,
            forks: Annotated[int, typer.Option(help="hosts in parallel")] = 10,
            as_json: Annotated[bool, typer.Option("--json", help="machine-readable result on "
                                                  "stdout (schema phoenix_remote/run/v1)")] = False,
            junit: Annotated[Path | None, typer.Option(help="write JUnit XML here")] = None,
            fail_fast: Annotated[bool, typer.Option("--fail-fast")] = False,
            accept_new_host_keys: Annotated[bool, typer.Option(
                "--accept-new-host-keys", help="trust and record unknown SSH host keys")] = False,
            known_hosts: Annotated[Path, typer.Option(help="known_hosts file")] = (
                DEFAULT_KNOWN_HOSTS),
            insecure: Annotated[bool, typer.Option(
                "--insecure", help="do not verify the API's TLS certificate (warns)")] = False,
            lock_timeout: Annotated[float, typer.Option(help="seconds to wait for another "
                                                        "run's lock on a host")] = 60.0,
            failed_file: Annotated[Path, typer.Option(help="where failed hosts are listed")] = (
                Path(".phoenix-failed")),
            log_dir: Annotated[Path, typer.Option(help="local run logs")] = Path(".phoenix-logs"),
            set_: Annotated[list[str] | None, typer.Option("--set")] = None,
        ) -> int:
            secrets_mode = "all" if mode == "apply" else "available"
            result = load(config, inventory, set_, secrets=secrets_mode)
            return run_mode(mode, result, limit, only, skip, forks, as_json, junit, fail_fast,
                            accept_new_host_keys, known_hosts, insecure, lock_timeout,
                            failed_file, log_dir)
        command.__doc__ = doc
        app.command(mode, epilog=example)(command)

    make("plan", "Show what apply would change, per host and step. Exit 0 nothing to do, "
                 "2 changes pending, 1 error.", "Example: phoenix plan -i inventory/hosts.yaml")
    make("apply", "Converge hosts to the configuration and prove it. Exit 0 converged, "
                  "1 any failure.", "Example: phoenix apply -i inventory/hosts.yaml -l pve1")
    make("verify", "Audit hosts without changing anything. Exit 0 in policy, 2 drift, "
                   "1 error or unknown.", "Example: phoenix verify -i inventory/hosts.yaml --json")


def register_inspect(app: typer.Typer, load, DEFAULT_CONFIG) -> None:
    @app.command(epilog="Example: phoenix status -i inventory/hosts.yaml -l pve1")
    def status(config: Annotated[Path, typer.Option("--config", "-c")] = DEFAULT_CONFIG,
               inventory: Annotated[Path, typer.Option("--inventory", "-i")] = Path(
                   "inventory/hosts.yaml"),
               limit: LimitOpt = None,
               known_hosts: Annotated[Path, typer.Option()] = DEFAULT_KNOWN_HOSTS,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> int:
        """Show the ledger of each host: what each step applied, when, with which backups."""
        import json

        from phoenix_remote.engine.ledger import Ledger
        from phoenix_remote.host.host import Host
        result = load(config, inventory, None, secrets="none")
        out = {}
        for cfg in choose(result, limit):
            host = Host(cfg, readonly=True, known_hosts=known_hosts)
            try:
                out[cfg.name] = Ledger(host, cfg.config.ledger_path).load()
            except PhoenixError as e:
                out[cfg.name] = {"error": str(e)}
            finally:
                host.close()
        if as_json:
            print(json.dumps(out, indent=2))
            return 0
        for name, data in out.items():
            print(f"{name}: {data.get('error') or ''}")
            for step, rec in data.get("steps", {}).items():
                print(f"  {step:<14} {rec.get('result', '?'):<8} {rec.get('finished', ''):<25} "
                      f"inputs {rec.get('fingerprint', '-')}  "
                      f"backups {len(rec.get('backups', []))}")
            if data.get("runs"):
                last = data["runs"][-1]
                print(f"  last run: {last.get('status')} at {last.get('finished')}")
        return 0

    @app.command(epilog="Example: phoenix disks pve1 -i inventory/hosts.yaml")
    def disks(host_name: Annotated[str, typer.Argument(metavar="HOST")],
              config: Annotated[Path, typer.Option("--config", "-c")] = DEFAULT_CONFIG,
              inventory: Annotated[Path, typer.Option("--inventory", "-i")] = Path(
                  "inventory/hosts.yaml"),
              known_hosts: Annotated[Path, typer.Option()] = DEFAULT_KNOWN_HOSTS,
              insecure: Annotated[bool, typer.Option("--insecure")] = False) -> int:
        """List a host's NVMe drives (by-id path, size, model, in use or free) from its API,
        to fill in the inventory's drives."""
        from phoenix_remote.host.host import Host
        result = load(config, inventory, None, secrets="available")
        if host_name not in result.hosts:
            raise PhoenixError(f"unknown host {host_name!r}")
        host = Host(result.hosts[host_name], readonly=True, known_hosts=known_hosts,
                    insecure=insecure)
        try:
            rows = host.api.get(f"/nodes/{host.api.node}/disks/list")
        finally:
            host.close()
        print(f"{'by-id path':<64} {'size':>9}  {'model':<28} state")
        for d in rows:
            if d.get("type") not in ("nvme", None) and "nvme" not in d["devpath"]:
                continue
            size = f"{d['size'] / 1e12:.2f} TB" if d["size"] >= 1e12 else \
                f"{d['size'] / 1e9:.0f} GB"
            link = d.get("by_id_link") or d["devpath"]
            print(f"{link:<64} {size:>9}  {d.get('model', ''):<28} "
                  f"{'in use: ' + d['used'] if d.get('used') else 'free'}")
        return 0
