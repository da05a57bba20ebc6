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
