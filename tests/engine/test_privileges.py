"""The privilege check before a run: the table of what each step needs is held to the
official schemas' permission checks, and a token PVE says lacks some is refused with the
list, before anything on the host changes."""

from __future__ import annotations

import json

import pytest

from phoenix_remote.config.models import ApiTarget
from phoenix_remote.engine import privileges
from phoenix_remote.pve_schema import match
from tests.conftest import ROOT
from tests.steps.test_step_cases import host_config, planned_api_actions


def schema_checks(version: str) -> list[tuple[str, int, str, list[str]]]:
    """(step, the case's PVE major, path template, privileges: any one will do) of every
    simple `perm` check of the API writes the step cases plan."""
    ops = json.loads((ROOT / f"phoenix_remote/data/pve-{version}-endpoints.json").read_text()
                     )["operations"]
    out = []
    for step, case, a in planned_api_actions():
        key, _ = match(ops, a.method, a.path)
        check = ops[key].get("permissions", {}).get("check") or []
        for c in [check] + [c for c in check[1:] if isinstance(c, list)]:
            if c and c[0] == "perm" and not str(c[1]).startswith("/pool"):
                out.append((step, case["facts"].get("pve_major", 8), c[1], c[2]))
    return out


@pytest.mark.parametrize("version", ["8.4", "9.1"])
def test_the_table_covers_every_permission_check_of_the_steps_calls(version):
    found = schema_checks(version)
    assert found, "the step cases make API writes"
    for step, case_major, template, privs in found:
        table = privileges.WRITES.get(step, []) + privileges.WRITES_BY_MAJOR.get(
            case_major, {}).get(step, [])
        listed = {priv for path, priv in table if path.split("/")[1] == template.split("/")[1]}
        assert listed & set(privs), (step, template, privs)


class FakeApi:
    """Answers GET /access/permissions?path=P from a map, as PVE does for one path."""
    node, major = "pve1", 9

    def __init__(self, grants: dict[str, set[str]]):
        self.grants, self.asked = grants, []

    def get_all(self, requests):
        return [self.get(path, **params) for path, params in requests]

    def get(self, api_path, /, **params):
        assert api_path == "/access/permissions"
        self.asked.append(params["path"])
        return {params["path"]: {p: 1 for p in self.grants.get(params["path"], set())}}


def token_cfg(**case):
    cfg = host_config({"containers": [900, 902], **case})
    return cfg.model_copy(update={"api": ApiTarget(token_id="root@pam!phoenix")})


def test_a_token_without_rights_is_refused_naming_what_it_lacks():
    cfg = token_cfg()
    api = FakeApi({"/": {"Sys.Audit"}, "/storage": {"Datastore.Audit"}})
    why = privileges.check(api, ["initial_setup", "storage", "lxc"], cfg, writes=True)
    assert why is not None and why.startswith("the API principal root@pam!phoenix lacks ")
    for lacking in ("Datastore.Allocate on /storage", "Sys.Modify on /nodes/pve1",
                    "VM.Allocate on /vms/900", "VM.Clone on /vms/902",
                    "Datastore.AllocateSpace on /storage/lxc-disks",
                    "Datastore.AllocateTemplate on /storage/shared-iso"):
        assert lacking in why, why
    assert "Sys.Audit on /," not in why and "--tokens root@pam!phoenix" in why


def test_verify_asks_only_for_reads_and_either_of_two_will_do():
    cfg = token_cfg()
    grants = {"/": {"Sys.Audit"}, "/storage": {"Datastore.AllocateSpace"},
              "/vms/900": {"VM.Audit"}, "/vms/902": {"VM.Audit"},
              "/storage/shared-iso": {"Datastore.Audit"}, "/nodes/pve1": {"Sys.Audit"}}
    assert privileges.check(FakeApi(grants), ["initial_setup", "storage", "lxc"], cfg,
                            writes=False) is None


def test_root_by_password_is_not_asked():
    cfg = host_config({}).model_copy(update={"api": ApiTarget(user="root@pam")})
    api = FakeApi({})
    assert privileges.check(api, ["storage"], cfg, writes=True) is None and not api.asked
