"""Host keys: every ProxyJump hop is checked like the target; after a move the new address
is dialled (not the alias) and must present the key the host had before."""

from __future__ import annotations

from pathlib import Path

import fabric
import paramiko
import pytest

from phoenix_remote.errors import HostKeyError
from phoenix_remote.host.ssh import SshSession, _HostKeyCheck


@pytest.fixture
def ssh_config(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text(
        "Host pve-behind\n  HostName 127.0.0.1\n  Port 2222\n  ProxyJump jump1,jump2\n"
        "Host jump1\n  HostName 127.0.0.2\nHost jump2\n  HostName 127.0.0.3\n")
    monkeypatch.setenv("HOME", str(home))
    return tmp_path


def hops(conn: fabric.Connection) -> list[fabric.Connection]:
    out, hop = [], conn.gateway
    while isinstance(hop, fabric.Connection):
        out.append(hop)
        hop = hop.gateway
    return out


def test_every_proxyjump_hop_gets_the_strict_policy(ssh_config):
    session = SshSession("192.0.2.5", "root", alias="pve-behind",
                         known_hosts=ssh_config / "known_hosts")
    conn = session.connection(pinned=None)
    chain = hops(conn)
    assert [h.host for h in chain] == ["127.0.0.2", "127.0.0.3"]
    for c in [conn, *chain]:
        policy = c.client._policy
        assert isinstance(policy, _HostKeyCheck) and not policy.accept_new
        assert len(c.client.get_host_keys()) == 0  # only the given known_hosts, empty here


def test_an_unknown_hop_key_is_refused():
    policy = _HostKeyCheck(None, accept_new=False, known_hosts=Path("/nonexistent"))
    key = paramiko.ECDSAKey.generate()
    with pytest.raises(HostKeyError, match="unknown host key"):
        policy.missing_host_key(None, "jump1", key)


def test_after_a_move_the_new_address_is_dialled_with_the_alias_settings(ssh_config):
    session = SshSession("192.0.2.5", "root", alias="pve-behind",
                         known_hosts=ssh_config / "known_hosts")
    session.moved, session.address = True, "127.0.0.9"
    conn = session.connection(pinned="SHA256:" + "A" * 43)
    assert conn.host == "127.0.0.9" and conn.port == 2222 and hops(conn)
    assert conn.client._policy.pinned == "SHA256:" + "A" * 43
