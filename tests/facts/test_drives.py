"""Drive facts from util-linux 2.38 output (the formats lsblk -J, wipefs and blkid -p
print); a failing tool on an existing drive is unknown, never empty."""

import json

import pytest

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts.drives import commands, parse
from phoenix_remote.host.batch import Out

P = "/dev/disk/by-id/nvme-X"


def outs(lsblk, wipefs="", blkid=("", 2), dev=(0, "/dev/nvme0n1\n")):
    return {"dev0": Out(dev[0], dev[1]), "lsblk0": Out(0, json.dumps({"blockdevices": lsblk})),
            "wipefs0": Out(0, wipefs), "blkid0": Out(blkid[1], blkid[0])}


DISK = {"name": "nvme0n1", "type": "disk", "fstype": None, "label": None, "mountpoint": None}


def test_empty_drive():
    f = parse(0, P, outs([DISK]))
    assert f.device == "/dev/nvme0n1" and not f.dirty


def test_partitions_signatures_mounts_and_holders():
    tree = [{**DISK, "children": [
        {"name": "nvme0n1p1", "type": "part", "fstype": "ext4", "label": None,
         "mountpoint": "/srv"},
        {"name": "nvme0n1p2", "type": "part", "fstype": "LVM2_member", "label": None,
         "mountpoint": None, "children": [{"name": "vg-data", "type": "lvm", "fstype": "xfs",
                                           "label": None, "mountpoint": None}]}]}]
    wipefs = "DEVICE  OFFSET TYPE UUID LABEL\nnvme0n1 0x200  gpt\nnvme0n1 0x1fe  PMBR\n"
    f = parse(0, P, outs(tree, wipefs, ('/dev/nvme0n1: PTUUID="x" PTTYPE="gpt"\n', 0)))
    assert f.partitions == ("nvme0n1p1", "nvme0n1p2")
    assert f.signatures == ("LVM2_member", "PMBR", "ext4", "gpt", "xfs")
    assert f.mounts == ("/srv",) and f.holders == ("vg-data (lvm)",)


def test_zfs_label_of_an_exported_pool():
    f = parse(0, P, outs([{**DISK, "fstype": "zfs_member", "label": "oldtank"}],
                         "DEVICE OFFSET TYPE UUID LABEL\nnvme0n1 0x3f000 zfs_member 1 oldtank\n",
                         ('/dev/nvme0n1: LABEL="oldtank" UUID="1" TYPE="zfs_member"\n', 0)))
    assert f.dirty and f.zfs_labels == ("oldtank",)


def test_missing_drive():
    assert parse(0, P, outs([], dev=(1, ""))).device is None


@pytest.mark.parametrize("name,out", [("lsblk0", Out(127, "")), ("wipefs0", Out(127, "")),
                                      ("blkid0", Out(4, "")), ("lsblk0", Out(0, "not json"))])
def test_a_failing_tool_is_unknown(name, out):
    o = outs([DISK])
    o[name] = out
    with pytest.raises(ProbeUnknown):
        parse(0, P, o)


def test_commands_quote_the_path():
    cmds = commands(0, "/dev/disk/by-id/a b;reboot")
    assert all("'/dev/disk/by-id/a b;reboot'" in c for c in cmds.values())
