"""A cluster of real nodes on loopback: joining, replicated writes and reads, failures, recovery.

Every node is a ``python -m tessera serve`` process started as Qdrant's consensus tests start
Qdrant (``QDRANT__CLUSTER__ENABLED``, ``QDRANT_URI``, ``QDRANT_BOOTSTRAP``), talked to with
plain HTTP and with qdrant-client over REST and gRPC.
"""

from __future__ import annotations

import random
import re
import shutil
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client.http import models

from tests.support.cluster import (
    cluster_node,
    cluster_status,
    exact_count,
    replicas_all_active,
    start_cluster,
    wait_peers,
    wait_until,
)

pytestmark = pytest.mark.slow

DIM = 8


def _points(ids, rng: random.Random) -> list[dict]:
    return [
        {"id": i, "vector": [rng.uniform(-1, 1) for _ in range(DIM)],
         "payload": {"i": i, "city": rng.choice(["Berlin", "Paris", "Rome"])}}
        for i in ids
    ]


def _create(node, name: str, **params) -> None:
    body = {"vectors": {"size": DIM, "distance": "Dot"}, **params}
    resp = httpx.put(f"{node.url}/collections/{name}", json=body, timeout=60)
    assert resp.status_code == 200, resp.text


def _upsert(node, name: str, points: list[dict], **query) -> httpx.Response:
    params = {"wait": "true", **query}
    return httpx.put(f"{node.url}/collections/{name}/points", params=params,
                     json={"points": points}, timeout=60)


def _cluster_info(node, name: str) -> dict:
    return httpx.get(f"{node.url}/collections/{name}/cluster", timeout=10).json()["result"]


def _replica_counts(nodes, name: str) -> dict[int, set[int]]:
    """shard id → the set of points_count its replicas report on their own peers."""
    counts: dict[int, set[int]] = {}
    for node in nodes:
        for shard in _cluster_info(node, name)["local_shards"]:
            counts.setdefault(shard["shard_id"], set()).add(shard["points_count"])
    return counts


def _replicated(nodes, name: str, count: int, rng: random.Random, **params) -> list[dict]:
    """A collection (3 shards x 2 replicas unless told) with ``count`` points, all Active."""
    _create(nodes[0], name, **{"shard_number": 3, "replication_factor": 2, **params})
    wait_until(lambda: replicas_all_active(nodes[0], name), 30, "all Active")
    points = _points(range(count), rng)
    assert _upsert(nodes[0], name, points).status_code == 200
    return points


def _stop_all(nodes) -> None:
    for node in nodes:
        node.kill()


def test_five_nodes_join_under_one_leader_and_serve_one_database(tmp_path):
    rng = random.Random(5)
    first = cluster_node(tmp_path / "peer-0")
    first.start().wait_ready(60)
    leader = wait_peers([first], 1)
    nodes = [first]
    try:
        _create(first, "early", shard_number=2)
        _upsert(first, "early", _points(range(20), rng))
        joiners = [cluster_node(tmp_path / f"peer-{i}", bootstrap=first) for i in range(1, 5)]
        for node in joiners:
            nodes.append(node.start())
        for node in joiners:
            node.wait_ready(90)
        assert wait_peers(nodes, 5) == leader, "the leader changed while peers joined"
        statuses = [cluster_status(n) for n in nodes]
        assert {s["raft_info"]["term"] for s in statuses} == {statuses[0]["raft_info"]["term"]}
        telemetry = httpx.get(f"{nodes[3].url}/telemetry", params={"details_level": 3}).json()
        cluster = telemetry["result"]["cluster"]
        assert cluster["enabled"] and cluster["status"]["number_of_peers"] == 5
        assert set(cluster["peer_metadata"]) == {str(s["peer_id"]) for s in statuses}
        assert {m["version"] for m in cluster["peer_metadata"].values()} == {"1.19.0"}
        assert all(s["raft_info"]["is_voter"] for s in statuses)
        assert len({s["peer_id"] for s in statuses}) == 5

        # the collection made before the joins is known to the late joiners, shards stay put
        for node in joiners:
            names = [c["name"] for c in httpx.get(f"{node.url}/collections").json()["result"]
                     ["collections"]]
            assert "early" in names
            info = _cluster_info(node, "early")
            assert info["local_shards"] == []
            assert {s["peer_id"] for s in info["remote_shards"]} == {leader}
            assert exact_count(node, "early") == 20

        # 4 shards x 2 replicas through one node: every replica Active on every node
        _create(nodes[2], "spread", shard_number=4, replication_factor=2)
        for node in nodes:
            wait_until(lambda node=node: replicas_all_active(node, "spread"), 30,
                       "all replicas Active")
            info = _cluster_info(node, "spread")
            assert len(info["local_shards"]) + len(info["remote_shards"]) == 8
        placed = [len(_cluster_info(n, "spread")["local_shards"]) for n in nodes]
        assert sum(placed) == 8 and max(placed) - min(placed) <= 1, placed

        # writes through any node, found through every node with identical results
        points = _points(range(300), rng)
        for k, node in enumerate(nodes):
            assert _upsert(node, "spread", points[k * 60:(k + 1) * 60]).status_code == 200
        query = [rng.uniform(-1, 1) for _ in range(DIM)]
        answers = []
        for node in nodes:
            assert exact_count(node, "spread") == 300
            for prefer_grpc in (False, True):
                client = node.client(prefer_grpc=prefer_grpc)
                hits = client.query_points("spread", query=query, limit=15,
                                           with_payload=True).points
                answers.append([(h.id, round(h.score, 5), h.payload["i"]) for h in hits])
        assert all(a == answers[0] for a in answers)
        expected = sorted(
            points, key=lambda p: -sum(a * b for a, b in zip(p["vector"], query, strict=True)))
        assert [a[0] for a in answers[0]] == [p["id"] for p in expected[:15]]
        for counts in _replica_counts(nodes, "spread").values():
            assert len(counts) == 1, "replicas of a shard disagree"
    finally:
        _stop_all(nodes)


def test_a_killed_node_misses_writes_and_recovers_by_itself(tmp_path):
    rng = random.Random(7)
    nodes = start_cluster(tmp_path, 3)
    try:
        _create(nodes[0], "c", replication_factor=2)  # 3 shards (one per peer) x 2
        wait_until(lambda: replicas_all_active(nodes[0], "c"), 30, "all Active")
        assert _upsert(nodes[0], "c", _points(range(200), rng)).status_code == 200
        victim, alive = nodes[2], nodes[:2]
        victim_id = cluster_status(victim)["peer_id"]
        victim.kill()

        # writes and searches keep working through the others
        more = _points(range(200, 400), rng)
        assert _upsert(nodes[0], "c", more[:100]).status_code == 200
        assert _upsert(nodes[1], "c", more[100:]).status_code == 200
        # and deletions: the victim still holds these points, which it must drop on recovery
        resp = httpx.post(f"{nodes[0].url}/collections/c/points/delete?wait=true",
                          json={"points": list(range(10))}, timeout=30)
        assert resp.status_code == 200
        client = nodes[1].client()
        assert len(client.query_points("c", query=more[0]["vector"], limit=5).points) == 5
        for node in alive:
            assert exact_count(node, "c") == 390

        # the victim's replicas are Dead in everyone's view
        def victim_dead(node):
            info = _cluster_info(node, "c")
            states = {s["state"] for s in info["remote_shards"] if s["peer_id"] == victim_id}
            return states == {"Dead"}

        for node in alive:
            wait_until(lambda node=node: victim_dead(node), 30, "the victim's replicas Dead")
        # 2 of 3 peers are a quorum: metadata changes still go through
        _create(nodes[1], "while_down", shard_number=2)
        assert _upsert(nodes[0], "while_down", _points(range(10), rng)).status_code == 200

        # back on the same storage: it refills its replicas from the healthy ones, while a
        # writer keeps adding points (they reach the refilling replica too)
        written: list[int] = []
        stop = threading.Event()

        def writer():
            # upserts, payload updates by filter and deletes by filter: what a copy in
            # progress must not undo
            next_id, rounds = 1000, 0
            while not stop.is_set():
                rounds += 1
                batch = _points(range(next_id, next_id + 5), random.Random(next_id))
                if _upsert(nodes[0], "c", batch).status_code == 200:
                    written.extend(range(next_id, next_id + 5))
                next_id += 5
                httpx.post(f"{nodes[0].url}/collections/c/points/payload?wait=true", json={
                    "payload": {"round": rounds},
                    "filter": {"must": [{"key": "city", "match": {"value": "Paris"}}]}},
                    timeout=30)
                if rounds % 4 == 0 and written:
                    doomed = written[-5]
                    resp = httpx.post(
                        f"{nodes[0].url}/collections/c/points/delete?wait=true",
                        json={"filter": {"must": [{"key": "i", "match": {"value": doomed}}]}},
                        timeout=30)
                    if resp.status_code == 200:
                        written.remove(doomed)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            victim.start().wait_ready(60)
            for node in nodes:
                wait_until(lambda node=node: replicas_all_active(node, "c"), 60, "recovered")
        finally:
            stop.set()
            thread.join()
        assert written, "the writer never got a write through"
        for node in nodes:
            assert exact_count(node, "c") == 390 + len(written)
            assert exact_count(node, "while_down") == 10
        # it kept its points and fetched only what differed (wal_delta), not every point
        deltas = re.findall(r"delta: (\d+) of (\d+) points fetched", victim.log_text())
        assert deltas and all(int(got) < int(total) for got, total in deltas), deltas
        for shard_id, counts in _replica_counts(nodes, "c").items():
            assert len(counts) == 1, f"shard {shard_id} replicas disagree: {counts}"
        # every replica holds the same points with the same payloads: a read that keeps only
        # what all replicas agree on loses nothing
        for node in nodes:
            def scroll(consistency=None, node=node):
                params = {"consistency": consistency} if consistency else {}
                resp = httpx.post(f"{node.url}/collections/c/points/scroll", params=params,
                                  json={"limit": 10_000, "with_payload": True}, timeout=30)
                return resp.json()["result"]["points"]

            assert scroll("all") == scroll()
        # the recovered replica holds the points written while it was down
        victim_points = sum(s["points_count"] for s in _cluster_info(victim, "c")["local_shards"])
        assert victim_points > 0
        ids = list(range(200, 400))
        got = victim.client().retrieve("c", ids=ids)
        assert sorted(p.id for p in got) == ids
    finally:
        _stop_all(nodes)


def test_a_peer_whose_shard_data_was_lost_refills_it(tmp_path):
    rng = random.Random(31)
    nodes = start_cluster(tmp_path, 3)
    try:
        _replicated(nodes, "lost", 150, rng)
        victim = nodes[1]
        held = [s["shard_id"] for s in _cluster_info(victim, "lost")["local_shards"]]
        victim.stop()
        collection_dirs = list((victim.storage_path / "collections").iterdir())
        assert len(collection_dirs) == 1
        shutil.rmtree(collection_dirs[0])  # the operator lost this peer's data
        victim.start().wait_ready(60)
        for node in nodes:
            wait_until(lambda node=node: replicas_all_active(node, "lost"), 60, "refilled")
        info = _cluster_info(victim, "lost")
        assert sorted(s["shard_id"] for s in info["local_shards"]) == sorted(held)
        for counts in _replica_counts(nodes, "lost").values():
            assert len(counts) == 1
        assert sum(s["points_count"] for s in info["local_shards"]) > 0
    finally:
        _stop_all(nodes)


def test_write_ordering_with_the_highest_peer_down(tmp_path):
    rng = random.Random(9)
    nodes = start_cluster(tmp_path, 3)
    try:
        _create(nodes[0], "o", shard_number=1, replication_factor=3)
        for wcf in (2, 3):
            _create(nodes[0], f"wcf{wcf}", shard_number=1, replication_factor=3,
                    write_consistency_factor=wcf)
        for name in ("o", "wcf2", "wcf3"):
            wait_until(lambda name=name: replicas_all_active(nodes[0], name), 30, "Active")
        ids = {cluster_status(n)["peer_id"]: n for n in nodes}
        highest = ids[max(ids)]
        others = [n for n in nodes if n is not highest]
        highest.kill()
        coordinator = others[0]
        weak = _upsert(coordinator, "o", _points([1], rng), ordering="weak")
        assert weak.status_code == 200, weak.text
        medium = _upsert(coordinator, "o", _points([2], rng), ordering="medium")
        assert medium.status_code == 200, medium.text
        strong = _upsert(coordinator, "o", _points([3], rng), ordering="strong")
        assert strong.status_code == 500, strong.text
        assert "Strong ordering" in strong.json()["status"]["error"]
        deleted = httpx.post(f"{coordinator.url}/collections/o/points/delete",
                             params={"wait": "true", "ordering": "medium"},
                             json={"filter": {"must": [{"key": "i", "match": {"value": 1}}]}},
                             timeout=30)
        assert deleted.status_code == 200, deleted.text
        assert exact_count(others[1], "o") == 1
        # write_consistency_factor counts every replica, the dead one too
        assert _upsert(coordinator, "wcf2", _points([1], rng)).status_code == 200
        refused = _upsert(coordinator, "wcf3", _points([1], rng))
        assert refused.status_code == 500, refused.text
    finally:
        _stop_all(nodes)


def test_majority_reads_agree_on_every_node_after_concurrent_writers(tmp_path):
    nodes = start_cluster(tmp_path, 3)
    try:
        _create(nodes[0], "m", shard_number=2, replication_factor=3)
        wait_until(lambda: replicas_all_active(nodes[0], "m"), 30, "all Active")

        def writer(node, seed):
            rng = random.Random(seed)
            for _ in range(15):
                ids = rng.sample(range(120), 8)
                resp = _upsert(node, "m", _points(ids, rng), wait="false")
                assert resp.status_code == 200, resp.text

        threads = [threading.Thread(target=writer, args=(n, k)) for k, n in enumerate(nodes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        def rows(node):
            resp = httpx.post(f"{node.url}/collections/m/points/scroll",
                              params={"consistency": "majority"},
                              json={"limit": 200, "with_vector": True, "with_payload": True},
                              timeout=30)
            assert resp.status_code == 200, resp.text
            return resp.json()["result"]["points"]

        first = wait_until(lambda: rows(nodes[0]), 10, "rows")
        for node in nodes:
            assert rows(node) == first
            grpc_rows, _ = node.client(prefer_grpc=True).scroll(
                "m", limit=200, with_payload=True,
                consistency=models.ReadConsistencyType.MAJORITY)
            assert [(p.id, p.payload) for p in grpc_rows] == \
                [(p["id"], p["payload"]) for p in first]
        assert len(first) == len({p["id"] for p in first}) > 0
        for value in ("all", "quorum", "2", "1"):
            resp = httpx.post(f"{nodes[1].url}/collections/m/points/count",
                              params={"consistency": value}, json={"exact": True}, timeout=30)
            assert resp.json()["result"]["count"] == len(first), value
        bad = httpx.post(f"{nodes[1].url}/collections/m/points/count",
                         params={"consistency": "most"}, json={}, timeout=30)
        assert bad.status_code == 400
        assert "consistency" in bad.json()["status"]["error"].lower() or \
            "ReadConsistency" in bad.json()["status"]["error"]
    finally:
        _stop_all(nodes)


def test_the_api_answers_the_same_on_a_cluster_as_on_one_node(tmp_path, node):
    """Reads spread over 4 shards x 2 replicas on 3 peers answer exactly as one node holding
    the same points: pagination, filters, facets, ordering, fusion, groups, recommend."""
    rng = random.Random(23)
    nodes = start_cluster(tmp_path, 3)
    try:
        points = _points(range(240), rng)
        for p in points:
            p["payload"]["n"] = p["id"] % 17
            p["payload"]["tags"] = [p["payload"]["city"], "all"]
        name = "same"
        targets = [(nodes[0], nodes), (node, [node])]
        for target, _ in targets:
            httpx.delete(f"{target.url}/collections/{name}", timeout=30)
            extra = {"shard_number": 4, "replication_factor": 2} if target is nodes[0] else {}
            _create(target, name, **extra)
            for field, schema in (("city", "keyword"), ("n", "integer")):
                resp = httpx.put(f"{target.url}/collections/{name}/index?wait=true",
                                 json={"field_name": field, "field_schema": schema}, timeout=30)
                assert resp.status_code == 200, resp.text
            assert _upsert(target, name, points).status_code == 200
        wait_until(lambda: replicas_all_active(nodes[0], name), 30, "all Active")

        q = points[3]["vector"]
        requests = [
            ("points/scroll", {"limit": 7, "offset": 100, "with_payload": True}),
            ("points/scroll", {"limit": 300, "filter": {"must": [
                {"key": "city", "match": {"value": "Paris"}}]}}),
            ("points/scroll", {"limit": 20, "order_by": {"key": "n", "direction": "desc"}}),
            ("points/count", {"exact": True, "filter": {"must": [
                {"key": "n", "range": {"gte": 3, "lt": 9}}]}}),
            ("facet", {"key": "city"}),
            ("points/query", {"query": q, "limit": 12, "offset": 3, "with_payload": True,
                              "params": {"exact": True}}),
            ("points/query", {"query": 5, "limit": 5, "filter": {"must_not": [
                {"key": "city", "match": {"value": "Rome"}}]}}),
            ("points/query", {"prefetch": [{"query": q, "limit": 30},
                                           {"query": points[9]["vector"], "limit": 30}],
                              "query": {"fusion": "rrf"}, "limit": 10}),
            ("points/query", {"query": {"recommend": {"positive": [1, 2], "negative": [3],
                                                      "strategy": "best_score"}}, "limit": 8}),
            ("points/query/groups", {"query": q, "group_by": "city", "group_size": 3,
                                     "limit": 3}),
            ("points", {"ids": [0, 17, 239, 1000], "with_vector": True}),
        ]
        for path, body in requests:
            answers = []
            for _, readers in targets:
                for reader in readers:
                    resp = httpx.post(f"{reader.url}/collections/{name}/{path}", json=body,
                                      timeout=30)
                    assert resp.status_code == 200, (path, resp.text)
                    answers.append(resp.json()["result"])
            assert all(a == answers[-1] for a in answers), (path, body)

        # a write by filter through the cluster lands like it does on one node
        for target, _ in targets:
            resp = httpx.post(f"{target.url}/collections/{name}/points/delete?wait=true",
                              json={"filter": {"must": [{"key": "n", "match": {"value": 4}}]}},
                              timeout=30)
            assert resp.status_code == 200
        assert {exact_count(n, name) for n in nodes} == {exact_count(node, name)} == {240 - 14}

        # strict mode set on one peer travels with the config: every peer enforces it
        resp = httpx.patch(f"{nodes[0].url}/collections/{name}", timeout=30,
                           json={"strict_mode_config": {"enabled": True, "max_query_limit": 5}})
        assert resp.status_code == 200, resp.text
        for reader in nodes:
            def refused(reader=reader) -> bool:
                return httpx.post(f"{reader.url}/collections/{name}/points/query", timeout=30,
                                  json={"query": q, "limit": 6}).status_code == 403
            wait_until(refused, 30, f"strict mode on {reader.url}")
        # and /metrics shows the cluster as this peer sees it
        metrics = {f.name: f.samples for f in text_string_to_metric_families(
            httpx.get(f"{nodes[1].url}/metrics", timeout=30).text)}
        assert metrics["cluster_enabled"][0].value == 1
        assert metrics["cluster_peers_total"][0].value == 3
        assert metrics["cluster_term"][0].value >= 1
        replicas = [s for s in metrics["collection_active_replicas_min"]
                    if s.labels["id"] == name]
        assert [s.value for s in replicas] == [2]
    finally:
        _stop_all(nodes)
        httpx.delete(f"{node.url}/collections/same", timeout=30)


def test_the_leader_dies_and_the_others_carry_on(tmp_path):
    rng = random.Random(29)
    nodes = start_cluster(tmp_path, 3)
    try:
        leader = cluster_status(nodes[0])["raft_info"]["leader"]
        old = next(n for n in nodes if cluster_status(n)["peer_id"] == leader)
        rest = [n for n in nodes if n is not old]
        old.kill()
        new_leader = wait_peers(rest, 3, timeout=30)  # the table still lists 3 peers
        wait_until(lambda: cluster_status(rest[0])["raft_info"]["leader"] not in (None, leader),
                   30, "a new leader")
        new_leader = cluster_status(rest[0])["raft_info"]["leader"]
        assert new_leader != leader
        _create(rest[1], "after_leader", shard_number=2, replication_factor=2)
        assert _upsert(rest[0], "after_leader", _points(range(50), rng)).status_code == 200
        old.start().wait_ready(60)
        wait_until(lambda: cluster_status(old)["raft_info"]["leader"] is not None, 30, "leader")
        assert cluster_status(old)["raft_info"]["role"] == "Follower"
        for node in nodes:
            assert exact_count(node, "after_leader") == 50
    finally:
        _stop_all(nodes)


def test_removing_a_peer(tmp_path):
    nodes = start_cluster(tmp_path, 3)
    try:
        _create(nodes[0], "p", shard_number=3, replication_factor=2)
        wait_until(lambda: replicas_all_active(nodes[0], "p"), 30, "all Active")
        ids = [cluster_status(n)["peer_id"] for n in nodes]
        victim = ids[2]
        refused = httpx.delete(f"{nodes[0].url}/cluster/peer/{victim}", timeout=30)
        assert refused.status_code == 400
        assert refused.json()["status"]["error"] == (
            f"Bad request: Cannot remove peer {victim} as there are shards on it")
        assert httpx.delete(f"{nodes[0].url}/cluster/peer/12345", timeout=30).status_code == 404
        nodes[2].kill()
        removed = httpx.delete(f"{nodes[0].url}/cluster/peer/{victim}", params={"force": "true"},
                               timeout=30)
        assert removed.status_code == 200, removed.text
        survivors = nodes[:2]
        wait_peers(survivors, 2)
        for node in survivors:
            info = _cluster_info(node, "p")
            peers = {s["peer_id"] for s in info["remote_shards"]} | {ids[survivors.index(node)]}
            assert victim not in peers
            assert exact_count(node, "p") == 0
        _create(nodes[1], "after", shard_number=2)  # 2 peers now make the quorum
        nodes[2] = survivors[0]  # the killed one needs no stop
    finally:
        _stop_all(nodes)


def test_single_node_says_cluster_disabled(node, http):
    assert http.get("/cluster").json()["result"] == {"status": "disabled"}
    assert http.delete("/cluster/peer/1").status_code == 400
    telemetry = http.get("/telemetry").json()["result"]
    assert telemetry["cluster"] == {"enabled": False}
    assert telemetry["app"]["version"] == "1.19.0"
    models.TelemetryData.model_validate(telemetry)
