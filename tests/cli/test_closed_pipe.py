"""A reader that goes away (`phoenix plan ... | head -1`) must not change the outcome: the
run goes on to its end and exits with the run's code. The host is an SSH port on loopback
where nothing listens (the host fails: exit 1); stdout is a pipe closed before phoenix
writes to it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.conftest import ROOT, one_host_inventory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_a_closed_stdout_keeps_the_exit_code_and_the_run_goes_on(tmp_path):
    inv = tmp_path / "inv.yaml"
    port = free_port()
    inv.write_text(one_host_inventory("PH_PIPE_UNSET")
                   + f"    ssh: {{port: {port}, connect_timeout: 5}}\n"
                   + f"    config: {{firewall: {{allow: ['{port}/tcp']}}}}\n")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before phoenix writes anything
    p = subprocess.run([sys.executable, "-m", "phoenix_remote", "plan", "-i", str(inv),
                        "--known-hosts", str(tmp_path / "kh"), "--log-dir",
                        str(tmp_path / "logs"), "--failed-file", str(tmp_path / "failed")],
                       cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    os.close(write_end)
    assert p.returncode == 1, p.stderr  # the host failed: not 0 because stdout went away
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    # and the SSH error in plain words, not paramiko's "[Errno None] Unable to connect"
    assert f"connection refused (nothing listens on port {port}" in p.stderr, p.stderr
    # what comes after the table still happened: the failed-hosts file and the run log
    assert (tmp_path / "failed").read_text() == "h1\n"
    log = next((tmp_path / "logs").glob("*-plan.log")).read_text()
    assert "h1" in log and "failed" in log


def test_ssh_errors_in_plain_words():
    import errno

    import paramiko

    from phoenix_remote.host.ssh import plain_words
    refused = paramiko.ssh_exception.NoValidConnectionsError(
        {("127.0.0.1", 22): ConnectionRefusedError(errno.ECONNREFUSED, "refused")})
    assert plain_words(refused).startswith("connection refused (nothing listens on port 22")
    assert plain_words(TimeoutError()).startswith("timed out")
    assert plain_words(paramiko.SSHException("No authentication methods available")
                       ).startswith("no key offered")
    assert plain_words(paramiko.AuthenticationException("No authentication methods "
                                                        "available")).startswith(
        "no key offered: set ssh.key_file or start an agent")
    assert plain_words(OSError(errno.EHOSTUNREACH, "x")).startswith("no route to the host")
