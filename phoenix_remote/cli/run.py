"""phoenix plan / apply / verify: run the engine on the selected hosts, then report."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from phoenix_remote.cli import render
from phoenix_remote.config import inventory as inv
from phoenix_remote.host.known_hosts import DEFAULT_KNOWN_HOSTS


@dataclass(frozen=True)
class RunRequest:
    """Everything a run was asked for on the command line, besides the hosts."""

    mode: str
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    forks: int = 10
    as_json: bool = False
    junit: Path | None = None
    fail_fast: bool = False
    accept_new_host_keys: bool = False
    known_hosts: Path = DEFAULT_KNOWN_HOSTS
    insecure: bool = False
    lock_timeout: float = 60.0
    failed_file: Path = Path(".phoenix-failed")
    log_dir: Path = Path(".phoenix-logs")
    containers: tuple[int, ...] = ()  # --ct: only these containers (and their clone sources)
    quiet: bool = False  # the summary only
    verbose: bool = False  # each action too
    prometheus: Path | None = None  # verify: node_exporter textfile metrics
    html: Path | None = None  # verify: a self-contained report page

    @classmethod
    def from_args(cls, mode: str, args: argparse.Namespace) -> RunRequest:
        return cls(mode=mode, only=tuple(args.only or ()), skip=tuple(args.skip or ()),
                   forks=args.forks, as_json=args.as_json, junit=args.junit,
                   fail_fast=args.fail_fast, accept_new_host_keys=args.accept_new_host_keys,
                   known_hosts=args.known_hosts, insecure=args.insecure,
                   lock_timeout=args.lock_timeout, failed_file=args.failed_file,
                   log_dir=args.log_dir, containers=tuple(args.ct or ()),
                   quiet=args.quiet, verbose=args.verbose,
                   prometheus=getattr(args, "prometheus", None), html=getattr(args, "html", None))


def run_mode(req: RunRequest, result: inv.Inventory) -> int:
    from phoenix_remote.engine.fleet import run_fleet
    from phoenix_remote.engine.runner import RunOptions
    from phoenix_remote.steps import STEPS
    hosts = select_containers(list(result.hosts.values()), req.containers)
    mask = render.Masker([s.reveal() for h in hosts for s in h.secrets.values()])
    req.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = req.log_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{req.mode}.log"
    progress = render.Progress(mask, log_path, quiet=req.as_json or req.quiet,
                               verbose=req.verbose)
    opts = RunOptions(mode=req.mode, accept_new_host_keys=req.accept_new_host_keys,
                      known_hosts=req.known_hosts, insecure=req.insecure,
                      lock_timeout=req.lock_timeout, only=req.only, skip=req.skip)
    reports = run_fleet(hosts, list(STEPS), opts, progress, req.forks, req.fail_fast)
    progress.close()
    code = render.exit_code(reports, req.mode)
    if req.as_json:
        print(render.as_json(reports, req.mode, code, mask))
    else:
        render.table(reports, req.mode, mask)
        print(f"run log: {log_path}")
    if req.junit:
        render.junit(reports, req.mode, req.junit, mask)
    if req.prometheus:
        from phoenix_remote.cli import metrics
        metrics.write(req.prometheus, reports, code)
    if req.html:
        from phoenix_remote.cli import report
        report.write(req.html, reports, req.mode, code, mask)
    failed = [r.host for r in reports if r.status.value in ("failed", "unknown")]
    if failed:
        req.failed_file.write_text("\n".join(failed) + "\n")
        print(f"failed hosts written to {req.failed_file} (rerun with --limit "
              f"@{req.failed_file})", file=sys.stderr)
    return code


def select_containers(hosts: list, wanted: tuple[int, ...]) -> list:
    """--ct: each host keeps the chosen containers it runs (with their clone sources, which
    must exist first); a vmid no selected host runs is a usage error."""
    if not wanted:
        return hosts
    from phoenix_remote.errors import UsageError
    known = {v for h in hosts for v in h.containers}
    missing = [v for v in wanted if v not in known]
    if missing:
        raise UsageError(f"--ct {missing[0]}: no selected host runs container {missing[0]} "
                         "(inventory: containers)")
    out = []
    for h in hosts:
        keep = h.config.lxc.with_sources(set(wanted) & set(h.containers)) if h.config.lxc \
            else set()
        out.append(h.model_copy(update={"containers": tuple(v for v in h.containers
                                                            if v in keep)}))
    return out
