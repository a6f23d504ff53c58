"""The shipped JSON Schemas: valid against their metaschema (checked here, not on every
run), and the only schemas ever used, whatever a config's "$schema" names."""

import json
from importlib import resources

import jsonschema
import pytest

from phoenix_remote.cli.main import main
from tests.conftest import ROOT


@pytest.mark.parametrize("name", ["hypervisor_config.schema.json", "inventory.schema.json"])
def test_schema_is_valid_against_its_metaschema(name):
    schema = json.loads(resources.files("phoenix_remote.data").joinpath(name).read_text())
    jsonschema.validators.validator_for(schema).check_schema(schema)


def test_editor_copy_in_etc_is_the_packaged_schema():
    etc = ROOT / "etc/hypervisor_config.schema.json"
    packaged = resources.files("phoenix_remote.data").joinpath("hypervisor_config.schema.json")
    assert etc.read_text() == packaged.read_text()


def test_dollar_schema_cannot_switch_validation_off(base_config, tmp_path, capsys):
    (tmp_path / "permissive.json").write_text("{}")
    base_config["$schema"] = str(tmp_path / "permissive.json")
    base_config["final_reboot"] = "sometimes"
    (tmp_path / "c.json").write_text(json.dumps(base_config))
    assert main(["validate", "-c", str(tmp_path / "c.json")]) == 3
    assert "$.final_reboot" in capsys.readouterr().err


def test_config_copied_elsewhere_without_its_schema_still_validates(base_config, tmp_path):
    (tmp_path / "c.json").write_text(json.dumps(base_config))
    assert main(["validate", "-c", str(tmp_path / "c.json")]) == 0
