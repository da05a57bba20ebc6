"""Payload indexes, facet and ``order_by`` over gRPC, against a real node.

qdrant-client with ``prefer_grpc=True`` creates and deletes payload indexes of every type (plain
and with params), reads them back in the collection info, counts facets and scrolls in order of
a payload key. Each collection here has a twin built with the REST client from the same data and
the same calls: both transports must show the same payload schema and give the same results,
whichever collection they read.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import grpc
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.e2e.conftest import unique_name
from tests.support.node import REPO_ROOT

SERVER_PY = REPO_ROOT / "tessera" / "server.py"

pytestmark = pytest.mark.skipif(
    "start_grpc_server" not in SERVER_PY.read_text(),
    reason="tessera/server.py does not start the gRPC server (router.grpc) yet",
)

N = 24
CITIES = ["Berlin", "Paris", "Rome", "Oslo"]


def _payload(i: int) -> dict:
    city = CITIES[i % 4] if i % 6 else ["Berlin", "Paris"]  # some points hold two values
    p: dict = {
        "city": city,
        "price": i * 1.25 - 3.0,
        "loc": {"lon": 13.0 + i * 0.1, "lat": 52.0 + i * 0.05},
        "text": f"The quick brown fox number {i} jumps" + (" over the dog" if i % 2 else ""),
        "flag": i % 3 == 0,
        "ts": f"2024-01-{i + 1:02d}T12:00:00Z",
        "uid": str(uuid.UUID(int=i + 1)),
    }
    if i != 7:  # one point without `n`
        p["n"] = i % 5
    for key in list(p):  # the same values under a second key, indexed with params
        p[f"{key}_p"] = p[key]
    return p


POINTS = [
    models.PointStruct(id=i + 1, vector=[float(i), 1.0], payload=_payload(i)) for i in range(N)
]

PLAIN = {
    "city": models.PayloadSchemaType.KEYWORD,
    "n": models.PayloadSchemaType.INTEGER,
    "price": models.PayloadSchemaType.FLOAT,
    "loc": models.PayloadSchemaType.GEO,
    "text": models.PayloadSchemaType.TEXT,
    "flag": models.PayloadSchemaType.BOOL,
    "ts": models.PayloadSchemaType.DATETIME,
    "uid": models.PayloadSchemaType.UUID,
}
WITH_PARAMS = {
    "city_p": models.KeywordIndexParams(type="keyword", is_tenant=True, on_disk=False),
    "n_p": models.IntegerIndexParams(type="integer", lookup=True, range=True, is_principal=True),
    "price_p": models.FloatIndexParams(type="float", is_principal=True),
    "loc_p": models.GeoIndexParams(type="geo", memory=models.Memory.CACHED),
    # the tokenizer is given: over gRPC qdrant-client always sends one (word when unset), over
    # REST it leaves an unset one out, so the stored params would differ by the client's doing
    "text_p": models.TextIndexParams(
        type="text",
        tokenizer=models.TokenizerType.WORD,
        lowercase=True,
        min_token_len=2,
        max_token_len=20,
        stemmer=models.SnowballParams(
            type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.ENGLISH
        ),
    ),
    "flag_p": models.BoolIndexParams(type="bool", on_disk=False),
    "ts_p": models.DatetimeIndexParams(type="datetime", is_principal=True),
    "uid_p": models.UuidIndexParams(type="uuid", is_tenant=True),
}
INDEXES = {**PLAIN, **WITH_PARAMS}


def _build(client, name: str, indexes: dict) -> list:
    client.create_collection(
        name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    client.upsert(name, POINTS, wait=True)
    return [
        client.create_payload_index(name, key, schema, wait=True) for key, schema in indexes.items()
    ]


@pytest.fixture(scope="module")
def twins(node, gclient, rclient):
    """(gRPC-built collection, REST-built collection, their index results), same data."""
    g, r = unique_name("gidx"), unique_name("ridx")
    try:
        results = (_build(gclient, g, INDEXES), _build(rclient, r, INDEXES))
        yield g, r, results
    finally:
        for name in (g, r):
            node.http.delete(f"/collections/{name}")


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def rest_error_text(call) -> str:
    """The ``status.error`` text of the REST client's error answer."""
    with pytest.raises(UnexpectedResponse) as info:
        call()
    return json.loads(info.value.content)["status"]["error"]


def typed(value):
    """A value with its JSON kind, so True ≠ 1 and 3 ≠ 3.0 in comparisons."""
    return (type(value).__name__, value)


# -- creating indexes and reading the schema back ---------------------------------------------
def test_create_payload_index_results(twins):
    _, _, (over_grpc, over_rest) = twins
    assert len(over_grpc) == len(over_rest) == len(INDEXES)
    for g, r in zip(over_grpc, over_rest, strict=True):
        assert g.status == r.status == models.UpdateStatus.COMPLETED
        assert g.operation_id is not None and r.operation_id is not None


def test_payload_schema_is_the_same_over_both_transports(node, gclient, rclient, twins):
    g, r, _ = twins
    schema = gclient.get_collection(g).payload_schema
    assert set(schema) == set(INDEXES)
    # built over gRPC or REST, read over gRPC or REST: one answer
    assert schema == rclient.get_collection(g).payload_schema
    assert schema == rclient.get_collection(r).payload_schema
    assert schema == gclient.get_collection(r).payload_schema
    raw = node.http.get(f"/collections/{g}").json()["result"]["payload_schema"]
    assert raw == node.http.get(f"/collections/{r}").json()["result"]["payload_schema"]

    counts = {key: sum(1 for p in POINTS if key in p.payload) for key in INDEXES}
    for key, given in PLAIN.items():
        assert schema[key].data_type == given and schema[key].params is None
        assert schema[key].points == counts[key]
        assert raw[key] == {"data_type": given.value, "points": counts[key]}
    for key, given in WITH_PARAMS.items():
        assert schema[key].data_type.value == given.type.value
        assert schema[key].params == given
        assert schema[key].points == counts[key]
        expected = given.model_dump(mode="json", exclude_none=True)
        assert raw[key] == {
            "data_type": given.type.value,
            "params": expected,
            "points": counts[key],
        }


def test_create_payload_index_without_waiting(gclient, rclient, make_name):
    g, r = make_name("gidx"), make_name("ridx")
    for client, name in ((gclient, g), (rclient, r)):
        client.create_collection(
            name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
        )
        result = client.create_payload_index(name, "city", "keyword", wait=False)
        assert result.status == models.UpdateStatus.ACKNOWLEDGED
    deadline = time.monotonic() + 10
    while "city" not in gclient.get_collection(g).payload_schema:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert gclient.get_collection(g).payload_schema == rclient.get_collection(r).payload_schema


def test_index_errors_are_the_rest_errors(gclient, rclient, make_name, twins):
    missing = make_name("missing")
    err = rpc_error(lambda: gclient.create_payload_index(missing, "a", "keyword"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == rest_error_text(
        lambda: rclient.create_payload_index(missing, "a", "keyword")
    )
    err = rpc_error(lambda: gclient.delete_payload_index(missing, "a"))
    assert err.code() == grpc.StatusCode.NOT_FOUND


# -- facet -------------------------------------------------------------------------------------
BERLIN = models.Filter(
    must=[models.FieldCondition(key="city", match=models.MatchValue(value="Berlin"))]
)
FACETS = {
    "keyword": dict(key="city"),
    "keyword_params": dict(key="city_p", limit=2),
    "integer": dict(key="n"),
    "integer_filtered": dict(key="n_p", facet_filter=BERLIN, limit=3),
    "bool": dict(key="flag"),
    "bool_filtered_exact": dict(key="flag_p", facet_filter=BERLIN, exact=True),
    "limit_1": dict(key="n", limit=1),
}


@pytest.mark.parametrize("case", list(FACETS))
def test_facet_is_the_same_over_both_transports(gclient, rclient, twins, case):
    g, r, _ = twins
    kw = FACETS[case]
    hits = [(typed(h.value), h.count) for h in gclient.facet(g, **kw).hits]
    assert hits
    for client, name in ((rclient, r), (rclient, g), (gclient, r)):
        assert [(typed(h.value), h.count) for h in client.facet(name, **kw).hits] == hits


def test_facet_counts(gclient, twins):
    g, _, _ = twins
    hits = gclient.facet(g, "city", limit=10).hits
    expected: dict = {}
    for p in POINTS:
        values = p.payload["city"] if isinstance(p.payload["city"], list) else [p.payload["city"]]
        for v in values:
            expected[v] = expected.get(v, 0) + 1
    ranked = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(h.value, h.count) for h in hits] == ranked
    flags = {h.value: h.count for h in gclient.facet(g, "flag").hits}
    assert flags == {True: N // 3, False: N - N // 3}
    assert all(type(v) is bool for v in flags)
    ns = gclient.facet(g, "n", facet_filter=BERLIN).hits
    assert all(type(h.value) is int for h in ns)
    assert sum(h.count for h in ns) == sum(
        1 for p in POINTS if "n" in p.payload and "Berlin" in str(p.payload["city"])
    )


@pytest.mark.parametrize("key", ["price", "text", "missing_key"])
def test_facet_needs_a_keyword_integer_or_bool_index(gclient, rclient, twins, key):
    g, _, _ = twins
    err = rpc_error(lambda: gclient.facet(g, key))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Index required but not found" in err.details()
    assert err.details() == rest_error_text(lambda: rclient.facet(g, key))


# -- scroll with order_by ----------------------------------------------------------------------
ORDERS = {
    "key_only": dict(order_by="n"),
    "asc": dict(order_by=models.OrderBy(key="n", direction=models.Direction.ASC), limit=30),
    "desc": dict(order_by=models.OrderBy(key="n_p", direction=models.Direction.DESC), limit=7),
    "float_start_from": dict(order_by=models.OrderBy(key="price", start_from=2.5)),
    "float_desc_start_from": dict(
        order_by=models.OrderBy(key="price_p", direction=models.Direction.DESC, start_from=10),
        limit=50,
    ),
    "integer_start_from": dict(order_by=models.OrderBy(key="n", start_from=3), limit=50),
    "datetime_text": dict(
        order_by=models.OrderBy(key="ts", start_from="2024-01-10T00:00:00Z"), limit=5
    ),
    "datetime_desc": dict(
        order_by=models.OrderBy(
            key="ts_p",
            direction=models.Direction.DESC,
            start_from=dt.datetime(2024, 1, 10, tzinfo=dt.timezone.utc),
        ),
        limit=50,
    ),
    "filtered": dict(order_by=models.OrderBy(key="price"), scroll_filter=BERLIN, limit=50),
}


def _ordered(client, name: str, kw: dict) -> list:
    records, next_offset = client.scroll(name, with_payload=["n", "price", "ts"], **kw)
    assert next_offset is None
    return [(r.id, typed(r.order_value), r.payload) for r in records]


@pytest.mark.parametrize("case", list(ORDERS))
def test_scroll_order_by_is_the_same_over_both_transports(gclient, rclient, twins, case):
    g, r, _ = twins
    kw = ORDERS[case]
    got = _ordered(gclient, g, kw)
    assert got
    for client, name in ((rclient, r), (rclient, g), (gclient, r)):
        assert _ordered(client, name, kw) == got


def test_scroll_order_by_orders(gclient, twins):
    g, _, _ = twins

    def scroll(**kw):
        return gclient.scroll(g, limit=100, **kw)[0]

    asc = scroll(order_by="price")
    assert [r.payload["price"] for r in asc] == sorted(p.payload["price"] for p in POINTS)
    assert [r.order_value for r in asc] == [r.payload["price"] for r in asc]
    desc = scroll(order_by=models.OrderBy(key="n", direction=models.Direction.DESC))
    values = [r.order_value for r in desc]
    assert values == sorted(values, reverse=True) and len(values) == N - 1
    assert all(type(v) is int for v in values)
    # ties by id
    assert [r.id for r in desc if r.order_value == 4] == sorted(
        r.id for r in desc if r.order_value == 4
    )
    start = scroll(order_by=models.OrderBy(key="n", start_from=3))
    assert {r.order_value for r in start} == {3, 4}
    down = scroll(
        order_by=models.OrderBy(key="price", direction=models.Direction.DESC, start_from=0.5)
    )
    assert down and all(r.order_value <= 0.5 for r in down)
    assert [r.order_value for r in down] == sorted((r.order_value for r in down), reverse=True)
    after = scroll(order_by=models.OrderBy(key="ts", start_from="2024-01-20T00:00:00Z"))
    assert [r.payload["ts"] for r in after] == [f"2024-01-{d}T12:00:00Z" for d in range(20, 25)]
    # unordered scrolls carry no order value
    assert all(r.order_value is None for r in gclient.scroll(g, limit=3)[0])


def test_scroll_order_by_errors_are_the_rest_errors(gclient, rclient, twins):
    g, _, _ = twins
    for key in ("city", "text", "missing_key"):  # no range index
        err = rpc_error(lambda key=key: gclient.scroll(g, order_by=key))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"No range index for `order_by` key: `{key}`" in err.details()
        assert err.details() == rest_error_text(lambda key=key: rclient.scroll(g, order_by=key))
    err = rpc_error(lambda: gclient.scroll(g, order_by="n", offset=3))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Can't use `offset` with `order_by`" in err.details()
    assert err.details() == rest_error_text(lambda: rclient.scroll(g, order_by="n", offset=3))


# -- deleting indexes --------------------------------------------------------------------------
def test_delete_payload_index(gclient, rclient, make_name):
    g, r = make_name("gidx"), make_name("ridx")
    indexes = {"city": PLAIN["city"], "n_p": WITH_PARAMS["n_p"], "price": PLAIN["price"]}
    _build(gclient, g, indexes)
    _build(rclient, r, indexes)
    for client, name in ((gclient, g), (rclient, r)):
        result = client.delete_payload_index(name, "city", wait=True)
        assert result.status == models.UpdateStatus.COMPLETED
        result = client.delete_payload_index(name, "n_p", wait=True)
        assert result.status == models.UpdateStatus.COMPLETED
    schema = gclient.get_collection(g).payload_schema
    assert set(schema) == {"price"}
    assert schema == rclient.get_collection(g).payload_schema
    assert schema == rclient.get_collection(r).payload_schema
    # what needed the indexes now fails the same way on both transports
    err = rpc_error(lambda: gclient.facet(g, "city"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == rest_error_text(lambda: rclient.facet(r, "city"))
    err = rpc_error(lambda: gclient.scroll(g, order_by="n_p"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    # filters still work without the index, and give the same answer
    flt = models.Filter(
        must=[models.FieldCondition(key="city", match=models.MatchValue(value="Rome"))]
    )
    assert gclient.count(g, count_filter=flt).count == rclient.count(r, count_filter=flt).count
    # and an index can be made again
    gclient.create_payload_index(g, "city", models.PayloadSchemaType.KEYWORD, wait=True)
    hits = gclient.facet(g, "city").hits
    assert hits == rclient.facet(g, "city").hits
    assert {h.value for h in hits} == set(CITIES)
    assert rclient.get_collection(g).payload_schema["city"].data_type == "keyword"
