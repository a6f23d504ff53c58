"""The shipped config equals PORTING_SPEC's values, one by one (a one-to-one port)."""

import json

from tests.conftest import ROOT

CFG = json.loads((ROOT / "etc/hypervisor_config.json").read_text())

SPEC_DATASETS = {
    "quickOS/vm-disks": {"compression": "lz4", "dedup": "on"},
    "quickOS/lxc-disks": {"compression": "lz4"},
    "quickOS/shared-prod-data": {"compression": "lz4", "recordsize": "128K",
                                 "sync": "standard", "quota": "400G"},
    "quickOS/shared-prod-data-sync": {"compression": "lz4", "recordsize": "16K",
                                      "sync": "always"},
    "fastData/shared-backups": {"compression": "lz4"},
    "fastData/shared-iso": {"compression": "lz4"},
    "fastData/shared-test-data": {"compression": "lz4", "atime": "off"},
    "fastData/shared-bulk-data": {"compression": "lz4", "atime": "off"},
}
SPEC_STORAGE = {
    "quickOS/vm-disks": "zfspool:images", "quickOS/lxc-disks": "zfspool:rootdir",
    "quickOS/shared-prod-data": "dir:images", "quickOS/shared-prod-data-sync": "dir:images",
    "fastData/shared-backups": "dir:backup", "fastData/shared-iso": "dir:iso,vztmpl",
    "fastData/shared-test-data": "dir:images", "fastData/shared-bulk-data": "dir:images",
}


def test_datasets_and_properties():
    flat = {f"{p}/{d}": props for p, sets in CFG["zfs"]["datasets"].items()
            for d, props in sets.items()}
    assert flat == SPEC_DATASETS
    assert list(flat) == list(SPEC_DATASETS)  # creation order kept


def test_pools():
    pools = CFG["zfs"]["pools"]
    assert pools["quickOS"] == {"enabled": True, "layout": "mirror", "drive_count": 2}
    assert pools["fastData"] == {"enabled": True, "layout": "single", "drive_count": 1}
    assert pools["storageNFS"]["enabled"] is False
    assert CFG["zfs"]["pool_options"] == {"autotrim": "on"}
    assert CFG["zfs"]["filesystem_options"] == {"compression": "lz4", "atime": "off"}
    assert CFG["zfs"]["package"] == "zfsutils-linux"


def test_storage_map_and_ids():
    assert CFG["storage"]["dataset_map"] == SPEC_STORAGE
    assert CFG["storage"]["unused_default_ids"] == {
        "vm": "quickOS-vm", "lxc": "quickOS-lxc", "backup": "fastData-backup",
        "iso": "fastData-iso"}
    assert (CFG["storage"]["default_type"], CFG["storage"]["default_content"]) == ("dir", "images")
    assert CFG["storage"]["nfs_mount_options"] == "vers=4,soft,timeo=30,retrans=3"
    assert CFG["storage"]["nfs_mount_base"] == "/mnt/nfs"


def test_prompted_defaults():
    assert CFG["network"] == {"hostname": "phoenix", "interface": "vmbr0",
                              "address": "10.0.0.13/24", "gateway": "10.0.0.1",
                              "dns": "8.8.8.8"}
    assert CFG["admin_user"]["username"] == "heads"
    assert CFG["samba"]["user"] == "heads"
    assert CFG["time"] == {"timezone": "America/New_York", "ntp_package": "chrony",
                           "ntp_service": "chrony.service"}
    assert CFG["retry"] == {"attempts": 3, "delay_seconds": 5}


def test_packages_repositories_firewall():
    assert CFG["apt"]["repositories"] == [
        "deb http://download.proxmox.com/debian/pve bookworm pve-no-subscription",
        "deb http://download.proxmox.com/debian/ceph-quincy bookworm no-subscription"]
    assert CFG["apt"]["disable_lists"] == ["/etc/apt/sources.list.d/pve-enterprise.list",
                                           "/etc/apt/sources.list.d/ceph.list"]
    assert CFG["base_packages"] == ["s-tui"]
    assert CFG["samba_packages"] == ["samba", "samba-common-bin", "smbclient"]
    assert CFG["firewall"]["allow"] == ["OpenSSH", "8006/tcp", "2049/tcp", "111/tcp", "Samba"]
    nv = CFG["nvidia"]
    assert nv["driver_package"] == "nvidia-open-575.57.08"
    assert nv["extra_packages"] == ["nvtop"]
    assert nv["repository"] == ("deb http://developer.download.nvidia.com/compute/cuda/repos/"
                                "debian12/x86_64/ /")
    assert nv["repository_key_url"].endswith("/debian12/x86_64/3bf863cc.pub")
    assert nv["blacklist_lines"] == ["blacklist nouveau", "options nouveau modeset=0"]
    assert nv["header_packages"] == ["proxmox-default-headers", "pve-headers"]
    assert nv["update_system_before_reboot"] is False


def test_nfs_and_samba():
    assert CFG["nfs"]["subnet"] == "10.0.0.0/24"
    assert CFG["nfs"]["packages"] == ["nfs-kernel-server", "nfs-common", "ufw"]
    assert CFG["nfs"]["exports"] == []
    assert CFG["samba"]["packages"] == ["samba", "samba-common"]
    g = CFG["samba"]["global"]
    assert list(g.items())[:3] == [("workgroup", "WORKGROUP"),
                                   ("server string", "%h server (Phoenix)"),
                                   ("log file", "/var/log/samba/log.%m")]
    assert g["passwd chat"] == ("*Enter\\snew\\s*\\spassword:* %n\\n *Retype\\snew\\s*\\spassword:*"
                                " %n\\n *password\\supdated\\ssuccessfully* .")
    assert len(g) == 14
    assert [s["dataset"].split("/")[1] for s in CFG["samba"]["shares"]] == [
        "shared-backups", "shared-iso", "shared-test-data", "shared-bulk-data",
        "shared-prod-data", "shared-prod-data-sync"]
    assert all(s["options"] == {"browseable": "yes", "writable": "yes"}
               for s in CFG["samba"]["shares"])


def test_logrotate():
    assert CFG["logging"]["logrotate"] == ["daily", "rotate 7", "compress", "delaycompress",
                                           "missingok", "notifempty", "create 644 root root"]
