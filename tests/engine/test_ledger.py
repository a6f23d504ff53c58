"""The ledger, its lock and the one file installer, run for real (bash, flock, the install
script) on this machine through FakeTransport, in a temporary directory."""

from __future__ import annotations

import json

import pytest

from phoenix_remote.engine.ledger import Ledger
from phoenix_remote.errors import CommandFailed, LockBusy
from phoenix_remote.host.host import Host
from tests.fake_transport import FakeTransport
from tests.steps.test_step_cases import host_config

HOSTILE_DIR = "state dir; $(touch CANARY) `touch CANARY`"


@pytest.fixture
def where(tmp_path):
    d = tmp_path / HOSTILE_DIR.replace("CANARY", str(tmp_path / "canary"))
    return tmp_path, d


def make_host(tmp_path, ledger_dir, readonly=False) -> tuple[Host, FakeTransport]:
    cfg = host_config({"config": {"ledger_path": f"{ledger_dir}/state.json"}})
    transport = FakeTransport()
    return Host(cfg, readonly=readonly, transport=transport), transport


def test_lock_path_is_quoted_and_the_lock_excludes_a_second_run(where):
    tmp, d = where
    host, _ = make_host(tmp, d)
    first = Ledger(host, f"{d}/state.json", lock_timeout=1)
    first.acquire()
    assert (d / "lock").exists() and "pid" in (d / "lock.owner").read_text()
    other, _ = make_host(tmp, d)
    with pytest.raises(LockBusy, match="another phoenix run holds the lock"):
        Ledger(other, f"{d}/state.json", lock_timeout=1).acquire()
    first.release()
    Ledger(other, f"{d}/state.json", lock_timeout=1).acquire()
    assert not (tmp / "canary").exists()


def test_log_text_is_data_even_when_it_looks_like_a_heredoc_end(where):
    tmp, d = where
    host, transport = make_host(tmp, d)
    ledger = Ledger(host, f"{d}/state.json")
    ledger.acquire()
    ledger.load()
    log = tmp / "setup.log"
    evil = f"PHOENIX_LOG\ntouch {tmp / 'canary'}\nPHOENIX_LEDGER\n$(touch {tmp / 'canary'})"
    ledger.record("nfs", {"result": "failed", "error": evil}, [f"nfs: FAILED: {evil}"], str(log))
    assert not (tmp / "canary").exists()
    saved = json.loads((d / "state.json").read_text())
    assert saved["steps"]["nfs"]["error"] == evil
    assert "PHOENIX_LOG | touch" in log.read_text()  # one record per line
    assert oct((d / "state.json").stat().st_mode)[-3:] == "600"
    # the content travelled on stdin, never in the command line
    assert all(evil not in c for c in transport.commands)


def test_a_reconnect_retakes_the_lock_and_rereads_before_writing(where):
    tmp, d = where
    host, transport = make_host(tmp, d)
    ledger = Ledger(host, f"{d}/state.json", lock_timeout=1)
    ledger.acquire()
    ledger.load()
    ledger.record("zfs_pools", {"result": "changed"}, ["zfs_pools: ok"], str(tmp / "log"))
    transport.drop()  # the link dies: the lock channel ends with it
    # meanwhile another run (after ours lost the lock) recorded a step
    other, _ = make_host(tmp, d)
    theirs = Ledger(other, f"{d}/state.json", lock_timeout=1)
    theirs.acquire()
    theirs.load()
    theirs.record("samba", {"result": "ok"}, ["samba: ok"], str(tmp / "log"))
    theirs.release()
    ledger.record("nfs", {"result": "changed"}, ["nfs: ok"], str(tmp / "log"))
    steps = json.loads((d / "state.json").read_text())["steps"]
    assert set(steps) == {"zfs_pools", "samba", "nfs"}
    assert transport.connections == 2
    # and the lock is held again: a third run cannot take it
    third, _ = make_host(tmp, d)
    with pytest.raises(LockBusy):
        Ledger(third, f"{d}/state.json", lock_timeout=1).acquire()
    ledger.release()


def test_an_unreadable_ledger_is_backed_up_not_overwritten(tmp_path):
    host, _ = make_host(tmp_path, tmp_path)
    (tmp_path / "state.json").write_text("{garbage")
    ledger = Ledger(host, f"{tmp_path}/state.json")
    ledger.acquire()
    ledger.load()
    assert ledger.corrupt
    ledger.record("nfs", {"result": "ok"}, ["nfs: ok"], str(tmp_path / "log"))
    backups = list(tmp_path.glob("state.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{garbage"
    assert json.loads((tmp_path / "state.json").read_text())["steps"]["nfs"]["result"] == "ok"


def test_install_backups_never_reuse_a_name(tmp_path):
    host, _ = make_host(tmp_path, tmp_path)
    target = tmp_path / "etc" / "exports"
    target.parent.mkdir()
    made = []
    for i in range(3):  # three writes within the same second
        target.write_text(f"version {i}\n")
        made += host.install(str(target), f"new {i}\n", backup=".bak.%Y-%m-%d_%H-%M-%S")
    assert len(set(made)) == 3
    assert sorted(open(p).read() for p in made) == ["version 0\n", "version 1\n", "version 2\n"]


def test_install_check_failure_restores_the_previous_file(tmp_path):
    host, _ = make_host(tmp_path, tmp_path)
    target = tmp_path / "smb.conf"
    target.write_text("old\n")
    with pytest.raises(CommandFailed, match="previous file restored"):
        host.install(str(target), "new\n", backup=".bak.%s", check=("false",),
                     reload=("touch", str(tmp_path / "reloaded")))
    assert target.read_text() == "old\n" and not (tmp_path / "reloaded").exists()
    host.install(str(target), "new\n", backup=".bak.%s", check=("true",),
                 reload=("touch", str(tmp_path / "reloaded")))
    assert target.read_text() == "new\n" and (tmp_path / "reloaded").exists()


@pytest.mark.parametrize("content", ["PHOENIX_EOF\n$(touch CANARY)\n", "no newline at end",
                                     "", "\x00binary\xff\n" * 3, "EOF\n" * 1000])
def test_install_writes_any_content_verbatim(tmp_path, content):
    host, _ = make_host(tmp_path, tmp_path)
    content = content.replace("CANARY", str(tmp_path / "canary"))
    host.install(str(tmp_path / "f"), content, mode="0640", backup="none")
    assert (tmp_path / "f").read_bytes() == content.encode()
    assert oct((tmp_path / "f").stat().st_mode)[-3:] == "640"
    assert not (tmp_path / "canary").exists()
    assert not list(tmp_path.glob(".phoenix.*"))  # no temp file left behind


def test_a_read_only_host_refuses_to_write(tmp_path):
    host, transport = make_host(tmp_path, tmp_path, readonly=True)
    with pytest.raises(Exception, match="read-only"):
        host.install(str(tmp_path / "f"), "x")
    assert transport.commands == []
