"""A pytest session stops sandbox hosts only if it started them (a unit run starts none)."""

from tests.integration import conftest as sandbox_conftest


def test_session_that_started_nothing_leaves_the_sandbox_alone(monkeypatch):
    calls = []
    monkeypatch.setattr(sandbox_conftest.lab, "down", lambda: calls.append("down"))
    monkeypatch.setattr(sandbox_conftest, "started_here", [])
    sandbox_conftest.pytest_sessionfinish(None, 0)
    assert calls == []


def test_session_that_started_hosts_stops_them(monkeypatch):
    calls = []
    monkeypatch.setattr(sandbox_conftest.lab, "down", lambda: calls.append("down"))
    monkeypatch.setattr(sandbox_conftest, "started_here", [1, 2])
    monkeypatch.delenv("SANDBOX_KEEP", raising=False)
    sandbox_conftest.pytest_sessionfinish(None, 0)
    assert calls == ["down"]
