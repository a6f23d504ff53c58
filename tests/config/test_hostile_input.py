"""Hostile and broken input, generated class by class: every case exits 3 (or 0 where the
input is valid), names the file and the JSON path, prints no traceback and never echoes a
secret. Each runs through the real entry point; hangs are caught by a process timeout."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time

import pytest

from phoenix_remote.cli.main import main
from tests.conftest import ROOT, one_host_inventory

SENTINEL = "Sentinel-Hostile-4d2e!"
BASE = json.loads((ROOT / "etc/hypervisor_config.json").read_text())
INVENTORY = one_host_inventory("PH_HOSTILE_UNSET")
SLOWEST: list[tuple[float, str]] = []


def string_leaves(node, path=()):
    """Every string value of the shipped config with its path (secret sources excluded:
    they are names of variables and files, tested on their own below)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if path == () and k in ("secrets", "$schema"):
                continue
            yield from string_leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from string_leaves(v, path + (i,))
    elif isinstance(node, str):
        yield path, node


def dotted(path) -> str:
    out = "$"
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (
            f".{p}" if p.replace("_", "a").replace("-", "a").isalnum() else f"[{p!r}]")
    return out


def setter(path, value):
    def mutate(doc):
        node = doc
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
    return mutate


def run_validate(capsys, argv):
    t0 = time.monotonic()
    code = main(["validate", *argv])
    SLOWEST.append((time.monotonic() - t0, " ".join(argv)[-80:]))
    out = capsys.readouterr()
    return code, out.out + out.err


# ------------------------------------------------------------------ config value cases
CONFIG_CASES: list[tuple[str, object, str]] = []  # (id, mutation, expected path fragment)
for _path, _value in string_leaves(BASE):
    for _suffix, _name in (("\n", "LF"), ("\r", "CR"), ("\x00", "NUL"), ("\x1b[2J", "ESC")):
        CONFIG_CASES.append((f"{_name}:{dotted(_path)}", setter(_path, _value + _suffix),
                             dotted(_path)))

ARGV_FIELDS = [("time", "ntp_service"), ("time", "timezone"), ("time", "ntp_package"),
               ("network", "interface"), ("network", "hostname"), ("admin_user", "username"),
               ("admin_user", "group"), ("admin_user", "pve_role"), ("samba", "user"),
               ("zfs", "package"), ("firewall", "package"), ("nvidia", "driver_package")]
for _section, _key in ARGV_FIELDS:
    CONFIG_CASES.append((f"leading-dash:{_section}.{_key}",
                         setter((_section, _key), "--help"), f"$.{_section}.{_key}"))
for _i in range(len(BASE["firewall"]["allow"])):
    CONFIG_CASES.append((f"leading-dash:firewall.allow[{_i}]",
                         setter(("firewall", "allow", _i), "-A INPUT"),
                         f"$.firewall.allow[{_i}]"))

ZFS_BAD = {"quota": ["lots", "-1", "400 G", "4OOG"], "recordsize": ["banana", "100K", "32M",
           "256"], "compression": ["snappy", "zstd-20", "gzip-0", "LZ4"],
           "atime": ["yes", "true", "1"], "sync": ["sometimes"], "xattr": ["posix"],
           "acltype": ["acl"], "dedup": ["maybe", "edonr", "md5"], "copies": ["4", "0"],
           "refreservation": ["some"], "mountpoint": ["/srv/x"], "snappy": ["on"],
           "Bad:prop": ["x"], "logbias": ["fast"], "primarycache": ["some"],
           "sharenfs": ["rw=@10.0.0.0/8"]}
for _prop, _values in ZFS_BAD.items():
    for _v in _values:
        CONFIG_CASES.append((f"zfs-dataset:{_prop}={_v}",
                             setter(("zfs", "datasets", "quickOS", "vm-disks"),
                                    {"compression": "lz4", _prop: _v}), "vm-disks"))
POOL_BAD = {"autotrim": "yes", "ashift": "8", "failmode": "crash", "feature@x": "on",
            "altroot": "/mnt", "compatibility": "all features!"}
for _prop, _v in POOL_BAD.items():
    CONFIG_CASES.append((f"zfs-pool:{_prop}={_v}", setter(("zfs", "pool_options"), {_prop: _v}),
                         "$.zfs.pool_options"))
CONFIG_CASES.append(("zfs-fs-option:compression=snappy",
                     setter(("zfs", "filesystem_options"), {"compression": "snappy"}),
                     "$.zfs.filesystem_options"))

PATHS = [
    (("apt", "sources_list"), "/etc/passwd"),
    (("apt", "sources_list"), "/etc/apt/sources.list.d/../../passwd"),
    (("apt", "disable_lists", 0), "/etc/apt/sources.list.d/../../shadow"),
    (("apt", "disable_lists", 0), "/etc/passwd"),
    (("apt", "disable_lists", 0), "/etc/apt/sources.list.d/x.conf"),
    (("nvidia", "repository_file"), "/etc/passwd"),
    (("nvidia", "repository_file"), "/etc/apt/sources.list.d/../x.list"),
    (("nvidia", "blacklist_file"), "/etc/shadow"),
    (("logging", "log_file"), "/etc/shadow"),
    (("logging", "logrotate_file"), "/etc/cron.d/x"),
    (("logging", "logrotate_file"), "/etc/logrotate.d/x.conf"),
    (("ledger_path",), "/etc/passwd"),
    (("ledger_path",), "/var/lib/dpkg/status.json"),
    (("ledger_path",), "/var/lib/phoenix_remote/../dpkg/x.json"),
    (("admin_user", "shell"), "/tmp/x"),
    (("admin_user", "shell"), "/bin/../tmp/sh"),
    (("admin_user", "pve_acl_path"), "/vms/*"),
    (("admin_user", "username"), "root"),
    (("admin_user", "username"), "www-data"),
    (("admin_user", "group"), "root"),
    (("admin_user", "group"), "disk"),
    (("samba", "user"), "root"),
    (("samba", "user"), "nobody"),
    (("storage", "nfs_mount_base"), "/etc"),
    (("zfs", "mountpoint_rule"), "/etc/{dataset}"),
    (("zfs", "mountpoint_rule"), "/srv/{pool}/../../etc/{dataset}"),
    (("zfs", "mountpoint_rule"), "/usr/local/{pool}/{dataset}"),
    (("zfs", "mountpoint_rule"), "/var/lib/pve-cluster/{dataset}"),
    (("zfs", "mountpoint_rule"), "/boot/{dataset}"),
    (("zfs", "mountpoint_rule"), "/srv/../etc/{dataset}"),
    (("zfs", "mountpoint_rule"), "/srv/{dataset}/{host}"),
    (("zfs", "mountpoint_rule"), "/srv/{pool"),
    (("zfs", "mountpoint_rule"), "/srv/{dataset!r}"),
    (("zfs", "mountpoint_rule"), "/srv/{dataset.__class__}"),
    (("zfs", "mountpoint_rule"), "/srv/{pool}"),
]
for _path, _v in PATHS:
    CONFIG_CASES.append((f"path:{dotted(_path)}={_v}", setter(_path, _v),
                         dotted(_path) if _path[0] != "zfs" else "$.zfs."))
for _i, _line in enumerate(["postrotate", "postrotate\n  rm -rf /\nendscript", "prerotate",
                            "firstaction", "mail root@example.org", "compresscmd /bin/sh",
                            "include /etc", "}", "olddir /etc", "create 644 root root {"]):
    CONFIG_CASES.append((f"logrotate:{_i}", setter(("logging", "logrotate", 0), _line),
                         "$.logging.logrotate[0]"))
for _name in ("mirror", "raidz2", "spare", "log"):
    CONFIG_CASES.append((f"pool-name:{_name}", setter(("zfs", "pools"), {
        **BASE["zfs"]["pools"], _name: {"enabled": False, "layout": "single",
                                         "drive_count": 1}}), f"$.zfs.pools.{_name}"))
for _field, _v in [(("retry", "delay_seconds"), float("inf")), (("retry", "attempts"), 0.5),
                   (("retry", "attempts"), 10**30), (("version",), 2),
                   (("nvidia", "required_pve_major"), "8")]:
    CONFIG_CASES.append((f"number:{dotted(_field)}={_v}", setter(_field, _v),
                         "Infinity" if _v == float("inf") else dotted(_field)))


@pytest.mark.parametrize("case,mutate,where", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_hostile_config_values(case, mutate, where, tmp_path, capsys):
    doc = copy.deepcopy(BASE)
    mutate(doc)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(doc))  # json.dumps writes inf as Infinity: refused too
    code, text = run_validate(capsys, ["-c", str(cfg)])
    assert code == 3, text
    assert str(cfg) in text and where in text, text
    assert "Traceback" not in text


# ------------------------------------------------------------------ the same through --set
SET_CASES = [("time.timezone", '"UTC\\n"'), ("network.hostname", '"-x"'),
             ("zfs.datasets.quickOS.vm-disks.quota", "lots"),
             ("zfs.mountpoint_rule", "/etc/{dataset}"), ("samba.user", "root"),
             ("logging.logrotate", '["postrotate"]'), ("time.ntp_service", "--now"),
             ("apt.disable_lists", '["/etc/passwd"]'), ("retry.attempts", "NaN"),
             ("zfs.pools.quickOS.layout", "raidz9")]


@pytest.mark.parametrize("key,value", SET_CASES, ids=[k for k, _ in SET_CASES])
def test_set_gets_the_same_checks(key, value, tmp_path, capsys):
    (tmp_path / "inv.yaml").write_text(INVENTORY)
    code, text = run_validate(capsys, ["-i", str(tmp_path / "inv.yaml"),
                                       "--set", f"{key}={value}"])
    assert code == 3 and "--set" in text and "Traceback" not in text, text


@pytest.mark.parametrize("item", ["novalue", "=x", "a..b=1", "a b=1"])
def test_malformed_set(item, capsys):
    code, text = run_validate(capsys, ["--set", item])
    assert code == 3 and "--set" in text and "dotted.path=value" in text


# ------------------------------------------------------------------ inventory values
INV_CASES = [
    ("api-port-99999", "    api: {url: 'https://127.0.0.1:99999'}\n", "api.url"),
    ("api-port-0", "    api: {url: 'https://127.0.0.1:0'}\n", "api.url"),
    ("api-url-path", "    api: {url: 'https://h/x?y'}\n", "api.url"),
    ("connect-timeout-nan", "    ssh: {connect_timeout: .nan}\n", "connect_timeout"),
    ("connect-timeout-inf", "    ssh: {connect_timeout: .inf}\n", "connect_timeout"),
    ("connect-timeout-half", "    ssh: {connect_timeout: 0.5}\n", "connect_timeout"),
    ("command-timeout-0", "    ssh: {command_timeout: 0}\n", "command_timeout"),
    ("api-timeout-nan", "    api: {timeout: .nan}\n", "api.timeout"),
    ("ssh-port-string", "    ssh: {port: '22; rm -rf /'}\n", "ssh.port"),
    ("ssh-user-dash", "    ssh: {user: '-oProxyCommand=x'}\n", "ssh.user"),
    ("ssh-alias-dash", "    ssh: {alias: '-oProxyCommand=x'}\n", "ssh.alias"),
    ("ssh-key-dash", "    ssh: {key_file: '-i'}\n", "ssh.key_file"),
    ("address-dash", "    address: '-oProxyCommand=x'\n", "address"),
    ("address-newline", "    address: \"127.0.0.1\\n\"\n", "address"),
    ("drive-traversal", "  h2:\n    drives: {quickOS: [/dev/disk/by-id/../../sda, "
                        "/dev/disk/by-id/nvme-B], fastData: [/dev/disk/by-id/nvme-C]}\n",
     "h2.drives.quickOS[0]"),
    ("drive-wipe-string", "  h2:\n    drives: {quickOS: [{path: /dev/disk/by-id/nvme-A, "
                          "wipe: 'yes'}, /dev/disk/by-id/nvme-B], fastData: "
                          "[/dev/disk/by-id/nvme-C]}\n", "wipe"),
    ("yaml-date-value", "    config: {time: {timezone: !!timestamp 2024-01-01}}\n", "timezone"),
    ("yaml-set", "    config: {base_packages: !!set {a, b}}\n", "base_packages"),
    ("yaml-binary", "    config: {time: {timezone: !!binary aGVsbG8=}}\n", "timezone"),
    ("config-host-newline", "    config: {network: {hostname: \"a\\nb\"}}\n",
     "config.network.hostname"),
    ("config-mountpoint-etc", "    config: {zfs: {mountpoint_rule: '/etc/{dataset}'}}\n",
     "config.zfs.mountpoint_rule"),
]


@pytest.mark.parametrize("case,extra,where", INV_CASES, ids=[c[0] for c in INV_CASES])
def test_hostile_inventory_values(case, extra, where, tmp_path, capsys):
    (tmp_path / "inv.yaml").write_text(INVENTORY + extra)
    code, text = run_validate(capsys, ["-i", str(tmp_path / "inv.yaml")])
    assert code == 3 and str(tmp_path / "inv.yaml") in text and where in text, text
    assert "Traceback" not in text


INV_DOCS = [
    ("integer-host-name", "hosts:\n  123: {address: 127.0.0.1}\n", "keys must be strings"),
    ("bool-host-name", "hosts:\n  yes: {address: 127.0.0.1}\n", "keys must be strings"),
    ("date-host-name", "hosts:\n  !!timestamp 2024-01-01: {address: 127.0.0.1}\n",
     "keys must be strings"),
    ("list-inventory", "- a\n- b\n", "expected type object"),
    ("scalar-inventory", "hello\n", "expected type object"),
    ("empty-inventory", "", "expected type object"),
    ("hosts-list", "hosts: [a, b]\n", "$.hosts"),
    ("duplicate-yaml-key", "hosts:\n  h1: {address: 10.0.0.1}\n  h1: {address: 10.0.0.2}\n",
     "duplicate key 'h1'"),
    ("duplicate-nested-key", "hosts:\n  h1: {address: 10.0.0.1, address: 10.0.0.2}\n",
     "duplicate key 'address'"),
    ("billion-laughs", "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(25)) + "hosts: {h1: {}}\n", "aliases"),
    ("deep-nesting", "hosts: " + "[" * 5000 + "]" * 5000 + "\n", "$"),
    ("huge-int", "hosts:\n  h1: {ssh: {port: " + "9" * 5000 + "}}\n", "$"),
    ("python-tag", "hosts: !!python/object/apply:os.system ['id']\n", "$"),
    ("same-address-twice", "hosts:\n  h1: {address: 10.0.0.1, drives: {quickOS: "
     "[/dev/disk/by-id/a, /dev/disk/by-id/b], fastData: [/dev/disk/by-id/c]}}\n"
     "  h2: {address: 10.0.0.1, drives: {quickOS: [/dev/disk/by-id/a, /dev/disk/by-id/b], "
     "fastData: [/dev/disk/by-id/c]}}\n", "also the address of host h1"),
]


@pytest.mark.parametrize("case,text,expect", INV_DOCS, ids=[c[0] for c in INV_DOCS])
def test_hostile_inventory_documents(case, text, expect, tmp_path, capsys):
    (tmp_path / "inv.yaml").write_text(text)
    code, out = run_validate(capsys, ["-i", str(tmp_path / "inv.yaml")])
    assert code == 3 and expect in out and str(tmp_path / "inv.yaml") in out, out
    assert "Traceback" not in out


# ------------------------------------------------------------------ files
def _fifo(tmp):
    os.mkfifo(tmp / "x.json")
    return tmp / "x.json"


def _write(name, data):
    def make(tmp):
        (tmp / name).write_bytes(data)
        return tmp / name
    return make


FILE_CASES = [
    ("fifo", _fifo, "not a regular file"),
    ("dev-zero", lambda tmp: "/dev/zero", "not a regular file"),
    ("dev-urandom", lambda tmp: "/dev/urandom", "not a regular file"),
    ("directory", lambda tmp: tmp, "a directory"),
    ("missing", lambda tmp: tmp / "nope.json", "No such file"),
    ("latin-1", _write("c.json", '{"a": "caf\xe9"}'.encode("latin-1")), "not UTF-8"),
    ("utf-16", _write("c.json", json.dumps(BASE).encode("utf-16")), "not UTF-8"),
    ("random-bytes", _write("c.json", bytes(range(256)) * 8), "not UTF-8"),
    ("too-large", _write("c.json", b" " * (5 * 1024 * 1024)), "limit"),
    ("huge-int", _write("c.json", b'{"version": ' + b"1" * 5000 + b"}"), "JSON refused"),
    ("deep-nesting", _write("c.json", b"[" * 100000 + b"]" * 100000), "nested too deeply"),
    ("nan", _write("c.json", json.dumps({**BASE, "retry": {"attempts": 3,
                                         "delay_seconds": float("nan")}}).encode()),
     "NaN is not a number JSON allows"),
    ("duplicate-key", _write("c.json", json.dumps(BASE)[:-1].encode() +
                             b', "final_reboot": "always"}'), "duplicate key 'final_reboot'"),
    ("empty", _write("c.json", b""), "JSON syntax error"),
    ("not-an-object", _write("c.json", b"[1, 2]"), "expected type object"),
]


@pytest.mark.parametrize("case,make,expect", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_hostile_config_files(case, make, expect, tmp_path):
    path = str(make(tmp_path))
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "phoenix_remote", "validate", "-c", path],
                       cwd=ROOT, capture_output=True, text=True, timeout=20)
    SLOWEST.append((time.monotonic() - t0, f"file {case} (own process)"))
    assert p.returncode == 3 and expect in p.stderr and path in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


def test_inventory_file_that_is_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "inv.yaml")
    p = subprocess.run([sys.executable, "-m", "phoenix_remote", "validate", "-i",
                        str(tmp_path / "inv.yaml")], cwd=ROOT, capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 3 and "not a regular file" in p.stderr


# ------------------------------------------------------------------ secrets
def _secret_inventory(tmp, make):
    target = make(tmp)
    return INVENTORY.replace("smb_password: {env: PH_HOSTILE_UNSET_B}",
                             f"smb_password: {{file: '{target}'}}")


def _secret_file(content: bytes, mode=0o600):
    def make(tmp):
        f = tmp / "pw"
        f.write_bytes(content)
        f.chmod(mode)
        return f
    return make


def _secret_fifo(tmp):
    os.mkfifo(tmp / "pw", 0o600)
    return tmp / "pw"


SECRET_CASES = [
    ("newline-inside", _secret_file((SENTINEL + "\nroot:owned").encode()), "a line break"),
    ("two-trailing-newlines", _secret_file((SENTINEL + "\n\n").encode()), "a line break"),
    ("nul", _secret_file((SENTINEL + "\0x").encode()), "a NUL byte"),
    ("escape", _secret_file((SENTINEL + "\x1b").encode()), "control character"),
    ("empty-file", _secret_file(b""), "is empty"),
    ("only-newline", _secret_file(b"\n"), "is empty"),
    ("directory", lambda tmp: tmp, "not a regular file"),
    ("fifo", _secret_fifo, "not a regular file"),
    ("dev-zero", lambda tmp: "/dev/zero", "not a regular file"),
    ("not-utf8", _secret_file(b"\xff\xfe" + SENTINEL.encode()), "not UTF-8"),
    ("world-readable", _secret_file(SENTINEL.encode(), 0o644), "chmod 600"),
    ("too-large", _secret_file(b"x!" * 4000), "larger than 4096"),
]


@pytest.mark.parametrize("case,make,expect", SECRET_CASES, ids=[c[0] for c in SECRET_CASES])
def test_hostile_secret_files(case, make, expect, tmp_path, capsys):
    (tmp_path / "inv.yaml").write_text(_secret_inventory(tmp_path, make))
    code, out = run_validate(capsys, ["-i", str(tmp_path / "inv.yaml")])
    assert code == 3 and expect in out and "secrets.smb_password" in out, out
    assert SENTINEL not in out and "root:owned" not in out


@pytest.mark.parametrize("value", [SENTINEL + "\nroot:x", SENTINEL + "\r", "\x1b" + SENTINEL])
def test_hostile_env_secret(value, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PH_HOSTILE_UNSET_A", value)
    (tmp_path / "inv.yaml").write_text(INVENTORY)
    code, out = run_validate(capsys, ["-i", str(tmp_path / "inv.yaml")])
    assert code == 3 and "secrets.admin_password" in out and SENTINEL not in out, out


SECRET_SHAPES = [
    ("config-secrets-string", {"secrets": SENTINEL}),
    ("config-secrets-list", {"secrets": [SENTINEL]}),
    ("config-secret-number", {"secrets": {"admin_password": 12345678}}),
    ("config-secret-inline-key", {"secrets": {"admin_password": {"value": SENTINEL}}}),
    ("config-secret-env-list", {"secrets": {"admin_password": {"env": [SENTINEL]}}}),
]


@pytest.mark.parametrize("case,patch", SECRET_SHAPES, ids=[c[0] for c in SECRET_SHAPES])
def test_secret_type_errors_never_echo_the_value(case, patch, tmp_path, capsys):
    doc = {**copy.deepcopy(BASE), **patch}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    code, out = run_validate(capsys, ["-c", str(tmp_path / "c.json")])
    assert code == 3 and "$.secrets" in out and SENTINEL not in out, out


@pytest.mark.parametrize("text", [
    "    api: {token_id: 'root@pam!x', token_secret: '" + SENTINEL + "'}\n",
    "    api: '" + SENTINEL + "'\n",
    "    secrets: '" + SENTINEL + "'\n",
    "    secrets: {admin_password: ['" + SENTINEL + "']}\n",
    "    api: {password: {file: ['" + SENTINEL + "']}}\n"])
def test_inventory_secret_type_errors_never_echo_the_value(text, tmp_path, capsys):
    (tmp_path / "inv.yaml").write_text(INVENTORY + text)
    code, out = run_validate(capsys, ["-i", str(tmp_path / "inv.yaml")])
    assert code == 3 and "$.hosts.h1" in out and SENTINEL not in out, out


# ------------------------------------------------------------------ the valid side
ZFS_GOOD = {"quota": ["none", "400G", "1.5T", "512M", "1024"], "recordsize": ["512", "128K",
            "1M", "16M"], "compression": ["lz4", "zstd", "zstd-19", "zstd-fast-1000",
            "gzip-9", "off"], "dedup": ["on", "off", "sha256,verify", "edonr,verify",
            "blake3"], "atime": ["on", "off"], "xattr": ["sa"], "acltype": ["posixacl"],
            "com.example:owner": ["team a"], "refreservation": ["auto"]}


@pytest.mark.parametrize("prop,value", [(p, v) for p, vs in ZFS_GOOD.items() for v in vs])
def test_valid_zfs_properties_pass(prop, value, tmp_path, capsys):
    doc = copy.deepcopy(BASE)
    doc["zfs"]["datasets"]["quickOS"]["vm-disks"] = {prop: value}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    code, out = run_validate(capsys, ["-c", str(tmp_path / "c.json")])
    assert code == 0, out


def test_zz_report_slowest_case(capsys):
    """Not an assertion on time (benchmarks hold those): prints the slowest case seen."""
    if SLOWEST:
        with capsys.disabled():
            took, what = max(SLOWEST)
            print(f"\nhostile input: {len(SLOWEST)} timed cases, slowest {took:.2f} s ({what})")
