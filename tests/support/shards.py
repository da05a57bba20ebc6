"""A small real shard for unit tests of the write path: 2-d Dot vectors, one shard."""

from __future__ import annotations

import numpy as np

from node.shard import LocalShard
from node.shard_config import ShardConfig


def small_shard(path) -> LocalShard:
    config = ShardConfig.from_collection(
        {"params": {"vectors": {"size": 2, "distance": "Dot"}, "shard_number": 1}}
    )
    return LocalShard(path, config)


def upsert(ids) -> dict:
    """An upsert operation of ``ids``, each with the vector [id, 1] and payload {"n": id}."""
    return {"type": "upsert", "ids": list(ids),
            "vectors": [{"": np.array([float(i), 1.0], np.float32)} for i in ids],
            "payloads": [{"n": i} for i in ids], "update_filter": None}
