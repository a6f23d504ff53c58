"""verify and plan only read: every command the ten steps' probes send is listed here and
checked against what is known to change nothing on a host."""

from __future__ import annotations

import re
import shlex

import pytest

from phoenix_remote.config.models import ApiTarget
from phoenix_remote.engine.step import probe
from phoenix_remote.host.host import Host
from phoenix_remote.host.ssh import Result
from phoenix_remote.steps import STEPS
from phoenix_remote.steps.lxc_inside import PROBE
from tests.fake_transport import FakeTransport
from tests.steps.test_step_cases import host_config

# command -> the arguments that make it read-only (None: any arguments)
READ_ONLY: dict[str, re.Pattern | None] = {
    "cat": None, "test": None, "ls": None, "readlink": None, "stat": None, "uname": None,
    "getent": None, "id": None, "cut": None, "grep": None, "lspci": None, "lsmod": None,
    "pveversion": None, "lsblk": None, "command": re.compile(r"^-v "),
    "blkid": re.compile(r"^-p "), "dpkg-query": re.compile(r"^-W "), "true": None,
    "apt-get": re.compile(r"^-s .*-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "),
    "zpool": re.compile(r"^(list|get|status)\b"), "zfs": re.compile(r"^(list|get)\b"),
    "systemctl": re.compile(r"^(is-enabled|is-active|show)\b"),
    "timedatectl": re.compile(r"^show\b"), "hostnamectl": re.compile(r"^--static$"),
    "ufw": re.compile(r"^status\b"), "exportfs": re.compile(r"^-v$"),
    "pdbedit": re.compile(r"^-L -w$"), "echo": None, "exit": None,
    "apt-mark": re.compile(r"^showmanual "),
    # reads the admin's shadow entry and compares a crypt() of the secret (from fd 3)
    "perl": re.compile(r"^-e 'my \(\$u, \$p\) = split.*crypt\(\$p, \$h\) eq \$h"),
    "wipefs": re.compile(r"^--no-act [^-]"),
    # only after `lsmod | grep -q '^nvidia '` (checked below): cannot load the driver
    "nvidia-smi": None,
    "head": None,
    # the in-container probe: lxc_inside.PROBE (each configured check with stdin closed and
    # output dropped; the checks themselves are the config's, trusted to be read-only)
    # (its text held exactly to PROBE in test_containers_run_only_the_probe_script)
    "timeout": re.compile(r"^-k 5 \d+ pct exec \d+ -- env (\S+=\S*\s+)+sh -c "
                          r"'for c in \"\$@\"; do \(sh -c \"\$c\"\) </dev/null"),
}


def batch_names(script: str) -> list[str]:
    return re.findall(r"printf '%s\\t%s\\t%s\\n' (\w+) ", script)


def batch_text(command: str) -> str | None:
    """The batch script of a `bash -c SCRIPT` command line, or None."""
    argv = shlex.split(command)
    return argv[2] if argv[:2] == ["bash", "-c"] and len(argv) == 3 else None


def answer_empty(command: str, stdin: bytes) -> Result:
    """Every probe command 'succeeds' with no output; enough to collect what was sent."""
    script = batch_text(command)
    if script is not None:
        return Result(0, "".join(f"{n}\t0\t\n" for n in batch_names(script)), "")
    return Result(0, "", "")


BATCH_LINE = re.compile(r"^out=\$\( \( (.*) \) 2>/dev/null \| base64 -w0; "
                        r"exit \$\{PIPESTATUS\[0\]\} \); printf ")


def simple_commands(text: str) -> list[str]:
    """The simple commands in a batch script's commands, or in one command line: split at
    ; && || |, with each $( ) taken as a command of its own."""
    found = [m.group(1) for line in text.splitlines() if (m := BATCH_LINE.match(line))]
    out: list[str] = []
    inner = r"\$\(((?:[^()']|'[^']*')*)\)"  # $( ... ), quoted text inside allowed
    for cmd in found or [text]:
        subs = re.findall(inner, cmd)
        cmd = re.sub(inner, "X", cmd)
        for part in [p for s in subs for p in split_unquoted(s)] + split_unquoted(cmd):
            part = re.sub(r"\s*\d?>\s*/dev/null", "", part).strip()
            part = re.sub(r"^\w+=\S*\s*", "", part)  # a variable assignment before it
            part = re.sub(r"^\{\s+", "", part)  # a { ... } group's commands
            if part and part != "}":
                out.append(part)
    return out


RAW: list[str] = []  # the shell text each probe sent
SECRET = "Sentinel-Probe-5e1!"


def split_unquoted(cmd: str) -> list[str]:
    """Split at ; && || | outside quotes."""
    parts, cur, quote, i = [], "", "", 0
    while i < len(cmd):
        ch = cmd[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif cmd.startswith(("&&", "||"), i) or ch in ";|":
            parts.append(cur)
            cur = ""
            i += 2 if cmd.startswith(("&&", "||"), i) else 1
            continue
        cur += ch
        i += 1
    return parts + [cur]


# containers whose checks run in the probe (a GPU one too): the lxc step's shell probes
CONTAINERS = {"containers": [900, 901, 902, 910, 953]}


def probe_commands() -> list[str]:
    cfg = host_config({"config": {"retry": {"attempts": 1, "delay_seconds": 0},
                                  "lxc": {"containers": {"910": {
                                      "idmap": ["u 0 100000 65536", "g 0 100000 65536"]}}}},
                       "secrets": {"admin_password": SECRET}, **CONTAINERS})
    # the API is dialled on loopback where nothing listens: refused at once
    cfg = cfg.model_copy(update={"api": ApiTarget(url="https://127.0.0.1:9", timeout=30)})
    commands: list[str] = []
    for step in STEPS:
        transport = FakeTransport(answer_empty)
        host = Host(cfg, readonly=True, transport=transport, insecure=True)
        try:
            probe(host, step, cfg)
        except Exception:  # noqa: BLE001 - empty facts may not parse; the commands were sent
            pass
        for command in transport.commands:
            text = batch_text(command) or command
            RAW.append(text)
            commands += [f"{step.id}: {c}" for c in simple_commands(text)]
    return commands


def read_only(command: str) -> bool:
    words = command.split(None, 1)
    rule = READ_ONLY.get(words[0], False)
    if rule is False:
        return False
    return rule is None or bool(rule.search(words[1] if len(words) > 1 else ""))


COMMANDS = probe_commands()


def test_probes_were_collected():
    # every step sent shell probes (lxc: the GPU unit, the id ranges, the in-container
    # checks; its settings come from the API)
    assert len({c.split(":")[0] for c in COMMANDS}) == len(STEPS)
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("line", COMMANDS)
def test_probe_command_is_read_only(line):
    step, command = line.split(": ", 1)
    assert read_only(command), f"{step} sends {command!r}, not known to be read-only"


def test_containers_run_only_the_probe_script():
    """Each in-container command runs lxc_inside.PROBE as it is, and nothing else."""
    lines = [ln for text in RAW for ln in text.splitlines() if "pct exec" in ln]
    assert len(lines) == 2  # 910 and 953 run; 900, 901, 902 are stopped templates
    for line in lines:
        assert line.count("pct exec") == 1 and f"sh -c {shlex.quote(PROBE)} phoenix-check " \
            in line, line


def test_the_secret_is_never_in_shell_text_and_perl_checks_it():
    assert all(SECRET not in text for text in RAW)
    assert any(c.startswith("admin_user: perl -e") for c in COMMANDS)


def test_nvidia_smi_only_runs_with_the_module_loaded():
    """On the host (inside a container, the checks may ask nvidia-smi: it loads nothing
    there)."""
    host_side = [re.sub(r"timeout -k 5 \d+ pct exec .*", "", text) for text in RAW]
    uses = [m.start() for text in host_side for m in re.finditer("nvidia-smi", text)]
    gated = [m.start() + len("lsmod | grep -q '^nvidia ' && ") for text in host_side
             for m in re.finditer(re.escape("lsmod | grep -q '^nvidia ' && nvidia-smi"), text)]
    assert uses and uses == gated


def test_print_the_list(capsys):
    programs = {c.split(": ", 1)[1].split()[0] for c in COMMANDS}
    with capsys.disabled():
        print(f"\n{len(COMMANDS)} probe commands, {len(programs)} distinct programs: "
              + " ".join(sorted(programs)))
