"""``replicate_points``: copy the points that match a filter from one shard key to another.

What it is for is promoting a tenant: its points move from a shared shard key to a key of its
own (``replicate_points``, then a delete by the same filter under the old key). The copy reads
the source key's shards page by page, with vectors and payloads, and writes each page under the
target key with ``wait=true``, through the collection as any write goes (so every replica of
the target shards gets it). Qdrant answers once the operation is accepted and copies in the
background; Tessera answers when the copy is done, so a client that deletes next can never
delete points not yet copied.
"""

from __future__ import annotations

from typing import Any

from consensus.state import key_text
from node.errors import BadRequest, FormatError
from router.collection.collection import Collection
from router.operations import fields

#: points read and written per step
PAGE = 256


def parse(raw: Any) -> tuple[Any, Any, dict | None]:
    """ReplicatePoints → (from_shard_key, to_shard_key, filter)."""
    spec = fields.obj(raw, "replicate_points")
    for required in ("from_shard_key", "to_shard_key"):
        if required not in spec:
            raise FormatError(f"missing field `{required}`")
    source = fields.shard_key_value(spec["from_shard_key"], "from_shard_key")
    target = fields.shard_key_value(spec["to_shard_key"], "to_shard_key")
    return source, target, fields.filter_(spec.get("filter"))


def replicate_points(collection: Collection, raw: Any) -> int:
    """Copy; returns how many points were written under the target key."""
    source, target, filter_ = parse(raw)
    if not collection.custom_sharding:
        raise BadRequest("replicate_points needs a collection with custom sharding")
    if type(source) is type(target) and source == target:
        raise BadRequest(f"Shard keys of replicate_points must differ: both are "
                         f"{key_text(source)}")
    collection.read_targets(target)  # an unknown key: its error before any copy
    copied = 0
    offset = None
    while True:
        records, offset = collection.scroll(filter_, offset, PAGE, True, True, source)
        if records:
            collection.update({
                "type": "upsert",
                "ids": [r.id for r in records],
                "vectors": [r.vectors or {} for r in records],
                "payloads": [r.payload for r in records],
                "update_filter": None,
                "shard_key": target,
            }, wait=True)
            copied += len(records)
        if offset is None:
            return copied
