"""Writes that cannot simply go to both owners of a point while it is copied to its new shard
(stage ``migrating``, ``router.collection.resharding``).

A whole upsert or a delete by ids is the same on both owners. Anything else is not: a partial
update (payload, some vectors, an update filter or mode) needs the point, which the new owner
may not hold yet (Qdrant answers 404 for a point missing there), and a write by filter on the
new owner would address only what was copied so far, while the copy may later bring back a
point the filter deleted. Such a write goes to the old owners only; the points it addressed
are then read back from them and written whole to their new owners, or deleted there, as the
source of a shard transfer passes its writes on. The collection does this under its write
lock, so writes through one peer reach both owners in the order applied.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from router.collection.resharding import Resharding, ring_condition

#: operations that change part of a point (or need it present)
_PARTIAL = ("update_vectors", "delete_vectors", "set_payload", "overwrite_payload",
            "delete_payload", "clear_payload")
#: a scroll limit no shard reaches
_ALL = 2**31 - 1


def whole(op: dict) -> bool:
    """Whether ``op`` writes the same on a shard that holds the point and one that does not."""
    if op["type"] == "upsert":
        return not op.get("update_filter") and not op.get("update_mode")
    if op["type"] == "delete":
        return op.get("ids") is not None
    return op["type"] not in _PARTIAL


def addressed(collection: Any, op: dict, resharding: Resharding) -> dict[int, list]:
    """Old-ring shard id -> the ids there that ``op`` addresses: those it names, or those its
    filter selects (read before it applies)."""
    if op["type"] == "update_vectors":
        ids = [point_id for point_id, _ in op["points"]]
    else:
        ids = op.get("ids")
    out: dict[int, list] = {}
    if ids is not None:
        for point_id in ids:
            out.setdefault(resharding.old_owner(point_id), []).append(point_id)
        return out
    for shard_id in resharding.old:
        ring = ring_condition(resharding.old, shard_id)
        wanted = {"must": [ring, op["filter"]]} if op.get("filter") else {"must": [ring]}
        records = collection.shard_by_id(shard_id).read(
            lambda r, w=wanted: r.scroll(w, None, _ALL, False, False))
        out[shard_id] = [r.id for r in records]
    return out


def follow_ups(collection: Any, resharding: Resharding,
               addressed: dict[int, list]) -> list[tuple[Any, dict]]:
    """The whole-point writes that bring the new owners of the ``addressed`` ids (old shard
    id -> ids) in line with their old owners, once the write applied there."""
    parts: list[tuple[Any, dict]] = []
    for old_id, ids in addressed.items():
        moving = [i for i in dict.fromkeys(ids) if resharding.new_owner(i) != old_id]
        if not moving:
            continue
        records = collection.shard_by_id(old_id).read(
            lambda r, m=moving: r.retrieve(m, True, True))
        present = {r.id: r for r in records}
        by_target: dict[int, tuple[list, list]] = {}
        for point_id in moving:
            kept, gone = by_target.setdefault(resharding.new_owner(point_id), ([], []))
            (kept if point_id in present else gone).append(point_id)
        for target_id, (kept, gone) in by_target.items():
            target = collection.shard_by_id(target_id)
            if kept:
                rows = [present[i] for i in kept]
                parts.append((target, {
                    "type": "upsert", "ids": kept, "vectors": [r.vectors or {} for r in rows],
                    "payloads": [r.payload for r in rows], "update_filter": None}))
            if gone:
                parts.append((target, {"type": "delete", "ids": gone}))
    return parts


def split(collection: Any, op: dict, group: list, resharding: Resharding) -> list[tuple]:
    """``Collection._split_in`` for a key group being resharded: an id may have two owners,
    but a write that is not whole goes to the old one only (its new owner gets the points
    afterwards, ``follow_ups``)."""
    old_only = resharding.migrating and not whole(op)
    if old_only:
        resharding = dataclasses.replace(resharding, stage="init")
    by_id = collection.shard_by_id
    if op["type"] == "upsert":
        rows_of: dict[int, list[int]] = {}
        for i, point_id in enumerate(op["ids"]):
            for shard_id in resharding.write_owners(point_id):
                rows_of.setdefault(shard_id, []).append(i)
        return collection.upsert_parts(op, rows_of)
    if op["type"] == "update_vectors":
        groups_v: dict[int, list] = {}
        for item in op["points"]:
            for shard_id in resharding.write_owners(item[0]):
                groups_v.setdefault(shard_id, []).append(item)
        return [(by_id(s), {**op, "points": pts}) for s, pts in groups_v.items()]
    if op.get("ids") is not None:
        groups_i: dict[int, list] = {}
        for point_id in op["ids"]:
            for shard_id in resharding.write_owners(point_id):
                groups_i.setdefault(shard_id, []).append(point_id)
        return [(by_id(s), {**op, "ids": ids}) for s, ids in groups_i.items()]
    # by filter: the shards of the ring written (a shard being removed may be gone already
    # on its peer once the others ignore it)
    return [(shard, op) for shard in group if shard.shard_id in resharding.read_ids]
