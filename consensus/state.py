"""The replicated metadata state machine: collections, shard placement, aliases.

Every operation is deterministic and never raises: it returns a short result (True, or an error
kind with a message) so that every replica of the log reaches the same state whatever happens.
Point data never passes through here. The same machine runs under a one-node log (single node)
and, later, under Raft.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from consensus.resharding import ReshardingOps
from consensus.results import OpResult, key_text, same_key

__all__ = ["READABLE", "UPDATABLE", "MetadataState", "OpResult", "key_text", "same_key"]


#: Replica states a replica can be read from / written to (Qdrant's replica_set_state.rs).
READABLE = ("Active",)
UPDATABLE = ("Active", "Partial", "Initializing", "Resharding")

#: How many request ids are remembered for deduplication of retried proposals.
_REMEMBERED_REQUESTS = 2000


@dataclass
class MetadataState(ReshardingOps):
    collections: dict[str, dict] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    peers: dict[str, dict] = field(default_factory=dict)  # str(peer_id) -> {uri, raft, grpc}
    #: the cluster's own key -> JSON value store (/cluster/metadata/keys)
    cluster_metadata: dict[str, object] = field(default_factory=dict)
    applied: int = 0
    results: dict[str, OpResult] = field(default_factory=dict)  # request id -> first result

    # -- serialization -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "collections": self.collections,
            "aliases": self.aliases,
            "peers": self.peers,
            "cluster_metadata": self.cluster_metadata,
            "applied": self.applied,
        }

    @classmethod
    def from_dict(cls, data: dict) -> MetadataState:
        return cls(
            collections=data.get("collections", {}),
            aliases=data.get("aliases", {}),
            peers=data.get("peers", {}),
            cluster_metadata=data.get("cluster_metadata", {}),
            applied=data.get("applied", 0),
        )

    def __setstate__(self, state: dict) -> None:
        # a Raft snapshot pickled before a field existed gets the field's default
        self.__dict__.update(state)
        self.__dict__.setdefault("cluster_metadata", {})

    # -- apply -------------------------------------------------------------------------------
    def apply(self, op: dict) -> OpResult:
        """Apply one operation. An operation carrying a request id (``rid``) that was applied
        before returns its first result again: proposals may be retried after an ambiguous
        outcome, and must take effect once."""
        rid = op.get("rid")
        if rid is not None and rid in self.results:
            return self.results[rid]
        handler = getattr(self, "_op_" + op["type"], None)
        if handler is None:
            result = OpResult(False, "bad_request", f"unknown metadata operation {op['type']}")
        else:
            result = handler(op)
        self.applied += 1
        if rid is not None:
            self.results[rid] = result
            while len(self.results) > _REMEMBERED_REQUESTS:
                del self.results[next(iter(self.results))]
        return result

    def _op_sync(self, op: dict) -> OpResult:
        """A barrier, changing nothing: the peer that proposed it holds every operation
        committed before it once it sees it applied (POST /cluster/recover)."""
        return OpResult(True)

    # -- peers -------------------------------------------------------------------------------
    def _op_add_peer(self, op: dict) -> OpResult:
        """A peer enters the table (or refreshes its addresses). A peer starting for the first
        time at the address of another (``replaces``: that peer's process is gone, since this
        one holds its address) takes its place: when the old peer held no replicas it is simply
        dropped; with ``adopt`` (the newcomer kept the old storage and lost only its Raft
        state) it takes over the replicas, Dead where another copy is Active, so they recover
        from it; otherwise the newcomer is refused and the old peer's replicas stay."""
        peer = str(op["peer_id"])
        address = op.get("replaces")
        old = next((p for p, info in self.peers.items()
                    if address is not None and p != peer and info.get("raft") == address), None)
        if old is not None:
            held = [shard["replicas"] for entry in self.collections.values()
                    for shard in entry["shards"] if old in shard["replicas"]]
            if held and not op.get("adopt"):
                return OpResult(False, "refused", (
                    f"Peer {old} at {address} still holds {len(held)} replicas: a peer with "
                    "empty storage cannot take its place. Restore its storage, or remove it "
                    f"first (DELETE /cluster/peer/{old}?force=true)"))
            for replicas in held:
                others_active = any(s == "Active" for p, s in replicas.items() if p != old)
                replicas[peer] = "Dead" if others_active else replicas[old]
            self._op_remove_peer({"peer_id": old})
        self.peers[peer] = copy.deepcopy(op["info"])
        return OpResult(True)

    def _op_set_cluster_metadata(self, op: dict) -> OpResult:
        """A cluster metadata key set to a JSON value, or deleted (``value`` absent)."""
        if "value" in op:
            self.cluster_metadata[op["key"]] = copy.deepcopy(op["value"])
        else:
            self.cluster_metadata.pop(op["key"], None)
        return OpResult(True)

    def _op_drain_peer(self, op: dict) -> OpResult:
        """A peer marked for draining (its replicas move away) or unmarked."""
        info = self.peers.get(str(op["peer_id"]))
        if info is None:
            return OpResult(False, "not_found", f"Peer {op['peer_id']} does not exist")
        if op.get("draining", True):
            info["draining"] = True
        else:
            info.pop("draining", None)
        return OpResult(True)

    def _op_remove_peer(self, op: dict) -> OpResult:
        peer = str(op["peer_id"])
        if peer not in self.peers:
            return OpResult(False, "bad_request", f"Peer {op['peer_id']} does not exist")
        del self.peers[peer]
        for entry in self.collections.values():
            replicas_of = {shard["shard_id"]: shard["replicas"] for shard in entry["shards"]}
            for t in list(entry.get("transfers", [])):  # its transfers are aborted
                if peer in (str(t["from"]), str(t["to"])):
                    entry["transfers"].remove(t)
                    self._abort_target(t, replicas_of.get(t["shard_id"], {}))
            for replicas in replicas_of.values():
                replicas.pop(peer, None)
        return OpResult(True)

    # -- replicas and transfers --------------------------------------------------------------
    def _replicas(self, op: dict) -> dict | None:
        entry = self.collections.get(op["name"])
        if entry is None or entry.get("uuid") != op.get("uuid", entry.get("uuid")):
            return None
        for shard in entry["shards"]:
            if shard["shard_id"] == op["shard_id"]:
                return shard["replicas"]
        return None

    def _op_set_replica_state(self, op: dict) -> OpResult:
        """Qdrant's SetShardReplicaState: dismissed when ``from_state`` does not match; the
        last Active replica of a shard is never deactivated."""
        replicas = self._replicas(op)
        peer = str(op["peer_id"])
        if replicas is None or peer not in replicas:
            return OpResult(
                False, "bad_request", f"Replica {peer} of shard {op['shard_id']} not found"
            )
        current = replicas[peer]
        if op.get("from_state") is not None and current != op["from_state"]:
            return OpResult(
                False, "bad_request",
                f"Replica {peer} of shard {op['shard_id']} has state {current}, "
                f"but expected {op['from_state']}",
            )
        if op["state"] != "Active" and current == "Active" and \
                sum(s == "Active" for s in replicas.values()) == 1:
            return OpResult(
                False, "bad_request",
                f"Cannot deactivate the last active replica {peer} of shard {op['shard_id']}",
            )
        replicas[peer] = op["state"]
        if current == "Resharding" and op["state"] == "Dead":
            self._resharding_replica_lost(op["name"])
        return OpResult(True)

    def _op_start_transfer(self, op: dict) -> OpResult:
        """A shard transfer starts; its target turns Partial, so writes reach it while the copy
        runs. ``kind``: ``recovery`` (a Dead replica refilled), or an operator's ``replicate``
        (a new or existing replica filled from ``from``) or ``move`` (the same; the target's peer
        drops the source replica once every peer knows the new one is Active)."""
        kind = op.get("kind", "recovery")
        if kind == "points":
            return self._start_points_transfer(op)
        replicas = self._replicas(op)
        source, target = str(op["from"]), str(op["to"])
        shard_id, name = op["shard_id"], op["name"]
        if replicas is None or (kind == "recovery" and target not in replicas):
            return OpResult(False, "bad_request", f"Shard {shard_id} of {name} does not exist")
        for peer in (source, target):
            if kind != "recovery" and peer not in self.peers:
                return OpResult(False, "bad_request", f"Peer {peer} does not exist")
        if replicas.get(source) != "Active":
            return OpResult(False, "bad_request",
                            f"Shard {shard_id} has no Active replica on peer {source}")
        if kind != "recovery" and self.collections[name].get("resharding") is not None:
            return OpResult(False, "bad_request",
                            f"Collection {name} is being resharded: shards move after it ends")
        transfers = self.collections[name].setdefault("transfers", [])
        for t in transfers:
            same = str(t["to"]) == target if kind == "recovery" else True
            if t["shard_id"] == shard_id and same:
                return OpResult(False, "bad_request",
                                f"Shard {shard_id} is already involved in transfer "
                                f"{t['from']} -> {t['to']}")
        if kind == "move" and target in replicas:
            return OpResult(False, "bad_request",
                            f"Shard {shard_id} is already on peer {target}")
        transfers.append({
            "shard_id": shard_id, "from": int(source), "to": int(target),
            "sync": kind != "move", "method": op.get("method") or "stream_records",
            "kind": kind, "fresh": target not in replicas,
            "tid": self.applied,  # this transfer, not a later one between the same peers
        })
        replicas[target] = "Partial"
        return OpResult(True)

    def _start_points_transfer(self, op: dict) -> OpResult:
        """``replicate_points``: the points of shard ``shard_id`` that match ``filter`` are
        copied into shard ``to_shard_id`` (another shard key's) by peer ``to``, which holds it.
        Replica states do not change; the record is what clients poll until it is gone."""
        name, shard_id, to_shard = op["name"], op["shard_id"], op["to_shard_id"]
        source = self._replicas(op)
        target = self._replicas({**op, "shard_id": to_shard})
        for replicas, sid in ((source, shard_id), (target, to_shard)):
            if replicas is None:
                return OpResult(False, "bad_request", f"Shard {sid} of {name} does not exist")
        if source.get(str(op["from"])) != "Active":
            return OpResult(False, "bad_request",
                            f"Shard {shard_id} has no Active replica on peer {op['from']}")
        if target.get(str(op["to"])) != "Active":
            return OpResult(False, "bad_request",
                            f"Shard {to_shard} has no Active replica on peer {op['to']}")
        transfers = self.collections[name].setdefault("transfers", [])
        for t in transfers:
            if {t["shard_id"], t.get("to_shard_id", t["shard_id"])} & {shard_id, to_shard}:
                return OpResult(False, "bad_request",
                                f"Shard {t['shard_id']} is already involved in transfer "
                                f"{t['from']} -> {t['to']}")
        transfers.append({
            "shard_id": shard_id, "to_shard_id": to_shard, "from": int(op["from"]),
            "to": int(op["to"]), "sync": True, "method": "stream_records", "kind": "points",
            "filter": op.get("filter"), "tid": self.applied,
        })
        return OpResult(True)

    def _take_transfer(self, op: dict) -> tuple[dict | None, dict | None]:
        """The transfer of ``op`` (by shard and target; and source when given), removed from
        the running ones, with the shard's replicas."""
        replicas = self._replicas(op)
        if replicas is None:
            return None, None
        entry = self.collections[op["name"]]
        for t in entry.get("transfers", []):
            if t["shard_id"] == op["shard_id"] and str(t["to"]) == str(op["to"]) and \
                    (op.get("from") is None or str(t["from"]) == str(op["from"])) and \
                    (op.get("tid") is None or t.get("tid") == op["tid"]):
                entry["transfers"].remove(t)
                return t, replicas
        return None, replicas

    def _op_finish_transfer(self, op: dict) -> OpResult:
        transfer, replicas = self._take_transfer(op)
        if transfer is None:
            return OpResult(False, "not_found", "transfer not found")
        target = str(transfer["to"])
        if target in replicas and transfer.get("kind") != "points":
            replicas[target] = "Active"  # a move's source is dropped after (drop_replica)
        return OpResult(True)

    def _op_abort_transfer(self, op: dict) -> OpResult:
        """The target of a recovery turns Dead (and recovers anew); a replica an operator's
        transfer added is removed again, one it was overwriting turns Dead."""
        transfer, replicas = self._take_transfer(op)
        if transfer is None:
            return OpResult(False, "not_found", "transfer not found")
        self._abort_target(transfer, replicas)
        return OpResult(True)

    @staticmethod
    def _abort_target(transfer: dict, replicas: dict) -> None:
        target = str(transfer["to"])
        if target not in replicas or transfer.get("kind") == "points":
            return  # replicate_points: what it copied stays, as the upserts it made
        if transfer.get("fresh") and transfer.get("kind") != "recovery":
            del replicas[target]
        else:
            replicas[target] = "Dead"

    def _op_drop_replica(self, op: dict) -> OpResult:
        """An operator removes one replica; never the last Active one. Transfers it takes part
        in are aborted."""
        replicas = self._replicas(op)
        peer, shard_id = str(op["peer_id"]), op["shard_id"]
        if replicas is None:
            return OpResult(False, "bad_request",
                            f"Shard {shard_id} of {op['name']} does not exist")
        if peer not in replicas:
            return OpResult(False, "bad_request",
                            f"Shard {shard_id} has no replica on peer {peer}")
        if not any(s == "Active" for p, s in replicas.items() if p != peer):
            return OpResult(False, "bad_request",
                            f"Shard {shard_id} must have at least one active replica after "
                            f"removing {peer}")
        entry = self.collections[op["name"]]
        for t in list(entry.get("transfers", [])):
            if t["shard_id"] == shard_id and peer in (str(t["from"]), str(t["to"])):
                entry["transfers"].remove(t)
                self._abort_target(t, replicas)
        replicas.pop(peer, None)
        return OpResult(True)

    def _op_create_collection(self, op: dict) -> OpResult:
        name = op["name"]
        if name in self.collections:
            return OpResult(False, "already_exists", f"Collection `{name}` already exists!")
        if name in self.aliases:
            return OpResult(
                False,
                "wrong_input",
                f"Can't create collection with name {name}. "
                "Alias with the same name already exists",
            )
        placement = op.get("placement")
        if placement is None:  # one node: every shard on the proposing peer
            shard_number = op["config"]["params"].get("shard_number", 1)
            placement = [[op.get("peer_id", 0)]] * shard_number
        state = op.get("initial_state", "Active")
        shards = [
            {"shard_id": i, "replicas": {str(peer): state for peer in peers}}
            for i, peers in enumerate(placement)
        ]
        self.collections[name] = {
            "config": copy.deepcopy(op["config"]),
            "shards": shards,
            "uuid": op.get("uuid"),
            "transfers": [],
            "ring": bool(op.get("ring", False)),
        }
        return OpResult(True)

    def _op_recover_collection(self, op: dict) -> OpResult:
        """A collection recovered from a snapshot: its entry (config, payload schema, shards)
        replaced by a new one of a new uuid in one step, or created; its aliases stay."""
        name = op["name"]
        if name in self.aliases:
            return OpResult(False, "wrong_input", f"Can't recover collection with name {name}. "
                            "Alias with the same name already exists")
        peer = str(op.get("peer_id", 0))
        self.collections[name] = {
            "config": copy.deepcopy(op["config"]),
            "payload_schema": copy.deepcopy(op.get("payload_schema") or {}),
            "shards": [
                # replicas: {peer: state} as the recovering peer placed them (a cluster), or
                # every shard on the recovering peer alone (one node; logs from before)
                dict({"shard_id": s["shard_id"],
                      "replicas": dict(s.get("replicas") or {peer: "Active"})},
                     **({"key": s["key"]} if s.get("key") is not None else {}))
                for s in op["shards"]
            ],
            "uuid": op["uuid"],
            "transfers": [],
            "ring": bool(op.get("ring", False)),
        }
        return OpResult(True)

    def _op_mark_replicas_dead(self, op: dict) -> OpResult:
        """Several replicas of one shard marked Dead in one step (a snapshot recovered with
        priority ``snapshot``): none of them can then be refilled from another of them. As
        with one replica, the last Active replica of the shard is never deactivated."""
        replicas = self._replicas(op)
        peers = [str(p) for p in op["peer_ids"]]
        if replicas is None or any(p not in replicas for p in peers):
            return OpResult(False, "bad_request",
                            f"Replicas {peers} of shard {op['shard_id']} not found")
        if not any(s == "Active" for p, s in replicas.items() if p not in peers):
            return OpResult(False, "bad_request", "Cannot deactivate every active replica of "
                            f"shard {op['shard_id']}")
        for peer in peers:
            replicas[peer] = "Dead"
        return OpResult(True)

    def _op_create_shard_key(self, op: dict) -> OpResult:
        """New shards under a shard key (custom sharding); their ids follow the largest."""
        entry = self.collections.get(op["name"])
        if entry is None:
            return OpResult(False, "not_found", f"Collection `{op['name']}` doesn't exist!")
        if entry["config"]["params"].get("sharding_method") != "custom":
            return OpResult(False, "bad_request",
                            "Shard Key cannot be created with Auto sharding method")
        key = op["key"]
        if any(same_key(shard.get("key"), key) for shard in entry["shards"]):
            return OpResult(False, "bad_request",
                            f"Sharding key {key_text(key)} already exists for collection "
                            f"{op['name']}")
        next_id = max((shard["shard_id"] for shard in entry["shards"]), default=-1) + 1
        for i, peers in enumerate(op["placement"]):
            entry["shards"].append({
                "shard_id": next_id + i, "key": key,
                "replicas": {str(peer): op.get("initial_state", "Active") for peer in peers},
            })
        return OpResult(True)

    def _op_drop_shard_key(self, op: dict) -> OpResult:
        entry = self.collections.get(op["name"])
        if entry is None:
            return OpResult(False, "not_found", f"Collection `{op['name']}` doesn't exist!")
        kept = [shard for shard in entry["shards"] if not same_key(shard.get("key"), op["key"])]
        if len(kept) == len(entry["shards"]):
            return OpResult(False, "bad_request",
                            f"Sharding key {key_text(op['key'])} does not exist for collection "
                            f"{op['name']}")
        dropped = {shard["shard_id"] for shard in entry["shards"]} - {s["shard_id"] for s in kept}
        entry["shards"] = kept
        entry["transfers"] = [t for t in entry.get("transfers", [])
                              if not {t["shard_id"], t.get("to_shard_id")} & dropped]
        return OpResult(True)

    def _op_update_collection(self, op: dict) -> OpResult:
        name = op["name"]
        if name not in self.collections:
            return OpResult(False, "not_found", f"Collection `{name}` doesn't exist!")
        self.collections[name]["config"] = copy.deepcopy(op["config"])
        return OpResult(True)

    def _op_delete_collection(self, op: dict) -> OpResult:
        name = op["name"]
        if name not in self.collections:
            return OpResult(True, value=False)
        del self.collections[name]
        for alias in [a for a, c in self.aliases.items() if c == name]:
            del self.aliases[alias]
        return OpResult(True, value=True)

    def _op_create_payload_index(self, op: dict) -> OpResult:
        entry = self.collections.get(op["name"])
        if entry is None:
            return OpResult(False, "not_found", f"Collection `{op['name']}` doesn't exist!")
        entry.setdefault("payload_schema", {})[op["field"]] = copy.deepcopy(op["schema"])
        return OpResult(True)

    def _op_delete_payload_index(self, op: dict) -> OpResult:
        entry = self.collections.get(op["name"])
        if entry is None:
            return OpResult(False, "not_found", f"Collection `{op['name']}` doesn't exist!")
        entry.setdefault("payload_schema", {}).pop(op["field"], None)
        return OpResult(True)

    def _op_change_aliases(self, op: dict) -> OpResult:
        """Apply a list of alias actions atomically: all or nothing."""
        aliases = dict(self.aliases)
        for action in op["actions"]:
            kind = action["kind"]
            if kind == "create":
                collection, alias = action["collection_name"], action["alias_name"]
                if collection not in self.collections:
                    return OpResult(False, "not_found", f"Collection `{collection}` doesn't exist!")
                if alias in self.collections:
                    return OpResult(
                        False, "already_exists", f"Collection `{alias}` already exists!"
                    )
                aliases[alias] = collection
            elif kind == "delete":
                alias = action["alias_name"]
                if alias not in aliases:
                    return OpResult(False, "not_found", f"Alias {alias} does not exists!")
                del aliases[alias]
            elif kind == "rename":
                old, new = action["old_alias_name"], action["new_alias_name"]
                if old not in aliases:
                    return OpResult(False, "not_found", f"Alias {old} does not exists!")
                if new in self.collections:
                    return OpResult(False, "already_exists", f"Collection `{new}` already exists!")
                aliases[new] = aliases.pop(old)
        self.aliases = aliases
        return OpResult(True, value=True)

