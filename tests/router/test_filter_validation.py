"""router.operations.fields.filter_: a filter is validated the first time it is seen; a repeated
valid filter is not compiled again; an invalid one is rejected every time."""

from __future__ import annotations

import pytest

from node.errors import FormatError, ValidationFailed
from router.operations import fields as request_fields


@pytest.fixture()
def compiles(monkeypatch) -> list[dict]:
    """Counts the compilations filter_ asks for (the real compiler still runs)."""
    calls: list[dict] = []
    real = request_fields.compile_filter

    def counting(raw, *args, **kwargs):
        calls.append(raw)
        return real(raw, *args, **kwargs)

    monkeypatch.setattr(request_fields, "compile_filter", counting)
    monkeypatch.setattr(request_fields, "_VALID_FILTERS", type(request_fields._VALID_FILTERS)())
    return calls


def test_a_repeated_valid_filter_is_compiled_once(compiles):
    first = {"must": [{"key": "city", "match": {"value": "Paris"}}], "must_not": []}
    same_in_other_order = {"must_not": [], "must": [{"match": {"value": "Paris"}, "key": "city"}]}
    assert request_fields.filter_(first) is first
    assert request_fields.filter_(same_in_other_order) is same_in_other_order
    assert len(compiles) == 1
    other = {"must": [{"key": "city", "match": {"value": "Rome"}}]}
    request_fields.filter_(other)
    assert len(compiles) == 2


def test_an_invalid_filter_is_rejected_every_time(compiles):
    bad = {"must": [{"key": "city"}]}  # no condition on the key
    for _ in range(2):
        with pytest.raises((FormatError, ValidationFailed)):
            request_fields.filter_(bad)
    assert len(compiles) == 2
    with pytest.raises(FormatError):
        request_fields.filter_(["not", "a", "filter"])


def test_values_that_differ_only_in_type_are_validated_apart(compiles):
    request_fields.filter_({"must": [{"key": "n", "match": {"value": 1}}]})
    with pytest.raises((FormatError, ValidationFailed)):
        request_fields.filter_({"must": [{"key": "n", "match": {"value": 1.5}}]})


def test_the_memory_is_bounded(compiles, monkeypatch):
    monkeypatch.setattr(request_fields, "_VALID_FILTERS_MAX", 4)
    for i in range(10):
        request_fields.filter_({"must": [{"key": "k", "match": {"value": i}}]})
    assert len(request_fields._VALID_FILTERS) == 4
    request_fields.filter_({"must": [{"key": "k", "match": {"value": 0}}]})  # forgotten
    assert len(compiles) == 11
