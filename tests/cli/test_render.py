"""What the table shows of text that came from a host: control characters escaped (no
terminal escape runs, no log line is forged), and notes, host access in red."""

import io

import pytest

from phoenix_remote.cli.render import Masker, Progress, printable, table
from phoenix_remote.engine.types import HOST_ACCESS, Change, HostReport, Status, StepResult

HOSTILE = "CT\x1b[2J\x1b]0;owned\x07 name\nfake-host lxc ok forged\r\u2028x\x9b"


def test_printable_escapes_every_control_character():
    out = printable(HOSTILE)
    assert out == ("CT\\x1b[2J\\x1b]0;owned\\x07 name\\x0afake-host lxc ok forged\\x0d"
                   "\\u2028x\\x9b")
    assert printable("plain text: ok") == "plain text: ok"


def test_the_table_and_progress_escape_host_text(tmp_path):
    step = StepResult("lxc", Status.DRIFT, changes=[Change(HOSTILE, HOSTILE, "x")],
                      error=HOSTILE, notes=[HOST_ACCESS + "container 910: hooks"])
    report = HostReport("h1", "10.0.0.1", steps=[step], error=HOSTILE)
    out = io.StringIO()
    table([report], "verify", Masker([]), stream=out)
    text = out.getvalue()
    assert "\x1b" not in text and "\r" not in text and "\u2028" not in text
    assert "\nfake-host" not in text and "HOST ACCESS: container 910: hooks" in text
    log = tmp_path / "run.log"
    progress = Progress(Masker([]), log, stream=io.StringIO())
    progress("h1", "lxc", "note", HOSTILE)
    progress.close()
    assert len(log.read_text().splitlines()) == 1 and "\x1b" not in log.read_text()


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("env,coloured", [({}, True), ({"NO_COLOR": "1"}, False),
                                          ({"TERM": "dumb"}, False)])
def test_colour_only_on_a_terminal_without_no_color(env, coloured, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    report = HostReport("h1", "10.0.0.1", steps=[StepResult("lxc", Status.DRIFT)])
    out = FakeTTY()
    table([report], "verify", Masker([]), stream=out)
    progress = Progress(Masker([]), None, stream=(err := FakeTTY()))
    progress("h1", "lxc", Status.DRIFT, "x")
    assert ("\x1b[" in out.getvalue()) is coloured and ("\x1b[" in err.getvalue()) is coloured


def test_verbose_shows_each_action_and_quiet_shows_nothing():
    lines = {}
    for name, kw in (("default", {}), ("verbose", {"verbose": True}), ("quiet", {"quiet": True})):
        progress = Progress(Masker([]), None, stream=(out := io.StringIO()), **kw)
        progress("h1", "lxc", "action", "pct set 900 --cores 2")
        progress("h1", "lxc", "change", "container 900: cores")
        lines[name] = out.getvalue()
    assert "pct set" not in lines["default"] and "container 900" in lines["default"]
    assert "pct set 900 --cores 2" in lines["verbose"]
    assert lines["quiet"] == ""


def test_a_diff_keeps_its_lines_indented_and_escaped():
    step = StepResult("samba", Status.DRIFT,
                      changes=[Change("smb.conf", "differs:\n-a = 1\n+a = 2\x1b[2J", "x")])
    out = io.StringIO()
    table([HostReport("h1", "10.0.0.1", steps=[step])], "verify", Masker([]), stream=out)
    text = out.getvalue()
    assert "      - differs:\n        -a = 1\n        +a = 2\\x1b[2J\n" in text, text
