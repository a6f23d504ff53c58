import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def base_config() -> dict:
    return json.loads((ROOT / "etc/hypervisor_config.json").read_text())


@pytest.fixture
def write_config(tmp_path):
    """Write a config dict (or raw text) beside a copy of the schema; return its path."""
    schema = (ROOT / "etc/hypervisor_config.schema.json").read_text()

    def write(doc, name="hypervisor_config.json") -> Path:
        (tmp_path / "hypervisor_config.schema.json").write_text(schema)
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    return write
