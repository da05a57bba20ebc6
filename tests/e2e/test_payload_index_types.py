"""Payload indexes, by type: every index type answers filters exactly like no index at all
(index created before or after the points), and the full-text tokenizer options.

Indexes are created over raw HTTP (so that the exact responses can be checked); filters are run
with qdrant-client on every transport.
"""

from __future__ import annotations

import pytest
from qdrant_client import models

from tests.support import api
from tests.support.api import create_collection
from tests.support.payload_indexes import (
    BERLIN,
    NYC,
    PARIS,
    POTSDAM,
    U1,
    U2,
    U3,
    VECTORS,
    check,
    count,
    create_index,
    put_points,
    schema_of,
    scroll_ids,
)

# ------------------------------------------------------------------------------ per index type


def _square(x0, y0, x1, y1):
    return {
        "points": [
            {"lon": x0, "lat": y0},
            {"lon": x1, "lat": y0},
            {"lon": x1, "lat": y1},
            {"lon": x0, "lat": y1},
            {"lon": x0, "lat": y0},
        ]
    }


TYPE_CASES = {
    "keyword": (
        "k",
        "keyword",
        {
            1: {"k": "a"},
            2: {"k": ["a", "b"]},
            3: {"k": "b"},
            4: {"k": None},
            5: {"k": []},
            6: {},
            7: {"k": "A"},
        },
        4,
        [
            ({"key": "k", "match": {"value": "a"}}, [1, 2]),
            ({"key": "k", "match": {"any": ["b", "A"]}}, [2, 3, 7]),
            ({"key": "k", "match": {"any": []}}, []),
            ({"key": "k", "match": {"except": ["a"]}}, [2, 3, 7]),
            ({"is_empty": {"key": "k"}}, [4, 5, 6]),
            ({"key": "k", "values_count": {"gte": 2}}, [2]),
            (
                {
                    "should": [
                        {"key": "k", "match": {"value": "A"}},
                        {"key": "k", "match": {"value": "b"}},
                    ]
                },
                [2, 3, 7],
            ),
        ],
    ),
    "integer": (
        "n",
        "integer",
        {
            1: {"n": 1},
            2: {"n": [2, 5]},
            3: {"n": -3},
            4: {"n": None},
            5: {"n": 10},
            6: {},
            7: {"n": 0},
        },
        5,
        [
            ({"key": "n", "match": {"value": 2}}, [2]),
            ({"key": "n", "match": {"any": [1, 10]}}, [1, 5]),
            ({"key": "n", "match": {"except": [1, 2]}}, [2, 3, 5, 7]),
            ({"key": "n", "range": {"gte": 1, "lt": 5}}, [1, 2]),
            ({"key": "n", "range": {"gt": -3}}, [1, 2, 5, 7]),
            ({"key": "n", "range": {"lte": 0}}, [3, 7]),
            ({"key": "n", "range": {"gt": 10}}, []),
            ({"key": "n", "values_count": {"lt": 1}}, [4, 6]),
        ],
    ),
    "float": (
        "f",
        "float",
        {1: {"f": 1.5}, 2: {"f": [0.25, 9.75]}, 3: {"f": -2.0}, 4: {"f": 3}, 5: {"f": None}, 6: {}},
        4,
        [
            ({"key": "f", "range": {"gt": 1}}, [1, 2, 4]),
            ({"key": "f", "range": {"gte": -2, "lte": 0.25}}, [2, 3]),
            ({"key": "f", "range": {"lt": 3}}, [1, 2, 3]),
            ({"key": "f", "range": {"lte": 3}}, [1, 2, 3, 4]),
            ({"key": "f", "range": {"gt": 9.75}}, []),
            ({"is_null": {"key": "f"}}, [5]),
        ],
    ),
    "bool": (
        "b",
        "bool",
        {
            1: {"b": True},
            2: {"b": False},
            3: {"b": [True, False]},
            4: {"b": None},
            5: {},
            6: {"b": [True]},
        },
        4,
        [
            ({"key": "b", "match": {"value": True}}, [1, 3, 6]),
            ({"key": "b", "match": {"value": False}}, [2, 3]),
            ({"is_empty": {"key": "b"}}, [4, 5]),
        ],
    ),
    "geo": (
        "g",
        "geo",
        {
            1: {"g": BERLIN},
            2: {"g": PARIS},
            3: {"g": [NYC, POTSDAM]},
            4: {"g": None},
            5: {},
            6: {"g": {"lon": 179.5, "lat": -16.5}},
        },
        4,
        [
            ({"key": "g", "geo_radius": {"center": BERLIN, "radius": 50_000}}, [1, 3]),
            ({"key": "g", "geo_radius": {"center": BERLIN, "radius": 1_000_000}}, [1, 2, 3]),
            ({"key": "g", "geo_radius": {"center": BERLIN, "radius": 800_000}}, [1, 3]),
            (
                {
                    "key": "g",
                    "geo_bounding_box": {
                        "top_left": {"lon": 0, "lat": 60},
                        "bottom_right": {"lon": 20, "lat": 40},
                    },
                },
                [1, 2, 3],
            ),
            (
                {
                    "key": "g",
                    "geo_bounding_box": {
                        "top_left": {"lon": 179, "lat": -15},
                        "bottom_right": {"lon": -179, "lat": -20},
                    },
                },
                [6],
            ),
            ({"key": "g", "geo_polygon": {"exterior": _square(12, 51, 15, 54)}}, [1, 3]),
            (
                {
                    "key": "g",
                    "geo_polygon": {
                        "exterior": _square(12, 51, 15, 54),
                        "interiors": [_square(13.3, 52.45, 13.6, 52.6)],
                    },
                },
                [3],
            ),
        ],
    ),
    "text": (
        "t",
        "text",
        {
            1: {"t": "The quick brown fox"},
            2: {"t": "Lazy DOG"},
            3: {"t": "quick-dog!"},
            4: {"t": None},
            5: {},
        },
        3,
        [
            ({"key": "t", "match": {"text": "QUICK"}}, [1, 3]),
            ({"key": "t", "match": {"text": "quick dog"}}, [3]),
            ({"key": "t", "match": {"text": "qui"}}, []),
            ({"key": "t", "match": {"text_any": "fox dog"}}, [1, 2, 3]),
        ],
    ),
    "datetime": (
        "d",
        "datetime",
        {
            1: {"d": "2024-01-01T00:00:00Z"},
            2: {"d": ["2024-06-01T12:00:00+02:00", "2025-01-01T00:00:00Z"]},
            3: {"d": "2023-05-05"},
            4: {"d": None},
            5: {},
            6: {"d": "2024-06-01T10:00:00Z"},
            7: {"d": "2024-01-01T00:00:00.000001Z"},
        },
        5,
        [
            ({"key": "d", "range": {"gte": "2024-06-01T10:00:00Z"}}, [2, 6]),
            ({"key": "d", "range": {"gt": "2024-06-01T10:00:00Z"}}, [2]),
            ({"key": "d", "range": {"lt": "2024-01-01T00:00:00Z"}}, [3]),
            ({"key": "d", "range": {"lte": "2024-01-01T01:00:00+01:00"}}, [1, 3]),
            (
                {"key": "d", "range": {"gt": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"}},
                [7],
            ),
        ],
    ),
    "uuid": (
        "u",
        "uuid",
        {1: {"u": U1}, 2: {"u": [U1, U2]}, 3: {"u": U3}, 4: {"u": None}, 5: {}},
        3,
        [
            ({"key": "u", "match": {"value": U1}}, [1, 2]),
            ({"key": "u", "match": {"any": [U2, U3]}}, [2, 3]),
            ({"key": "u", "match": {"value": "00000000-0000-4000-8000-000000000000"}}, []),
        ],
    ),
}
# integer index flags: the same data and filters
TYPE_CASES["integer_lookup_only"] = (
    "n",
    {"type": "integer", "lookup": True, "range": False},
    *TYPE_CASES["integer"][2:],
)
TYPE_CASES["integer_range_only"] = (
    "n",
    {"type": "integer", "lookup": False, "range": True},
    *TYPE_CASES["integer"][2:],
)


@pytest.mark.parametrize("case", list(TYPE_CASES))
def test_index_type_answers_like_no_index(http, client, make_name, case):
    key, schema, payloads, indexed_points, filters = TYPE_CASES[case]
    plain, indexed = make_name("plain"), make_name("indexed")
    for name in (plain, indexed):
        create_collection(http, name, {"vectors": VECTORS})
    put_points(http, plain, payloads)
    create_index(http, indexed, key, schema)  # before the points ...
    put_points(http, indexed, payloads)
    data_type = schema if isinstance(schema, str) else schema["type"]
    expected_info = {"data_type": data_type, "points": indexed_points}
    if isinstance(schema, dict):
        expected_info["params"] = schema
    assert schema_of(http, indexed) == {key: expected_info}
    for flt, ids in filters:
        check(client, [plain, indexed], {"must": [flt]}, ids, payloads)


@pytest.mark.parametrize("case", ["keyword", "integer", "geo", "datetime"])
def test_index_created_after_the_points(http, client, collection_name, case):
    key, schema, payloads, indexed_points, filters = TYPE_CASES[case]
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, payloads)
    create_index(http, collection_name, key, schema)
    assert schema_of(http, collection_name)[key]["points"] == indexed_points
    for flt, ids in filters:
        check(client, [collection_name], {"must": [flt]}, ids, payloads)


# ------------------------------------------------------------------------------ full-text options

TOKENIZER_CASES = {
    "word_default": (
        {"type": "text"},
        {1: "Hello, World-wide web", 2: "worldwide", 3: "HELLO"},
        [
            ("text", "world", [1]),
            ("text", "hello", [1, 3]),
            ("text", "WIDE web", [1]),
            ("text_any", "worldwide hello", [1, 2, 3]),
            ("text", "tele", []),
        ],
    ),
    "word_explicit": (
        {"type": "text", "tokenizer": "word", "lowercase": True},
        {1: "Café au lait", 2: "cafe", 3: "Lait-Café"},
        [("text", "café", [1, 3]), ("text", "LAIT café", [1, 3]), ("text", "cafe", [2])],
    ),
    "whitespace": (
        {"type": "text", "tokenizer": "whitespace"},
        {1: "foo-bar baz", 2: "foo bar", 3: "Baz!"},
        [
            ("text", "foo", [2]),
            ("text", "foo-bar", [1]),
            ("text", "BAZ", [1]),
            ("text", "baz!", [3]),
            ("text_any", "bar baz!", [2, 3]),
        ],
    ),
    "prefix": (
        {"type": "text", "tokenizer": "prefix"},
        {1: "television set", 2: "Telephone", 3: "vision"},
        [
            ("text", "tele", [1, 2]),
            ("text", "vision", [3]),
            ("text", "telev set", [1]),
            ("text", "television", [1]),
            ("text", "t", [1, 2]),
            ("text", "visionary", []),
        ],
    ),
    "lowercase_false": (
        {"type": "text", "tokenizer": "word", "lowercase": False},
        {1: "Hello World", 2: "hello world", 3: "HELLO"},
        [
            ("text", "hello", [2]),
            ("text", "Hello", [1]),
            ("text", "World", [1]),
            ("text", "HELLO", [3]),
        ],
    ),
    "min_token_len": (
        {"type": "text", "tokenizer": "word", "min_token_len": 3},
        {1: "an ox ate hay", 2: "ox cart", 3: "cart"},
        # "ox" is shorter than 3: dropped from the documents and from the query alike
        [("text", "ox cart", [2, 3]), ("text", "hay", [1]), ("text", "ate cart", [])],
    ),
    "no_min_token_len": (
        {"type": "text", "tokenizer": "word"},
        {1: "an ox ate hay", 2: "ox cart", 3: "cart"},
        [("text", "ox cart", [2]), ("text", "ox", [1, 2])],
    ),
    "max_token_len": (
        {"type": "text", "tokenizer": "word", "max_token_len": 4},
        {1: "elephant cat", 2: "cat", 3: "elephant"},
        [("text", "elephant cat", [1, 2]), ("text", "cat", [1, 2])],
    ),
    "custom_stopwords": (
        {"type": "text", "tokenizer": "word", "stopwords": {"custom": ["the", "a"]}},
        {1: "the cat", 2: "A cat", 3: "the dog"},
        [("text", "the cat", [1, 2]), ("text", "The dog", [3]), ("text_any", "the dog", [3])],
    ),
    "no_stopwords": (
        {"type": "text", "tokenizer": "word"},
        {1: "the cat", 2: "A cat", 3: "the dog"},
        [("text", "the cat", [1]), ("text_any", "the dog", [1, 3])],
    ),
    "stemmer": (
        {
            "type": "text",
            "tokenizer": "word",
            "stemmer": {"type": "snowball", "language": "english"},
        },
        {1: "she was running home", 2: "he runs", 3: "a runner"},
        # snowball english: running, runs, run -> "run"; runner stays "runner"
        [("text", "run", [1, 2]), ("text", "RUNNING", [1, 2]), ("text", "runners", [3])],
    ),
    "phrase_matching": (
        {"type": "text", "tokenizer": "word", "phrase_matching": True},
        {1: "quick brown fox", 2: "brown quick fox", 3: "The quick, BROWN dog"},
        [
            ("phrase", "quick brown", [1, 3]),
            ("phrase", "brown fox", [1]),
            ("text", "brown fox", [1, 2]),
            ("phrase", "fox brown", []),
        ],
    ),
}


def _check_text_queries(client, name, docs, queries) -> None:
    """Each (match kind, query, ids) answers ids, by scroll and count; and its complement the
    other points (the same matcher whichever way the filter is evaluated)."""
    for kind, query, ids in queries:
        cond = {"key": "t", "match": {kind: query}}
        assert scroll_ids(client, name, {"must": [cond]}) == ids, (kind, query)
        assert count(client, name, {"must": [cond]}) == len(ids), (kind, query)
        others = [pid for pid in docs if pid not in ids]
        assert scroll_ids(client, name, {"must_not": [cond]}) == others, (kind, query)


@pytest.mark.parametrize("case", list(TOKENIZER_CASES))
def test_text_index_tokenizer_options(http, client, collection_name, case):
    params, docs, queries = TOKENIZER_CASES[case]
    create_collection(http, collection_name, {"vectors": VECTORS})
    create_index(http, collection_name, "t", params)
    put_points(http, collection_name, {pid: {"t": text} for pid, text in docs.items()})
    info = schema_of(http, collection_name)["t"]
    assert (info["data_type"], info["params"]) == ("text", params)
    _check_text_queries(client, collection_name, docs, queries)


def test_word_tokenizer_splits_on_underscore(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"t": "red_fox"}, 2: {"t": "red fox"}, 3: {"t": "fox_"}})
    flt = {"must": [{"key": "t", "match": {"text": "fox"}}]}
    assert scroll_ids(client, collection_name, flt) == [1, 2, 3]  # no index: words
    create_index(http, collection_name, "t", "text")
    assert scroll_ids(client, collection_name, flt) == [1, 2, 3]


def test_text_index_on_string_arrays_is_plan_independent(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(
        http,
        collection_name,
        {
            1: {"t": ["red fox", "blue cat"]},
            2: {"t": "red fox, blue cat"},
            3: {"t": ["fox"]},
            4: {"t": ["cat"]},
        },
    )
    create_index(http, collection_name, "t", "text")
    cond = {"key": "t", "match": {"text": "fox cat"}}
    direct = scroll_ids(client, collection_name, {"must": [cond]})
    wrapped = scroll_ids(client, collection_name, {"must": [{"must": [cond]}]})
    negated = scroll_ids(client, collection_name, {"must_not": [cond]})
    assert direct == wrapped
    assert sorted(direct + negated) == [1, 2, 3, 4]


def test_integer_index_range_is_plan_independent(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(
        http, collection_name, {1: {"n": 1.5}, 2: {"n": 2}, 3: {"n": [0, 2.5]}, 4: {"n": "3"}}
    )
    create_index(http, collection_name, "n", "integer")
    cond = {"key": "n", "range": {"gte": 1}}
    direct = scroll_ids(client, collection_name, {"must": [cond]})
    wrapped = scroll_ids(client, collection_name, {"must": [{"must": [cond]}]})
    negated = scroll_ids(client, collection_name, {"must_not": [cond]})
    assert direct == wrapped
    assert sorted(direct + negated) == [1, 2, 3, 4]


STOPWORD_DOCS = {
    1: "The cat and the dog",
    2: "Le chat et le chien",
    3: "Der Hund und die Katze",
    4: "foo fighters",
    5: "the and of",
}
# Per stopwords option: (as created, [(match kind, query, ids)]). A query made only of stop
# words has no tokens left: Qdrant matches nothing with it (text, text_any and phrase alike).
STOPWORD_CASES = {
    "english": (
        "english",
        [
            ("text", "cat dog", [1]),
            ("text", "the cat", [1]),
            ("text", "THE AND", []),
            ("text_any", "the of", []),
            ("text_any", "the chat", [2]),
            ("text", "chat", [2]),
        ],
    ),
    "french_german_custom": (
        {"languages": ["french", "german"], "custom": ["foo"]},
        [
            ("text", "le et", []),
            ("text", "foo", []),
            ("text", "FOO und", []),
            ("text", "chat", [2]),
            ("text", "le chien", [2]),
            ("text", "Hund Katze", [3]),
            ("text", "fighters", [4]),
            # English is no stop word here: "the" is an ordinary token
            ("text", "the", [1, 5]),
            ("text_any", "der foo the", [1, 5]),
        ],
    ),
}


def _index_model(stopwords):
    if isinstance(stopwords, str):
        sw = models.Language(stopwords)
    else:
        sw = models.StopwordsSet(
            languages=[models.Language(x) for x in stopwords["languages"]],
            custom=stopwords["custom"],
        )
    return models.TextIndexParams(type="text", tokenizer=models.TokenizerType.WORD, stopwords=sw)


@pytest.mark.parametrize("case", list(STOPWORD_CASES))
def test_text_index_stopwords_by_language(http, client, transport, collection_name, case):
    """Qdrant's lists by language, merged with custom words; the index is created through the
    client's transport (gRPC carries a language alone as a set of one) and reads back over REST
    exactly as given."""
    stopwords, queries = STOPWORD_CASES[case]
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {pid: {"t": text} for pid, text in STOPWORD_DOCS.items()})
    client.create_payload_index(
        collection_name, "t", field_schema=_index_model(stopwords), wait=True
    )
    info = schema_of(http, collection_name)["t"]
    assert info["data_type"] == "text"
    assert info["params"] == {"type": "text", "tokenizer": "word", "stopwords": stopwords}
    echoed = client.get_collection(collection_name).payload_schema["t"].params.stopwords
    if isinstance(stopwords, str):
        assert echoed in (models.Language(stopwords), models.StopwordsSet(
            languages=[models.Language(stopwords)], custom=[]))
    else:
        assert [x.value for x in echoed.languages] == stopwords["languages"]
        assert echoed.custom == stopwords["custom"]
    _check_text_queries(client, collection_name, STOPWORD_DOCS, queries)


def test_unknown_stopwords_language_is_refused(http, collection_name):
    """As Qdrant: a language it does not know does not deserialize (400), and no index is made."""
    create_collection(http, collection_name, {"vectors": VECTORS})
    for stopwords in ("klingon", {"languages": ["english", "klingon"]}, "English"):
        resp = http.put(
            f"/collections/{collection_name}/index",
            json={"field_name": "t", "field_schema": {"type": "text", "stopwords": stopwords}},
        )
        api.error(resp, 400, contains="unknown variant")
    assert "t" not in schema_of(http, collection_name)


def test_stopwords_alias_is_read_back_as_the_language(http, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    create_index(http, collection_name, "t", {"type": "text", "stopwords": {"languages": ["de"]}})
    assert schema_of(http, collection_name)["t"]["params"]["stopwords"] == {
        "languages": ["german"]}
