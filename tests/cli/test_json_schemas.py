"""Every --json output is versioned (its `schema` field) and described by a JSON Schema
shipped in the package (phoenix_remote/data/NAME.schema.json); each output is held to its
schema here and in the end-to-end tests (status, lxc list, every run's report)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import jsonschema
import pytest

from phoenix_remote.cli.main import main
from tests.conftest import ROOT

SCHEMAS = ["run-v1", "hosts-v1", "lxc-list-v1", "status-v1", "config-show-v1"]


@cache
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads(resources.files("phoenix_remote.data").joinpath(
        f"{name}.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def checked(name: str, doc: dict) -> dict:
    """doc, once it validates against the named schema (and names it)."""
    errors = sorted(validator(name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    assert doc["schema"] == validator(name).schema["$id"]
    return doc


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_schemas_are_valid_and_shipped(name):
    assert validator(name).schema["$id"] == "phoenix_remote/" + name.rsplit("-v", 1)[0] + "/v1"


def run_json(capsys, *argv) -> dict:
    code = main([*argv])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_hosts_and_config_show(capsys):
    inv = str(ROOT / "inventory/example.yaml")
    checked("hosts-v1", run_json(capsys, "hosts", "--json", "-i", inv))
    doc = checked("config-show-v1", run_json(capsys, "config", "show", "pve1", "--json",
                                              "-i", inv))
    assert doc["name"] == "pve1"


def test_a_run_with_failures_drift_and_changes(tmp_path, monkeypatch, capsys):
    """A real engine run (FakeTransport hosts): changed, failed and skipped steps, held to
    phoenix_remote/run/v1."""
    from phoenix_remote.cli import run as run_cli
    from phoenix_remote.config.inventory import Inventory
    from phoenix_remote.engine import runner
    from phoenix_remote.host.host import Host
    from tests.engine.test_runner import MarkerStep, NeverConverges
    from tests.fake_transport import FakeTransport
    from tests.steps.test_step_cases import host_config
    monkeypatch.setattr(runner, "Host",
                        lambda cfg, **kw: Host(cfg, transport=FakeTransport(), **kw))
    hosts = []
    for i in (1, 2):
        d = tmp_path / f"h{i}"
        cfg = host_config({"config": {"ledger_path": f"{d}/state.json",
                                      "logging": {"log_file": f"{d}/setup.log"}}})
        hosts.append(cfg.model_copy(update={"name": f"h{i}", "address": f"192.0.2.{i}"}))
    monkeypatch.setattr("phoenix_remote.steps.STEPS",
                        [MarkerStep("one", tmp_path / "m"), NeverConverges("two", tmp_path / "x"),
                         MarkerStep("three", tmp_path / "t")])
    for mode in ("plan", "apply", "verify"):
        req = run_cli.RunRequest(mode=mode, as_json=True, failed_file=tmp_path / "failed",
                                 log_dir=tmp_path / "logs")
        run_cli.run_mode(req, Inventory(tmp_path, {}, {h.name: h for h in hosts}))
        doc = checked("run-v1", json.loads(capsys.readouterr().out))
        assert doc["mode"] == mode and len(doc["hosts"]) == 2
    statuses = {s["status"] for h in doc["hosts"] for s in h["steps"]}
    assert "drift" in statuses  # the last (verify) run had something to report
