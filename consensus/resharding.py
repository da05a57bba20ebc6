"""Resharding in the metadata state machine: a collection's shard count (or one shard key's)
changes by one while reads and writes go on (``start_resharding`` / ``abort_resharding``).

A collection entry under resharding carries ``entry["resharding"]``:
``{direction, shard_id, peer_id, key?, stage, old: [ids], new: [ids], copied: [], cleaned: []}``
where ``old`` and ``new`` are the shard ids of the key group's hash ring before and after.
The stages, and what the routers and peers do in each (``router.collection.resharding``,
``router.cluster.resharding_duty``):

- ``init``: the new shard exists (up; its replicas are ``Resharding``), nothing writes to it
  yet; the peers holding new-ring replicas start to note the ids written to them.
- ``migrating``: writes go to the old and the new owner of each id; reads use the old ring,
  each shard answering only the points that ring gives it. Every replica of a new-ring shard
  copies in the points it gains and says so (``copied``).
- ``switched`` (every such replica copied; irreversible): reads and writes use the new ring;
  every replica of a new-ring shard drops the points it no longer owns (``cleaned``).
- ``aborting`` (the operator's abort before the switch): back to the old ring; every replica
  of an old-ring shard drops the copies it got (``cleaned``).

Once all are cleaned the entry keeps only the shards of the ring read last, and the resharding
is gone. Each step is one Raft entry, so a node restarted mid-way resumes from the stage held.
This module never touches point data.
"""

from __future__ import annotations

from typing import Any

from consensus.results import OpResult, key_text, same_key

DIRECTIONS = ("up", "down")
#: stages in which reads use the old ring (after the switch: the new one)
OLD_RING_STAGES = ("init", "migrating", "aborting")


def read_ids(resharding: dict) -> list[int]:
    """The shard ids of the ring that reads (and, past the switch, writes) use."""
    return resharding["old"] if resharding["stage"] in OLD_RING_STAGES else resharding["new"]


def _group(entry: dict, key: Any) -> list[dict]:
    if key is None:
        return [s for s in entry["shards"] if s.get("key") is None]
    return [s for s in entry["shards"] if same_key(s.get("key"), key)]


def _live(shard: dict) -> list[str]:
    return [p for p, state in shard["replicas"].items() if state != "Dead"]


class ReshardingOps:
    """The resharding operations of ``consensus.state.MetadataState`` (mixed in)."""

    collections: dict[str, dict]
    peers: dict[str, dict]
    applied: int

    def _resharded(self, op: dict) -> tuple[dict | None, OpResult | None]:
        entry = self.collections.get(op["name"])
        if entry is None or entry.get("uuid") != op.get("uuid", entry.get("uuid")):
            return None, OpResult(False, "not_found", f"Collection `{op['name']}` doesn't exist!")
        return entry, None

    def _op_start_resharding(self, op: dict) -> OpResult:
        entry, missing = self._resharded(op)
        if entry is None:
            return missing  # type: ignore[return-value]
        name, direction, key = op["name"], op["direction"], op.get("key")
        if direction not in DIRECTIONS:
            return OpResult(False, "bad_request", f"unknown resharding direction {direction}")
        if entry.get("resharding") is not None:  # Qdrant's words
            return OpResult(False, "bad_request", "another resharding is in progress")
        if not entry.get("ring"):
            return OpResult(False, "bad_request", f"Collection {name} routes points by modulo "
                            "(made before the hash ring): it cannot be resharded")
        custom = entry["config"]["params"].get("sharding_method") == "custom"
        if custom and key is None:
            return OpResult(False, "bad_request",
                            "must specify shard key on collection with custom sharding")
        group = _group(entry, key) if custom or key is None else []
        if key is not None and not group:  # also on an auto-sharded collection, as Qdrant
            return OpResult(False, "bad_request",
                            f"sharding key {key_text(key)} does not exist for collection {name}")
        if entry.get("transfers"):
            return OpResult(False, "bad_request", f"Collection {name} has shard transfers in "
                            "progress: resharding waits until they end")
        old = sorted(s["shard_id"] for s in group)
        if direction == "up":
            peers = [str(p) for p in op.get("peer_ids", [])]
            if not peers or any(p not in self.peers for p in peers) and self.peers:
                return OpResult(False, "bad_request",
                                f"Peer {op.get('peer_id')} does not exist")
            shard_id = max((s["shard_id"] for s in entry["shards"]), default=-1) + 1
            shard: dict = {"shard_id": shard_id, "replicas": dict.fromkeys(peers, "Resharding")}
            if key is not None:
                shard["key"] = key
            entry["shards"].append(shard)
            new, peer_id = old + [shard_id], int(peers[0])
        else:
            shard_id = old[-1]
            if len(old) < 2:
                return OpResult(False, "bad_request", f"cannot remove shard {shard_id} by "
                                "resharding down, it is the last shard")
            holders = _live(next(s for s in group if s["shard_id"] == shard_id))
            peer_id = int(op["peer_id"]) if op.get("peer_id") is not None else \
                int(min(holders, key=int)) if holders else 0
            new = old[:-1]
        entry["resharding"] = {
            "direction": direction, "shard_id": shard_id, "peer_id": peer_id,
            **({"key": key} if key is not None else {}),
            "stage": "init", "old": old, "new": new, "copied": [], "cleaned": [],
        }
        return OpResult(True)

    def _op_resharding_stage(self, op: dict) -> OpResult:
        """``init`` → ``migrating``, once every peer knows of the new layout (proposed by a
        peer that waited for that); dismissed when the stage is another."""
        entry, missing = self._resharded(op)
        if entry is None:
            return missing  # type: ignore[return-value]
        resharding = entry.get("resharding")
        if resharding is None or resharding["stage"] != op["from"] or \
                (op["from"], op["to"]) != ("init", "migrating"):
            return OpResult(False, "bad_request", "resharding is not at that stage")
        resharding["stage"] = "migrating"
        return OpResult(True)

    def _op_resharding_done(self, op: dict) -> OpResult:
        """A replica copied in what it gains (``copied``) or dropped what it no longer owns
        (``cleaned``); the last one moves the resharding on."""
        entry, missing = self._resharded(op)
        if entry is None:
            return missing  # type: ignore[return-value]
        resharding = entry.get("resharding")
        if resharding is None or resharding["stage"] != op["stage"]:
            return OpResult(False, "bad_request", "resharding is not at that stage")
        mark = f"{op['shard_id']}/{op['peer_id']}"
        what = "copied" if op["stage"] == "migrating" else "cleaned"
        if mark not in resharding[what]:
            resharding[what].append(mark)
        by_id = {s["shard_id"]: s for s in entry["shards"]}
        ring = resharding["new"] if what == "copied" else read_ids(resharding)
        needed = {f"{sid}/{peer}" for sid in ring for peer in _live(by_id[sid])}
        if not needed <= set(resharding[what]):
            return OpResult(True)
        if what == "copied":  # the switch: the new ring is complete
            resharding["stage"] = "switched"
            for replicas in (s["replicas"] for s in entry["shards"]):
                for peer, state in replicas.items():
                    if state == "Resharding":
                        replicas[peer] = "Active"
        else:
            self._finish_resharding(entry, resharding)
        return OpResult(True)

    @staticmethod
    def _finish_resharding(entry: dict, resharding: dict) -> None:
        kept_ids = set(read_ids(resharding))
        group_ids = set(resharding["old"]) | set(resharding["new"])
        entry["shards"] = [s for s in entry["shards"]
                           if s["shard_id"] not in group_ids or s["shard_id"] in kept_ids]
        entry["transfers"] = [t for t in entry.get("transfers", [])
                              if t["shard_id"] not in group_ids - kept_ids]
        if resharding.get("key") is None:
            params = entry["config"]["params"]
            params["shard_number"] = len(kept_ids)
        del entry["resharding"]

    def _resharding_replica_lost(self, name: str) -> None:
        """A replica of the new shard died before the switch: it cannot be filled again (no
        other replica holds its points), so the resharding is aborted, as an operator would."""
        resharding = self.collections[name].get("resharding")
        if resharding is not None and resharding["stage"] in ("init", "migrating"):
            resharding["stage"] = "aborting"
            resharding["cleaned"] = []

    def _op_abort_resharding(self, op: dict) -> OpResult:
        entry, missing = self._resharded(op)
        if entry is None:
            return missing  # type: ignore[return-value]
        resharding = entry.get("resharding")
        if resharding is None:
            return OpResult(False, "bad_request",
                            f"No resharding operation in progress for collection {op['name']}")
        if resharding["stage"] == "aborting":
            return OpResult(True)
        if resharding["stage"] not in ("init", "migrating"):
            return OpResult(False, "bad_request", "Resharding cannot be aborted once reads "
                            "switched to the new shard layout; it completes by itself")
        resharding["stage"] = "aborting"
        resharding["cleaned"] = []
        return OpResult(True)
