"""The table of contents: which collections exist and where their shards are.

Metadata operations (create, update, delete collection; aliases) are proposed to consensus and
take effect when applied; this module reconciles the local shards with the applied metadata
(opening, creating and dropping them) and resolves names and aliases for everything else.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from consensus.local import LocalConsensus
from consensus.raft import ConsensusError
from consensus.state import OpResult, same_key
from node.errors import (
    AlreadyExists,
    BadRequest,
    NotFound,
    ServiceError,
    ValidationFailed,
    WrongInput,
)
from node.optimizer import Optimizer
from node.shard import LocalShard
from node.shard_config import ShardConfig
from node.shard_snapshot import finish_pending, install
from router.cluster.cluster_views import ClusterViews
from router.cluster.duties import ClusterDuties
from router.cluster.placement import place_shards
from router.cluster.rebalance_duty import DEFAULT_REBALANCE, RebalancePolicy
from router.collection import config as collection_config
from router.collection.collection import Collection
from router.collection.limits import DEFAULT as DEFAULT_LIMITS
from router.collection.limits import Limits
from router.collection.remote_replica import PeerChannels, RemoteReplica
from router.collection.replica_endpoint import ReplicaEndpoint
from router.collection.replica_set import LocalReplica, Replica, ReplicaSet
from router.operations import shard_keys

log = logging.getLogger(__name__)

#: how long a peer call to a replica not (yet) here waits for the metadata to place it
ENDPOINT_GRACE_SECONDS = 1.0

_BAD_NAME = re.compile(r"[<>:\"/\\|?*\x00-\x1f]")


def _raise_for(result: OpResult) -> None:
    if result.ok:
        return
    if result.error_kind == "not_found":
        raise NotFound(result.message or "")
    if result.error_kind == "already_exists":
        raise AlreadyExists(result.message or "")
    if result.error_kind == "wrong_input":
        raise WrongInput(result.message or "")
    raise BadRequest(result.message or "")


def validate_collection_name(name: str) -> None:
    if not name or len(name) > 255:
        raise ValidationFailed("[collection_name: length must be between 1 and 255]")
    if _BAD_NAME.search(name) or name in (".", ".."):
        raise ValidationFailed(
            f"[collection_name: Collection name must not contain special characters: {name}]"
        )


class TableOfContent(ClusterViews):
    """Collections of this node, kept in line with the applied metadata. ``channels`` is
    given in cluster mode: replicas on other peers are then reached through them, and a duty
    thread does what consensus asks of this peer (report new replicas Active, bring Dead ones
    back by streaming from a healthy replica)."""

    def __init__(
        self,
        storage_path: Path,
        consensus: LocalConsensus,
        optimizer: Optimizer,
        channels: PeerChannels | None = None,
        default_optimizers: Mapping[str, Any] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        transfer_limits: tuple[int, int] = (1, 1),
        transfer_rate: int = 0,
        rebalance: RebalancePolicy = DEFAULT_REBALANCE,
    ) -> None:
        self.storage_path = storage_path
        #: automatic transfers (recoveries) at once per node, into it and out of it
        #: (storage.performance.incoming/outgoing_shard_transfers_limit, as Qdrant's)
        self.transfer_limits = transfer_limits
        #: points per second of one shard copy, 0 for no limit (max_transfer_rate)
        self.transfer_rate = transfer_rate
        self.rebalance_policy = rebalance  # cluster.rebalance.enabled, replica_repair_after_sec
        #: optimizer settings of new collections that do not give their own (storage.optimizers)
        self.default_optimizers = dict(default_optimizers or {})
        #: Tessera's bounds on what a request may ask for (config section ``limits``)
        self.limits = limits
        self.collections_path = storage_path / "collections"
        self.collections_path.mkdir(parents=True, exist_ok=True)
        self.consensus = consensus
        self.optimizer = optimizer
        self.channels = channels
        self.peer_id = consensus.peer_id
        self._collections: dict[str, Collection] = {}
        self._lock = threading.RLock()
        #: uuids whose directories a recovery fills before their metadata is applied
        self._incoming: set[str] = set()
        self._closed = threading.Event()
        # started by start_duties(), once peers can call this node back
        self.duties = ClusterDuties(self) if channels is not None else None
        #: how many metadata operations this node's collections reflect (peers compare it)
        self.reconciled_index = 0
        consensus.subscribe(self._on_applied)
        self.reconcile()

    def start_duties(self) -> None:
        """Begin acting on consensus (activation, recovery): only once this node's peer
        service is up, since the peers it involves call back into it."""
        if self.duties is not None:
            self.duties.start()

    @property
    def cluster_enabled(self) -> bool:
        return self.channels is not None

    # -- reconciliation with metadata --------------------------------------------------------
    def reconcile(self) -> None:
        """Open, update and drop local collections and replica sets to match the metadata."""
        with self._lock:
            if self._closed.is_set():
                return
            if not self.consensus.is_synced():
                return  # a log still replaying shows past states: act on none of them
            state = self.consensus.state  # read after is_synced(), which refreshes it
            wanted = state.collections
            for name in list(self._collections):
                entry = wanted.get(name)
                if entry is None or entry["uuid"] != self._collections[name].uuid:
                    self._close(name, drop=True)
            for name, entry in wanted.items():
                collection = self._collections.get(name)
                if collection is None:
                    self._open(name, entry)
                else:
                    self._update(collection, entry)
            known = {entry["uuid"] for entry in wanted.values()}
            for path in self.collections_path.iterdir():
                if path.name not in known and path.name not in self._incoming:
                    log.info("removing %s: no collection has this uuid (metadata index %d)",
                             path, state.applied)
                    shutil.rmtree(path, ignore_errors=True)
            self.reconciled_index = max(self.reconciled_index, state.applied)
        if self.duties is not None:
            self.duties.wake()

    def _peer_address(self, peer: int) -> str | None:
        info = self.consensus.state.peers.get(str(peer))
        return None if info is None else info.get("grpc")

    def _replica(self, entry: dict, shard_id: int, peer: int, config: ShardConfig,
                 name: str = "", state: str | None = None) -> Replica:
        if peer == self.peer_id:
            path = self.collections_path / entry["uuid"] / str(shard_id)
            finish_pending(path)  # a snapshot recovery a crash interrupted
            had_data = path.exists()
            local = LocalShard(path, config)
            self.optimizer.register(local)
            if state == "Active" and not had_data and self.duties is not None:
                # consensus counts on data this peer does not have (its storage was lost or
                # wiped): it says so, and the replica is refilled from a healthy one
                log.warning("replica of %s/%s is Active but has no data here", name, shard_id)
                self.duties.report_dead(name, entry["uuid"], shard_id, peer, state)
            return LocalReplica(local)
        assert self.channels is not None, "a remote replica needs cluster mode"
        return RemoteReplica(self.channels, self._peer_address(peer) or "", entry["uuid"],
                             shard_id)

    def _replica_set(self, name: str, entry: dict, shard: dict, config: ShardConfig) -> ReplicaSet:
        states = {int(p): s for p, s in shard["replicas"].items()}
        replicas = {peer: self._replica(entry, shard["shard_id"], peer, config, name, state)
                    for peer, state in states.items()}
        params = entry["config"]["params"]
        return ReplicaSet(
            shard["shard_id"], self.peer_id, replicas, states,
            report_dead=functools.partial(self._report_dead, name, entry["uuid"]),
            write_consistency_factor=params.get("write_consistency_factor", 1),
            shard_key=shard.get("key"),
        )

    def _open(self, name: str, entry: dict) -> None:
        config = entry["config"]
        shard_config = ShardConfig.from_collection(config, entry.get("payload_schema"))
        sets = [self._replica_set(name, entry, shard, shard_config) for shard in entry["shards"]]
        collection = Collection(name, config, sets, entry.get("payload_schema"),
                                ring=entry.get("ring", False), resharding=entry.get("resharding"))
        collection.uuid = entry["uuid"]
        self._collections[name] = collection

    def _update(self, collection: Collection, entry: dict) -> None:
        if collection.config != entry["config"] or \
                collection.payload_schema != (entry.get("payload_schema") or {}):
            collection.set_config(entry["config"], entry.get("payload_schema"))
            for shard in collection.shards:
                shard.write_consistency_factor = \
                    entry["config"]["params"].get("write_consistency_factor", 1)
                if shard.local is not None:
                    shard.local.shard.update_config(collection.shard_config)
            self.optimizer.wake()
        wanted = {meta["shard_id"]: meta for meta in entry["shards"]}
        if set(wanted) != {shard.shard_id for shard in collection.shards}:
            kept = []
            for shard in collection.shards:
                if shard.shard_id in wanted:
                    kept.append(shard)
                else:  # its shard key was dropped
                    for replica in shard.replicas.values():
                        if isinstance(replica, LocalReplica):
                            self.optimizer.unregister(replica.shard)
                    shard.close(drop=True)
            present = {shard.shard_id for shard in kept}
            kept += [self._replica_set(collection.name, entry, meta, collection.shard_config)
                     for sid, meta in wanted.items() if sid not in present]
            collection.set_shards(kept, entry.get("resharding"))
        for shard in collection.shards:
            meta = wanted[shard.shard_id]
            states = {int(p): s for p, s in meta["replicas"].items()}
            for peer in list(shard.replicas):
                if peer not in states:
                    replica = shard.replicas.pop(peer)
                    if isinstance(replica, LocalReplica):
                        self.optimizer.unregister(replica.shard)
                    replica.close(drop=True)
            for peer in states:
                replica = shard.replicas.get(peer)
                if replica is None:
                    shard.replicas[peer] = self._replica(
                        entry, shard.shard_id, peer, collection.shard_config, collection.name,
                        states[peer])
                elif isinstance(replica, RemoteReplica):
                    replica.address = self._peer_address(peer) or ""
            shard.set_states(states)
            self._set_forwarding(shard, entry, collection.name)
        collection.set_resharding(entry.get("resharding"))  # also when the shards stay

    def _set_forwarding(self, shard: ReplicaSet, entry: dict, name: str) -> None:
        """While this peer is the source of a transfer, its replica passes every write it
        applies on to the replica being filled (in the order applied)."""
        local = shard.local
        if local is None or self.duties is None:
            return
        target, transfer = None, None
        for t in entry.get("transfers", []):
            if t["shard_id"] == shard.shard_id and t["from"] == self.peer_id and \
                    t.get("kind") != "points":  # replicate_points writes through the router
                address = self._peer_address(t["to"])
                if address:
                    transfer = t
                    target = RemoteReplica(self.channels, address, entry["uuid"], shard.shard_id)
        current = local.forward_to
        if target is not None and (current is None or target.address != current.address):
            local.set_forward(target, functools.partial(
                self.duties.forwarding_failed, name, entry["uuid"], transfer), peer=transfer["to"])
        elif target is None and current is not None:
            # Peers that have not yet seen the transfer end still leave the target out of
            # their writes: keep forwarding until every peer has caught up.
            self.duties.stop_forwarding_when_synced(local, current)

    def _close(self, name: str, drop: bool) -> None:
        collection = self._collections.pop(name)
        for shard in collection.shards:
            for replica in shard.replicas.values():
                if isinstance(replica, LocalReplica):
                    self.optimizer.unregister(replica.shard)
                replica.close(drop)

    def _on_applied(self, op: dict, result: OpResult) -> None:
        if result.ok:
            self.reconcile()

    def _report_dead(self, name: str, uuid_: str, shard_id: int, peer: int, state: str) -> None:
        """A replica failed a write here: consensus is asked to mark it Dead."""
        if self.duties is not None:
            self.duties.report_dead(name, uuid_, shard_id, peer, state)

    def _propose(self, op: dict) -> OpResult:
        try:
            result = self.consensus.propose(op)
        except ConsensusError as exc:
            raise ServiceError(str(exc)) from exc
        self.reconcile()  # this node's collections follow at once (read-your-writes)
        if self.duties is not None and result.ok:
            self.duties.await_peers_synced(10.0)  # and every peer knows of the change
        return result

    def propose(self, op: dict) -> None:
        """Commit a metadata operation; a refusal is the error its kind names (400/404/...)."""
        _raise_for(self._propose(op))

    def replica_endpoint(self, uuid_: str, shard_id: int, wait: bool = True):
        """For the peer service: the local replica of a shard, or None.

        A peer may address a replica that consensus just placed here before this node has
        applied that change (the source of a transfer forwards writes to its new target at
        once): a missing replica is looked up again for a moment while the metadata catches up
        (not with ``wait=False``: the event loop's lookup, which then serves it blocking).
        """
        endpoint = self._endpoint(uuid_, shard_id)
        deadline = time.monotonic() + ENDPOINT_GRACE_SECONDS
        while endpoint is None and wait and self.cluster_enabled and time.monotonic() < deadline:
            time.sleep(0.02)
            self.reconcile()
            endpoint = self._endpoint(uuid_, shard_id)
        return endpoint

    def _endpoint(self, uuid_: str, shard_id: int):
        with self._lock:
            for collection in self._collections.values():
                shard = collection.shard_by_id(shard_id) if collection.uuid == uuid_ else None
                if shard is not None:
                    return None if shard.local is None else ReplicaEndpoint(shard)
        return None

    def replica_set(self, name: str, uuid_: str, shard_id: int) -> ReplicaSet | None:
        """For the duties: a shard of a collection, if the collection is still this one."""
        with self._lock:
            collection = self._collections.get(name)
            if collection is None or collection.uuid != uuid_:
                return None
            return collection.shard_by_id(shard_id)

    def renew_local_replica(self, shard: ReplicaSet) -> LocalReplica:
        """A Dead replica's data is stale: its copy starts again from an empty shard."""
        with self._lock:
            old = shard.local
            assert old is not None
            path, config = old.shard.path, old.shard.config
            self.optimizer.unregister(old.shard)
            old.close(drop=True)
            fresh = LocalReplica(LocalShard(path, config))
            self.optimizer.register(fresh.shard)
            shard.replicas[self.peer_id] = fresh
            return fresh

    # -- snapshot recovery (router.cluster.snapshot_recovery) ----------------------------------
    def replace_local_shard(self, shard: ReplicaSet, incoming: Path) -> LocalReplica:
        """Swap this peer's copy of a shard for the shard directory ``incoming`` (verified)."""
        with self._lock:
            old = shard.local
            assert old is not None
            path, config = old.shard.path, old.shard.config
            self.optimizer.unregister(old.shard)
            old.close()
            install(path, incoming)
            fresh = LocalReplica(LocalShard(path, config))
            self.optimizer.register(fresh.shard)
            shard.replicas[self.peer_id] = fresh
            return fresh

    @contextlib.contextmanager
    def incoming(self, uuid_: str) -> Iterator[Path]:
        """``collections/<uuid_>``, kept from reconciliation while the block fills it."""
        with self._lock:
            self._incoming.add(uuid_)
        try:
            yield self.collections_path / uuid_
        finally:
            with self._lock:
                self._incoming.discard(uuid_)

    def install_collection(self, name: str, uuid_: str, config: dict, payload_schema: dict,
                           shards: list[dict], ring: bool) -> bool:
        """Replace (or create) collection ``name`` by the one whose shards are already in
        ``collections/<uuid_>``: one metadata operation, so the switch is atomic."""
        validate_collection_name(name)
        _raise_for(self._propose({
            "type": "recover_collection", "name": name, "uuid": uuid_, "config": config,
            "payload_schema": payload_schema, "shards": shards, "peer_id": self.peer_id,
            "ring": ring}))
        return True

    def mark_replicas_dead(self, name: str, uuid_: str, shard_id: int, peers: list[int]) -> None:
        """Replicas of a shard to be refilled from the others, in one metadata operation."""
        _raise_for(self._propose({"type": "mark_replicas_dead", "name": name, "uuid": uuid_,
                                  "shard_id": shard_id, "peer_ids": peers}))

    # -- lookups -----------------------------------------------------------------------------
    def resolve_name(self, name: str) -> str:
        state = self.consensus.state
        if name in state.collections:
            return name
        if name in state.aliases:
            return state.aliases[name]
        raise NotFound(f"Collection `{name}` doesn't exist!")

    def get(self, name: str) -> Collection:
        """The collection, opened here. A cluster peer not caught up yet (just restarted), or
        not done opening it, answers a retryable error: a false 404 makes clients recreate it."""
        with self._lock:
            try:
                real = self.resolve_name(name)
            except NotFound:
                if self.cluster_enabled and not self.consensus.is_synced():
                    raise self._not_loaded(name) from None
                raise
            collection = self._collections.get(real)
            if collection is None:
                if self.cluster_enabled:
                    raise self._not_loaded(name)
                raise NotFound(f"Collection `{name}` doesn't exist!")
            return collection

    @staticmethod
    def _not_loaded(name: str) -> ServiceError:
        return ServiceError(f"Collection `{name}` is not loaded on this peer yet: it is "
                            "catching up with the cluster. Please retry.")

    def list_names(self) -> list[str]:
        return list(self.consensus.state.collections)

    def exists(self, name: str) -> bool:
        try:
            self.resolve_name(name)
            return True
        except NotFound:
            return False

    # -- metadata operations -----------------------------------------------------------------
    def create_collection(self, name: str, body: dict | None, timeout: float = 30.0) -> bool:
        validate_collection_name(name)
        config = collection_config.parse_create(body, self.default_optimizers, self.limits)
        if name in self.consensus.state.collections:
            raise AlreadyExists(f"Collection `{name}` already exists!")
        if name in self.consensus.state.aliases:
            raise WrongInput(
                f"Can't create collection with name {name}. Alias with the same name already exists"
            )
        op = {"type": "create_collection", "name": name, "config": config,
              "uuid": uuid.uuid4().hex, "peer_id": self.peer_id, "ring": True}
        if config["params"].get("sharding_method") == "custom":
            op["placement"] = []  # shards come with their keys
            if self.cluster_enabled and (body or {}).get("shard_number") is None:
                config["params"]["shard_number"] = 1
        elif self.cluster_enabled:
            # new shards go to the peers that are up (a down peer could never activate them)
            peers = self.consensus.live_peers() or [self.peer_id]
            params = config["params"]
            if (body or {}).get("shard_number") is None:
                params["shard_number"] = len(peers)
            op["placement"] = place_shards(
                params["shard_number"], min(params.get("replication_factor", 1), len(peers)),
                peers)
            op["initial_state"] = "Initializing"
        _raise_for(self._propose(op))
        if self.cluster_enabled:
            self._await_active(name, timeout)
            self.duties.await_peers_synced(timeout)  # the Active reports too
        return True

    # -- shard keys (custom sharding) --------------------------------------------------------
    def create_shard_key(self, name: str, body: dict, timeout: float = 30.0) -> bool:
        real = self.resolve_name(name)
        entry = self.consensus.state.collections[real]
        params = entry["config"]["params"]
        request = shard_keys.parse_create(body, self.limits)
        key, initial_state = request.key, request.initial_state
        shards_number = request.shards_number or params.get("shard_number", 1)
        default_rf = 1 if initial_state is not None else params.get("replication_factor", 1)
        replication = request.replication_factor or default_rf
        known = sorted(int(p) for p in self.consensus.state.peers) or [self.peer_id]
        pool = request.placement
        if pool is not None:
            for peer in pool:
                if peer not in known:
                    raise BadRequest(f"Peer {peer} does not exist")
        else:
            pool = (self.consensus.live_peers() if self.cluster_enabled else known) or known
        placement = place_shards(shards_number, min(replication, len(pool)), list(pool))
        state = initial_state or ("Initializing" if self.cluster_enabled else "Active")
        _raise_for(self._propose({"type": "create_shard_key", "name": real, "key": key,
                                  "placement": placement, "initial_state": state}))
        if self.cluster_enabled:
            if initial_state is None:
                self._await_active(real, timeout)
            self.duties.await_peers_synced(timeout)
        return True

    def drop_shard_key(self, name: str, body: dict) -> bool:
        real = self.resolve_name(name)
        key = shard_keys.parse_drop(body)
        _raise_for(self._propose({"type": "drop_shard_key", "name": real, "key": key}))
        if self.cluster_enabled:
            self.duties.await_peers_synced(10.0)
        return True

    def shard_keys(self, name: str) -> dict:
        real = self.resolve_name(name)
        entry = self.consensus.state.collections[real]
        if entry["config"]["params"].get("sharding_method") != "custom":
            return {"shard_keys": None}
        keys: list = []
        for shard in entry["shards"]:
            if not any(same_key(k, shard["key"]) for k in keys):
                keys.append(shard["key"])
        return {"shard_keys": [{"key": k} for k in keys]}

    def _await_active(self, name: str, timeout: float) -> None:
        """Until every replica of the new collection is Active (or the timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.consensus.state.collections.get(name)
            if entry is None or all(
                s == "Active" for shard in entry["shards"] for s in shard["replicas"].values()
            ):
                return
            if self.duties is not None:
                self.duties.wake()
            time.sleep(0.05)
        raise ServiceError(f"Timeout: replicas of collection {name} were not activated in "
                           f"{timeout:g} s")

    def update_collection(self, name: str, body: dict | None) -> bool:
        real = self.resolve_name(name)
        current = self.consensus.state.collections[real]["config"]
        config = collection_config.apply_update(current, body, self.limits)
        _raise_for(self._propose({"type": "update_collection", "name": real, "config": config}))
        return True

    def delete_collection(self, name: str) -> bool:
        try:
            real = self.resolve_name(name)
        except NotFound:
            return False
        result = self._propose({"type": "delete_collection", "name": real})
        _raise_for(result)
        return bool(result.value)

    def create_payload_index(self, name: str, field: str, schema: dict) -> int:
        """Index a payload key on every shard; returns the operation id the write got."""
        real = self.resolve_name(name)
        collection = self.get(real)
        if collection.strict is not None:
            collection.strict.check_new_index(collection.payload_schema, field)
        op = {"type": "create_payload_index", "name": real, "field": field, "schema": schema}
        _raise_for(self._propose(op))
        return self.get(real).next_operation_id()

    def delete_payload_index(self, name: str, field: str) -> int:
        real = self.resolve_name(name)
        op = {"type": "delete_payload_index", "name": real, "field": field}
        _raise_for(self._propose(op))
        return self.get(real).next_operation_id()

    def change_aliases(self, actions: list[dict]) -> bool:
        _raise_for(self._propose({"type": "change_aliases", "actions": actions}))
        return True

    def aliases(self, collection: str | None = None) -> list[dict]:
        items = self.consensus.state.aliases.items()
        if collection is not None:
            real = self.resolve_name(collection)
            items = [(a, c) for a, c in items if c == real]
        return [{"alias_name": a, "collection_name": c} for a, c in sorted(items)]

    # -- cluster status ----------------------------------------------------------------------
    def ready(self) -> bool:
        """/readyz: consensus has a leader and this peer's replicas are all Active."""
        if not self.cluster_enabled:
            return True
        consensus = self.consensus
        if not (consensus.has_leader() and consensus.is_synced()) or \
                str(self.peer_id) not in consensus.state.peers:
            return False
        if self.reconciled_index < consensus.state.applied:
            return False  # the local collections do not reflect the metadata yet
        if self.duties is not None and self.duties.busy_with_own_replicas():
            return False
        me = str(self.peer_id)
        return all(
            shard["replicas"].get(me, "Active") == "Active"
            for entry in self.consensus.state.collections.values()
            for shard in entry["shards"]
        )

    def close(self) -> None:
        self._closed.set()
        if self.duties is not None:
            self.duties.stop()
        with self._lock:
            for name in list(self._collections):
                self._close(name, drop=False)
