import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def one_host_inventory(env_prefix: str, address: str = "127.0.0.1", extra_drives: str = "") -> str:
    """A valid one-host inventory text whose secrets name unset variables <prefix>_A/_B."""
    return f"""
defaults:
  secrets: {{admin_password: {{env: {env_prefix}_A}}, smb_password: {{env: {env_prefix}_B}}}}
hosts:
  h1:
    address: {address}
    drives:
      quickOS: [/dev/disk/by-id/nvme-A, /dev/disk/by-id/nvme-B]
      fastData: [/dev/disk/by-id/nvme-C]
{extra_drives}"""


@pytest.fixture
def base_config() -> dict:
    return json.loads((ROOT / "etc/hypervisor_config.json").read_text())


@pytest.fixture
def write_config(tmp_path):
    """Write a config dict (or raw text) beside a copy of the schema; return its path."""
    schema = (ROOT / "etc/hypervisor_config.schema.json").read_text()

    def write(doc, name="hypervisor_config.json") -> Path:
        (tmp_path / "hypervisor_config.schema.json").write_text(schema)
        # the example's setup scripts, which its lxc.setup names relative to the config
        shutil.copytree(ROOT / "etc/lxc_setup", tmp_path / "lxc_setup", dirs_exist_ok=True)
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    return write
