"""The container step's comparison rules and ordering, table-tested: what counts as drift in
PVE's stored values, which keys need root@pam or a restart, and clone-chain order."""

import pytest

from phoenix_remote.steps.lxc import Lxc, restart_keys
from phoenix_remote.steps.lxc_keys import (
    differs,
    join_prop,
    needs_root,
    size_gb,
    split_prop,
    takes_restart,
)
from tests.steps.test_step_cases import host_config

NET = "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,hwaddr=52:54:00:AA:BB:CC"


@pytest.mark.parametrize("key,have,want,drift", [
    ("net0", NET.replace("AA:BB:CC", "aa:bb:cc") + ",type=veth", NET, False),  # PVE's additions
    ("net0", NET.replace("vmbr0", "vmbr1"), NET, True),
    ("net0", "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,type=veth", NET, True),  # gw, MAC missing
    ("features", "keyctl=1,nesting=1", "nesting=1,keyctl=1", False),  # order is not drift
    ("features", "nesting=1", "nesting=1,keyctl=1", True),
    ("mp0", "lxc-disks:subvol-9-disk-1,mp=/data,size=8G", "lxc-disks:8,mp=/data", False),
    ("mp0", "lxc-disks:subvol-9-disk-1,mp=/data,size=4G", "lxc-disks:8,mp=/data", True),
    ("mp0", "/fastData/x,mp=/data", "/fastData/x,mp=/data", False),
    ("mp0", "/fastData/x,mp=/data,ro=1", "/fastData/x,mp=/data", True),
    ("mp0", "/fastData/y,mp=/data", "/fastData/x,mp=/data", True),
    ("cores", 2, "2", False), ("cores", 4, "2", True),
    ("onboot", None, "0", False), ("swap", None, "512", False),  # PVE's defaults when unset
    ("nameserver", None, "8.8.8.8", True),
])
def test_differs(key, have, want, drift):
    assert differs(key, have, want) is drift


def test_property_strings_round_trip():
    assert split_prop("lxc-disks:8,mp=/data,ro=1") == {"": "lxc-disks:8", "mp": "/data",
                                                       "ro": "1"}
    assert join_prop({"": "v", "mp": "/x"}) == "v,mp=/x"


@pytest.mark.parametrize("text,gb", [("32G", 32), ("512M", 0.5), ("1T", 1024), ("0", 0),
                                     ("junk", 0)])
def test_size_gb(text, gb):
    assert size_gb(text) == gb


def test_root_only_and_restart_rules():
    assert needs_root("mp0", "/fastData/x,mp=/data") and not needs_root("mp0", "lxc-disks:8,mp=/x")
    assert needs_root("features", "nesting=1,keyctl=1") and not needs_root("features", "nesting=1")
    assert needs_root("dev0", "/dev/nvidia0") and not needs_root("cores", "2")
    assert not takes_restart("cores", True) and not takes_restart("net0", True)
    assert not takes_restart("memory", True) and takes_restart("features", True)
    assert not takes_restart("mp1", existed=False) and takes_restart("mp1", existed=True)
    assert takes_restart("nameserver", True)


@pytest.mark.parametrize("new,old,unprivileged,root", [
    ("nesting=1", None, True, False),  # a new container with nesting alone
    ("nesting=1,keyctl=0", None, True, True),  # any other flag at creation
    ("nesting=1", "nesting=1,keyctl=1", True, True),  # removing keyctl is a change of it
    ("nesting=0,keyctl=1", "nesting=1,keyctl=1", True, False),  # only nesting changed
    ("nesting=1,keyctl=1", "keyctl=1", True, False),
    ("nesting=1", "nesting=0", False, True),  # a privileged container: any feature change
])
def test_feature_changes_that_need_root_follow_pve(new, old, unprivileged, root):
    """pve-container's check_ct_modify_config_perm decides from the old and the new value."""
    assert needs_root("features", new, old, unprivileged) is root


def test_restart_keys_know_a_pending_change_set_back():
    want = {"features": "nesting=1", "cores": "2", "nameserver": "1.1.1.1"}
    pending = [{"key": "features", "value": "nesting=1", "pending": "nesting=1,keyctl=1"}]
    # the plan sets features back to its current value: PVE drops that pending entry
    assert restart_keys(pending, {"features": "nesting=1"}, want, {}) == []
    # a pending change the plan leaves alone, and a new non-hotplug one, wait for a restart
    assert restart_keys(pending, {"nameserver": "1.1.1.1"}, want,
                        {"nameserver": "8.8.8.8"}) == ["features", "nameserver"]
    assert restart_keys([], {"cores": "2"}, want, {"cores": 4}) == []


def test_clone_sources_come_first():
    cfg = host_config({"containers": [957, 902, 900, 951, 920, 901]})
    assert cfg.config.lxc is not None
    assert cfg.config.lxc.in_order(cfg.containers) == [900, 901, 902, 920, 951, 957]


def test_the_step_skips_a_host_without_containers():
    assert Lxc().skip_reason(host_config({})) is not None
    assert Lxc().skip_reason(host_config({"containers": [900]})) is None



def test_ct_selection_keeps_clone_sources():
    from phoenix_remote.cli.run import select_containers
    cfg = host_config({"containers": [900, 901, 902, 910, 920]})
    [one] = select_containers([cfg], (910,))
    assert one.containers == (900, 902, 910)  # 910 is cloned from 902, 902 from 900
    assert select_containers([cfg], ()) == [cfg]


def _case(name: str) -> dict:
    import yaml

    from tests.steps.test_step_cases import HERE
    return yaml.safe_load((HERE / "lxc" / f"{name}.yaml").read_text())


def test_an_interrupted_create_runs_setup_in_order_before_the_snapshot():
    from tests.steps.test_step_cases import describe, facts_of
    case = _case("interrupted-create-sets-up-before-snapshot")
    plan = Lxc().plan(facts_of(case), host_config(case))
    steps = [describe(a).split(" (")[0] for a in plan[0].actions]
    assert steps == ["API POST /nodes/pve/lxc/900/status/start",
                     "pct exec 900: setup base_setup", "ledger: containers 900 := set_up",
                     "API POST /nodes/pve/lxc/900/status/shutdown",
                     "API POST /nodes/pve/lxc/900/snapshot snapname=base_snapshot"]


def test_a_container_that_gave_no_answer_is_unknown_not_in_policy():
    from tests.steps.test_step_cases import facts_of
    case = _case("setup-check-fails")
    facts = facts_of(case)
    vmid = next(iter(facts["status"]))
    facts["inside"], facts["inside_unknown"] = {}, {vmid: "its checks did not finish within 30 s"}
    plan = Lxc().plan(facts, host_config(case))
    name = host_config(case).config.lxc.container(vmid).hostname
    assert plan.unknown == (f"container {vmid} {name}: its checks did not finish within 30 s",)
    assert not [c for c in plan if "setup" in c.summary]
