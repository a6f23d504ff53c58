"""Audits for monitoring and for people: the Prometheus textfile parses with
prometheus_client's own parser and says what drifts (and clears when it is repaired); the
HTML report renders in a real headless Chromium with no console errors and the matrix
cells of the run."""

from __future__ import annotations

import html.parser
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from phoenix_remote.cli import metrics, report
from phoenix_remote.cli.render import Masker
from phoenix_remote.engine.types import Change, HostReport, Status, StepResult


def reports(drift: bool) -> list[HostReport]:
    samba = StepResult("samba", Status.DRIFT if drift else Status.OK,
                       changes=[Change("/etc/samba/smb.conf", "- workgroup = HOME",
                                       "+ workgroup = WORKGROUP")] if drift else [],
                       drift_class="corrective" if drift else None, duration=0.25)
    return [HostReport("pve1", "10.0.0.11", steps=[StepResult("initial_setup", Status.OK),
                                                   samba]),
            HostReport("pve2<b>", "10.0.0.12", steps=[
                StepResult("initial_setup", Status.UNKNOWN, error="probe: \x1b[2J<script>"),
                StepResult("samba", Status.SKIPPED)])]


def samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_the_textfile_parses_and_an_alert_clears_after_repair(tmp_path):
    path = tmp_path / "phoenix.prom"
    metrics.write(path, reports(drift=True), 2)
    first = samples(path.read_text())
    drift = ("phoenix_step_drift", (("class", "corrective"), ("host", "pve1"),
                                    ("step", "samba")))
    assert first[drift] == 1
    assert first[("phoenix_host_in_policy", (("host", "pve1"),))] == 0
    assert first[("phoenix_step_state", (("host", "pve2<b>"), ("state", "unknown"),
                                         ("step", "initial_setup")))] == 1
    assert first[("phoenix_verify_exit_code", ())] == 2
    assert ("phoenix_host_last_in_policy_timestamp_seconds", (("host", "pve1"),)) not in first
    metrics.write(path, reports(drift=False), 1)
    second = samples(path.read_text())
    assert second[drift] == 0 and second[("phoenix_host_in_policy", (("host", "pve1"),))] == 1
    seen = second[("phoenix_host_last_in_policy_timestamp_seconds", (("host", "pve1"),))]
    metrics.write(path, reports(drift=True), 2)  # drifts again: the last good time stays
    third = samples(path.read_text())
    assert third[("phoenix_host_last_in_policy_timestamp_seconds", (("host", "pve1"),))] == seen
    assert [p.name for p in tmp_path.iterdir()] == ["phoenix.prom"]  # no temporary left


def headless(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    assert exe, "chromium is installed by tests/sandbox/prereqs.sh"
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu",
                           "--enable-logging=stderr", "--v=0", *args],
                          capture_output=True, text=True, timeout=120)


class Cells(html.parser.HTMLParser):
    """The report's matrix: (host, step) -> the cell's text."""

    def __init__(self):
        super().__init__()
        self.cells, self.host, self.step = {}, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-host" in a:
            self.host = a["data-host"]
        if tag == "td" and "data-step" in a:
            self.step = a["data-step"]

    def handle_data(self, data):
        if self.step and data.strip():
            self.cells[(self.host, self.step)] = data.strip()
            self.step = None


def matrix(dom: str) -> dict[tuple[str, str], str]:
    parsed = Cells()
    parsed.feed(dom)  # the DOM as Chromium built it
    return parsed.cells


def test_the_html_report_renders_in_chromium(tmp_path):
    page = tmp_path / "report.html"
    report.write(page, reports(drift=True), "verify", 2, Masker([]))
    text = page.read_text()
    assert "http" not in text.replace("http-equiv", "")  # nothing fetched from anywhere
    assert "<script>" not in text and "\x1b" not in text  # host text escaped
    dom = headless("--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == [], console
    assert matrix(dom.stdout) == {("pve1", "initial_setup"): "ok", ("pve1", "samba"): "drift",
                            ("pve2<b>", "initial_setup"): "unknown",
                            ("pve2<b>", "samba"): "skipped"}
    assert "+ workgroup = WORKGROUP" in dom.stdout and "corrective drift" in dom.stdout
    shot = tmp_path / "report.png"
    assert headless(f"--screenshot={shot}", "--window-size=1000,700",
                    page.as_uri()).returncode == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["prometheus", "html"])
def test_verify_takes_the_monitoring_options(name):
    from phoenix_remote.cli.main import build_parser
    _top, by_name = build_parser()
    assert any(f"--{name}" in a.option_strings for a in by_name["verify"]._actions)
