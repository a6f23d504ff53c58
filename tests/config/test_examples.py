"""The shipped example configs validate; NFS storages and exports must agree."""

import copy
import json

from phoenix_remote.cli.main import main
from tests.conftest import ROOT, one_host_inventory

FOUR = ROOT / "etc/examples/four-drives.json"
INVENTORY = one_host_inventory("PH_EX_UNSET", "10.0.0.13",
                               "      storageNFS: [{path: /dev/disk/by-id/nvme-D, wipe: true}]\n")


def test_four_drive_example_validates(tmp_path, capsys):
    (tmp_path / "inv.yaml").write_text(INVENTORY)
    assert main(["validate", "-c", str(FOUR), "-i", str(tmp_path / "inv.yaml")]) == 0, \
        capsys.readouterr().err


def test_an_nfs_storage_must_be_exported(tmp_path, capsys):
    doc = copy.deepcopy(json.loads(FOUR.read_text()))
    doc["nfs"]["exports"] = doc["nfs"]["exports"][:1]
    (tmp_path / "c.json").write_text(json.dumps(doc))
    assert main(["validate", "-c", str(tmp_path / "c.json")]) == 3
    err = capsys.readouterr().err
    assert "storageNFS/shared-nfs-backups is an NFS storage but not exported" in err


def test_the_nfs_server_address_is_inside_the_subnet(tmp_path, capsys):
    doc = copy.deepcopy(json.loads(FOUR.read_text()))
    doc["nfs"]["subnet"] = "192.168.77.0/24"
    (tmp_path / "c.json").write_text(json.dumps(doc))
    assert main(["validate", "-c", str(tmp_path / "c.json")]) == 3
    assert "outside nfs.subnet 192.168.77.0/24" in capsys.readouterr().err
