"""Payload indexes, managed: accepted index options, ``payload_schema`` in collection info,
re-creating an index with another type, ``wait=false``, errors, DELETE, and the same through
qdrant-client (create_payload_index / facet / delete_payload_index, on every transport).
"""

from __future__ import annotations

import pytest
from qdrant_client import models

from tests.support import api
from tests.support.api import create_collection, error, ok
from tests.support.payload_indexes import (
    BERLIN,
    NYC,
    U1,
    U2,
    VECTORS,
    create_index,
    put_points,
    schema_of,
    scroll_ids,
)

# ------------------------------------------------------------------------ options, payload_schema

OPTION_SCHEMAS = [
    {"type": "keyword", "is_tenant": True, "on_disk": True},
    {"type": "keyword", "on_disk": False},
    {"type": "uuid", "is_tenant": True, "on_disk": True},
    {"type": "integer", "lookup": True, "range": True, "is_principal": True, "on_disk": True},
    {"type": "float", "is_principal": True, "on_disk": True},
    {"type": "datetime", "is_principal": True, "on_disk": True},
    {"type": "geo", "on_disk": True},
    {"type": "bool", "on_disk": True},
    {"type": "text", "tokenizer": "word", "on_disk": True},
]
OPTION_VALUES = {
    "keyword": ("tenant-a", "tenant-b", {"key": "v", "match": {"value": "tenant-a"}}),
    "uuid": (U1, U2, {"key": "v", "match": {"value": U1}}),
    "integer": (7, 8, {"key": "v", "match": {"value": 7}}),
    "float": (0.5, 8.5, {"key": "v", "range": {"lt": 1}}),
    "datetime": (
        "2024-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
        {"key": "v", "range": {"lt": "2024-06-01T00:00:00Z"}},
    ),
    "geo": (BERLIN, NYC, {"key": "v", "geo_radius": {"center": BERLIN, "radius": 1000}}),
    "bool": (True, False, {"key": "v", "match": {"value": True}}),
    "text": ("hello world", "bye", {"key": "v", "match": {"text": "world"}}),
}


@pytest.mark.parametrize(
    "schema", OPTION_SCHEMAS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items())
)
def test_index_options_accepted(http, client, collection_name, schema):
    first, second, cond = OPTION_VALUES[schema["type"]]
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"v": first}, 2: {"v": second}, 3: {"v": first}, 4: {}})
    create_index(http, collection_name, "v", schema)
    assert schema_of(http, collection_name) == {
        "v": {"data_type": schema["type"], "params": schema, "points": 3}
    }
    assert scroll_ids(client, collection_name, {"must": [cond]}) == [1, 3]


def test_payload_schema_in_collection_info(http, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    assert schema_of(http, collection_name) == {}
    put_points(
        http,
        collection_name,
        {
            1: {"city": "Berlin", "meta": {"level": 1}, "tags": ["a", "b"]},
            2: {"city": ["Paris", "Rome"], "meta": {"level": [2, 3]}},
            3: {"city": None, "meta": [{"level": 4}]},  # meta.level does not reach into an array
            4: {"city": 5},  # not a keyword value
        },
    )
    create_index(http, collection_name, "city", "keyword")
    create_index(http, collection_name, "meta.level", {"type": "integer"})
    create_index(http, collection_name, "tags", {"type": "keyword", "is_tenant": False})
    create_index(http, collection_name, "nobody", "float")
    assert schema_of(http, collection_name) == {
        "city": {"data_type": "keyword", "points": 2},  # a type name: no params
        "meta.level": {"data_type": "integer", "params": {"type": "integer"}, "points": 2},
        "tags": {
            "data_type": "keyword",
            "params": {"type": "keyword", "is_tenant": False},
            "points": 1,
        },
        "nobody": {"data_type": "float", "points": 0},
    }
    # counts follow the points
    put_points(
        http,
        collection_name,
        {5: {"city": "Oslo", "tags": []}, 6: {"city": "Rome", "meta": {"level": 0}}},
    )
    api.post_update(http, f"/collections/{collection_name}/points/delete", {"points": [1]})
    info = schema_of(http, collection_name)
    assert {k: v["points"] for k, v in info.items()} == {
        "city": 3,
        "meta.level": 2,
        "tags": 0,
        "nobody": 0,
    }


def test_recreate_index_with_another_type(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"v": 1}, 2: {"v": "1"}, 3: {"v": [1, "x"]}})
    create_index(http, collection_name, "v", "keyword")
    assert schema_of(http, collection_name)["v"] == {"data_type": "keyword", "points": 2}
    create_index(http, collection_name, "v", "integer")
    assert schema_of(http, collection_name)["v"] == {"data_type": "integer", "points": 2}
    assert scroll_ids(client, collection_name, {"must": [{"key": "v", "range": {"gte": 1}}]}) == [
        1,
        3,
    ]
    facet = ok(http.post(f"/collections/{collection_name}/facet", json={"key": "v"}))
    assert facet["hits"] == [{"value": 1, "count": 2}]


def test_create_index_wait_false(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, {1: {"k": "a"}, 2: {"k": "b"}})
    create_index(http, collection_name, "k", "keyword", wait=False)
    api.wait_until(lambda: "k" in schema_of(http, collection_name), timeout=10, what="index k")
    assert scroll_ids(
        client, collection_name, {"must": [{"key": "k", "match": {"value": "b"}}]}
    ) == [2]


def test_create_index_errors(http, collection_name):
    error(
        http.put(
            "/collections/no_such_collection_idx/index",
            params={"wait": "true"},
            json={"field_name": "k", "field_schema": "keyword"},
        ),
        404,
        prefix="Not found: ",
    )
    create_collection(http, collection_name, {"vectors": VECTORS})
    msg = error(
        http.put(
            f"/collections/{collection_name}/index",
            params={"wait": "true"},
            json={"field_name": "k", "field_schema": "strings"},
        ),
        400,
    )
    assert "strings" in msg or "variant" in msg, msg
    error(
        http.put(
            f"/collections/{collection_name}/index",
            params={"wait": "true"},
            json={"field_schema": "keyword"},
        ),
        400,
        contains="field_name",
    )
    assert schema_of(http, collection_name) == {}


# ------------------------------------------------------------------------------ DELETE index


def test_delete_index(http, client, collection_name):
    payloads = {1: {"k": "a", "n": 1}, 2: {"k": "b", "n": 2}, 3: {"k": ["a", "c"], "n": 3}}
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(http, collection_name, payloads)
    create_index(http, collection_name, "k", "keyword")
    create_index(http, collection_name, "n", "integer")
    by_k = {"must": [{"key": "k", "match": {"value": "a"}}]}
    assert scroll_ids(client, collection_name, by_k) == [1, 3]
    assert ok(http.post(f"/collections/{collection_name}/facet", json={"key": "k"}))["hits"]

    api.update_ok(http.delete(f"/collections/{collection_name}/index/k", params={"wait": "true"}))
    assert set(schema_of(http, collection_name)) == {"n"}
    assert scroll_ids(client, collection_name, by_k) == [1, 3]  # still answered, without the index
    error(http.post(f"/collections/{collection_name}/facet", json={"key": "k"}), 400, contains="k")
    put_points(http, collection_name, {4: {"k": "a"}})
    assert scroll_ids(client, collection_name, by_k) == [1, 3, 4]

    api.update_ok(http.delete(f"/collections/{collection_name}/index/n", params={"wait": "true"}))
    assert schema_of(http, collection_name) == {}
    error(
        http.post(f"/collections/{collection_name}/points/scroll", json={"order_by": "n"}),
        400,
        contains="No range index for `order_by` key: `n`",
    )

    create_index(http, collection_name, "k", "keyword")  # and back: built from the current points
    assert schema_of(http, collection_name) == {"k": {"data_type": "keyword", "points": 4}}
    assert scroll_ids(client, collection_name, by_k) == [1, 3, 4]


# ---------------------------------------------------------------------- through qdrant-client


def test_index_and_facet_through_the_client(http, client, collection_name):
    """create_payload_index / facet / delete_payload_index through qdrant-client."""
    create_collection(http, collection_name, {"vectors": VECTORS})
    put_points(
        http,
        collection_name,
        {1: {"k": "a", "n": 1}, 2: {"k": ["a", "b"], "n": 2}, 3: {"k": "c", "n": 1}},
    )
    client.create_payload_index(
        collection_name, "k", field_schema=models.PayloadSchemaType.KEYWORD, wait=True
    )
    client.create_payload_index(
        collection_name,
        "n",
        field_schema=models.IntegerIndexParams(type="integer", lookup=True, range=False),
        wait=True,
    )
    assert schema_of(http, collection_name) == {
        "k": {"data_type": "keyword", "points": 3},
        "n": {
            "data_type": "integer",
            "params": {"type": "integer", "lookup": True, "range": False},
            "points": 3,
        },
    }
    info = client.get_collection(collection_name).payload_schema
    assert info["k"].data_type == models.PayloadSchemaType.KEYWORD and info["k"].points == 3
    hits = client.facet(collection_name, "k", exact=True).hits
    assert (hits[0].value, hits[0].count) == ("a", 2)  # the order of the ties is not asserted
    assert sorted((h.value, h.count) for h in hits) == [("a", 2), ("b", 1), ("c", 1)]
    flt = models.Filter(must=[models.FieldCondition(key="n", match=models.MatchValue(value=1))])
    hits = client.facet(collection_name, "k", facet_filter=flt).hits
    assert sorted((h.value, h.count) for h in hits) == [("a", 1), ("c", 1)]
    client.delete_payload_index(collection_name, "k", wait=True)
    assert set(schema_of(http, collection_name)) == {"n"}
