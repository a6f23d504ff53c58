"""The `phoenix` command: argument parsing, dispatch, exit codes (documented in README).

Exit codes: 0 ok / in policy, 1 error, 2 changes pending (plan) or drift (verify),
3 invalid configuration or inventory, 64 usage error (sysexits EX_USAGE), 130 interrupted.

argparse (standard library) rather than a CLI framework: start-up stays fast and a
dependency update cannot turn a usage error into a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from phoenix_remote import __version__
from phoenix_remote.cli.defaults import DEFAULT_CONFIG, DEFAULT_INVENTORY
from phoenix_remote.errors import ConfigError, PhoenixError, UsageError

EXIT_OK, EXIT_ERROR, EXIT_INVALID, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 3, 64, 130
STEP_IDS = ("initial_setup", "nvidia", "admin_user", "zfsutils", "zfs_pools", "zfs_datasets",
            "storage", "nfs", "samba", "lxc")


class DefaultsFormatter(argparse.HelpFormatter):
    """Each option's help ends with its default, when it has one worth saying (not a
    flag's False, not None, not one the help already names)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (default in (None, False, argparse.SUPPRESS) or "default" in text
                or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """Usage errors: one line naming what was wrong and the closest valid choice. Options
    are never abbreviated: a later option must not change what an old command line means."""

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["allow_abbrev"] = False
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        hint = ""
        if "invalid choice:" in message:
            word = message.split("invalid choice:", 1)[1].split("'")[1]
            commands = [c for a in self._actions if isinstance(a, argparse._SubParsersAction)
                        for c in a.choices]
            hint = close_hint(word, commands)
        raise UsageError(f"{self.prog}: {message}{hint}; see {self.prog} --help")

    def unknown(self, extras: list[str]) -> NoReturn:
        options = [s for a in self._actions for s in a.option_strings]
        first = next((x for x in extras if x.startswith("-")), extras[0])
        raise UsageError(f"{self.prog}: unknown argument {first!r}"
                         f"{close_hint(first.split('=')[0], options)}; see {self.prog} --help")


def close_hint(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected 1..1000, got {value}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value <= 86400:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"expected 0..86400 seconds, got {text}")
    return value


def vmid(text: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 999999999:
        raise argparse.ArgumentTypeError(f"expected a container id (100..999999999), "
                                         f"got {text!r}")
    return int(text)


def step_id(text: str) -> str:
    if text not in STEP_IDS:
        raise argparse.ArgumentTypeError(f"unknown step {text!r}{close_hint(text, STEP_IDS)}; "
                                         "steps: "
                                         + " ".join(STEP_IDS))
    return text


def _common(p: argparse.ArgumentParser, sets: bool = True) -> None:
    p.add_argument("-c", "--config", type=Path, default=None,
                   help=f"hypervisor config, JSON (default $PHOENIX_CONFIG or {DEFAULT_CONFIG})")
    p.add_argument("-i", "--inventory", type=Path, default=None,
                   help=f"inventory, YAML (default $PHOENIX_INVENTORY or {DEFAULT_INVENTORY})")
    if sets:
        p.add_argument("--set", dest="sets", action="append", metavar="PATH=VALUE",
                       help="override a config value for every host: dotted.path=JSON, e.g. "
                            "time.timezone=UTC (repeatable)")


def _connection(p: argparse.ArgumentParser) -> None:
    from phoenix_remote.host.known_hosts import DEFAULT_KNOWN_HOSTS
    p.add_argument("--known-hosts", type=Path, default=DEFAULT_KNOWN_HOSTS,
                   help="known_hosts file (default $PHOENIX_KNOWN_HOSTS or ~/.ssh/known_hosts)")
    p.add_argument("--insecure", action="store_true",
                   help="do not verify the API's TLS certificate (warns for every host)")


def _group(sub: Any, name: str, text: str) -> Any:
    """A command made of subcommands (`config show`, `lxc list`): their parsers' parent."""
    return sub.add_parser(name, help=text).add_subparsers(
        dest=f"{name}_command", metavar="SUBCOMMAND", parser_class=Parser, required=True)


def _help_of(sub: Any, parser: Parser) -> str | None:
    """The help line a subcommand was added with (argparse keeps it on its choice action)."""
    for action in [sub, *[a for p in sub.choices.values() for a in p._actions
                          if isinstance(a, argparse._SubParsersAction)]]:
        for choice in action._choices_actions:
            if action.choices.get(choice.dest) is parser:
                return choice.help
    return None


def build_parser() -> tuple[Parser, dict[str, Parser]]:
    """The top parser, and each (sub)command's parser by name for error messages."""
    top = Parser(prog="phoenix", description="Converge Proxmox VE hosts into Phoenix "
                 "hypervisors, from a workstation.", epilog="exit codes: 0 ok, 1 error, "
                 "2 changes pending / drift, 3 invalid config, 64 usage error")
    top.add_argument("--version", action="version", version=f"phoenix {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    by_name: dict[str, Parser] = {}

    p = by_name["init"] = sub.add_parser(
        "init", help="write a new project: config, its schema, setup scripts, an example "
                     "inventory (overwrites nothing)",
        description="Write a working phoenix project into DIR (created if missing): "
                    "etc/hypervisor_config.json with its schema, etc/lxc_setup/, "
                    "etc/examples/, inventory/example.yaml and a .gitignore.",
        epilog="example: phoenix init ~/phoenix && cd ~/phoenix && phoenix validate -i "
               "inventory/example.yaml")
    p.add_argument("dir", metavar="DIR", type=Path, help="the new project's folder")

    p = by_name["validate"] = sub.add_parser(
        "validate", help="check config + inventory (exit 0 valid, 3 invalid)",
        epilog="example: phoenix validate -i inventory/example.yaml")
    _common(p)

    cfg_sub = _group(sub, "config", "inspect the resolved configuration")
    p = by_name["config show"] = cfg_sub.add_parser(
        "show", help="one host's resolved configuration, secrets as ***",
        epilog="example: phoenix config show pve1 -i inventory/example.yaml")
    p.add_argument("host", metavar="HOST", help="an inventory host")
    _common(p)
    p.add_argument("--json", dest="as_json", action="store_true",
                   help="JSON instead of YAML (schema phoenix_remote/config-show/v1)")

    p = by_name["hosts"] = sub.add_parser("hosts", help="list the inventory's hosts and groups")
    _common(p, sets=False)
    p.add_argument("--json", dest="as_json", action="store_true",
                   help="machine-readable (schema phoenix_remote/hosts/v1)")

    for mode, text in (("plan", "what apply would change (exit 0 nothing, 2 pending)"),
                       ("apply", "converge hosts and prove it (exit 0 converged)"),
                       ("verify", "read-only audit (exit 0 in policy, 2 drift)")):
        p = by_name[mode] = sub.add_parser(mode, help=text,
                           epilog=f"example: phoenix {mode} -i inventory/hosts.yaml -l pve1")
        _common(p)
        _connection(p)
        p.add_argument("-l", "--limit", help="HOST, GROUP, comma list, or @file")
        p.add_argument("--only", action="append", type=step_id, metavar="STEP",
                       help="run only this step (repeatable)")
        p.add_argument("--skip", action="append", type=step_id, metavar="STEP",
                       help="skip this step (repeatable)")
        p.add_argument("--ct", action="append", type=vmid, metavar="VMID",
                       help="only this container (and its clone sources) in the lxc step "
                            "(repeatable)")
        p.add_argument("--forks", type=positive_int, default=10, help="hosts in parallel")
        p.add_argument("--json", dest="as_json", action="store_true",
                       help="machine-readable result on stdout (schema phoenix_remote/run/v1)")
        p.add_argument("--junit", type=Path, help="write JUnit XML here")
        if mode == "verify":
            p.add_argument("--prometheus", type=Path, metavar="FILE",
                           help="write node_exporter textfile metrics here (atomically)")
            p.add_argument("--html", type=Path, metavar="FILE",
                           help="write a self-contained HTML report here")
        p.add_argument("--fail-fast", action="store_true",
                       help="start no further host once one has failed")
        p.add_argument("-q", "--quiet", action="store_true",
                       help="no progress lines: the summary only (the run log gets all)")
        p.add_argument("-v", "--verbose", action="store_true",
                       help="also each action (command, file, API call) as it runs")
        p.add_argument("--accept-new-host-keys", action="store_true",
                       help="trust and record unknown SSH host keys")
        p.add_argument("--lock-timeout", type=seconds, default=60.0,
                       help="seconds to wait for another run's lock on a host")
        p.add_argument("--failed-file", type=Path, default=Path(".phoenix-failed"),
                       help="where the hosts that failed are written (for --limit @FILE)")
        p.add_argument("--log-dir", type=Path, default=Path(".phoenix-logs"),
                       help="where each run's log goes")

    p = by_name["status"] = sub.add_parser("status", help="the ledger of each host",
                       epilog="example: phoenix status -i inventory/hosts.yaml -l pve1")
    _common(p, sets=False)
    _connection(p)
    p.add_argument("-l", "--limit", help="HOST, GROUP, comma list, or @file")
    p.add_argument("--json", dest="as_json", action="store_true",
                   help="machine-readable (schema phoenix_remote/status/v1)")

    lxc_sub = _group(sub, "lxc", "the containers on the hosts")
    p = by_name["lxc list"] = lxc_sub.add_parser(
        "list", help="what runs where: each guest's state, whether phoenix owns it, drift",
        epilog="example: phoenix lxc list -i inventory/hosts.yaml -l pve1")
    _common(p)
    _connection(p)
    p.add_argument("-l", "--limit", help="HOST, GROUP, comma list, or @file")
    p.add_argument("--json", dest="as_json", action="store_true",
                   help="machine-readable (schema phoenix_remote/lxc-list/v1)")

    p = by_name["lxc adopt"] = lxc_sub.add_parser(
        "adopt", help="take over containers phoenix did not make (tag + ledger record), "
                      "when what PVE fixes at creation matches the config",
        epilog="example: phoenix lxc adopt pve1 910 -i inventory/hosts.yaml")
    p.add_argument("host", metavar="HOST", help="the inventory host the containers are on")
    p.add_argument("vmids", metavar="VMID", nargs="+", type=vmid,
                   help="configured containers of that host")
    _common(p)
    _connection(p)

    sched = _group(sub, "schedule", "a verify that runs by itself (systemd user timer)")
    p = by_name["schedule install"] = sched.add_parser(
        "install", help="write and enable a systemd user timer + service that runs verify "
                        "with --prometheus (and --html) every so often",
        epilog="example: phoenix schedule install --every 15m -i inventory/hosts.yaml "
               "--prometheus /var/lib/node_exporter/textfile_collector/phoenix.prom")
    p.add_argument("--every", required=True, help="how often: 15m, 1h, 2h30m (1m..7d)")
    p.add_argument("--prometheus", type=Path, required=True, metavar="FILE",
                   help="the textfile the timer's verify writes (node_exporter's folder)")
    p.add_argument("--html", type=Path, metavar="FILE", help="also write the HTML report here")
    p.add_argument("-l", "--limit", help="HOST, GROUP, comma list, or @file")
    p.add_argument("--name", default="phoenix-verify",
                   help="the units' name (several schedules: one name each)")
    p.add_argument("--no-enable", action="store_true",
                   help="write the units only; enable them yourself")
    _common(p, sets=False)
    _connection(p)
    p = by_name["schedule remove"] = sched.add_parser(
        "remove", help="disable and delete a timer phoenix schedule install wrote")
    p.add_argument("--name", default="phoenix-verify", help="the units' name")

    p = by_name["completion"] = sub.add_parser(
        "completion", help="print the shell completion script (bash or zsh)",
        epilog="example: save what `phoenix completion bash` prints as "
               "~/.local/share/bash-completion/completions/phoenix")
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete in")

    p = by_name["disks"] = sub.add_parser(
        "disks", help="a host's NVMe drives, to fill in the inventory",
        epilog="example: phoenix disks pve1 -i inventory/hosts.yaml")
    p.add_argument("host", metavar="HOST", help="an inventory host")
    _common(p, sets=False)
    _connection(p)
    for name, parser in by_name.items():  # the one-line help is the description too
        parser.description = parser.description or _help_of(sub, parser)
        parser.set_defaults(func=name.replace(" ", "_"))
    return top, by_name


def dispatch(args: argparse.Namespace) -> int:
    """Each (sub)command's parser names its function in cli/commands.py (set_defaults);
    the module is imported only now, so --help and usage errors stay fast."""
    from phoenix_remote.cli import commands
    return int(getattr(commands, args.func)(args))


def main(argv: list[str] | None = None) -> int:
    """Parse, run, and turn every known error into one clear message and an exit code."""
    parser, by_name = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["__complete"]:  # the completion script asks (cli/completion.py)
        from phoenix_remote.cli.completion import candidates
        words = argv[2:]
        cword = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else len(words)
        print("\n".join(candidates(cword, words, by_name, STEP_IDS)))
        return EXIT_OK
    try:
        args, extras = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if extras:
            name = " ".join(filter(None, [args.command, getattr(args, "config_command", None),
                                          getattr(args, "lxc_command", None),
                                          getattr(args, "schedule_command", None)]))
            by_name.get(name, parser).unknown(extras)
        return dispatch(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as e:
        for p in e.problems:
            print(f"error: {p}", file=sys.stderr)
        print(f"{len(e.problems)} problem(s) found", file=sys.stderr)
        return EXIT_INVALID
    except PhoenixError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: one line, the traceback only on request
        if os.environ.get("PHOENIX_DEBUG"):
            raise
        print(f"internal error (a bug in phoenix, please report it): {type(e).__name__}: {e}; "
              "rerun with PHOENIX_DEBUG=1 for the traceback", file=sys.stderr)
        return EXIT_ERROR


def run() -> NoReturn:
    """Console entry point. A reader that goes away (`| head -1`) changes nothing but what
    it sees: output to a closed pipe is dropped, the run and its exit code are unchanged."""
    from phoenix_remote.cli.render import PipeSafe
    sys.stdout, sys.stderr = PipeSafe(sys.stdout), PipeSafe(sys.stderr)
    sys.exit(main())
