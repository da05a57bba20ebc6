"""``replicate_points``: copy the points that match a filter from one shard key to another.

What it is for is promoting a tenant: its points move from a shared shard key to a key of its
own (``replicate_points``, then a delete by the same filter under the old key). As in Qdrant,
the call answers once consensus has accepted a transfer of kind ``points`` from the source
key's shard to the target key's (listed in ``shard_transfers`` with ``to_shard_id``); a peer
holding the target shard then copies in the background, and a client polls
``GET /collections/{c}/cluster`` until the transfer is gone before it deletes the originals.

The copy reads the source key page by page, with vectors and payloads, and writes each page
under the target key with ``wait=true``, through the collection as any write goes (so every
replica of the target shard gets it), at ``storage.performance.max_transfer_rate``. The copy
stops when the transfer is aborted: by ``abort_transfer``, or by the source peer when the
copying peer has been unreachable for a while; what was copied stays. A copying peer that
restarts while the transfer is still listed runs it again from the start (upserts are
idempotent). Unlike Qdrant, writes made to the source key while the copy runs are not
forwarded: a point upserted there after its page was read is copied with its older value, or
not at all if it is new.
"""

from __future__ import annotations

from collections.abc import Callable
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


def start_op(collection: Collection, raw: Any) -> dict:
    """The consensus operation that starts the copy: the source key's shard, read from one of
    its Active replicas, into the target key's shard, written by a peer that holds it."""
    source, target, filter_ = parse(raw)
    if not collection.custom_sharding:
        raise BadRequest("replicate_points needs a collection with custom sharding")
    if type(source) is type(target) and source == target:
        raise BadRequest(f"Shard keys of replicate_points must differ: both are "
                         f"{key_text(source)}")
    ends = []
    for key, role in ((source, "from_shard_key"), (target, "to_shard_key")):
        shards = collection.read_targets(key)  # an unknown key: its error, nothing started
        if len(shards) != 1:
            raise BadRequest(f"replicate_points needs one shard under `{role}`; shard key "
                             f"{key_text(key)} has {len(shards)}")
        active = sorted(p for p, s in shards[0].states.items() if s == "Active")
        if not active:
            raise BadRequest(f"Shard {shards[0].shard_id} of shard key {key_text(key)} has no "
                             "Active replica")
        ends.append((shards[0].shard_id, active))
    (shard_id, sources), (to_shard_id, targets) = ends
    from_peer = sources[0]  # and a peer other than the source copies, where there is one
    to_peer = next((p for p in targets if p != from_peer), targets[0])
    return {"type": "start_transfer", "kind": "points", "name": collection.name,
            "uuid": collection.uuid, "shard_id": shard_id, "to_shard_id": to_shard_id,
            "from": from_peer, "to": to_peer, "filter": filter_}


def copy(collection: Collection, transfer: dict, progress: list,
         pace: Callable[[list], None]) -> int:
    """Run the copy a ``points`` transfer names; returns how many points were written.
    ``progress`` is ``[copied, total, started]``, kept up to date for the transfer's comment."""
    source, target = (collection.shard_by_id(transfer[end]) for end in ("shard_id", "to_shard_id"))
    if source is None or target is None:
        raise BadRequest("a shard of this replicate_points is gone")
    source, target = source.shard_key, target.shard_key
    filter_ = transfer.get("filter")
    progress[1] = collection.count(filter_, source)
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
            progress[0] = copied
            pace(progress)
        if offset is None:
            return copied
