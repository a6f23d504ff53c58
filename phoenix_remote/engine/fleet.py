"""Many hosts at once: a bounded pool of workers, steps in order within each host.

One host's failure never stops the others, unless fail_fast: then hosts not yet started
are reported as skipped. An unexpected exception (a bug) on one host becomes that host's
failure, with the traceback in the run log only; the other hosts' results are kept.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from phoenix_remote.config.models import HostConfig
from phoenix_remote.engine.runner import RunOptions, internal_error, run_host
from phoenix_remote.engine.step import Step
from phoenix_remote.engine.types import EventSink, HostReport, Status


def run_fleet(hosts: list[HostConfig], steps: list[Step], opts: RunOptions, emit: EventSink,
              forks: int = 10, fail_fast: bool = False) -> list[HostReport]:
    stop = threading.Event()

    def one(cfg: HostConfig) -> HostReport:
        if stop.is_set():
            report = HostReport(cfg.name, cfg.address, error="not started: --fail-fast")
            emit(cfg.name, "", Status.SKIPPED, "not started: --fail-fast")
            return report
        try:
            report = run_host(cfg, steps, opts, emit)
        except Exception as e:  # noqa: BLE001 - a bug must not end the other hosts' run
            report = HostReport(cfg.name, cfg.address, error=internal_error(cfg.name, e, emit))
        if fail_fast and report.status == Status.FAILED:
            stop.set()
        return report

    with ThreadPoolExecutor(max_workers=max(1, forks), thread_name_prefix="host") as pool:
        return list(pool.map(one, hosts))
