"""PVE 9 hosts get their release's values; PVE 8 hosts keep theirs (one inventory may hold
both during an upgrade)."""

import yaml

from phoenix_remote.engine.types import InstallFile, Script
from phoenix_remote.steps.nvidia import Nvidia
from tests.steps.test_step_cases import HERE, facts_of, host_config


def test_a_repository_line_as_deb822():
    from phoenix_remote.steps.nvidia import source_text
    line = ("deb [signed-by=/usr/share/keyrings/cuda.gpg] "
            "https://developer.download.nvidia.com/compute/cuda/repos/debian13/x86_64/ /")
    assert source_text(line, "/etc/apt/sources.list.d/nvidia.list") == line + "\n"
    assert source_text(line, "/etc/apt/sources.list.d/nvidia-cuda.sources") == (
        "Types: deb\nURIs: https://developer.download.nvidia.com/compute/cuda/repos/debian13/"
        "x86_64/\nSuites: /\nSigned-By: /usr/share/keyrings/cuda.gpg\n")


def test_each_release_gets_its_own_nvidia_values():
    cfg = host_config({})
    nv8, nv9 = cfg.config.nvidia.for_pve(8), cfg.config.nvidia.for_pve(9)
    assert nv8 == cfg.config.nvidia  # PVE 8 unchanged
    assert (nv8.driver_package, nv9.driver_package) == ("nvidia-open-575.57.08",
                                                        "nvidia-open-580.76.05")
    case = yaml.safe_load((HERE / "nvidia/create-pve9-driver.yaml").read_text())
    plan = Nvidia().plan(facts_of(case), cfg)
    repo = next(c for c in plan if c.summary == "NVIDIA CUDA repository")
    written = next(a for a in repo.actions if isinstance(a, InstallFile))
    assert "Signed-By: /usr/share/keyrings/cuda-archive-keyring.gpg" in written.content
    assert "/debian13/" in written.content
    key = next(a for a in repo.actions if isinstance(a, Script))
    assert "/usr/share/keyrings/cuda-archive-keyring.gpg" in key.text
    assert "8793F200.pub" in key.text
