"""Filters (``node.filters.field``, ``node.filters.conditions``): ``is_empty`` / ``is_null`` in
both forms, a field condition with several parts, and ``has_id``, ``has_vector`` and ``slice``."""

from __future__ import annotations

import uuid

import pytest

from node.filters import slice_of
from tests.node.filter_helpers import U1, U2, cond, field, matches

# --------------------------------------------------------------------------------------------
# is_empty / is_null


@pytest.mark.parametrize(
    "payload, empty, null",
    [
        ({}, True, False),
        ({"k": None}, True, True),
        ({"k": []}, True, False),
        ({"k": [None]}, False, True),
        ({"k": [1, None]}, False, True),
        ({"k": [1]}, False, False),
        ({"k": 0}, False, False),
        ({"k": ""}, False, False),
        ({"k": {}}, False, False),
        ({"k": False}, False, False),
    ],
)
def test_is_empty_is_null(payload, empty, null):
    assert cond({"is_empty": {"key": "k"}}, payload) is empty
    assert cond({"is_null": {"key": "k"}}, payload) is null
    assert cond(field("k", is_empty=True), payload) is empty
    assert cond(field("k", is_empty=False), payload) is (not empty)
    assert cond(field("k", is_null=True), payload) is null
    assert cond(field("k", is_null=False), payload) is (not null)


def test_is_empty_is_null_over_several_values():
    p = {"a": [{"b": 1}, {"b": None}, {"d": []}, {"d": []}, {"f": None}]}
    assert not cond({"is_empty": {"key": "a[].b"}}, p)
    assert cond({"is_empty": {"key": "a[].c"}}, p)
    assert cond({"is_empty": {"key": "a[].d"}}, p)
    assert cond({"is_empty": {"key": "a[].f"}}, p)
    assert cond({"is_null": {"key": "a[].b"}}, p)
    assert not cond({"is_null": {"key": "a[].d"}}, p)
    assert cond(field("a[].b", is_empty=True), p)  # the field form: any value empty


# --------------------------------------------------------------------------------------------
# field condition with several parts


def test_field_condition_parts_are_alternatives():
    c = field("k", match={"value": "x"}, range={"gt": 5})
    assert cond(c, {"k": "x"}) and cond(c, {"k": 10}) and not cond(c, {"k": 1})
    vc = field("k", match={"value": "x"}, values_count={"gt": 5})  # values_count takes precedence
    assert not cond(vc, {"k": "x"})


# --------------------------------------------------------------------------------------------
# ids, vectors, slices


def test_has_id():
    c = {"has_id": [1, 2, U1.upper(), "{" + U2 + "}"]}
    assert cond(c, {}, point_id=2)
    assert not cond(c, {}, point_id=3)
    assert cond(c, {}, point_id=U1)
    assert cond(c, {}, point_id=U2)
    assert not cond({"has_id": []}, {}, point_id=1)
    assert matches({"must_not": [{"has_id": [1, 2, 3]}]}, {}, point_id=10)
    assert not matches({"must_not": [{"has_id": [1, 2, 3]}]}, {}, point_id=2)


def test_has_vector():
    assert cond({"has_vector": "image"}, {}, vectors={"image"})
    assert not cond({"has_vector": "text"}, {}, vectors={"image"})
    assert cond({"has_vector": ""}, {}, vectors={""})


def test_slice():
    ids = list(range(50)) + [str(uuid.UUID(int=i * 7919 + 1)) for i in range(50)]
    for total in (1, 2, 3, 5):
        for pid in ids:
            hits = [
                i
                for i in range(total)
                if cond({"slice": {"total": total, "index": i}}, {}, point_id=pid)
            ]
            assert hits == [slice_of(pid, total)]
    # slices of total 4 nest inside slices of total 2
    for pid in ids:
        assert slice_of(pid, 4) % 2 == slice_of(pid, 2)
    assert {slice_of(pid, 5) for pid in ids} == set(range(5))


def test_siphash_matches_local_mode():
    from qdrant_client.local.siphash import point_id_slice

    for pid in [0, 1, 7, 2**64 - 1, U1, U2]:
        for total in (2, 7, 1000003):
            assert slice_of(pid, total) == point_id_slice(pid, total)
