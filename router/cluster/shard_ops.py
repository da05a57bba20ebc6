"""The operations of ``POST /collections/{name}/cluster``: shard keys, the operator's
shard operations replicate_shard, move_shard, abort_transfer, restart_transfer and drop_replica
(../shared/spec/distributed.md §1.7-1.8), and resharding (``router.cluster.resharding_ops``).

Each is checked here for shape, then proposed to consensus, which checks it against the
cluster as it is (peers, replicas, running transfers) and answers as Qdrant does. The answer
comes once consensus accepted the operation, not when a copy is done: the target peer's
duties fill the new replica (``router.cluster.duties``) while clients poll
``GET /collections/{name}/cluster`` until ``shard_transfers`` is empty.

Methods: ``stream_records`` (the default here; Qdrant's is ``snapshot``), ``snapshot`` (a shard
snapshot streamed peer-to-peer and installed, then the changes since its cut) and
``wal_delta`` (the points whose versions differ from the target's; every point for a new
replica). See ``router.cluster.duties`` and ``router.cluster.snapshot_transfer``.
"""

from __future__ import annotations

from typing import Any

from node.errors import BadRequest, NotFound, ValidationFailed
from router.cluster import replicate_points
from router.cluster.resharding_ops import OPERATIONS as RESHARDING
from router.cluster.resharding_ops import update_resharding
from router.operations import fields

#: the operations this module serves, by their key in the body
OPERATIONS = ("replicate_shard", "move_shard", "abort_transfer", "drop_replica",
              "restart_transfer")
METHODS = ("stream_records", "snapshot", "wal_delta", "resharding_stream_records")


def _peer(body: dict, key: str, op: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(f"missing or invalid field `{key}` of `{op}`")
    return value


def _shard(body: dict, op: str) -> int:
    value = body.get("shard_id")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise BadRequest(f"missing or invalid field `shard_id` of `{op}`")
    return value


def parse(key: str, raw: Any, name: str, uuid_: str) -> dict:
    """The consensus operation for one cluster operation of the body."""
    body = fields.obj(raw, key)
    shard_id = _shard(body, key)
    base = {"name": name, "uuid": uuid_, "shard_id": shard_id}
    if key == "drop_replica":
        return {"type": "drop_replica", **base, "peer_id": _peer(body, "peer_id", key)}
    source, target = _peer(body, "from_peer_id", key), _peer(body, "to_peer_id", key)
    if key == "abort_transfer":
        return {"type": "abort_transfer", **base, "from": source, "to": target}
    if key == "restart_transfer" and "method" not in body:
        raise BadRequest("missing field `method` of `restart_transfer`")
    if source == target:
        raise ValidationFailed(f"[{key}.to_peer_id: cannot transfer shard to itself]")
    method = body.get("method")
    if method is not None and method not in METHODS:
        raise BadRequest(f"unknown variant `{method}` of `{key}.method`, expected one of "
                         + ", ".join(f"`{m}`" for m in METHODS))
    if method == "resharding_stream_records":
        raise BadRequest("Shard transfer method resharding_stream_records is only used by "
                         "resharding, which moves its points by itself (start_resharding)")
    if body.get("to_shard_id") not in (None, shard_id):
        raise BadRequest("to_shard_id is only used by resharding, which moves its points by "
                         "itself (start_resharding)")
    return {"type": "start_transfer", **base, "from": source, "to": target,
            "kind": "replicate" if key == "replicate_shard" else "move",
            "method": method or "stream_records"}


def _restart(toc: Any, name: str, op: dict) -> bool:
    """restart_transfer: the running transfer starts over (with the method asked for;
    there is one so far), as the same kind of transfer."""
    entry = toc.consensus.state.collections.get(name, {})
    running = [t for t in entry.get("transfers", []) if t["shard_id"] == op["shard_id"]
               and t["from"] == op["from"] and t["to"] == op["to"]]
    if not running:
        raise NotFound("transfer not found")
    kind = running[0].get("kind", "recovery")
    if kind == "points":
        raise BadRequest("a replicate_points transfer does not restart: abort it and ask for "
                         "replicate_points again")
    if kind == "recovery":
        raise BadRequest("a recovery restarts by itself; only an operator's transfer restarts")
    toc.propose({"type": "abort_transfer", "name": name, "uuid": op["uuid"],
                 "shard_id": op["shard_id"], "from": op["from"], "to": op["to"]})
    toc.propose({**op, "kind": kind})
    return True


def update_cluster(toc: Any, name: str, body: dict) -> bool:
    """One operation of ``POST /collections/{name}/cluster`` (and of gRPC's
    UpdateCollectionClusterSetup): shard keys, or the operator's shard operations."""
    if not toc.cluster_enabled:  # before the collection is looked up, as in Qdrant
        raise BadRequest("Distributed mode disabled")
    collection = toc.get(name)
    if "create_sharding_key" in body:
        return toc.create_shard_key(name, fields.obj(body["create_sharding_key"], "key"))
    if "drop_sharding_key" in body:
        return toc.drop_shard_key(name, fields.obj(body["drop_sharding_key"], "key"))
    if "replicate_points" in body:
        toc.propose(replicate_points.start_op(collection, body["replicate_points"]))
        return True
    for key in RESHARDING:
        if key in body:
            return update_resharding(toc, collection, key, body[key])
    for key in OPERATIONS:
        if key in body:
            op = parse(key, body[key], collection.name, collection.uuid)
            if key == "restart_transfer":
                return _restart(toc, collection.name, op)
            toc.propose(op)
            return True
    raise BadRequest(f"Cluster operation {', '.join(body) or '(none)'} is not supported by "
                     "Tessera yet")
