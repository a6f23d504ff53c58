"""The command line as a user meets it: the installed `phoenix` script, run as a process, so a
dependency change that breaks an error path fails here instead of in a user's terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_remote import __version__
from phoenix_remote.cli.main import EXIT_USAGE, STEP_IDS
from tests.conftest import ROOT

PHOENIX = Path(sys.executable).with_name("phoenix")


def phoenix(*argv: str) -> subprocess.CompletedProcess:
    exe = [str(PHOENIX)] if PHOENIX.exists() else [sys.executable, "-m", "phoenix_remote"]
    return subprocess.run([*exe, *argv], cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_version():
    p = phoenix("--version")
    assert (p.returncode, p.stdout.strip()) == (0, f"phoenix {__version__}")


@pytest.mark.parametrize("argv", [["--help"], *[[c, "--help"] for c in (
    "validate", "hosts", "plan", "apply", "verify", "status", "disks", "config")],
    ["config", "show", "--help"], ["lxc", "--help"], ["lxc", "list", "--help"]])
def test_help_pages(argv):
    p = phoenix(*argv)
    assert p.returncode == 0 and "usage: phoenix" in p.stdout and not p.stderr


# (argv, fragments the one-line message must hold)
USAGE_ERRORS = [
    ([], ["usage: phoenix"]),
    (["valdate"], ["invalid choice: 'valdate'", "did you mean validate?"]),
    (["validate", "--nosuch"], ["unknown argument '--nosuch'", "phoenix validate --help"]),
    (["validate", "--inventry", "x"], ["'--inventry'", "did you mean --inventory?"]),
    (["validate", "--inv", "x"], ["'--inv'", "did you mean --inventory?"]),
    (["plan", "--forks", "abc"], ["--forks", "whole number", "'abc'"]),
    (["plan", "--forks", "0"], ["--forks", "1..1000"]),
    (["apply", "--lock-timeout", "nan"], ["--lock-timeout", "0..86400"]),
    (["verify", "--lock-timeout", "-1"], ["--lock-timeout"]),
    (["plan", "--only", "nvida"], ["unknown step 'nvida'", "did you mean nvidia?"]),
    (["plan", "--skip", "zfs"], ["unknown step 'zfs'"]),
    (["plan", "--only", "nvidia", "--skip", "nvidia", "-i", "inventory/example.yaml"],
     ["both --only and --skip"]),
    (["config"], ["required: SUBCOMMAND"]),
    (["config", "show"], ["required: HOST"]),
    (["config", "show", "pve1", "--jsn"], ["did you mean --json?"]),
    (["disks"], ["required: HOST"]),
    (["plan", "-l", "pve3", "-i", "inventory/example.yaml"],
     ["'pve3' is neither a host nor a group", "did you mean pve"]),
    (["plan", "-l", "@/nonexistent/file", "-i", "inventory/example.yaml"],
     ["--limit @/nonexistent/file"]),
    (["config", "show", "ghost", "-i", "inventory/example.yaml"], ["'ghost'"]),
    (["hosts", "stray-positional"], ["unknown argument 'stray-positional'"]),
    (["plan", "--ct", "abc"], ["--ct", "container id", "'abc'"]),
    (["plan", "--ct", "99"], ["--ct", "100..999999999"]),
    (["plan", "--ct", "999", "-i", "inventory/example.yaml"],
     ["--ct 999: no selected host runs container 999"]),
    (["lxc"], ["required: SUBCOMMAND"]),
    (["lxc", "list", "--jsn"], ["did you mean --json?"]),
]


@pytest.mark.parametrize("argv,expect", USAGE_ERRORS, ids=[" ".join(a) or "no-args"
                                                          for a, _ in USAGE_ERRORS])
def test_usage_errors_exit_64_with_one_clear_message(argv, expect):
    p = phoenix(*argv)
    assert p.returncode == EXIT_USAGE, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    if argv:  # a real usage error is one line; no arguments at all shows the help
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    for fragment in expect:
        assert fragment in p.stderr, (fragment, p.stderr)


def test_step_ids_match_the_engine():
    from phoenix_remote.steps import STEPS
    assert list(STEP_IDS) == [s.id for s in STEPS]


def test_internal_error_is_one_line_without_traceback(monkeypatch, capsys):
    from phoenix_remote.cli import commands, main
    monkeypatch.setattr(commands, "validate", lambda args: 1 / 0)
    monkeypatch.delenv("PHOENIX_DEBUG", raising=False)
    assert main.main(["validate"]) == main.EXIT_ERROR
    err = capsys.readouterr().err
    assert "internal error" in err and "ZeroDivisionError" in err and "Traceback" not in err


def test_help_does_not_import_the_engine_or_ssh():
    code = ("import sys; from phoenix_remote.cli.main import build_parser; build_parser(); "
            "bad = [m for m in ('fabric', 'paramiko', 'requests', 'proxmoxer', 'jsonschema', "
            "'pydantic', 'rich', 'typer') if m in sys.modules]; print(bad)")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.stdout.strip() == "[]", p.stdout + p.stderr


def test_config_show_names_each_releases_values():
    p = phoenix("config", "show", "pve1", "--json", "-i", "inventory/example.yaml")
    assert p.returncode == 0, p.stderr
    import json
    by = json.loads(p.stdout)["values_by_pve_release"]
    assert by["8"]["nvidia"]["driver_package"] == "nvidia-open-575.57.08"
    assert by["9"]["nvidia"]["driver_package"] == "nvidia-open-580.76.05"
    assert by["9"]["repositories"].startswith("through the node's API")
    assert (by["8"]["api_schema"], by["9"]["api_schema"]) == ("8.4", "9.1")


def test_every_subcommand_and_option_says_what_it_does():
    from phoenix_remote.cli.main import build_parser
    _top, by_name = build_parser()
    for name, parser in by_name.items():
        assert parser.description, f"phoenix {name} has no description"
        for action in parser._actions:
            if action.dest == "help":
                continue
            assert action.help and action.help.strip(), f"phoenix {name} {action.dest}"


def test_bash_completion_asks_phoenix_for_hosts_steps_and_options(tmp_path):
    """The printed script, sourced by a real bash, completes from the inventory."""
    shim = tmp_path / "phoenix"
    shim.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m phoenix_remote "
                    '"$@"\n')
    shim.chmod(0o755)

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        script = ('source <(phoenix completion bash); '
                  f'COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _phoenix; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                             timeout=60, env={"PATH": f"{tmp_path}:/usr/bin:/bin",
                                              "PHOENIX_INVENTORY": str(ROOT / "inventory/"
                                                                       "example.yaml")})
        assert out.returncode == 0, out.stderr
        return out.stdout.split()
    assert complete("phoenix", "plan", "-l", "pv") == ["pve1", "pve2"]
    assert complete("phoenix", "verify", "--only", "zfs_") == ["zfs_pools", "zfs_datasets"]
    assert complete("phoenix", "ap") == ["apply"]
    assert "--fail-fast" in complete("phoenix", "apply", "--f")
    assert complete("phoenix", "lxc", "") == ["adopt", "list"]
