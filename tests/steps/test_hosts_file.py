"""/etc/hosts: the node's name on its own address, stale lines for it replaced."""

import pytest

from phoenix_remote.steps.initial_setup import hosts_text

LOCAL = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"


@pytest.mark.parametrize("current,domain,expect", [
    (LOCAL, None, LOCAL + "10.0.0.13 phoenix\n"),
    (LOCAL, "lan", LOCAL + "10.0.0.13 phoenix.lan phoenix\n"),
    (LOCAL + "10.0.0.13 phoenix.lan phoenix\n", None, LOCAL + "10.0.0.13 phoenix.lan phoenix\n"),
    (LOCAL + "127.0.1.1 phoenix\n", None, LOCAL + "10.0.0.13 phoenix\n"),
    (LOCAL + "127.0.1.1 debian\n10.0.0.13 oldname.lan oldname\n", "lan",
     LOCAL + "10.0.0.13 phoenix.lan phoenix\n"),
    (LOCAL + "10.0.0.99 phoenix\n# a comment naming phoenix\n10.0.0.7 nas\n", None,
     LOCAL + "# a comment naming phoenix\n10.0.0.7 nas\n10.0.0.13 phoenix\n"),
    (LOCAL + "10.0.0.13 phoenix\n10.0.0.13 phoenix\n", None, LOCAL + "10.0.0.13 phoenix\n"),
], ids=["add", "add-fqdn", "installer-form-kept", "debian-loopback-replaced",
        "old-name-replaced", "other-address-dropped-rest-kept", "duplicate-dropped"])
def test_hosts_text(current, domain, expect):
    text, _line = hosts_text(current, "10.0.0.13", "phoenix", domain)
    assert text == expect
    assert hosts_text(text, "10.0.0.13", "phoenix", domain)[0] == text  # converged
