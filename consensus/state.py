"""The replicated metadata state machine: collections, shard placement, aliases.

Every operation is deterministic and never raises: it returns a short result (True, or an error
kind with a message) so that every replica of the log reaches the same state whatever happens.
Point data never passes through here. The same machine runs under a one-node log (single node)
and, later, under Raft.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass
class OpResult:
    ok: bool
    error_kind: str | None = None  # "not_found" | "already_exists" | "bad_request"
    message: str | None = None
    value: Any = None


@dataclass
class MetadataState:
    collections: dict[str, dict] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    applied: int = 0

    # -- serialization -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "collections": self.collections,
            "aliases": self.aliases,
            "applied": self.applied,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "MetadataState":
        return cls(
            collections=data.get("collections", {}),
            aliases=data.get("aliases", {}),
            applied=data.get("applied", 0),
        )

    # -- apply -------------------------------------------------------------------------------
    def apply(self, op: dict) -> OpResult:
        handler = getattr(self, "_op_" + op["type"], None)
        if handler is None:
            return OpResult(False, "bad_request", f"unknown metadata operation {op['type']}")
        result = handler(op)
        self.applied += 1
        return result

    def _op_create_collection(self, op: dict) -> OpResult:
        name = op["name"]
        if name in self.collections:
            return OpResult(False, "already_exists", f"Collection `{name}` already exists!")
        if name in self.aliases:
            return OpResult(
                False,
                "wrong_input",
                f"Can't create collection with name {name}. Alias with the same name already exists",
            )
        shard_number = op["config"]["params"].get("shard_number", 1)
        peers = op.get("peers") or [op.get("peer_id", 0)]
        shards = [
            {"shard_id": i, "replicas": {str(peers[i % len(peers)]): "Active"}}
            for i in range(shard_number)
        ]
        self.collections[name] = {
            "config": copy.deepcopy(op["config"]),
            "shards": shards,
            "uuid": op.get("uuid"),
        }
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
