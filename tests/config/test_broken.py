"""Broken configs and inventories: each exits 3, names the path, shows no traceback."""

import copy
import os
import sys

import pytest

from phoenix_remote.cli.main import run
from tests.conftest import one_host_inventory

SENTINEL = "Sentinel-9f3a!secret"

GOOD_INVENTORY = one_host_inventory("PH_TEST_UNSET")


def patch(path, value):
    """A config mutation: set (or delete with value=...) the dotted path."""
    def apply(doc):
        node = doc
        *parents, leaf = path
        for p in parents:
            node = node[p]
        if value is ...:
            del node[leaf]
        else:
            node[leaf] = value
    return apply


def both(*fns):
    def apply(doc):
        for f in fns:
            f(doc)
    return apply


# (case id, config mutation or raw text, inventory text or None, expected fragments in stderr)
CASES = [
    ("version-wrong-type", patch(["version"], "1"), None, ["$.version"]),
    ("unknown-top-key", patch(["colour"], "red"), None, ["'colour'", "allowed keys"]),
    ("unknown-nested-key", patch(["network", "mtu"], 9000), None, ["$.network", "'mtu'"]),
    ("bad-cidr", patch(["network", "address"], "10.0.0.13/33"), None, ["$.network.address"]),
    ("bad-gateway-ip", patch(["network", "gateway"], "10.0.0.256"), None, ["$.network.gateway"]),
    ("bad-hostname", patch(["network", "hostname"], "-phoenix"), None, ["$.network.hostname"]),
    ("bad-interface", patch(["network", "interface"], "vmbr 0"), None, ["$.network.interface"]),
    ("gateway-outside-subnet", patch(["network", "gateway"], "10.9.9.1"), None,
     ["$.network.gateway", "outside"]),
    ("zfspool-backup", patch(["storage", "dataset_map", "quickOS/vm-disks"], "zfspool:backup"),
     None, ["dataset_map['quickOS/vm-disks']", "'backup' is not allowed for a zfspool"]),
    ("unknown-storage-type", patch(["storage", "dataset_map", "quickOS/vm-disks"], "lvm:images"),
     None, ["storage type 'lvm' unknown"]),
    ("storage-undefined-dataset", patch(["storage", "dataset_map", "quickOS/ghost"], "dir:images"),
     None, ["dataset_map['quickOS/ghost']", "not defined"]),
    ("duplicate-storage-id", both(patch(["zfs", "datasets", "fastData", "vm-disks"], {}),
                                  patch(["storage", "dataset_map", "fastData/vm-disks"],
                                        "dir:images")),
     None, ["storage id 'vm-disks'", "unique"]),
    # lxc: references, PVE's content rules, uniqueness
    ("lxc-rootfs-storage-without-rootdir", patch(["lxc", "defaults", "storage"], "shared-iso"),
     None, ["$.lxc.defaults.storage", "holds iso,vztmpl, not rootdir"]),
    ("lxc-template-storage-without-vztmpl",
     patch(["lxc", "templates", "ubuntu-24.04", "storage"], "lxc-disks"), None,
     ["$.lxc.templates.ubuntu-24.04.storage", "not vztmpl"]),
    ("lxc-unknown-storage", patch(["lxc", "containers", "900", "storage"], "ghost-disks"), None,
     ["$.lxc.containers.900.storage", "'ghost-disks' is not defined"]),
    ("lxc-storage-of-a-disabled-pool", patch(["zfs", "pools", "fastData", "enabled"], False),
     None, ["$.lxc.templates.ubuntu-24.04.storage", "storage 'shared-iso' is not defined"]),
    ("lxc-undefined-template", patch(["lxc", "containers", "900", "template"], "arch"), None,
     ["$.lxc.containers.900.template", "'arch' is not in $.lxc.templates"]),
    ("lxc-undefined-clone-source", patch(["lxc", "containers", "901", "clone", "vmid"], 999),
     None, ["$.lxc.containers.901.clone.vmid", "container 999 is not defined"]),
    ("lxc-clone-wrong-snapshot",
     patch(["lxc", "containers", "901", "clone", "snapshot"], "other_snap"), None,
     ["$.lxc.containers.901.clone.snapshot", "takes the snapshot 'base_snapshot'"]),
    ("lxc-clone-cycle", both(patch(["lxc", "containers", "900", "clone"],
                                   {"vmid": 902, "snapshot": "docker_snapshot"}),
                             patch(["lxc", "containers", "900", "template"], ...)),
     None, ["clone sources form a cycle: 900 -> 902 -> 900"]),
    ("lxc-template-and-clone", patch(["lxc", "containers", "901", "template"], "ubuntu-24.04"),
     None, ["$.lxc.containers.901"]),
    ("lxc-duplicate-ip", patch(["lxc", "containers", "901", "net", "net0", "ip"],
                               "10.0.0.200/24"), None,
     ["$.lxc.containers.901.net.net0", "address 10.0.0.200 is also used by container 900"]),
    ("lxc-duplicate-mac-case", patch(["lxc", "containers", "902", "net", "net0", "hwaddr"],
                                     "52:54:00:aa:bb:cc"), None,
     ["MAC address 52:54:00:AA:BB:CC is also used by container 900"]),
    ("lxc-unknown-mount-dataset", patch(["lxc", "containers", "910", "mounts"],
                                        {"mp0": {"dataset": "fastData/ghost", "path": "/g"}}),
     None, ["$.lxc.containers.910.mounts.mp0.dataset", "fastData/ghost is not in"]),
    ("lxc-snapshot-name-reserved", patch(["lxc", "containers", "900", "snapshot"],
                                         "current"), None,
     ["$.lxc.containers.900.snapshot", "reserved"]),
    ("lxc-raw-key-not-allowed", patch(["lxc", "containers", "900", "lxc.apparmor.profile"],
                                      "unconfined"), None, ["$.lxc.containers.900"]),
    ("lxc-raw-line-pve-refuses", patch(["lxc", "containers", "900", "raw_lxc"],
                                       ["lxc.rootfs.path: /tmp/x"]), None,
     ["$.lxc.containers.900.raw_lxc[0]", "lxc.rootfs.path is auto generated from rootfs"]),
    ("lxc-raw-line-unknown-key", patch(["lxc", "containers", "900", "raw_lxc"],
                                       ["lxc.apparmor.profile: unconfined",
                                        "lxc.made.up: 1"]), None,
     ["$.lxc.containers.900.raw_lxc[1]", "lxc.made.up is not a key PVE accepts"]),
    ("lxc-raw-line-cgroup-v1", patch(["lxc", "containers", "900", "raw_lxc"],
                                     ["lxc.cgroup.devices.allow: a"]), None,
     ["$.lxc.containers.900.raw_lxc[0]", "use lxc.cgroup2.*"]),
    ("lxc-raw-idmap-belongs-in-idmap", patch(["lxc", "containers", "900", "raw_lxc"],
                                             ["lxc.idmap: u 0 100000 65536"]), None,
     ["$.lxc.containers.900.raw_lxc[0]", "set id maps in `idmap`"]),
    ("lxc-idmap-malformed", patch(["lxc", "containers", "900", "idmap"], ["u 0 100000"]),
     None, ["$.lxc.containers.900.idmap[0]"]),
    ("lxc-setup-env-reserved-name", patch(["lxc", "containers", "910", "setup_env"],
                                          {"PHOENIX_NVIDIA_DRIVER": "1"}), None,
     ["$.lxc.containers.910.setup_env"]),
    ("lxc-undefined-setup", patch(["lxc", "containers", "900", "setup"], ["ghost"]), None,
     ["$.lxc.containers.900.setup[0]", "setup 'ghost' is not in $.lxc.setup"]),
    ("lxc-setup-script-missing", patch(["lxc", "setup", "base_setup", "script"],
                                       "lxc_setup/ghost.sh"),
     GOOD_INVENTORY + "    containers: [900]\n",
     ["config.lxc.setup.base_setup.script", "ghost.sh"]),
    ("lxc-gateway-outside", patch(["lxc", "containers", "900", "net", "net0", "gw"],
                                  "192.168.1.1"), None,
     ["$.lxc.containers.900.net.net0.gw", "outside 10.0.0.0/24"]),
    ("lxc-inventory-undefined-container", None, GOOD_INVENTORY + "    containers: [123]\n",
     ["containers", "container 123 is not defined"]),
    ("lxc-inventory-clone-source-elsewhere", None, GOOD_INVENTORY + "    containers: [901]\n",
     ["container 901 is cloned from 900, which this host does not run: add 900"]),
    ("lxc-fleet-same-container-twice", None, GOOD_INVENTORY + "    containers: [900]\n"
     "  h2:\n    address: 127.0.0.2\n    containers: [900]\n    drives:\n"
     "      quickOS: [/dev/disk/by-id/nvme-D, /dev/disk/by-id/nvme-E]\n"
     "      fastData: [/dev/disk/by-id/nvme-F]\n",
     ["$.hosts.h2.containers", "container 900 on h2 (net0) has the address 10.0.0.200 of "
                               "container 900 on h1"]),
    ("lxc-inventory-not-a-vmid", None, GOOD_INVENTORY + "    containers: [99]\n",
     ["containers"]),
    ("share-undefined-dataset", patch(["samba", "shares"], [{"dataset": "fastData/ghost"}]),
     None, ["$.samba.shares[0].dataset", "not defined"]),
    ("export-undefined-dataset", patch(["nfs", "exports"], [{"dataset": "quickOS/ghost"}]),
     None, ["$.nfs.exports[0].dataset"]),
    ("export-bad-option", patch(["nfs", "exports"], [{"dataset": "quickOS/vm-disks",
                                                     "options": "rw,noatime"}]),
     None, ["$.nfs.exports[0].options", "'noatime'"]),
    ("samba-unknown-share-option", patch(["samba", "shares"], [
        {"dataset": "fastData/shared-iso", "options": {"browsabel": "yes"}}]),
     None, ["options['browsabel']", "not a Samba parameter"]),
    ("samba-unknown-global", patch(["samba", "global", "work group"], "X"), None,
     ["$.samba.global['work group']"]),
    ("mirror-one-drive-config", patch(["zfs", "pools", "quickOS", "drive_count"], 1), None,
     ["$.zfs.pools.quickOS.drive_count", "at least 2"]),
    ("datasets-of-undefined-pool", patch(["zfs", "datasets", "tank"], {"x": {}}), None,
     ["$.zfs.datasets.tank", "not defined"]),
    ("bad-enum", patch(["final_reboot"], "sometimes"), None, ["$.final_reboot", "one of"]),
    ("missing-required", patch(["time"], ...), None, ["'time' is a required property"]),
    ("bad-dataset-property-value", patch(["zfs", "datasets", "quickOS", "vm-disks"],
                                         {"quota": "400 G"}), None, ["vm-disks.quota"]),
    ("secret-inline-config", patch(["secrets", "admin_password"], SENTINEL), None,
     ["$.secrets.admin_password", "never written inline"]),
    ("secret-two-sources", patch(["secrets", "admin_password"], {"env": "A", "file": "/x"}),
     None, ["$.secrets.admin_password", "exactly one secret source"]),
    ("secret-reference-missing", patch(["samba", "password_secret"], "nope"), None,
     ["secret 'nope' is referenced"]),
    ("json-syntax", '{"version": 1,\n  "secrets": {,}\n}', None, ["line 2, column 15"]),
    # inventories
    ("yaml-syntax", None, "hosts:\n  h1: {address: [\n", ["YAML syntax error at line"]),
    ("inventory-unknown-key", None, GOOD_INVENTORY + "    colour: red\n",
     ["$.hosts.h1", "'colour'"]),
    ("inventory-empty-hosts", None, "hosts: {}\n", ["$.hosts"]),
    ("drive-not-by-id", None, GOOD_INVENTORY.replace("/dev/disk/by-id/nvme-C", "/dev/nvme0n1"),
     ["$.hosts.h1.drives.fastData[0]"]),
    ("drive-in-two-pools", None, GOOD_INVENTORY.replace("nvme-C", "nvme-A"),
     ["host h1", "also listed for pool quickOS"]),
    ("mirror-one-drive-inventory", None, GOOD_INVENTORY.replace(", /dev/disk/by-id/nvme-B", ""),
     ["host h1: drives.quickOS", "found 1 drive(s)"]),
    ("enabled-pool-without-drives", None,
     GOOD_INVENTORY.replace("      fastData: [/dev/disk/by-id/nvme-C]\n", ""),
     ["pool fastData is enabled but no drives"]),
    ("group-undefined-host", None, GOOD_INVENTORY + "groups:\n  g: {hosts: [h1, ghost]}\n",
     ["$.groups.g.hosts[1]", "'ghost'"]),
    ("host-override-wrong-type", None, GOOD_INVENTORY + "    config: {network: {hostname: 5}}\n",
     ["host h1", "config.network.hostname"]),
    ("secret-inline-inventory", None,
     GOOD_INVENTORY + f"    api: {{token_id: 'root@pam!x', token_secret: '{SENTINEL}'}}\n",
     ["$.hosts.h1.api.token_secret", "never written inline"]),
    ("api-timeout-too-short", None, GOOD_INVENTORY + "    api: {timeout: 5}\n",
     ["$.hosts.h1.api.timeout"]),
    ("bad-fingerprint", None, GOOD_INVENTORY + "    ssh: {host_key_fingerprint: 'md5:aa'}\n",
     ["$.hosts.h1.ssh.host_key_fingerprint"]),
]


def run_cli(argv, capsys):
    old = sys.argv
    sys.argv = ["phoenix", *argv]
    try:
        with pytest.raises(SystemExit) as exc:
            run()
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("case,mutate,inventory,expect", CASES, ids=[c[0] for c in CASES])
def test_broken_input_exits_3(case, mutate, inventory, expect, base_config, write_config,
                              tmp_path, capsys):
    if isinstance(mutate, str):
        cfg = write_config(mutate)
    else:
        doc = copy.deepcopy(base_config)
        if mutate:
            mutate(doc)
        cfg = write_config(doc)
    argv = ["validate", "--config", str(cfg)]
    if inventory is not None:
        (tmp_path / "inv.yaml").write_text(inventory)
        argv += ["--inventory", str(tmp_path / "inv.yaml")]
    code, out, err = run_cli(argv, capsys)
    assert code == 3, (out, err)
    for fragment in expect:
        assert fragment in err, f"{fragment!r} not in:\n{err}"
    assert "Traceback" not in err + out
    assert SENTINEL not in err + out


def secret_file_case(tmp_path, mode, content):
    f = tmp_path / "smb_pw"
    f.write_text(content)
    os.chmod(f, mode)
    return GOOD_INVENTORY.replace("smb_password: {env: PH_TEST_UNSET_B}",
                                  f"smb_password: {{file: {f}}}")


@pytest.mark.parametrize("mode,content,expect", [
    (0o644, SENTINEL, "readable by group/others (mode 644); run: chmod 600"),
    (0o600, "short!", "at least 8 characters"),
    (0o600, "Sentinel9f3anopunct", "punctuation"),
], ids=["world-readable", "too-short", "no-punctuation"])
def test_secret_files(mode, content, expect, write_config, base_config, tmp_path, capsys):
    (tmp_path / "inv.yaml").write_text(secret_file_case(tmp_path, mode, content))
    code, out, err = run_cli(["validate", "-c", str(write_config(base_config)),
                              "-i", str(tmp_path / "inv.yaml")], capsys)
    assert code == 3 and expect in err and "secrets.smb_password" in err
    assert content not in err + out


def test_missing_secret_file(write_config, base_config, tmp_path, capsys):
    inv = GOOD_INVENTORY.replace("smb_password: {env: PH_TEST_UNSET_B}",
                                 f"smb_password: {{file: {tmp_path}/nope}}")
    (tmp_path / "inv.yaml").write_text(inv)
    code, _, err = run_cli(["validate", "-c", str(write_config(base_config)),
                            "-i", str(tmp_path / "inv.yaml")], capsys)
    assert code == 3 and "does not exist" in err


def test_all_problems_in_one_pass(base_config, write_config, capsys):
    doc = copy.deepcopy(base_config)
    doc["network"]["hostname"] = "-x"
    doc["network"]["dns"] = "1.2.3"
    doc["final_reboot"] = "maybe"
    code, _, err = run_cli(["validate", "-c", str(write_config(doc))], capsys)
    assert code == 3
    assert "3 problem(s) found" in err


def test_sentinel_never_shown(base_config, write_config, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PH_TEST_UNSET_A", SENTINEL)
    f = tmp_path / "pw"
    f.write_text(SENTINEL + "\n")
    f.chmod(0o600)
    inv = GOOD_INVENTORY.replace("{env: PH_TEST_UNSET_B}", f"{{file: {f}}}")
    (tmp_path / "inv.yaml").write_text(inv)
    cfg = str(write_config(base_config))
    for argv in (["validate", "-c", cfg, "-i", str(tmp_path / "inv.yaml")],
                 ["config", "show", "h1", "-c", cfg, "-i", str(tmp_path / "inv.yaml")],
                 ["config", "show", "h1", "--json", "-c", cfg, "-i",
                  str(tmp_path / "inv.yaml")]):
        code, out, err = run_cli(argv, capsys)
        assert code == 0, err
        assert SENTINEL not in out + err
    assert '"admin_password": "***"' in out and '"smb_password": "***"' in out
