"""ZFS facts: empty output with exit 0 means "none"; a failing or missing zpool/zfs is
unknown, never "no pools"."""

import pytest

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts import zfs
from phoenix_remote.host.batch import Out


def test_answers():
    assert zfs.names(Out(0, "fastData\nquickOS\n")) == ["fastData", "quickOS"]
    assert zfs.names(Out(0, "")) == []
    assert zfs.props(Out(0, "quickOS\tautotrim\ton\tlocal\n")) == {
        "quickOS": {"autotrim": ("on", "local")}}


@pytest.mark.parametrize("read", [zfs.names, zfs.props, zfs.status])
@pytest.mark.parametrize("code", [1, 127])
def test_a_failing_tool_is_unknown(read, code):
    with pytest.raises(ProbeUnknown):
        read(Out(code, ""))


def test_queries():
    assert zfs.props_query(["compression", "atime"], "-d 0") == \
        "zfs get -H -d 0 -o name,property,value,source compression,atime"
    assert zfs.pool_props_query({"autotrim": "on"}) == \
        "zpool get -H -o name,property,value,source autotrim"
