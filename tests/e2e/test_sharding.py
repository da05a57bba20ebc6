"""shard_number > 1 on a single node behaves exactly like one shard: counts, scroll order and
pages, retrieval, filters and search results."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support import api, oracle
from tests.support.api import create_collection, ok
from tests.support.filters import select

N = 300
DIM = 8


@pytest.fixture
def pair(http, make_name):
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = list(range(1, N + 1))
    payloads = {pid: {"g": pid % 4, "name": f"p{pid}"} for pid in ids}
    sharded, single = make_name("sh3"), make_name("sh1")
    for name, shards in ((sharded, 3), (single, 1)):
        create_collection(http, name, {"vectors": {"size": DIM, "distance": "Euclid"},
                                       "shard_number": shards})
        for start in range(0, N, 100):  # several requests
            api.upsert(http, name, [{"id": ids[i], "vector": raw[i].tolist(),
                                     "payload": payloads[ids[i]]}
                                    for i in range(start, start + 100)])
    return sharded, single, ids, raw, payloads


def strip_versions(points):
    # versions are per-shard operation numbers: not comparable between the two layouts
    return [{k: v for k, v in p.items() if k != "version"} for p in points]


def test_config_and_count(http, pair):
    sharded, single, ids, _, _ = pair
    assert ok(http.get(f"/collections/{sharded}"))["config"]["params"]["shard_number"] == 3
    assert ok(http.get(f"/collections/{sharded}"))["points_count"] == N
    assert api.count(http, sharded) == N
    assert api.count(http, single) == N


def test_scroll_returns_every_id_once_in_order(http, pair):
    sharded, single, ids, raw, payloads = pair
    for page in (7, 50, 1000):
        points = api.scroll_all(http, sharded, page=page, with_payload=True, with_vector=True)
        assert [p["id"] for p in points] == ids
        assert points == api.scroll_all(http, single, page=page, with_payload=True,
                                        with_vector=True)
    for p in points:
        assert p["payload"] == payloads[p["id"]]
        assert np.array_equal(np.asarray(p["vector"], dtype=np.float32), raw[p["id"] - 1])


def test_filtered_count_and_scroll(http, pair):
    sharded, single, ids, _, payloads = pair
    flt = {"must": [{"key": "g", "match": {"value": 2}}], "must_not": [{"has_id": [2, 6, 10]}]}
    expected = sorted(select(payloads, flt))
    assert api.count(http, sharded, flt) == len(expected)
    assert [p["id"] for p in api.scroll_all(http, sharded, page=13, filter=flt)] == expected


def test_retrieve_across_shards(http, pair):
    sharded, single, ids, raw, payloads = pair
    want = [1, 77, 150, 299, 300, 5000]
    got = {r["id"]: r for r in api.retrieve(http, sharded, want)}
    assert set(got) == {1, 77, 150, 299, 300}
    for pid, rec in got.items():
        assert rec["payload"] == payloads[pid]
        assert np.array_equal(np.asarray(rec["vector"], dtype=np.float32), raw[pid - 1])


@pytest.mark.parametrize("exact", [True, False])
def test_query_equals_single_shard_and_brute_force(http, pair, exact):
    sharded, single, ids, raw, payloads = pair
    rng = np.random.default_rng(17)
    for q in rng.normal(size=(8, DIM)).astype(np.float32):
        for limit, offset in ((10, 0), (5, 3), (40, 0)):
            body = {"query": q.tolist(), "limit": limit, "offset": offset, "with_payload": True,
                    "params": {"exact": exact}}
            a = api.query(http, sharded, body)
            b = api.query(http, single, body)
            assert strip_versions(a) == strip_versions(b)
            oracle.assert_ranking([(p["id"], p["score"]) for p in a],
                                  oracle.rank(ids, raw, q, "Euclid"),
                                  limit, "Euclid", offset=offset)
    # by id, and with a filter
    flt = {"must": [{"key": "g", "match": {"value": 1}}]}
    by_id = {"query": 10, "limit": 10, "filter": flt, "params": {"exact": exact}}
    a = api.query(http, sharded, by_id)
    b = api.query(http, single, by_id)
    assert strip_versions(a) == strip_versions(b)
    keep = select(payloads, flt)
    oracle.assert_ranking([(p["id"], p["score"]) for p in a],
                          oracle.rank(ids, raw, raw[9], "Euclid", exclude=[10], keep=keep),
                          10, "Euclid")


def test_updates_and_deletes_route_to_the_right_shard(http, pair):
    sharded, single, ids, _, _ = pair
    for name in (sharded, single):
        api.post_update(http, f"/collections/{name}/points/payload",
                        {"payload": {"hit": True}, "points": list(range(1, 301, 10))})
        api.post_update(http, f"/collections/{name}/points/delete",
                        {"points": list(range(2, 301, 3))})
        api.post_update(http, f"/collections/{name}/points/delete",
                        {"filter": {"must": [{"key": "g", "match": {"value": 0}}]}})
    a = api.scroll_all(http, sharded, page=64)
    b = api.scroll_all(http, single, page=64)
    assert a == b
    assert api.count(http, sharded) == api.count(http, single) == len(b)
    assert api.count(http, sharded, {"must": [{"key": "hit", "match": {"value": True}}]}) == \
        api.count(http, single, {"must": [{"key": "hit", "match": {"value": True}}]})


def test_collection_cluster_info_on_one_node(http, collection_name):
    """GET /collections/{name}/cluster on a single node: every shard local and Active, with its
    own points count."""
    create_collection(http, collection_name,
                      {"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 3})
    api.upsert(http, collection_name, [{"id": i, "vector": [i, 1]} for i in range(30)])
    info = ok(http.get(f"/collections/{collection_name}/cluster"))
    assert info["shard_count"] == 3
    assert info["remote_shards"] == [] and info["shard_transfers"] == []
    assert sorted(s["shard_id"] for s in info["local_shards"]) == [0, 1, 2]
    assert all(s["state"] == "Active" for s in info["local_shards"])
    assert sum(s["points_count"] for s in info["local_shards"]) == 30
    error_resp = http.get("/collections/no_such_collection_here/cluster")
    assert error_resp.status_code == 404
