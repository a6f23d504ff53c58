"""The order inside a container's creation: made, configured, grown, snapshotted, started;
and root-only settings through `pct set` only when the API is not root@pam."""

from phoenix_remote.engine.types import Api, Run
from phoenix_remote.steps.lxc import Lxc
from tests.steps.test_step_cases import host_config

FRESH = {"node": "pve", "guests": {}, "configs": {}, "inside": {}, "driver": "",
         "pending": {}, "status": {}, "snapshots": {}, "inside_unknown": {}, "owned": {},
         "subids": {},
         "templates": {"shared-iso": ["shared-iso:vztmpl/ubuntu-24.04-standard_24.04-2_amd64"
                                      ".tar.zst"]}}
BIND = {"config": {"lxc": {"containers": {"910": {"mounts": {
    "mp0": {"dataset": "fastData/shared-bulk-data", "path": "/data"}}}}}}}


def steps_of(root: bool) -> dict[str, list[str]]:
    cfg = host_config({"containers": [900, 902, 910], **BIND})
    plan = Lxc().plan({**FRESH, "root": root}, cfg)
    out = {}
    for change in plan:
        vmid = change.summary.split()[1]
        out[vmid] = [f"{a.method} {a.path.split('/lxc', 1)[-1]}" if isinstance(a, Api)
                     else " ".join(a.argv[:3]) for a in change.actions
                     if isinstance(a, Api | Run)]
    return out


def test_creation_order_with_a_token():
    assert steps_of(root=False) == {
        # set up while running (the setup scripts run by pct exec), then stopped and
        # snapshotted: clones start from the result
        "900": ["POST ", "POST /900/status/start", "pct exec 900", "POST /900/status/shutdown",
                "POST /900/snapshot"],
        "902": ["POST /900/clone", "PUT /902/config", "POST /902/status/start", "pct exec 902",
                "POST /902/status/shutdown", "POST /902/snapshot"],
        "910": ["POST /902/clone", "PUT /910/config", "PUT /910/resize", "pct set 910",
                "POST /910/status/start", "pct exec 910"],
    }


def test_root_at_pam_sets_the_bind_mount_through_the_api():
    ordered = steps_of(root=True)["910"]
    assert "pct set 910" not in ordered
    cfg = host_config({"containers": [900, 902, 910], **BIND})
    plan = Lxc().plan({**FRESH, "root": True}, cfg)
    put = next(a for a in plan[-1].actions if isinstance(a, Api) and a.method == "PUT"
               and a.path.endswith("/config"))
    assert put.params["mp0"] == "/fastData/shared-bulk-data,mp=/data"


def test_the_ledger_gets_each_containers_result():
    cfg = host_config({"containers": [900, 902, 910], **BIND})
    plan = Lxc().plan({**FRESH, "root": True}, cfg)
    items = Lxc.ledger_items(plan[1:], cfg)  # all but the first container's creation
    assert items["900"] == {"hostname": "BaseTemplate", "result": "ok", "changes": []}
    assert items["910"]["result"] == "changed"
    assert items["910"]["changes"] == ["container 910 Portainer"]
    assert "host" not in items
