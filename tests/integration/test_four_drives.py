"""The original's 4-drive layout (etc/examples/four-drives.json): storageNFS enabled, its
datasets exported and registered as Proxmox NFS storages served by the host itself."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.integration.phoenix_run import make_inventory, phoenix, report
from tests.sandbox import lab

pytestmark = pytest.mark.sandbox
FOUR = ROOT / "etc/examples/four-drives.json"


def test_four_drive_layout_converges_with_nfs_storages(fresh_host, tmp_path):
    host = fresh_host
    old_drive = lab.by_id(lab.drives_of(host.index)["nvme3n1"])  # carries an old ext4 partition

    def edit(inv):
        inv["hosts"][host.name]["drives"]["storageNFS"] = [{"path": old_drive, "wipe": True}]
    inv = make_inventory(tmp_path, hosts=[host.name], edit=edit)
    first = phoenix("apply", "-c", str(FOUR), inventory=inv, tmp=tmp_path, json_out=True)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-3000:]
    again = phoenix("apply", "-c", str(FOUR), inventory=inv, tmp=tmp_path, json_out=True)
    assert again.returncode == 0
    assert [s["step"] for s in report(again)["hosts"][0]["steps"] if s["changes"]] == []
    assert phoenix("verify", "-c", str(FOUR), inventory=inv, tmp=tmp_path).returncode == 0
    # with the hosts' own tools: the pool, the exports, the storages PVE holds
    assert host.ssh("zpool list -H -o name").stdout.split() == ["fastData", "quickOS",
                                                                "storageNFS"]
    exports = host.ssh("exportfs -v").stdout
    assert "/storageNFS/shared-nfs-images" in exports and "/storageNFS/shared-nfs-backups" \
        in exports
    cfg = host.ssh("sed -n '/^nfs: nfs-storageNFS-shared-nfs-images/,/^$/p' "
                   "/etc/pve/storage.cfg").stdout.strip().splitlines()
    assert cfg == ["nfs: nfs-storageNFS-shared-nfs-images",
                   "\texport /storageNFS/shared-nfs-images",
                   "\tpath /mnt/nfs/nfs-storageNFS-shared-nfs-images",
                   f"\tserver {host.address}", "\tcontent images",
                   "\toptions vers=4,soft,timeo=30,retrans=3"], cfg
    # drift: the storage's options changed by hand are put back without re-adding it
    host.ssh("pvesm set nfs-storageNFS-shared-nfs-backups -options vers=3")
    drift = phoenix("verify", "-c", str(FOUR), inventory=inv, tmp=tmp_path, json_out=True)
    assert drift.returncode == 2
    assert phoenix("apply", "-c", str(FOUR), inventory=inv, tmp=tmp_path).returncode == 0
    assert "options vers=4,soft,timeo=30,retrans=3" in host.ssh(
        "sed -n '/^nfs: nfs-storageNFS-shared-nfs-backups/,/^$/p' /etc/pve/storage.cfg").stdout
