"""docker-compose.yml's cluster, for real: three containers of the image `make image` builds.

The tests share one cluster and run in order (each leaves it converged for the next): up and
healthy, qdrant-client through every node, a killed node, a partitioned node, a rolling
restart, and down/up without -v. The figures go to the end of the pytest output.
"""

from __future__ import annotations

import time

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from tests.compose.engine import SERVICES, docker, grpc_port, raft_peers, rest_url
from tests.compose.load import (
    DIM,
    WriteLoad,
    missing_acked,
    points,
    replicas_settled,
    scroll_ids,
    wait_converged,
)

pytestmark = pytest.mark.timeout(900)

COLLECTION = "compose"
URLS = [rest_url(s) for s in SERVICES]
SEED_POINTS = 2000
#: every point a test saw acknowledged; all must be readable on every node to the end
ACKED: list[int] = []


def _client(service: str, grpc: bool) -> QdrantClient:
    return QdrantClient(host="127.0.0.1", port=int(rest_url(service).rsplit(":", 1)[1]),
                        grpc_port=grpc_port(service), prefer_grpc=grpc, timeout=30,
                        check_compatibility=False)


def _all_acked_everywhere(urls: list[str] = URLS) -> None:
    for url in urls:
        missing = missing_acked(url, COLLECTION, ACKED)
        assert not missing, f"{url} lost {len(missing)} acknowledged points: {missing[:10]}"


def _wait_settled(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not all(replicas_settled(u, COLLECTION) for u in URLS):
        assert time.monotonic() < deadline, "replicas did not all become Active"
        time.sleep(0.5)


def _record(figures: dict, name: str, load: WriteLoad, converge: float) -> None:
    figures[name] = f"{load.summary()}; converged {converge:.1f} s after the load stopped"


def test_three_healthy_nodes_in_one_raft_cluster(cluster):
    assert [cluster.health(s) for s in SERVICES] == ["healthy"] * 3
    views = [raft_peers(s) for s in SERVICES]
    assert [n for n, _ in views] == [3, 3, 3]
    leaders = {leader for _, leader in views}
    assert len(leaders) == 1 and None not in leaders, views


def test_qdrant_client_rest_and_grpc_through_every_node(cluster):
    first = _client("tessera-0", grpc=False)
    first.create_collection(
        COLLECTION, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
        shard_number=3, replication_factor=2,
    )
    _wait_settled()
    ids = list(range(SEED_POINTS))
    for i in range(0, SEED_POINTS, 500):
        chunk = points(ids[i:i + 500])
        first.upsert(COLLECTION, wait=True, points=[
            models.PointStruct(id=p["id"], vector=p["vector"], payload=p["payload"])
            for p in chunk
        ])
    ACKED.extend(ids)
    query = np.random.default_rng(7).random(DIM).tolist()
    answers = {}
    for service in SERVICES:
        for grpc in (False, True):
            client = _client(service, grpc)
            assert client.count(COLLECTION, exact=True).count == SEED_POINTS
            hits = client.query_points(COLLECTION, query=query, limit=10).points
            answers[(service, grpc)] = [(h.id, round(h.score, 5)) for h in hits]
            client.close()
    assert len(set(map(tuple, answers.values()))) == 1, answers
    assert len(answers[("tessera-0", False)]) == 10


def test_docker_kill_one_node_under_writes(cluster, figures):
    victim = cluster.container("tessera-2")
    with WriteLoad(URLS[:2], COLLECTION, first_id=1_000_000) as load:
        load.wait_batches(10)
        docker("kill", victim)
        load.wait_batches(40)
        docker("start", victim)
        cluster.wait_healthy(["tessera-2"])
        load.wait_batches(20)
    ACKED.extend(load.acked)
    converge = wait_converged(URLS, COLLECTION)
    _record(figures, "docker kill tessera-2", load, converge)
    _all_acked_everywhere()
    # writes went on while the node was down: most batches were acknowledged
    assert len(load.acked) >= 0.8 * (len(load.acked) + len(load.unknown) + len(load.failed))


def test_partition_one_node_under_writes(cluster, figures):
    network, isolated = cluster.network(), cluster.container("tessera-2")
    with WriteLoad(URLS[:2], COLLECTION, first_id=2_000_000) as load:
        load.wait_batches(10)
        docker("network", "disconnect", network, isolated)
        try:
            load.wait_batches(30)
            # consensus cannot hear the isolated node: its metadata operations fail, and say so
            status, body = cluster.exec_request(
                "tessera-2", "PUT", "/collections/from-the-minority?timeout=3",
                '{"vectors": {"size": 4, "distance": "Dot"}}')
            assert status >= 400, body
            assert '"error"' in body, body
            figures["metadata operation on the isolated node"] = f"{status} {body[:200]}"
            # the majority still decides
            made = httpx.put(f"{URLS[0]}/collections/from-the-majority?timeout=10",
                             json={"vectors": {"size": 4, "distance": "Dot"}}, timeout=20)
            assert made.status_code == 200, made.text
            load.wait_batches(10)
        finally:
            docker("network", "connect", "--alias", "tessera-2", network, isolated)
        load.wait_batches(20, timeout=120)
    ACKED.extend(load.acked)
    converge = wait_converged(URLS, COLLECTION)
    _record(figures, "network disconnect tessera-2", load, converge)
    _all_acked_everywhere()
    names = [sorted(c["name"] for c in httpx.get(f"{u}/collections", timeout=10)
                    .json()["result"]["collections"]) for u in URLS]
    assert names[0] == names[1] == names[2] and "from-the-majority" in names[0], names
    httpx.delete(f"{URLS[0]}/collections/from-the-majority", timeout=30)


def test_rolling_restart_under_reads_and_writes(cluster, figures):
    reads_failed = 0
    with WriteLoad(URLS, COLLECTION, first_id=3_000_000) as load:
        for service in SERVICES:
            load.wait_batches(5)
            cluster("restart", service)
            cluster.wait_healthy([service])
            _wait_settled()
            for url in URLS:  # reads through every node between the restarts
                try:
                    body = {"exact": True}
                    resp = httpx.post(f"{url}/collections/{COLLECTION}/points/count",
                                      json=body, timeout=30)
                    reads_failed += resp.status_code != 200
                except httpx.HTTPError:
                    reads_failed += 1
        load.wait_batches(5)
    ACKED.extend(load.acked)
    converge = wait_converged(URLS, COLLECTION)
    _record(figures, "rolling restart", load, converge)
    figures["rolling restart reads failed"] = str(reads_failed)
    _all_acked_everywhere()
    assert reads_failed == 0
    # a node that is still catching up says so; it never claims the collection is gone
    assert not [text for status, text in load.errors if status == 404], load.errors


def test_down_and_up_keeps_the_data(cluster, figures):
    before = scroll_ids(URLS[0], COLLECTION)
    cluster("down")
    start = time.monotonic()
    cluster("up", "-d")
    cluster.wait_healthy()
    converge = wait_converged(URLS, COLLECTION)
    figures["down, up -d: healthy and converged"] = f"{time.monotonic() - start:.1f} s"
    assert scroll_ids(URLS[0], COLLECTION) == before
    _all_acked_everywhere()
    assert converge < 120
