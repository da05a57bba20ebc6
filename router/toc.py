"""The table of contents: which collections exist and where their shards are.

Metadata operations (create, update, delete collection; aliases) are proposed to consensus and
take effect when applied; this module reconciles the local shards with the applied metadata
(opening, creating and dropping them) and resolves names and aliases for everything else.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import uuid
from pathlib import Path

from consensus.local import LocalConsensus
from consensus.state import OpResult
from node.errors import AlreadyExists, BadRequest, NotFound, ValidationFailed, WrongInput
from node.optimizer import Optimizer
from node.shard import LocalShard
from node.shard_config import ShardConfig
from router import collection_config
from router.collection import Collection
from router.replica_set import LocalReplica, ReplicaSet

log = logging.getLogger(__name__)

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


class TableOfContent:
    def __init__(self, storage_path: Path, consensus: LocalConsensus, optimizer: Optimizer) -> None:
        self.storage_path = storage_path
        self.collections_path = storage_path / "collections"
        self.collections_path.mkdir(parents=True, exist_ok=True)
        self.consensus = consensus
        self.optimizer = optimizer
        self.peer_id = consensus.peer_id
        self._collections: dict[str, Collection] = {}
        self._lock = threading.RLock()
        consensus.subscribe(self._on_applied)
        self._reconcile()

    # -- reconciliation with metadata --------------------------------------------------------
    def _reconcile(self) -> None:
        with self._lock:
            wanted = self.consensus.state.collections
            for name in list(self._collections):
                if name not in wanted:
                    self._close(name, drop=True)
            for name, entry in wanted.items():
                if name not in self._collections:
                    self._open(name, entry)
            known = {entry["uuid"] for entry in wanted.values()}
            for path in self.collections_path.iterdir():
                if path.name not in known:
                    shutil.rmtree(path, ignore_errors=True)

    def _open(self, name: str, entry: dict) -> None:
        config = entry["config"]
        shard_config = ShardConfig.from_collection(config, entry.get("payload_schema"))
        base = self.collections_path / entry["uuid"]
        sets = []
        for shard in entry["shards"]:
            local = LocalShard(base / str(shard["shard_id"]), shard_config)
            self.optimizer.register(local)
            sets.append(ReplicaSet(shard["shard_id"], [LocalReplica(local)]))
        self._collections[name] = Collection(name, config, sets, entry.get("payload_schema"))

    def _close(self, name: str, drop: bool) -> None:
        collection = self._collections.pop(name)
        for shard in collection.shards:
            for replica in shard.replicas:
                if isinstance(replica, LocalReplica):
                    self.optimizer.unregister(replica.shard)
                    replica.close(drop)

    def _on_applied(self, op: dict, result: OpResult) -> None:
        if not result.ok:
            return
        with self._lock:
            if op["type"] in ("update_collection", "create_payload_index", "delete_payload_index"):
                collection = self._collections.get(op["name"])
                if collection is not None:
                    entry = self.consensus.state.collections[op["name"]]
                    collection.set_config(entry["config"], entry.get("payload_schema"))
                    for shard in collection.shards:
                        for replica in shard.replicas:
                            if isinstance(replica, LocalReplica):
                                replica.shard.update_config(collection.shard_config)
                    self.optimizer.wake()
            else:
                self._reconcile()

    # -- lookups -----------------------------------------------------------------------------
    def resolve_name(self, name: str) -> str:
        state = self.consensus.state
        if name in state.collections:
            return name
        if name in state.aliases:
            return state.aliases[name]
        raise NotFound(f"Collection `{name}` doesn't exist!")

    def get(self, name: str) -> Collection:
        with self._lock:
            real = self.resolve_name(name)
            collection = self._collections.get(real)
            if collection is None:
                raise NotFound(f"Collection `{name}` doesn't exist!")
            return collection

    def list_names(self) -> list[str]:
        return list(self.consensus.state.collections)

    def exists(self, name: str) -> bool:
        try:
            self.resolve_name(name)
            return True
        except NotFound:
            return False

    # -- metadata operations -----------------------------------------------------------------
    def create_collection(self, name: str, body: dict | None) -> bool:
        validate_collection_name(name)
        config = collection_config.parse_create(body)
        if name in self.consensus.state.collections:
            raise AlreadyExists(f"Collection `{name}` already exists!")
        if name in self.consensus.state.aliases:
            raise WrongInput(
                f"Can't create collection with name {name}. Alias with the same name already exists"
            )
        result = self.consensus.propose(
            {
                "type": "create_collection",
                "name": name,
                "config": config,
                "uuid": uuid.uuid4().hex,
                "peer_id": self.peer_id,
            }
        )
        _raise_for(result)
        return True

    def update_collection(self, name: str, body: dict | None) -> bool:
        real = self.resolve_name(name)
        config = collection_config.apply_update(self.consensus.state.collections[real]["config"], body)
        _raise_for(self.consensus.propose({"type": "update_collection", "name": real, "config": config}))
        return True

    def delete_collection(self, name: str) -> bool:
        try:
            real = self.resolve_name(name)
        except NotFound:
            return False
        result = self.consensus.propose({"type": "delete_collection", "name": real})
        _raise_for(result)
        return bool(result.value)

    def create_payload_index(self, name: str, field: str, schema: dict) -> int:
        """Index a payload key on every shard; returns the operation id the write got."""
        real = self.resolve_name(name)
        op = {"type": "create_payload_index", "name": real, "field": field, "schema": schema}
        _raise_for(self.consensus.propose(op))
        return self.get(real).next_operation_id()

    def delete_payload_index(self, name: str, field: str) -> int:
        real = self.resolve_name(name)
        op = {"type": "delete_payload_index", "name": real, "field": field}
        _raise_for(self.consensus.propose(op))
        return self.get(real).next_operation_id()

    def change_aliases(self, actions: list[dict]) -> bool:
        _raise_for(self.consensus.propose({"type": "change_aliases", "actions": actions}))
        return True

    def aliases(self, collection: str | None = None) -> list[dict]:
        items = self.consensus.state.aliases.items()
        if collection is not None:
            real = self.resolve_name(collection)
            items = [(a, c) for a, c in items if c == real]
        return [{"alias_name": a, "collection_name": c} for a, c in sorted(items)]

    def close(self) -> None:
        with self._lock:
            for name in list(self._collections):
                self._close(name, drop=False)
