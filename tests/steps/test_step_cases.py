"""Table-driven step cases: tests/steps/<step-id>/<case>.yaml gives config overrides, the
facts a probe would return, and what `plan` must answer (changes, actions, or a refusal).
Each step has at least: create, noop, drift, refuse, injection."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pytest
import yaml

from phoenix_remote.config.inventory import read_public_key, read_setup_scripts
from phoenix_remote.config.loading import deep_merge
from phoenix_remote.config.models import ApiTarget, Drive, HostConfig, HypervisorConfig, SshTarget
from phoenix_remote.config.secrets import Secret
from phoenix_remote.engine.step import check_facts
from phoenix_remote.engine.types import Api, InstallFile, Run, Script
from phoenix_remote.errors import PhoenixError
from phoenix_remote.facts import firewall
from phoenix_remote.facts.drives import DriveFacts
from phoenix_remote.steps import STEPS
from tests.conftest import ROOT

HERE = Path(__file__).parent
CASES = sorted(HERE.glob("*/*.yaml"))
BASE = json.loads((ROOT / "etc/hypervisor_config.json").read_text())
DRIVES = {"quickOS": ["/dev/disk/by-id/nvme-A", "/dev/disk/by-id/nvme-B"],
          "fastData": ["/dev/disk/by-id/nvme-C"]}


def host_config(case: dict) -> HostConfig:
    doc = deep_merge(copy.deepcopy(BASE), case.get("config", {}))
    drives = case.get("drives", DRIVES)
    config = HypervisorConfig.model_validate(doc)
    containers = tuple(case.get("containers", ()))
    scripts, missing = read_setup_scripts(config, containers, ROOT / "etc")
    assert not missing, missing
    return HostConfig(
        name="h1", address=case.get("address", "10.0.0.13"), groups=(), ssh=SshTarget(),
        api=ApiTarget(),
        drives={p: tuple(Drive(path=d) if isinstance(d, str) else Drive(**d) for d in items)
                for p, items in drives.items()},
        config=config, setup_scripts=scripts,
        secrets={k: Secret(v, "test") for k, v in case.get("secrets", {}).items()},
        admin_public_key=read_public_key(doc["admin_user"]["ssh_public_key_file"], ROOT),
        containers=containers)


def facts_of(case: dict) -> dict:
    """The case's facts as the probe returns them (typed facts built from the YAML, so a
    case cannot describe a shape the parser never produces)."""
    facts = copy.deepcopy(case["facts"])
    if isinstance(facts.get("ufw"), str):  # the status text, parsed as the probe parses it
        facts["ufw"] = firewall.parse(facts["ufw"])
    if "installed" in facts:
        facts["installed"] = set(facts["installed"])
    if isinstance(facts.get("drives"), dict):
        facts["drives"] = {path: DriveFacts(path=path, **{k: tuple(v) if isinstance(v, list)
                                                          else v for k, v in d.items()})
                           for path, d in facts["drives"].items()}
    return facts


def planned_api_actions():
    """(step id, case, Api action) of every API call the step cases' plans make."""
    for path in CASES:
        case = yaml.safe_load(path.read_text())
        if "error" in case["expect"]:
            continue
        step = next(s for s in STEPS if s.id == path.parent.name)
        for change in step.plan(facts_of(case), host_config(case)):
            for a in change.actions:
                if isinstance(a, Api):
                    yield step.id, case, a


def describe(action) -> str:
    if isinstance(action, InstallFile):
        return f"write {action.path}" + (f" check {' '.join(action.check)}"
                                         if action.check else "")
    return action.describe()


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_step_case(path: Path):
    case = yaml.safe_load(path.read_text())
    step = next(s for s in STEPS if s.id == path.parent.name)
    expect = case["expect"]
    check_facts(step, facts_of(case))  # the shape the step's parsers produce
    if "error" in expect:
        with pytest.raises((PhoenixError, ValueError)) as err:
            step.plan(facts_of(case), host_config(case))
        assert expect["error"] in str(err.value)
        return
    cfg = host_config(case)
    changes = step.plan(facts_of(case), cfg)
    summaries = [c.summary for c in changes]
    assert summaries == expect["changes"], summaries
    if "before" in expect:
        assert [c.before for c in changes] == expect["before"]
    if "notes" in expect:
        assert list(changes.notes) == expect["notes"]
    assert list(changes.held) == expect.get("held", [])
    actions = [describe(a) for c in changes for a in c.actions]
    for wanted in expect.get("actions", []):
        assert any(wanted in a for a in actions), (wanted, actions)
    hostile = expect.get("hostile")
    if hostile:
        check_quoted(changes, hostile)
    for secret in case.get("secrets", {}).values():
        assert all(secret not in describe(a) for a in (a for c in changes for a in c.actions))
        assert all(secret not in f"{c.before} {c.after} {c.summary}" for c in changes)


def check_quoted(changes, hostile: str) -> None:
    """A hostile value may reach the host only as data: an argv element, file content (sent
    on stdin), an API parameter, or a shell-quoted literal inside a script."""
    seen = False
    for c in changes:
        for a in c.actions:
            if isinstance(a, Run):
                seen |= any(hostile in x for x in a.argv)
            elif isinstance(a, InstallFile):
                seen |= hostile in a.content
            elif isinstance(a, Api):
                seen |= any(hostile in str(v) for v in a.params.values())
            elif isinstance(a, Script) and shlex.quote(hostile) in a.text:
                seen = True
            elif isinstance(a, Script):
                assert hostile not in a.text, a.text  # never unquoted shell text
    assert seen, "the hostile value was expected to reach an action"


def test_every_step_has_the_five_kinds_of_case():
    kinds = ("create", "noop", "drift", "refuse", "injection")
    for step in STEPS:
        names = {p.stem for p in (HERE / step.id).glob("*.yaml")}
        missing = [k for k in kinds if not any(n.startswith(k) for n in names)]
        assert not missing, (step.id, missing)
