"""Payload keys: parsing, reading, set/delete payload, with_payload selectors."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.errors import FormatError
from node.payload_path import (
    array_key,
    delete_by_path,
    format_path,
    get_values,
    make_getter,
    merge_payload,
    parse_path,
    select_payload,
    set_by_path,
)

# --------------------------------------------------------------------------------------------
# parsing


@pytest.mark.parametrize(
    "key, path",
    [
        ("a", ("a",)),
        ("a.b.c", ("a", "b", "c")),
        ("a[].b", ("a", None, "b")),
        ("a[0].b", ("a", 0, "b")),
        ("a[1][50].bar-baz[]", ("a", 1, 50, "bar-baz", None)),
        ('a."b.c".d', ("a", "b.c", "d")),
        ('"a b"', ("a b",)),
        ('""', ("",)),
        ('foo."qux[.]quux"', ("foo", "qux[.]quux")),
        ("Müesli_1-x", ("Müesli_1-x",)),
        ("a[18446744073709551615]", ("a", 2**64 - 1)),
    ],
)
def test_parse_valid(key, path):
    assert parse_path(key) == path


@pytest.mark.parametrize(
    "key",
    [
        "",
        ".a",
        "a.",
        "a..b",
        "a b",
        "a[",
        "a[x]",
        "a[-1]",
        "[0]",
        "[]",
        "a]",
        '"a',
        '"a\\"b"',
        "a.[0]",
        "a[0]b",
        "a[18446744073709551616]",
    ],
)
def test_parse_invalid(key):
    with pytest.raises(FormatError) as err:
        parse_path(key)
    assert err.value.message == f"Format error in JSON body: Invalid json path: '{key}'"


def test_parse_non_string():
    with pytest.raises(FormatError):
        parse_path(5)


@pytest.mark.parametrize(
    "key, text",
    [
        ("a.b", "a.b"),
        ('a."b c"[]', 'a."b c"[]'),
        ('"x"', "x"),
        ("a[3].b", "a[3].b"),
    ],
)
def test_format_round_trip(key, text):
    assert format_path(key) == text
    assert parse_path(format_path(key)) == parse_path(key)


def test_array_key():
    assert array_key("a") == ("a", None)
    assert array_key("a[]") == ("a", None)
    assert array_key("a.b") == ("a", "b", None)
    assert array_key("a[0]") == ("a", 0, None)


# --------------------------------------------------------------------------------------------
# reading

DOC = {
    "a": {"b": [{"c": 1}, {"c": 2}, {"d": {"e": 3}}]},
    "f": 3,
    "g": ["g0", "g1", "g2"],
    "n": None,
    "nn": [None, None],
    "e": [],
    "arr": [{"a": [1, 2, 3]}, {"a": 4}, {"b": 5}],
    "deep": [{"x": [{"y": 1}, {"y": 2}]}, {"x": [{"y": 3}]}],
}


@pytest.mark.parametrize(
    "key, raw",
    [
        ("f", [3]),
        ("a.b[].c", [1, 2]),
        ("a.b[].d", [{"e": 3}]),
        ("a.b[1].c", [2]),
        ("a.b[3]", []),
        ("g[2]", ["g2"]),
        ("a.b.c", []),  # a key does not look inside an array
        ("f.x", []),
        ("missing", []),
        ("n", [None]),
        ("n[]", []),
        ("nn", [[None, None]]),
        ("nn[]", [None, None]),
        ("e", [[]]),
        ("e[]", []),
        ("arr[].a", [[1, 2, 3], 4]),
        ("arr[].a[]", [1, 2, 3]),
        ("deep[].x[].y", [1, 2, 3]),
    ],
)
def test_get_values_raw(key, raw):
    assert get_values(DOC, key, flat=False) == raw
    assert make_getter(parse_path(key))(DOC) == raw


def test_get_values_flat_flattens_one_level():
    assert get_values(DOC, "g") == ["g0", "g1", "g2"]
    assert get_values(DOC, "arr[].a") == [1, 2, 3, 4]
    assert get_values({"x": [[1, 2], 3]}, "x") == [[1, 2], 3]
    assert get_values(DOC, "e") == []
    assert get_values(DOC, "n") == [None]
    assert get_values(None, "a") == []


# --------------------------------------------------------------------------------------------
# set payload


def _base():
    return {
        "a": {"b": [{"c": 1}, {"c": 2}, {"d": {"e": 3}}]},
        "f": 3,
        "g": ["g0", "g1", "g2"],
    }


def test_set_without_key_merges_top_level():
    p = _base()
    set_by_path(p, None, {"c": 5, "f": None})
    assert p == {"a": {"b": [{"c": 1}, {"c": 2}, {"d": {"e": 3}}]}, "g": ["g0", "g1", "g2"], "c": 5}


def test_set_one_level_key_merges_into_object():
    p = _base()
    set_by_path(p, "a", {"b": 5})
    assert p["a"] == {"b": 5}
    p = {"a": {"x": 1}}
    set_by_path(p, "a", {"y": 2})
    assert p == {"a": {"x": 1, "y": 2}}


def test_set_with_array_index_updates_existing_element_only():
    p = _base()
    set_by_path(p, "a.b[1]", {"c": 5})
    assert p["a"]["b"] == [{"c": 1}, {"c": 5}, {"d": {"e": 3}}]
    p = _base()
    set_by_path(p, "a.b[7]", {"c": 5})
    assert p == _base()


def test_set_with_wildcard_updates_every_element():
    p = {"arr": [{"x": 1}, 5, {"y": 2}]}
    set_by_path(p, "arr[]", {"z": 0})
    assert p == {"arr": [{"x": 1, "z": 0}, {"z": 0}, {"y": 2, "z": 0}]}


def test_set_creates_missing_objects():
    p = {}
    set_by_path(p, "key1.key2", {"c": 1})
    assert p == {"key1": {"key2": {"c": 1}}}
    p = {}
    set_by_path(p, "key1.key2[3]", {"c": 1})
    assert p == {"key1": {"key2": []}}
    p = {}
    set_by_path(p, "key1.key2[].key3", {"c": 1})
    assert p == {"key1": {"key2": []}}


def test_set_replaces_scalars_on_the_way():
    p = {"a": 10}
    set_by_path(p, "a.b.c", {"x": 1})
    assert p == {"a": {"b": {"c": {"x": 1}}}}


def test_set_empty_src_is_noop_for_existing_object():
    p = _base()
    set_by_path(p, "a.b[1]", {})
    assert p == _base()


def test_set_copies_values():
    src = {"v": {"deep": [1]}}
    p1, p2 = {}, {}
    set_by_path(p1, "k", src)
    set_by_path(p2, "k", src)
    p1["k"]["v"]["deep"].append(2)
    assert p2["k"]["v"]["deep"] == [1]
    assert src["v"]["deep"] == [1]


def test_merge_payload_null_deletes():
    assert merge_payload({"a": 1, "b": 2}, {"a": None, "c": 3}) == {"b": 2, "c": 3}


def test_set_invalid_key():
    with pytest.raises(FormatError):
        set_by_path({}, "a..b", {"x": 1})
    with pytest.raises(FormatError):
        set_by_path({}, "", {"x": 1})


# --------------------------------------------------------------------------------------------
# delete payload


def _nested():
    return {
        "a": 1,
        "b": {
            "c": 123,
            "e": {
                "f": [1, 2, 3],
                "g": 7,
                "h": "text",
                "i": [{"j": 1, "k": 2}, {"j": 3, "k": 4}],
            },
        },
    }


def test_delete_sequence():
    p = _nested()
    assert delete_by_path(p, "b.c") == [123]
    assert delete_by_path(p, "b.e.f[1]") == []  # an index deletes nothing
    assert p["b"]["e"]["f"] == [1, 2, 3]
    assert delete_by_path(p, "b.e.i[0].j") == [1]
    assert delete_by_path(p, "b.e.i[].k") == [2, 4]
    assert p["b"]["e"]["i"] == [{}, {"j": 3}]
    assert delete_by_path(p, "b.e.i[]") == [[{}, {"j": 3}]]
    assert p["b"]["e"]["i"] == []
    assert delete_by_path(p, "b.e.i") == [[]]
    assert delete_by_path(p, "k") == []
    assert delete_by_path(p, "b.e.l") == []
    assert delete_by_path(p, "a") == [1]
    assert delete_by_path(p, "b.e") == [{"f": [1, 2, 3], "g": 7, "h": "text"}]
    assert delete_by_path(p, "b") == [{}]
    assert p == {}


def test_delete_quoted_key_with_dot():
    p = {"a.b": 1, "a": {"b": 2}}
    delete_by_path(p, '"a.b"')
    assert p == {"a": {"b": 2}}
    delete_by_path(p, "a.b")
    assert p == {"a": {}}


def test_delete_through_non_container_is_noop():
    p = {"a": 5, "b": [1, 2]}
    delete_by_path(p, "a.x")
    delete_by_path(p, "b.x")
    delete_by_path(p, "a[]")
    assert p == {"a": 5, "b": [1, 2]}


# --------------------------------------------------------------------------------------------
# with_payload selectors

PAYLOAD = {
    "a": {"b": {"x": 1, "y": 2}, "c": 3},
    "d": [{"e": 1, "f": 2}, {"e": 3}],
    "g": 5,
    "h": [1, 2],
    "k": "v",
}


@pytest.mark.parametrize(
    "include, expected",
    [
        (["g"], {"g": 5}),
        (["a.b"], {"a": {"b": {"x": 1, "y": 2}}}),
        (["a.b.x", "k"], {"a": {"b": {"x": 1}}, "k": "v"}),
        (["d[].e"], {"d": [{"e": 1}, {"e": 3}]}),
        (["d"], {"d": PAYLOAD["d"]}),
        (["d[]"], {"d": PAYLOAD["d"]}),
        (["d.e"], {"d": []}),  # arrays are entered by [] only
        (["d[0]"], {"d": []}),
        (["g.x"], {"g": 5}),  # a scalar on the way is kept whole
        (["missing"], {}),
        ([], {}),
        (['"a"'], {"a": PAYLOAD["a"]}),
        (["a.b", "a"], {"a": PAYLOAD["a"]}),
    ],
)
def test_include(include, expected):
    before = copy.deepcopy(PAYLOAD)
    assert select_payload(PAYLOAD, include=include) == expected
    assert PAYLOAD == before


@pytest.mark.parametrize(
    "exclude, expected",
    [
        (["g"], {k: v for k, v in PAYLOAD.items() if k != "g"}),
        (["a.b"], {**PAYLOAD, "a": {"c": 3}}),
        (["a.b.x"], {**PAYLOAD, "a": {"b": {"y": 2}, "c": 3}}),
        (["d[].e"], {**PAYLOAD, "d": [{"f": 2}, {}]}),
        (["d[]"], {**PAYLOAD, "d": []}),
        (["h[]"], {**PAYLOAD, "h": []}),
        (["d[0]"], PAYLOAD),
        (["missing", "a.zzz"], PAYLOAD),
        ([], PAYLOAD),
    ],
)
def test_exclude(exclude, expected):
    before = copy.deepcopy(PAYLOAD)
    assert select_payload(PAYLOAD, exclude=exclude) == expected
    assert PAYLOAD == before


def test_select_without_selectors_and_invalid():
    assert select_payload(PAYLOAD) == PAYLOAD
    assert select_payload(None, include=["a"]) == {}
    with pytest.raises(FormatError):
        select_payload(PAYLOAD, include=["a..b"])


# --------------------------------------------------------------------------------------------
# property tests against qdrant-client's local mode (Qdrant's own python reimplementation)

from qdrant_client.local.payload_value_extractor import (  # noqa: E402
    exclude_payload as _oracle_exclude,
)
from qdrant_client.local.payload_value_extractor import (  # noqa: E402
    include_payload as _oracle_include,
)
from qdrant_client.local.payload_value_extractor import value_by_key as _oracle_values  # noqa: E402

_KEYS = ["a", "b", "c"]
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["x", "y"]), st.just(1.5)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3)
    ),
    max_leaves=12,
)
_payloads = st.dictionaries(st.sampled_from(_KEYS), _json, max_size=3)
_path_items = st.one_of(st.sampled_from(_KEYS), st.just(None), st.integers(0, 2))
_paths = st.builds(
    lambda first, rest: (first, *rest), st.sampled_from(_KEYS), st.lists(_path_items, max_size=3)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_payloads, path=_paths)
def test_get_values_matches_local_mode(payload, path):
    key = format_path(path)
    expected = _oracle_values(payload, key) or []
    assert get_values(payload, key) == expected
    expected_raw = _oracle_values(payload, key, flat=False) or []
    assert get_values(payload, key, flat=False) == expected_raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_payloads, paths=st.lists(_paths, max_size=3))
def test_selectors_match_local_mode(payload, paths):
    keys = [format_path(p) for p in paths]
    assert select_payload(payload, include=keys) == _oracle_include(payload, keys)
    assert select_payload(payload, exclude=keys) == _oracle_exclude(payload, keys)
