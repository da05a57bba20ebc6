"""``start_resharding`` and ``abort_resharding`` of ``POST /collections/{name}/cluster``, and the
``resharding_operations`` of ``GET /collections/{name}/cluster``.

The answer comes once consensus took the operation; the peers then move the points by
themselves (``router.cluster.resharding_duty``) while clients poll the collection's cluster
view until ``resharding_operations`` is empty. As Qdrant, starting one needs
``cluster.resharding_enabled`` (off by default; a 400 otherwise). Qdrant's gRPC has no resharding
messages (UpdateCollectionClusterSetup lacks them), so only REST starts and aborts one; both
faces show it.
"""

from __future__ import annotations

from typing import Any

from node.errors import BadRequest
from router.operations import fields

OPERATIONS = ("start_resharding", "abort_resharding")


def _least_loaded(state: Any, count: int, first: int | None) -> list[int]:
    """``count`` peers for the new shard's replicas: ``first`` (the operator's pick) then the
    peers holding the fewest replicas over all collections."""
    load = {int(p): 0 for p, info in state.peers.items() if not info.get("draining")}
    for entry in state.collections.values():
        for shard in entry["shards"]:
            for peer in shard["replicas"]:
                if int(peer) in load:
                    load[int(peer)] += 1
    chosen = [first] if first is not None else []
    for peer in sorted(load, key=lambda p: (load[p], p)):
        if len(chosen) >= count:
            break
        if peer not in chosen:
            chosen.append(peer)
    return chosen


def _start_op(toc: Any, collection: Any, raw: Any) -> dict:
    body = fields.obj(raw, "start_resharding")
    direction = body.get("direction")
    if direction not in ("up", "down"):
        raise BadRequest(f"unknown variant `{direction}` of `start_resharding.direction`, "
                         "expected `up` or `down`")
    peer = body.get("peer_id")
    if peer is not None and (isinstance(peer, bool) or not isinstance(peer, int) or peer < 0):
        raise BadRequest("invalid field `peer_id` of `start_resharding`")
    state = toc.consensus.state
    if peer is not None and str(peer) not in state.peers:
        raise BadRequest(f"Peer {peer} does not exist")
    op: dict = {"type": "start_resharding", "name": collection.name, "uuid": collection.uuid,
                "direction": direction, "peer_id": peer}
    if body.get("shard_key") is not None:
        op["key"] = body["shard_key"]
    if direction == "up":
        factor = collection.config.get("params", {}).get("replication_factor", 1)
        op["peer_ids"] = _least_loaded(state, max(1, int(factor)), peer)
    return op


def update_resharding(toc: Any, collection: Any, key: str, raw: Any) -> bool:
    """One of ``OPERATIONS``, proposed to consensus (its refusals are 400s)."""
    if key == "start_resharding":
        if not getattr(toc, "resharding_enabled", False):
            raise BadRequest("resharding is disabled")
        toc.propose(_start_op(toc, collection, raw))
    else:
        fields.obj(raw, "abort_resharding")
        toc.propose({"type": "abort_resharding", "name": collection.name,
                     "uuid": collection.uuid})
    return True


def resharding_operations(entry: dict, comment: str | None = None) -> list[dict]:
    """Qdrant's ReshardingInfo of the running resharding (none or one), with Tessera's
    ``stage`` and a progress ``comment``."""
    resharding = entry.get("resharding")
    if resharding is None:
        return []
    stage = resharding["stage"]
    by_id = {s["shard_id"]: s for s in entry["shards"]}
    if stage == "migrating":
        done, ring = resharding["copied"], resharding["new"]
    elif stage == "switched":
        done, ring = resharding["cleaned"], resharding["new"]
    else:
        done, ring = resharding["cleaned"], resharding["old"]
    needed = sum(1 for sid in ring for state in by_id[sid]["replicas"].values()
                 if state != "Dead")
    text = f"{stage}: {len(done)}/{needed} replicas done"
    if comment:
        text += f"; {comment}"
    info = {"direction": resharding["direction"], "shard_id": resharding["shard_id"],
            "peer_id": resharding["peer_id"], "stage": stage, "comment": text}
    if "key" in resharding:
        info["shard_key"] = resharding["key"]
    return [info]
