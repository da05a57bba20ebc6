"""A replica being filled by a transfer, on real shards: the source passes on each write as its
outcome (whole records, deleted ids), and the streamed copy never undoes those writes."""

from __future__ import annotations

import numpy as np

from node.shard import LocalShard
from node.shard_config import ShardConfig
from router.collection.replica_set import LEFT_OUT, LocalReplica


def _replica(path) -> LocalReplica:
    config = ShardConfig.from_collection(
        {"params": {"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1}}
    )
    return LocalReplica(LocalShard(path, config))


def _upsert(ids, g) -> dict:
    return {
        "type": "upsert", "ids": list(ids),
        "vectors": [{"": np.array([float(i), 1.0], np.float32)} for i in ids],
        "payloads": [{"g": g(i)} for i in ids], "update_filter": None,
    }


def _contents(replica: LocalReplica) -> dict:
    records = replica.scroll(None, None, 1000, True, True)
    return {r.id: (r.payload, r.vectors[""].tolist()) for r in records}


def test_writes_during_a_copy_reach_the_target_as_their_outcome(tmp_path):
    source, target = _replica(tmp_path / "source"), _replica(tmp_path / "target")
    try:
        source.apply(1, _upsert(range(20), lambda i: i % 4), True)
        snapshot = source.scroll(None, None, 1000, True, True)  # a page read before the writes

        target.touched = set()
        source.set_forward(target)
        # a payload update and a delete by filter: the target holds none of these points yet
        flt = {"must": [{"key": "g", "match": {"value": 1}}]}
        source.apply(2, {"type": "set_payload", "payload": {"tag": "new"}, "filter": flt}, True)
        source.apply(3, {"type": "delete",
                         "filter": {"must": [{"key": "g", "match": {"value": 2}}]}}, True)
        source.apply(4, _upsert([100], lambda i: 9), True)
        target.copy_in(snapshot)  # the stale page arrives after the writes
        source.set_forward(None)
        target.touched = None

        assert _contents(target) == _contents(source)
        assert _contents(target)[1][0] == {"g": 1, "tag": "new"}
        assert 2 not in _contents(target) and 100 in _contents(target)
    finally:
        source.close()
        target.close()


def test_a_write_addressed_before_the_transfer_ended_still_reaches_the_target(tmp_path):
    """A coordinator that still saw the target Partial left it out of a write; the write
    arrives at the source after forwarding stopped. The source passes it on all the same
    (the target is Active now and would miss it), but not writes addressed to the new layout,
    nor writes that left out another peer."""
    source, target = _replica(tmp_path / "source"), _replica(tmp_path / "target")
    try:
        failures: list[str] = []
        source.set_forward(target, lambda: failures.append("failed"), peer=7)
        source.apply(1, _upsert([1], lambda i: "during"), True)
        source.set_forward(None)  # the transfer ended; every peer is synced, or so it seemed

        source.apply(2, {**_upsert([2], lambda i: "late"), LEFT_OUT: [7]}, True)
        source.apply(3, _upsert([3], lambda i: "direct"), True)  # new layout: sent to both
        source.apply(4, {**_upsert([4], lambda i: "other"), LEFT_OUT: [8]}, True)

        assert set(_contents(target)) == {1, 2}
        assert set(_contents(source)) == {1, 2, 3, 4}
        assert failures == []
    finally:
        source.close()
        target.close()
