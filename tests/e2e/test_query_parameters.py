"""Query parameters outside their schema are refused with a 400, as Qdrant's query deserializer
refuses them, and nothing happens (found by schemathesis' negative mode: each was answered 200).
"""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("method", "path", "params"), [
    ("DELETE", "/collections/{c}", {"timeout": "false"}),
    ("GET", "/collections/{c}/optimizations", {"completed_limit": "-5"}),
    ("GET", "/metrics", {"anonymize": "-182088619"}),
    ("GET", "/metrics", {"per_collection": "0.4"}),
    ("GET", "/metrics", {"timeout": "soon"}),
    ("GET", "/telemetry", {"anonymize": "yes"}),
    ("GET", "/cluster/telemetry", {"timeout": "-852592818"}),
    ("GET", "/cluster/telemetry", {"details_level": "-3"}),
    ("PATCH", "/collections/{c}", {"timeout": "O"}),
    ("DELETE", "/collections/{c}", {"timeout": ""}),
])
def test_a_parameter_outside_its_schema_is_refused(node, collection_name, method, path, params):
    assert node.http.put(f"/collections/{collection_name}", json={
        "vectors": {"size": 2, "distance": "Dot"}}).status_code == 200
    resp = node.http.request(method, path.format(c=collection_name), params=params)
    assert resp.status_code == 400, resp.text
    (name, value), = params.items()
    assert resp.json()["status"]["error"].endswith(f"invalid value for {name}: {value}")
    assert node.http.get(f"/collections/{collection_name}").status_code == 200  # not deleted


@pytest.mark.parametrize(("path", "params"), [
    ("/metrics", {"anonymize": "true", "per_collection": "false", "timeout": "5"}),
    ("/telemetry", {"anonymize": "false"}),
    ("/collections/{c}/optimizations", {"completed_limit": "0"}),
])
def test_a_parameter_within_its_schema_is_taken(node, collection_name, path, params):
    assert node.http.put(f"/collections/{collection_name}", json={
        "vectors": {"size": 2, "distance": "Dot"}}).status_code == 200
    resp = node.http.get(path.format(c=collection_name), params=params)
    assert resp.status_code == 200, resp.text


def _stored(node, name: str) -> list[dict]:
    resp = node.http.post(f"/collections/{name}/points/scroll",
                          json={"with_payload": True, "limit": 10})
    return resp.json()["result"]["points"]


@pytest.mark.parametrize(("method", "path", "params", "body", "error"), [
    ("POST", "/collections/{c}/points/payload/clear", {"wait": "true", "timeout": "ê"},
     {"points": [1]}, "invalid value for timeout: ê"),
    ("PUT", "/collections/{c}/points", {"wait": ""},
     {"points": [{"id": 2, "vector": [1, 0]}]}, "invalid value for wait: "),
    ("POST", "/collections/{c}/points/payload", {"ordering": "fastest"},
     {"points": [1], "payload": {"b": 2}}, "unknown variant `fastest`"),
    ("PUT", "/collections/{c}/vectors/extra", {"wait": "true", "ordering": "L"},
     {"dense": {"size": 2, "distance": "Dot"}}, "unknown variant `L`"),
])
def test_a_write_with_a_parameter_outside_its_schema_changes_nothing(
        node, collection_name, method, path, params, body, error):
    """Qdrant reads the query string before the body: a bad parameter refuses the whole write."""
    name = collection_name
    assert node.http.put(f"/collections/{name}", json={
        "vectors": {"size": 2, "distance": "Dot"}}).status_code == 200
    assert node.http.put(f"/collections/{name}/points", params={"wait": "true"}, json={
        "points": [{"id": 1, "vector": [0, 1], "payload": {"a": 1}}]}).status_code == 200
    before = node.http.get(f"/collections/{name}").json()["result"]["config"]

    resp = node.http.request(method, path.format(c=name), params=params, json=body)

    assert resp.status_code == 400, resp.text
    assert error in resp.json()["status"]["error"]
    assert _stored(node, name) == [{"id": 1, "payload": {"a": 1}}]
    assert node.http.get(f"/collections/{name}").json()["result"]["config"] == before


def test_a_snapshot_with_an_empty_wait_is_refused_and_not_taken(node, collection_name):
    assert node.http.put(f"/collections/{collection_name}", json={
        "vectors": {"size": 2, "distance": "Dot"}}).status_code == 200
    before = node.http.get("/snapshots").json()["result"]
    resp = node.http.post("/snapshots?wait=")
    assert resp.status_code == 400, resp.text
    assert resp.json()["status"]["error"].endswith("invalid value for wait: ")
    assert node.http.get("/snapshots").json()["result"] == before


def test_an_empty_read_consistency_is_refused(node, collection_name):
    assert node.http.put(f"/collections/{collection_name}", json={
        "vectors": {"size": 2, "distance": "Dot"}}).status_code == 200
    path = f"/collections/{collection_name}/points/search/matrix/pairs"
    resp = node.http.post(path, params={"consistency": ""}, json={"sample": 4})
    assert resp.status_code == 400, resp.text
    assert "untagged enum ReadConsistency" in resp.json()["status"]["error"]
    resp = node.http.post(path, params={"consistency": "majority"}, json={"sample": 4})
    assert resp.status_code == 200, resp.text
