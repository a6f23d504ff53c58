"""The API client checks every call against the PVE 8.4 schema before sending it, and every
endpoint the steps use exists there with the parameters we send."""

from __future__ import annotations

import pytest

from phoenix_remote.errors import ApiError, PhoenixError
from phoenix_remote.host.api import PveClient
from phoenix_remote.pve_schema import load_operations, match, validate
from tests.steps.test_step_cases import host_config, planned_api_actions

OPS = load_operations()
# GET calls the steps and commands make while probing (paths as the client builds them)
PROBE_CALLS = [("GET", "/access/users/heads@pve", {}), ("GET", "/access/acl", {}),
               ("GET", "/storage", {}), ("GET", "/cluster/status", {}), ("GET", "/nodes", {}),
               ("GET", "/nodes/pve1/disks/list", {}),
               ("GET", "/nodes/pve1/tasks/UPID:pve1:0:0:0:x:y:root@pam:/status", {}),
               ("GET", "/nodes/pve1/tasks/UPID:pve1:0:0:0:x:y:root@pam:/log", {"limit": "50"}),
               ("GET", "/cluster/resources", {"type": "vm"}),
               ("GET", "/nodes/pve1/lxc/900/config", {}),
               ("GET", "/nodes/pve1/lxc/900/pending", {}),
               ("GET", "/nodes/pve1/lxc/900/status/current", {}),
               ("GET", "/nodes/pve1/lxc/900/snapshot", {}),
               ("GET", "/nodes/pve1/storage/shared-iso/content", {"content": "vztmpl"})]


class NoNetworkHost:
    """A Host stand-in that fails the test if the client tried to reach anything."""
    name = "h1"
    insecure = False

    def __init__(self, cfg):
        self.cfg = cfg

    def read_file(self, path):
        raise AssertionError("the client went to the network for a call it should refuse")


def plan_api_calls() -> list[tuple[str, str, dict]]:
    return [(a.method, a.path, {k: "x" * 12 if hasattr(v, "reveal") else PveClientPlain(v)
                                for k, v in a.params.items()})
            for _step, _case, a in planned_api_actions()]


def PveClientPlain(v):
    from phoenix_remote.host.api import _plain
    return _plain(v)


@pytest.mark.parametrize("version", ["8.4", "9.1"])
def test_every_endpoint_we_call_is_in_pve_84_and_91_with_valid_parameters(version):
    ops = load_operations(version)
    calls = plan_api_calls() + PROBE_CALLS
    used = set()
    for method, path, params in calls:
        key, placeholders = match(ops, method, path)
        assert key is not None, f"{method} {path} is not a PVE {version} method"
        assert validate(ops[key], {**params, **placeholders}) == {}, (method, path, params)
        used.add(key)
    assert {"POST /storage", "PUT /storage/{storage}", "POST /access/users",
            "PUT /access/acl", "POST /nodes/{node}/lxc", "POST /nodes/{node}/lxc/{vmid}/clone",
            "PUT /nodes/{node}/lxc/{vmid}/config", "PUT /nodes/{node}/lxc/{vmid}/resize",
            "POST /nodes/{node}/lxc/{vmid}/snapshot", "POST /nodes/{node}/aplinfo",
            "POST /nodes/{node}/lxc/{vmid}/status/reboot"} <= used


@pytest.mark.parametrize("major", [8, 9])
def test_client_refuses_a_parameter_outside_the_nodes_schema_before_sending(major):
    client = PveClient(NoNetworkHost(host_config({})), major=major)
    with pytest.raises(ApiError) as err:
        client.call("POST", "/storage", {"storage": "x", "type": "dir", "path": "/x",
                                         "colour": "red"})
    assert err.value.status == 400
    assert "colour" in err.value.errors
    with pytest.raises(PhoenixError, match=f"not a PVE {major} API method"):
        client.get("/nodes/pve1/frobnicate")
    with pytest.raises(ApiError) as boolean:
        client.call("PUT", "/storage/xy", {"disable": "yes"})
    assert boolean.value.errors == {"disable": "type check ('boolean') failed - got 'yes'"}


GLUSTER = {"storage": "gv0", "type": "glusterfs", "server": "s", "volume": "v"}


def test_a_method_only_pve_9_has_is_refused_for_a_pve_8_node():
    """GlusterFS storage (its `volume` option) is gone from the 9.1 schema."""
    eight, nine = (PveClient(NoNetworkHost(host_config({})), major=m) for m in (8, 9))
    with pytest.raises(ApiError) as err:
        nine.call("POST", "/storage", GLUSTER)
    assert "volume" in (err.value.errors or {})
    with pytest.raises(AssertionError, match="went to the network"):
        eight.call("POST", "/storage", GLUSTER)


def test_booleans_are_sent_as_1_and_0():
    from phoenix_remote.host.api import _plain
    assert (_plain(True), _plain(False), _plain(None), _plain(["a", "b"])) == ("1", "0", None,
                                                                               "a,b")
