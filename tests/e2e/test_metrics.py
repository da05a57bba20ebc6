"""GET /metrics after a scripted workload, read with prometheus_client's own parser: Qdrant's
names, exact counts per endpoint template and status over REST and gRPC, bounded labels."""

from __future__ import annotations

import re
import socket
import time

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client import models

from tests.support.node import Node

QUERY = "/collections/{name}/points/query"
POINT = "/collections/{name}/points/{point_id}"


def scrape(http: httpx.Client, query: str = "") -> dict[str, list]:
    resp = http.get("/metrics" + query)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(resp.text)}


def value(samples: list, sample_name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == sample_name and
             all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (sample_name, labels, [s for s in samples if s.name == sample_name])
    return found[0]


@pytest.fixture(scope="module")
def quiet_node(tmp_path_factory: pytest.TempPathFactory):
    """A node of its own: nothing but this module's requests is counted."""
    node = Node(tmp_path_factory.mktemp("metrics"))
    node.start()
    try:
        node.wait_ready(timeout=30)
        yield node
    finally:
        node.close_clients()
        node.stop()


def _grpc_client(node: Node):
    client = node.client(prefer_grpc=True)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.info()
            return client
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_counts_per_endpoint_and_status_after_a_workload(quiet_node: Node):
    http = quiet_node.http
    before = scrape(http)
    assert "rest_responses" not in before or not [
        s for s in before["rest_responses"] if s.labels.get("endpoint") == QUERY]
    rest = quiet_node.client()
    rest.create_collection("m", vectors_config=models.VectorParams(
        size=2, distance=models.Distance.DOT))
    for i in range(3):  # the hot upsert path
        rest.upsert("m", [models.PointStruct(id=i, vector=[1.0, float(i)])])
    for _ in range(5):  # the hot query path
        rest.query_points("m", query=[1.0, 0.0], limit=2)
    for _ in range(2):  # a hot path's error
        assert http.post("/collections/nope/points/query", json={"query": [1, 0]}).status_code \
            == 404
    assert http.get("/collections/m/points/1").status_code == 200  # FastAPI's routes
    assert http.get("/collections/m/points/99").status_code == 404
    assert http.get("/no/such/route").status_code == 404  # matches no route: not counted
    grpc_client = _grpc_client(quiet_node)
    for _ in range(4):
        grpc_client.query_points("m", query=[1.0, 0.0], limit=1)
    with pytest.raises(grpc.RpcError):
        grpc_client.query_points("nope", query=[1.0, 0.0])

    families = scrape(http)
    responses = families["rest_responses"]
    assert value(responses, "rest_responses_total", method="POST", endpoint=QUERY,
                 status="200") == 5
    assert value(responses, "rest_responses_total", method="POST", endpoint=QUERY,
                 status="404") == 2
    assert value(responses, "rest_responses_total", method="PUT",
                 endpoint="/collections/{name}/points", status="200") == 3
    assert value(responses, "rest_responses_total", method="PUT",
                 endpoint="/collections/{name}", status="200") == 1
    assert value(responses, "rest_responses_total", method="GET", endpoint=POINT,
                 status="200") == 1
    assert value(responses, "rest_responses_total", method="GET", endpoint=POINT,
                 status="404") == 1
    assert not [s for s in responses if "no/such" in s.labels.get("endpoint", "")]
    fails = families["rest_responses_fail"]
    assert value(fails, "rest_responses_fail_total", method="POST", endpoint=QUERY,
                 status="404") == 2
    histogram = families["rest_responses_duration_seconds"]
    assert value(histogram, "rest_responses_duration_seconds_count", method="POST",
                 endpoint=QUERY, status="200") == 5
    assert value(histogram, "rest_responses_duration_seconds_bucket", method="POST",
                 endpoint=QUERY, status="200", le="+Inf") == 5
    average = value(families["rest_responses_avg_duration_seconds"],
                    "rest_responses_avg_duration_seconds", method="POST", endpoint=QUERY,
                    status="200")
    low = value(families["rest_responses_min_duration_seconds"],
                "rest_responses_min_duration_seconds", method="POST", endpoint=QUERY,
                status="200")
    high = value(families["rest_responses_max_duration_seconds"],
                 "rest_responses_max_duration_seconds", method="POST", endpoint=QUERY,
                 status="200")
    assert 0 < low <= average <= high < 5
    grpc_total = families["grpc_responses"]
    assert value(grpc_total, "grpc_responses_total", endpoint="/qdrant.Points/Query",
                 status="0") == 4
    assert value(grpc_total, "grpc_responses_total", endpoint="/qdrant.Points/Query",
                 status="5") == 1  # NOT_FOUND
    assert value(families["grpc_responses_duration_seconds"],
                 "grpc_responses_duration_seconds_count", endpoint="/qdrant.Points/Query",
                 status="0") == 4

    assert value(families["app_info"], "app_info", name="qdrant") == 1
    assert value(families["collections_total"], "collections_total") == 1
    assert value(families["collections_vector_total"], "collections_vector_total") == 3
    assert value(families["collection_points"], "collection_points", id="m") == 3
    assert value(families["collection_active_replicas_min"], "collection_active_replicas_min",
                 id="m") == 1
    assert value(families["collection_dead_replicas"], "collection_dead_replicas", id="m") == 0
    assert value(families["cluster_enabled"], "cluster_enabled") == 0
    assert value(families["memory_resident_bytes"], "memory_resident_bytes") > 1e6
    assert value(families["process_threads"], "process_threads") >= 2
    assert value(families["process_open_fds"], "process_open_fds") > 3
    for name in ("app_status_recovery_mode", "collection_running_optimizations",
                 "collection_shard_transfer_incoming", "collection_shard_transfer_outgoing",
                 "process_open_mmaps", "process_minor_page_faults_total"):
        assert name in families, name

    by_collection = scrape(http, "?per_collection=true")["rest_responses"]
    assert value(by_collection, "rest_responses_total", method="POST", endpoint=QUERY,
                 status="200", collection="m") == 5
    assert value(by_collection, "rest_responses_total", method="PUT",
                 endpoint="/collections/{name}/points", status="200", collection="m") == 3
    # a collection that does not exist is no label value: the labels stay bounded
    assert not [s for s in by_collection if s.labels.get("collection") == "nope"]
    grpc_by_collection = scrape(http, "?per_collection=true")["grpc_responses"]
    assert value(grpc_by_collection, "grpc_responses_total", endpoint="/qdrant.Points/Query",
                 status="0", collection="m") == 4

    hidden = scrape(http, "?anonymize=true")
    assert not [s for s in hidden["collection_points"] if s.labels["id"] == "m"]
    assert [s.value for s in hidden["collection_points"]] == [3]


def _get_many(node: Node, paths: list[str], chunk: int = 250) -> dict[int, int]:
    """GET every path over one keep-alive connection, ``chunk`` requests pipelined at a time
    (a lean client: the server's cost is what this measures); status code -> how many."""
    statuses: dict[int, int] = {}
    with socket.create_connection((node.host, node.http_port), timeout=30) as sock:
        buffer = b""
        for start in range(0, len(paths), chunk):
            part = paths[start:start + chunk]
            sock.sendall(b"".join(
                f"GET {p} HTTP/1.1\r\nHost: {node.host}\r\n\r\n".encode() for p in part))
            seen = 0
            while seen < len(part):
                head, sep, rest = buffer.partition(b"\r\n\r\n")
                if not sep:
                    buffer += sock.recv(1 << 16)
                    continue
                length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
                if len(rest) < length:
                    buffer += sock.recv(1 << 16)
                    continue
                status = int(head.split(b" ", 2)[1])
                statuses[status] = statuses.get(status, 0) + 1
                buffer = rest[length:]
                seen += 1
    return statuses


def test_label_cardinality_stays_bounded(quiet_node: Node):
    """10,000 requests to 10,000 different point ids are one endpoint label, not 10,000."""
    http = quiet_node.http
    before = scrape(http)
    sets_before = {tuple(sorted(s.labels.items())) for s in before["rest_responses"]}
    statuses = _get_many(quiet_node, [f"/collections/m/points/{i}" for i in range(10_000)])
    assert sum(statuses.values()) == 10_000 and statuses[200] == 3
    after = scrape(http)
    sets_after = {tuple(sorted(s.labels.items())) for s in after["rest_responses"]}
    assert len(sets_after - sets_before) <= 2  # at most GET /metrics itself and one status
    found = value(after["rest_responses"], "rest_responses_total", method="GET",
                  endpoint=POINT, status="404")
    assert found == 1 + statuses[404]
    assert len(after["rest_responses"]) < 40


def test_metrics_prefix(fresh_node):
    """service.metrics_prefix is put before every name."""
    node = fresh_node(QDRANT__SERVICE__METRICS_PREFIX="tessera_")
    families = scrape(node.http)
    assert "tessera_app_info" in families and "tessera_collections_total" in families
    assert not [name for name in families if not name.startswith("tessera_")]


def test_snapshot_creations_are_counted(quiet_node: Node):
    http = quiet_node.http
    name = "snapshot_metrics"
    assert http.put(f"/collections/{name}",
                    json={"vectors": {"size": 4, "distance": "Dot"}}).status_code == 200
    http.put(f"/collections/{name}/points", params={"wait": "true"},
             json={"points": [{"id": 1, "vector": [1, 2, 3, 4]}]})
    assert http.post(f"/collections/{name}/snapshots", params={"wait": "true"}).status_code == 200
    _grpc_client(quiet_node).create_snapshot(name)
    assert http.post("/snapshots", params={"wait": "true"}).status_code == 200
    families = scrape(http)
    created = families["snapshot_created"]
    assert value(created, "snapshot_created_total", id=name) == 2
    assert value(created, "snapshot_created_total", id="") == 1
    assert value(families["snapshot_creation_running"], "snapshot_creation_running",
                 id=name) == 0
    http.delete(f"/collections/{name}")
