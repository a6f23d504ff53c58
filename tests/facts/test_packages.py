"""Package facts: dpkg-query's "some unknown" (exit 1) is an answer; a missing dpkg-query or
apt-mark is unknown, never "nothing installed"."""

import pytest

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts import packages
from phoenix_remote.host.batch import Out

LISTING = "samba\tinstalled\nufw\tnot-installed\n"


@pytest.mark.parametrize("code", [0, 1])
def test_answered(code):
    assert packages.installed(Out(code, LISTING)) == {"samba"}


@pytest.mark.parametrize("code", [2, 127])
def test_a_failing_dpkg_query_is_unknown(code):
    with pytest.raises(ProbeUnknown, match="dpkg-query exited"):
        packages.installed(Out(code, ""))


def test_manual():
    assert packages.manual(Out(0, "samba\nufw\n")) == {"samba", "ufw"}
    with pytest.raises(ProbeUnknown):
        packages.manual(Out(127, ""))


def test_queries_quote_names():
    assert packages.installed_query(["a b", "proxmox-headers-*"]).endswith(
        "'a b' 'proxmox-headers-*'")
