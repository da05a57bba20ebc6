"""Where a collection's replicas live, as one node reports it (``GET
/collections/{name}/cluster``: its own shards with point counts, the others' with peer and
state, transfers with Qdrant's progress comment), plus the peers of ``GET /cluster``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tessera.cli.client import Api

_PROGRESS = re.compile(r"\((\d+)\s*/\s*(\d+)\)")


@dataclass
class Replica:
    peer_id: int
    state: str
    points_count: int | None = None  # known only for the answering peer's own replicas


@dataclass
class Shard:
    shard_id: int
    shard_key: object = None
    replicas: list[Replica] = field(default_factory=list)

    def peers(self) -> set[int]:
        return {r.peer_id for r in self.replicas}

    def active(self) -> int:
        return sum(r.state == "Active" for r in self.replicas)

    def state_on(self, peer_id: int) -> str | None:
        return next((r.state for r in self.replicas if r.peer_id == peer_id), None)


@dataclass
class Transfer:
    shard_id: int
    source: int
    target: int
    method: str | None
    sync: bool
    comment: str | None

    def progress(self) -> tuple[int, int] | None:
        """(records copied, records to copy) read from the comment, when it says."""
        found = _PROGRESS.search(self.comment or "")
        return (int(found.group(1)), int(found.group(2))) if found else None

    def document(self) -> dict:
        done = self.progress()
        return {"shard_id": self.shard_id, "from": self.source, "to": self.target,
                "method": self.method, "sync": self.sync, "comment": self.comment,
                "done": done[0] if done else None, "total": done[1] if done else None}


@dataclass
class Layout:
    collection: str
    shards: list[Shard]
    transfers: list[Transfer]

    def shard(self, shard_id: int) -> Shard | None:
        return next((s for s in self.shards if s.shard_id == shard_id), None)

    def transfer(self, shard_id: int, source: int, target: int) -> Transfer | None:
        return next((t for t in self.transfers if (t.shard_id, t.source, t.target)
                     == (shard_id, source, target)), None)

    def counts(self, peers: list[int]) -> dict[int, int]:
        """Replicas per peer (every known peer listed, with 0 when it holds none)."""
        counts = dict.fromkeys(peers, 0)
        for shard in self.shards:
            for replica in shard.replicas:
                counts[replica.peer_id] = counts.get(replica.peer_id, 0) + 1
        return counts


def layout(api: Api, collection: str) -> Layout:
    info = api.get(f"/collections/{collection}/cluster")
    shards: dict[int, Shard] = {}
    for local in info.get("local_shards", []):
        shard = shards.setdefault(local["shard_id"],
                                  Shard(local["shard_id"], local.get("shard_key")))
        shard.replicas.append(Replica(info["peer_id"], local["state"], local.get("points_count")))
    for remote in info.get("remote_shards", []):
        shard = shards.setdefault(remote["shard_id"],
                                  Shard(remote["shard_id"], remote.get("shard_key")))
        shard.replicas.append(Replica(remote["peer_id"], remote["state"]))
    for shard in shards.values():
        shard.replicas.sort(key=lambda r: r.peer_id)
    transfers = [Transfer(t["shard_id"], t["from"], t["to"], t.get("method"),
                          bool(t.get("sync")), t.get("comment"))
                 for t in info.get("shard_transfers", [])]
    return Layout(collection, [shards[k] for k in sorted(shards)], transfers)


def peer_ids(api: Api) -> list[int]:
    """Every peer of the cluster (one, the node itself, when it runs standalone)."""
    status = api.get("/cluster")
    if status.get("status") != "enabled":
        return [0]
    return sorted(int(p) for p in status.get("peers", {}))


def collection_names(api: Api) -> list[str]:
    return sorted(c["name"] for c in api.get("/collections")["collections"])
