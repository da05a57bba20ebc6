"""GET /collections/{name}/optimizations: the optimizations running on this peer's shards of
a collection, and what is queued (Qdrant's OptimizationsResponse).

A Tessera shard is one segment whose optimizer (re)builds its HNSW graphs; a shard that is
optimizing shows as one running "indexing" optimization, with the indexed vectors as its
progress. Ids are stable per shard (derived from the collection and shard), so two calls
name the same optimization alike.
"""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("5a4f6f0e-6f2b-4c7e-9d0b-7e55e0a1b2c3")


def _segment(collection: str, shard_id: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{collection}/{shard_id}"))


def optimizations(collection, with_: set[str]) -> dict:
    running, idle = [], []
    for shard in collection.shards:
        if shard.local is None:
            continue
        info = shard.local.info()
        segment = {"uuid": _segment(collection.name, shard.shard_id),
                   "points_count": info["points_count"]}
        if not info["optimizing"]:
            idle.append(segment)
            continue
        running.append({
            "uuid": str(uuid.uuid5(_NAMESPACE, f"{collection.name}/{shard.shard_id}/index")),
            "optimizer": "indexing",
            "status": "optimizing",
            "segments": [segment],
            "progress": {"name": "indexing", "done": info["indexed_vectors_count"],
                         "total": info["points_count"]},
        })
    found: dict = {
        "summary": {"queued_optimizations": 0, "queued_segments": 0, "queued_points": 0,
                    "idle_segments": len(idle)},
        "running": running,
    }
    if "queued" in with_:
        found["queued"] = []
    if "completed" in with_:
        found["completed"] = []
    if "idle_segments" in with_:
        found["idle_segments"] = idle
    return found
