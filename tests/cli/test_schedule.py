"""phoenix schedule: the user timer and service it writes pass systemd's own checker
(systemd-analyze verify), run verify with absolute paths and --prometheus, and are removed
again; files it did not write are never touched. Nothing is enabled here (--no-enable):
the service would audit the example inventory's hosts."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from phoenix_remote.cli.main import EXIT_USAGE, main
from tests.conftest import ROOT

INV = str(ROOT / "inventory/example.yaml")


@pytest.fixture
def units(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(ROOT)
    return tmp_path / "config/systemd/user"


def test_install_writes_units_systemd_accepts(units, tmp_path, capsys):
    prom = tmp_path / "textfile/phoenix.prom"
    code = main(["schedule", "install", "--every", "2h30m", "-i", INV, "--prometheus",
                 str(prom), "--html", str(tmp_path / "r.html"), "-l", "pve1", "--no-enable"])
    assert code == 0, capsys.readouterr()
    service = (units / "phoenix-verify.service").read_text()
    timer = (units / "phoenix-verify.timer").read_text()
    assert "OnUnitActiveSec=9000s" in timer and "Persistent=true" in timer
    exec_line = next(ln for ln in service.splitlines() if ln.startswith("ExecStart="))
    argv = shlex.split(exec_line.split("=", 1)[1])
    assert argv[argv.index("verify") + 1] == "--quiet"
    for flag in ("-c", "-i", "--prometheus", "--html", "--log-dir", "--known-hosts"):
        assert argv[argv.index(flag) + 1].startswith("/"), flag
    assert argv[argv.index("--limit") + 1] == "pve1" and "SuccessExitStatus=2" in service
    check = subprocess.run(["systemd-analyze", "verify", str(units / "phoenix-verify.service"),
                            str(units / "phoenix-verify.timer")], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert main(["schedule", "remove"]) == 0
    assert list(units.iterdir()) == []


def test_units_phoenix_did_not_write_are_left_alone(units, tmp_path, capsys):
    units.mkdir(parents=True)
    (units / "phoenix-verify.timer").write_text("[Timer]\nOnCalendar=daily\n")
    code = main(["schedule", "install", "--every", "15m", "-i", INV, "--prometheus",
                 str(tmp_path / "p.prom"), "--no-enable"])
    assert code == 1 and "phoenix did not write it" in capsys.readouterr().err
    assert main(["schedule", "remove"]) == 1
    assert (units / "phoenix-verify.timer").read_text() == "[Timer]\nOnCalendar=daily\n"


@pytest.mark.parametrize("every", ["15", "0m", "8d", "fast", "1h-1m"])
def test_a_bad_span_is_a_usage_error(every, units, tmp_path, capsys):
    code = main(["schedule", "install", "--every", every, "-i", INV, "--prometheus",
                 str(tmp_path / "p.prom"), "--no-enable"])
    assert code == EXIT_USAGE and "--every" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../../.bashrc", "a/b", ".hidden", "x y", ""])
def test_the_name_cannot_point_outside_the_unit_folder(name, units, tmp_path, capsys):
    code = main(["schedule", "install", "--every", "15m", "-i", INV, "--prometheus",
                 str(tmp_path / "p.prom"), "--name", name, "--no-enable"])
    assert code == EXIT_USAGE and "--name" in capsys.readouterr().err
    assert not units.exists() and not (tmp_path / ".bashrc.timer").exists()
    assert main(["schedule", "remove", "--name", name]) == EXIT_USAGE
