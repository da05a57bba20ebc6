"""A batch upsert of distinct ids is applied a column at a time (``ShardWrites._write_points``,
``IdMap.put_many``); it must leave exactly the state the one-point-at-a-time path leaves."""

from __future__ import annotations

import numpy as np

from node.id_map import IdMap
from node.shard import LocalShard
from node.shard_config import ShardConfig


def test_put_many_equals_put_one_by_one_across_frozen_recent_and_removed_ids():
    one, many = IdMap(), IdMap()
    for m in (one, many):
        for i in range(20_000):  # enough to freeze most of them
            m.put(i, i)
        m.pop(5)
        m.pop(19_999)
    batch = [5, 7, "3f1b2c4e-0000-4000-8000-000000000001", 19_999, 50_000, 12]
    expected = [one.put(pid, 30_000 + k) for k, pid in enumerate(batch)]
    assert many.put_many(batch, 30_000) == expected
    for pid in [*batch, 0, 6, 19_998]:
        assert many.get(pid) == one.get(pid)
    assert len(many) == len(one)
    assert sorted(map(str, many)) == sorted(map(str, one))


def _shard(path) -> LocalShard:
    return LocalShard(path, ShardConfig.from_collection({
        "params": {"vectors": {"size": 4, "distance": "Dot"}},
        "hnsw_config": {"m": 16, "ef_construct": 64, "full_scan_threshold": 10},
        "optimizer_config": {"default_segment_number": 1, "indexing_threshold": 0},
    }))


def _upsert(shard: LocalShard, op_num: int, ids: list, tags: list) -> None:
    vectors = [{"": np.full(4, float(pid), np.float32)} for pid in ids]
    shard.apply(op_num, {"type": "upsert", "ids": ids, "vectors": vectors,
                         "payloads": [{"tag": t} for t in tags], "update_filter": None})


def test_batch_upsert_matches_point_by_point(tmp_path):
    batch, single = _shard(tmp_path / "b"), _shard(tmp_path / "s")
    for shard in (batch, single):
        _upsert(shard, 1, [1, 2, 3, 4], ["a", "b", "a", "b"])
    _upsert(batch, 2, [3, 9, 1], ["c", "c", "a"])  # distinct ids: the column path
    _upsert(single, 2, [3, 9, 1, 1], ["c", "c", "x", "a"])  # a repeated id: point by point
    ids = [1, 2, 3, 4, 9]
    got = {r.id: r for r in batch.retrieve(ids, True, True)}
    want = {r.id: r for r in single.retrieve(ids, True, True)}
    assert got.keys() == want.keys() == set(ids)
    for pid in ids:
        assert got[pid].payload == want[pid].payload
        np.testing.assert_array_equal(np.asarray(got[pid].vectors[""]), np.full(4, float(pid)))
    for tag in "abcx":
        flt = {"must": [{"key": "tag", "match": {"value": tag}}]}
        assert batch.count(flt) == single.count(flt)
    assert batch.state.live_count == 5 and batch.state.dead_count == 2
