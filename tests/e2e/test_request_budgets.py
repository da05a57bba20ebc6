"""Budgets of one read: the estimated memory of its answer (``service.max_request_memory_mb``)
and Qdrant's ``timeout`` parameter, on REST and gRPC; other requests keep being answered
while an expensive one runs."""

from __future__ import annotations

import threading
import time

import grpc
import httpx
import pytest
from qdrant_client import models

from tests.e2e.conftest import unique_name
from tests.support.fuzz import rss_mb

POINTS = 1000
RSS_SLACK_MB = 25


@pytest.fixture(scope="module")
def loaded(node) -> str:
    name = unique_name("budget")
    assert node.http.put(f"/collections/{name}",
                         json={"vectors": {"size": 4, "distance": "Dot"}}).status_code == 200
    points = [{"id": i, "vector": [1.0, 2.0, 3.0, float(i)], "payload": {"g": i % 10}}
              for i in range(POINTS)]
    resp = node.http.put(f"/collections/{name}/points", params={"wait": "true"},
                         json={"points": points})
    assert resp.status_code == 200
    yield name
    node.http.delete(f"/collections/{name}")


def _count(node, name: str) -> int:
    return node.http.post(f"/collections/{name}/points/count",
                          json={"exact": True}).json()["result"]["count"]


HUGE_BATCH = {"searches": [{"query": [1, 2, 3, 4], "limit": 1000}] * 10_000}


def test_a_batch_whose_answer_would_not_fit_is_refused_at_once(node, loaded):
    before = rss_mb(node.proc.pid)
    started = time.monotonic()
    resp = node.http.post(f"/collections/{loaded}/points/query/batch", json=HUGE_BATCH)
    assert time.monotonic() - started < 1.0
    assert resp.status_code == 400
    error = resp.json()["status"]["error"]
    assert error.startswith("Bad request: the answer to this request would need about ")
    assert "service.max_request_memory_mb = 1024" in error
    assert rss_mb(node.proc.pid) - before < RSS_SLACK_MB
    assert _count(node, loaded) == POINTS


def test_a_batch_within_the_budget_is_answered(node, loaded):
    body = {"searches": [{"query": [1, 2, 3, 4], "limit": 1000}] * 20}
    resp = node.http.post(f"/collections/{loaded}/points/query/batch", json=body)
    assert resp.status_code == 200
    assert [len(r["points"]) for r in resp.json()["result"]] == [POINTS] * 20


def test_limits_past_the_points_are_clamped_not_refused(node, loaded):
    """Qdrant answers a huge limit with every point: the estimate counts the points there are."""
    body = {"query": [1, 2, 3, 4], "limit": 10**12, "with_payload": True}
    resp = node.http.post(f"/collections/{loaded}/points/query", json=body)
    assert resp.status_code == 200
    assert len(resp.json()["result"]["points"]) == POINTS
    groups = {"query": [1, 2, 3, 4], "group_by": "g", "limit": 10**6, "group_size": 10**6}
    resp = node.http.post(f"/collections/{loaded}/points/query/groups", json=groups)
    assert resp.status_code == 200
    assert len(resp.json()["result"]["groups"]) == 10


def test_the_budget_is_a_config_key(fresh_node):
    """With a 1 MB budget, 1,000 points with payload (≈ 1.4 MB) are too many, 100 are not; the
    same holds for groups."""
    small = fresh_node(QDRANT__SERVICE__MAX_REQUEST_MEMORY_MB="1")
    small.http.put("/collections/c", json={"vectors": {"size": 4, "distance": "Dot"}})
    points = [{"id": i, "vector": [1.0, 0.0, 0.0, float(i)], "payload": {"g": i % 100}}
              for i in range(POINTS)]
    small.http.put("/collections/c/points", params={"wait": "true"}, json={"points": points})
    query = {"query": [1, 0, 0, 1], "with_payload": True}
    resp = small.http.post("/collections/c/points/query", json={**query, "limit": 1000})
    assert resp.status_code == 400
    assert "service.max_request_memory_mb = 1" in resp.json()["status"]["error"]
    assert small.http.post("/collections/c/points/query",
                           json={**query, "limit": 100}).status_code == 200
    groups = {**query, "group_by": "g", "limit": 100, "group_size": 10}
    assert small.http.post("/collections/c/points/query/groups",
                           json=groups).status_code == 400
    groups["limit"] = 5
    assert small.http.post("/collections/c/points/query/groups",
                           json=groups).status_code == 200


def test_grpc_refuses_the_same_batch(node, loaded):
    client = node.client(prefer_grpc=True)
    requests = [models.QueryRequest(query=[1, 2, 3, 4], limit=1000)] * 10_000
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        client.query_batch_points(loaded, requests)
    assert time.monotonic() - started < 5.0  # the client itself builds 10,000 messages
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_request_memory_mb" in caught.value.details()


#: a distance matrix of every pair of 1,000 points: about a million pairs, seconds of work
MATRIX = {"sample": POINTS, "limit": POINTS - 1}


def test_timeout_answers_408_in_time_and_the_node_stays_responsive(node, loaded):
    """A read past its ``timeout`` is Qdrant's 408; meanwhile health checks and other reads
    are answered."""
    answered: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=node.url, timeout=10) as http:
            while not stop.is_set():
                t = time.monotonic()
                assert http.get("/healthz").status_code == 200
                answered.append(time.monotonic() - t)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        started = time.monotonic()
        resp = node.http.post(f"/collections/{loaded}/points/search/matrix/pairs",
                              params={"timeout": "1"}, json=MATRIX)
        took = time.monotonic() - started
    finally:
        stop.set()
        prober.join()
    if resp.status_code == 200:
        pytest.skip(f"this machine computed the matrix within the timeout ({took:.2f} s)")
    assert resp.status_code == 408
    assert resp.json()["status"]["error"] == \
        "Timeout error: Operation 'Search' timed out after 1 seconds"
    assert took < 2.0
    # probes overlapped the whole request (a few per second even on a busy 2-core box), and
    # none of them waited for it
    assert len(answered) >= 4 and max(answered) < 1.0, answered
    assert _count(node, loaded) == POINTS


def test_timeout_must_be_a_positive_integer(node, loaded):
    for bad in ("0", "-1", "abc", "1.5"):
        resp = node.http.post(f"/collections/{loaded}/points/query", params={"timeout": bad},
                              json={"query": [1, 2, 3, 4]})
        assert resp.status_code == 400, bad
        assert resp.json()["status"]["error"] == \
            f"Format error in JSON body: Query deserialize error: invalid value for timeout: {bad}"
    resp = node.http.post(f"/collections/{loaded}/points/query", params={"timeout": "5"},
                          json={"query": [1, 2, 3, 4], "limit": 3})
    assert resp.status_code == 200 and len(resp.json()["result"]["points"]) == 3
