"""Point records → Qdrant's JSON shapes (Record, ScoredPoint)."""

from __future__ import annotations

import numpy as np

from node.shard_config import ShardConfig
from node.shard_search import PointRecord


def _vector_json(value):
    if isinstance(value, tuple):  # sparse (indices, values)
        return {"indices": value[0].tolist(), "values": value[1].astype(np.float32)}
    return value.astype(np.float32, copy=False)


def vectors_json(config: ShardConfig, vectors: dict):
    """The unnamed vector alone is shown plain, as Qdrant shows it (also in a collection with
    sparse or named vectors, when the point has or the request asks for no other)."""
    if len(vectors) == 1 and "" in vectors:
        return _vector_json(vectors[""])
    return {name: _vector_json(v) for name, v in vectors.items()}


def record_json(config: ShardConfig, record: PointRecord) -> dict:
    out: dict = {"id": record.id}
    if record.payload is not None:
        out["payload"] = record.payload
    if record.vectors is not None:
        out["vector"] = vectors_json(config, record.vectors)
    if record.order_value is not None:
        out["order_value"] = record.order_value
    shard_key = getattr(record, "shard_key", None)
    if shard_key is not None:
        out["shard_key"] = shard_key
    return out


def scored_json(config: ShardConfig, record: PointRecord) -> dict:
    out: dict = {"id": record.id, "version": record.version, "score": np.float32(record.score)}
    if record.payload is not None:
        out["payload"] = record.payload
    if record.vectors is not None:
        out["vector"] = vectors_json(config, record.vectors)
    shard_key = getattr(record, "shard_key", None)
    if shard_key is not None:
        out["shard_key"] = shard_key
    if record.order_value is not None:
        out["order_value"] = record.order_value
    return out


def groups_json(
    config: ShardConfig, groups: list, lookup_config: ShardConfig | None = None
) -> dict:
    """Groups (router.query.groups.Group) → GroupsResult: {"groups": [{id, hits, lookup?}]}."""
    out = []
    for group in groups:
        item: dict = {"id": group.id, "hits": [scored_json(config, r) for r in group.hits]}
        if group.lookup is not None and lookup_config is not None:
            item["lookup"] = record_json(lookup_config, group.lookup)
        out.append(item)
    return {"groups": out}
