"""Pure parsers: command output -> facts, table-driven from cases.yaml."""

from pathlib import Path

import pytest
import yaml

from phoenix_remote.errors import ProbeUnknown
from phoenix_remote.facts import parsers
from phoenix_remote.host.batch import parse, script_for

CASES = yaml.safe_load((Path(__file__).parent / "cases.yaml").read_text())


def normal(value):
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, tuple | list):
        items = [normal(v) for v in value]
        return sorted(items) if value and isinstance(value, set) else items
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES, ids=[f"{c['parser']}-{i}" for i, c in enumerate(CASES)])
def test_parser(case):
    got = getattr(parsers, case["parser"])(case["input"], *case.get("args", []))
    if case["parser"] == "ufw_status":
        got = [got[0], sorted([list(r) for r in got[1]])]
        case["expected"][1] = sorted(case["expected"][1])
    assert normal(got) == case["expected"]


def test_batch_framing_round_trip():
    """The batch script frames each command's output; run it for real with bash."""
    import subprocess
    script = script_for({"a": "printf 'x\\ty\\n\\nz'", "b": "exit 3", "c": "head -c 3 /dev/zero"})
    out = subprocess.run(["bash", "-c", 'eval "$(cat)"'], input=script, capture_output=True,
                         text=True).stdout
    got = parse(out, ["a", "b", "c"])
    assert (got["a"].code, got["a"].text) == (0, "x\ty\n\nz")
    assert got["b"].code == 3 and got["b"].text == ""
    assert got["c"].text == "\0\0\0"
    with pytest.raises(ProbeUnknown):
        parse(out, ["a", "d"])
