"""ufw facts: no ufw yet is an answer; ufw installed but not answering is unknown."""

import pytest

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts import firewall
from phoenix_remote.host.batch import Out


def test_answers():
    assert firewall.status_text(Out(0, "Status: inactive\n"), True) == "Status: inactive\n"
    assert firewall.status_text(Out(127, ""), installed=False) == ""


def test_installed_but_failing_is_unknown():
    with pytest.raises(ProbeUnknown, match="although ufw is installed"):
        firewall.status_text(Out(1, ""), installed=True)
