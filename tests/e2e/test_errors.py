"""Bad input: exact status codes, Qdrant's error body shape and message text, and the guarantee
that a rejected request changes nothing that is stored."""

from __future__ import annotations

import pytest

from tests.support import api
from tests.support.api import create_collection, error, ok

DIM_ERROR = "Wrong input: Vector dimension error: expected dim: 4, got 3"


@pytest.fixture
def dense(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 4, "distance": "Dot"}})
    api.upsert(http, collection_name,
               [{"id": i, "vector": [i, 1, 1, 1], "payload": {"v": i}} for i in range(1, 6)])
    return collection_name


@pytest.fixture
def named(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"text": {"size": 4, "distance": "Dot"}}})
    api.upsert(http, collection_name, [{"id": 1, "vector": {"text": [1, 2, 3, 4]}}])
    return collection_name


def snapshot_state(http, name):
    return api.scroll_all(http, name, with_payload=True, with_vector=True)


# ---------------------------------------------------------------------------- wrong input (400)


def test_wrong_dimension_on_upsert(http, dense):
    before = snapshot_state(http, dense)
    resp = http.put(f"/collections/{dense}/points", params={"wait": "true"},
                    json={"points": [{"id": 1, "vector": [9, 9, 9]}]})
    error(resp, 400, message=DIM_ERROR)
    assert snapshot_state(http, dense) == before


def test_wrong_dimension_in_column_batch(http, dense):
    before = snapshot_state(http, dense)
    resp = http.put(f"/collections/{dense}/points", params={"wait": "true"},
                    json={"batch": {"ids": [7, 8], "vectors": [[1, 2, 3, 4], [1, 2, 3]]}})
    error(resp, 400, message=DIM_ERROR)
    assert snapshot_state(http, dense) == before


def test_wrong_dimension_on_query_and_update_vectors(http, dense):
    error(http.post(f"/collections/{dense}/points/query", json={"query": [1, 2, 3]}), 400,
          message=DIM_ERROR)
    before = snapshot_state(http, dense)
    resp = http.put(f"/collections/{dense}/points/vectors", params={"wait": "true"},
                    json={"points": [{"id": 1, "vector": [1, 2, 3]}]})
    error(resp, 400, message=DIM_ERROR)
    assert snapshot_state(http, dense) == before


def test_unknown_vector_name(http, named):
    before = snapshot_state(http, named)
    resp = http.put(f"/collections/{named}/points", params={"wait": "true"},
                    json={"points": [{"id": 2, "vector": {"image": [1, 2, 3, 4]}}]})
    error(resp, 400, message="Wrong input: Not existing vector name error: image")
    resp = http.post(f"/collections/{named}/points/query",
                     json={"query": [1, 2, 3, 4], "using": "image"})
    error(resp, 400, message="Wrong input: Not existing vector name error: image")
    assert snapshot_state(http, named) == before


def test_named_vector_wrong_dimension(http, named):
    resp = http.put(f"/collections/{named}/points", params={"wait": "true"},
                    json={"points": [{"id": 2, "vector": {"text": [1, 2, 3]}}]})
    error(resp, 400, message=DIM_ERROR)


def test_invalid_id(http, dense):
    before = snapshot_state(http, dense)
    resp = http.put(f"/collections/{dense}/points", params={"wait": "true"},
                    json={"points": [{"id": "definitely-not-a-uuid", "vector": [1, 2, 3, 4]}]})
    error(resp, 400)
    resp = http.post(f"/collections/{dense}/points/delete", params={"wait": "true"},
                     json={"points": [-5]})
    error(resp, 400)
    assert snapshot_state(http, dense) == before


# ---------------------------------------------------------------------- malformed bodies (400)


@pytest.mark.parametrize(
    "raw", [b'{"points": [', b"not json at all", b'{"points": [{"id": 1, "vector": [1,2,3,4]}]}}']
)
def test_malformed_json(http, dense, raw):
    before = snapshot_state(http, dense)
    resp = http.put(f"/collections/{dense}/points", params={"wait": "true"}, content=raw,
                    headers={"Content-Type": "application/json"})
    error(resp, 400, prefix="Format error in JSON body: ")
    assert snapshot_state(http, dense) == before


@pytest.mark.parametrize(
    "path,method,body",
    [
        ("points", "PUT", {"points": [{"id": 1, "vector": "abc"}]}),
        ("points", "PUT", {"points": {"id": 1}}),
        ("points/query", "POST", {"query": [1, 2, 3, 4], "limit": "ten"}),
        ("points/query", "POST", {"query": [1, 2, 3, 4], "limit": -1}),
        ("points/scroll", "POST", {"limit": -3}),
        ("points/count", "POST", {"exact": "yes"}),
        ("points", "POST", {"ids": "1"}),
        ("points/delete", "POST", {"points": "1"}),
    ],
    ids=["vector-string", "points-object", "limit-string", "limit-negative", "scroll-negative",
         "exact-string", "ids-string", "delete-points-string"],
)
def test_wrong_type_in_body(http, dense, path, method, body):
    before = snapshot_state(http, dense)
    resp = http.request(method, f"/collections/{dense}/{path}", params={"wait": "true"}, json=body)
    error(resp, 400, prefix="Format error in JSON body: ")
    assert snapshot_state(http, dense) == before


def test_missing_required_field(http, make_name):
    name = make_name()
    resp = http.put(f"/collections/{name}", json={"vectors": {"distance": "Dot"}})
    error(resp, 400, prefix="Format error in JSON body: ")
    assert ok(http.get(f"/collections/{name}/exists")) == {"exists": False}


@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("POST", "points/payload", {"payload": {"x": 1}},
     "Format error in JSON body: Either list of point ids or filter must be provided"),
    ("PUT", "points/payload", {"payload": {"x": 1}},
     "Format error in JSON body: Either list of point ids or filter must be provided"),
    ("POST", "points/payload/delete", {"keys": ["v"]},
     "Format error in JSON body: Either list of point ids or filter must be provided"),
    ("POST", "points/vectors/delete", {"vector": ["no-such-name"]},
     "Bad request: No filter or points provided"),
])
def test_a_write_naming_neither_points_nor_filter(http, dense, method, path, body, message):
    """Qdrant's words: its deserializer's for payload writes, its handler's for vectors (which
    answers before it looks at the vector names)."""
    before = snapshot_state(http, dense)
    resp = http.request(method, f"/collections/{dense}/{path}", params={"wait": "true"}, json=body)
    error(resp, 400, message=message)
    assert snapshot_state(http, dense) == before


@pytest.mark.parametrize(("batch", "message"), [
    ({"ids": [7, 8], "vectors": [[1, 1, 1, 1]]},
     "[batch.batch: number of ids and vectors must be equal (2 != 1)]"),
    ({"ids": [7], "vectors": [[1, 1, 1, 1]], "payloads": [{}, {}]},
     "[batch.batch: number of ids and payloads must be equal (1 != 2)]"),
])
def test_a_batch_whose_columns_differ_in_length_is_422(http, dense, batch, message):
    before = snapshot_state(http, dense)
    resp = http.put(f"/collections/{dense}/points", params={"wait": "true"},
                    json={"batch": batch})
    error(resp, 422, message="Validation error in JSON body: " + message)
    assert snapshot_state(http, dense) == before


def test_filter_rejects_unknown_keys(http, dense):
    # Filter is one of the few schemas with additionalProperties: false
    before = snapshot_state(http, dense)
    flt = {"must": [{"key": "v", "match": {"value": 1}}], "muts": []}
    error(http.post(f"/collections/{dense}/points/count", json={"filter": flt}), 400,
          prefix="Format error in JSON body: ")
    error(http.post(f"/collections/{dense}/points/delete", params={"wait": "true"},
                    json={"filter": flt}), 400)
    assert snapshot_state(http, dense) == before


# ---------------------------------------------------------------------------- validation (422)


def test_condition_with_only_key_is_422(http, dense):
    before = snapshot_state(http, dense)
    key_only = {"must": [{"key": "v"}]}
    resp = http.post(f"/collections/{dense}/points/count", json={"filter": key_only})
    error(resp, 422, prefix="Validation error in JSON body: ")
    resp = http.post(f"/collections/{dense}/points/delete", params={"wait": "true"},
                     json={"filter": key_only})
    error(resp, 422, prefix="Validation error in JSON body: ")
    assert snapshot_state(http, dense) == before


def test_query_limit_zero_is_422(http, dense):
    resp = http.post(f"/collections/{dense}/points/query", json={"query": [1, 2, 3, 4], "limit": 0})
    error(resp, 422, message="Validation error in JSON body: "
                             "[internal.limit: value 0 invalid, must be 1 or larger]")


def test_scroll_limit_zero_is_422(http, dense):
    resp = http.post(f"/collections/{dense}/points/scroll", json={"limit": 0})
    error(resp, 422, prefix="Validation error in JSON body: [",
          contains=["limit", "value 0 invalid, must be 1 or larger"])


def test_create_shard_number_zero_is_422(http, make_name):
    name = make_name()
    resp = http.put(f"/collections/{name}",
                    json={"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 0})
    error(resp, 422, prefix="Validation error in JSON body: [",
          contains=["shard_number", "value 0 invalid, must be 1 or larger"])
    assert ok(http.get(f"/collections/{name}/exists")) == {"exists": False}


def test_create_ef_construct_zero_is_422(http, make_name):
    name = make_name()
    resp = http.put(f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Dot"},
                                                  "hnsw_config": {"ef_construct": 0}})
    error(resp, 422, prefix="Validation error in JSON body: [",
          contains=["ef_construct", "value 0 invalid, must be 4 or larger"])
    assert ok(http.get(f"/collections/{name}/exists")) == {"exists": False}


def test_patch_ef_construct_zero_is_422(http, dense):
    before = ok(http.get(f"/collections/{dense}"))["config"]
    resp = http.patch(f"/collections/{dense}", json={"hnsw_config": {"ef_construct": 0}})
    error(resp, 422, prefix="Validation error in JSON body: [", contains="ef_construct")
    assert ok(http.get(f"/collections/{dense}"))["config"] == before


def test_create_unknown_distance_is_400(http, make_name):
    name = make_name()
    resp = http.put(f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Foo"}})
    error(resp, 400, prefix="Format error in JSON body: ")
    assert ok(http.get(f"/collections/{name}/exists")) == {"exists": False}


# -------------------------------------------------------------------- unknown collection (404)


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "", None),
        ("PATCH", "", {"optimizers_config": {"indexing_threshold": 10}}),
        ("PUT", "/points", {"points": [{"id": 1, "vector": [1, 2, 3, 4]}]}),
        ("POST", "/points", {"ids": [1]}),
        ("GET", "/points/1", None),
        ("POST", "/points/delete", {"points": [1]}),
        ("POST", "/points/payload", {"payload": {"a": 1}, "points": [1]}),
        ("POST", "/points/scroll", {}),
        ("POST", "/points/count", {}),
        ("POST", "/points/query", {"query": [1, 2, 3, 4]}),
        ("POST", "/points/query/batch", {"searches": [{"query": [1, 2, 3, 4]}]}),
        ("POST", "/points/batch", {"operations": [{"delete": {"points": [1]}}]}),
        ("GET", "/aliases", None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_unknown_collection_is_404(http, make_name, method, path, body):
    name = make_name("missing")
    kwargs = {"json": body} if body is not None else {}
    resp = http.request(method, f"/collections/{name}{path}", **kwargs)
    error(resp, 404, message=f"Not found: Collection `{name}` doesn't exist!")
    assert ok(http.get(f"/collections/{name}/exists")) == {"exists": False}


# -------------------------------------------------------------- atomicity of a rejected batch


def test_batch_with_one_bad_point_writes_none(http, dense):
    before = snapshot_state(http, dense)
    points = [
        {"id": 1, "vector": [0, 0, 0, 1], "payload": {"v": "overwritten?"}},  # existing point
        {"id": 100, "vector": [1, 2, 3, 4]},                                  # new point
        {"id": 101, "vector": [1, 2, 3]},                                     # bad: wrong dimension
        {"id": 102, "vector": [1, 2, 3, 4]},
    ]
    resp = http.put(f"/collections/{dense}/points", params={"wait": "true"},
                    json={"points": points})
    error(resp, 400, message=DIM_ERROR)
    assert api.count(http, dense) == 5
    assert snapshot_state(http, dense) == before
    assert api.retrieve(http, dense, [100, 101, 102]) == []


def test_error_responses_keep_server_healthy(http, dense):
    for _ in range(20):
        http.put(f"/collections/{dense}/points", content=b"{",
                 headers={"Content-Type": "application/json"})
    assert http.get("/readyz").status_code == 200
    assert api.count(http, dense) == 5


# ---------------------------------------------------------------------------- oversized (413)


@pytest.mark.durability
def test_oversized_request_is_413_and_writes_nothing(fresh_node):
    node = fresh_node(QDRANT__SERVICE__MAX_REQUEST_SIZE_MB="1")
    http = node.http
    create_collection(http, "big", {"vectors": {"size": 4, "distance": "Dot"}})
    api.upsert(http, "big", [{"id": 1, "vector": [1, 2, 3, 4]}])
    filler = "x" * (1024 * 1024)
    big_upsert = {"points": [{"id": 2, "vector": [1, 1, 1, 1], "payload": {"blob": filler}}]}
    # the upsert path (served before FastAPI) and an ordinary one both refuse it
    for method, path, body in [
        ("PUT", "/collections/big/points?wait=true", big_upsert),
        ("POST", "/collections/big/points/scroll", {"filter": None, "pad": filler}),
    ]:
        error(http.request(method, path, json=body), 413, contains="max_request_size_mb")
    assert [p["id"] for p in api.scroll_all(http, "big")] == [1]
    # a request under the limit still works on the same connection
    api.upsert(http, "big", [{"id": 3, "vector": [1, 1, 1, 1], "payload": {"blob": "y" * 1000}}])
    assert api.count(http, "big") == 2
