"""Secrets never show their value: str, repr, format, pickling, exceptions."""

import pickle

import pytest

from phoenix_remote.config.secrets import Secret, parse_ref, password_problem

SENTINEL = "Sentinel-77aa!"


def test_secret_is_masked_everywhere():
    s = Secret(SENTINEL, "env X")
    for text in (str(s), repr(s), f"{s}", f"{s!r}", "%s" % s, str([s]), str({"k": s})):  # noqa: UP031
        assert SENTINEL not in text and "***" in text
    with pytest.raises(TypeError):
        pickle.dumps(s)
    assert s.reveal() == SENTINEL


def test_password_rule():
    assert password_problem(Secret("short!", "t"))
    assert password_problem(Secret("longenough", "t"))
    assert password_problem(Secret("long-enough", "t")) is None


def test_inline_secret_is_refused_without_echoing_it():
    with pytest.raises(ValueError) as err:
        parse_ref(SENTINEL)
    assert SENTINEL not in str(err.value) and "never written inline" in str(err.value)
