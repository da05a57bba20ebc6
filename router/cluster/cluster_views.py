"""The table of contents' views of the cluster: ``GET /cluster``, peer removal, and one
collection's cluster view with the progress of its transfers. A mixin of
``router.cluster.toc.TableOfContent``, which provides consensus, the peer channels, the duties
and the collections."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from consensus.raft import ConsensusError
from node.errors import BadRequest, NotFound, ServiceError, TesseraError
from router.cluster.resharding_ops import resharding_operations


class ClusterViews:
    """Methods of ``TableOfContent`` (see there for the attributes they use)."""

    consensus: Any
    channels: Any
    duties: Any
    peer_id: int
    #: cluster.resharding_enabled (Qdrant's default: off); set by the server
    resharding_enabled: bool = False

    def cluster_status(self) -> dict:
        """GET /cluster (Qdrant's ClusterStatus)."""
        if not self.cluster_enabled:
            return {"status": "disabled"}
        consensus = self.consensus
        alive = consensus.thread_alive()
        last = datetime.fromtimestamp(consensus.last_update, tz=timezone.utc)
        return {
            "status": "enabled",
            "peer_id": self.peer_id,
            "peers": {p: {"uri": info["uri"]} for p, info in consensus.state.peers.items()},
            "raft_info": consensus.raft_status(),
            "consensus_thread_status": (
                {"consensus_thread_status": "working",
                 "last_update": last.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
                if alive else {"consensus_thread_status": "stopped"}
            ),
            "message_send_failures": {},
        }

    def remove_peer(self, peer_id: int, force: bool = False) -> bool:
        """DELETE /cluster/peer/{peer_id}: out of the peer table, every replica set and Raft."""
        if not self.cluster_enabled:
            raise BadRequest("Distributed mode disabled.")  # Qdrant's text, with its full stop
        info = self.consensus.state.peers.get(str(peer_id))
        if info is None:
            raise NotFound(f"Peer {peer_id} does not exist")
        holds = any(str(peer_id) in shard["replicas"]
                    for entry in self.consensus.state.collections.values()
                    for shard in entry["shards"])
        if holds and not force:
            raise BadRequest(f"Cannot remove peer {peer_id} as there are shards on it")
        self.propose({"type": "remove_peer", "peer_id": peer_id})
        try:
            self.consensus.remove_member(info["raft"])
        except ConsensusError as exc:
            raise ServiceError(str(exc)) from exc
        return True

    def collection_cluster_info(self, name: str) -> dict:
        collection = self.get(name)
        entry = self.consensus.state.collections.get(collection.name, {})
        transfers = [dict(t, comment=self._transfer_comment(entry["uuid"], t))
                     for t in entry.get("transfers", [])]
        info = collection.cluster_info(self.peer_id, transfers)
        comment = None if self.duties is None else \
            self.duties.resharding.comment(entry.get("uuid"))
        running = resharding_operations(entry, comment)
        if running:  # Qdrant leaves the key out while none runs
            info["resharding_operations"] = running
        return info

    def transfer_comment(self, uuid_: str, shard_id: int) -> str | None:
        """The progress of a copy into a replica on this peer (a node call of the peers)."""
        return None if self.duties is None else self.duties.transfer_comment(uuid_, shard_id)

    def _transfer_comment(self, uuid_: str, transfer: dict) -> str | None:
        """The target runs the copy and knows its progress; another peer asks it."""
        if transfer["to"] == self.peer_id:
            return self.transfer_comment(uuid_, transfer["shard_id"])
        address = self._peer_address(transfer["to"])
        if not address or self.channels is None:
            return None
        try:
            return self.channels.call(address, "", 0, "transfer_comment", uuid_,
                                      transfer["shard_id"], timeout=1.0)
        except TesseraError:
            return None

    def recover_current_peer(self) -> bool:
        """POST /cluster/recover: bring this peer's copy of the metadata up to the cluster's.
        A barrier goes through Raft; once it is applied here, so is everything committed
        before it (the leader sends a snapshot of the state when its log no longer reaches
        back), and the local collections and replicas are reconciled with that state."""
        if not self.cluster_enabled:
            raise BadRequest("Distributed mode disabled: this node runs in standalone mode")
        self.propose({"type": "sync"})
        return True

    def drain_peer(self, peer_id: int, draining: bool = True) -> bool:
        """POST /cluster/peer/{id}/drain (DELETE: cancel): the leader moves every replica
        off the peer, which can then be removed without ``force``."""
        if not self.cluster_enabled:
            raise BadRequest("Distributed mode disabled: this node runs in standalone mode")
        self.propose({"type": "drain_peer", "peer_id": peer_id, "draining": draining})
        return True

    def rebalance_plan(self) -> dict:
        """GET /cluster/rebalance: the steps the leader would take, as this peer sees the
        cluster now (nothing is done)."""
        if not self.cluster_enabled or self.duties is None:
            raise BadRequest("Distributed mode disabled: this node runs in standalone mode")
        steps = self.duties.rebalance.current_plan()
        return {"enabled": self.rebalance_policy.enabled,
                "steps": [step.document() for step in steps]}

    # -- cluster metadata keys (GET / PUT / DELETE /cluster/metadata/keys/{key}) ---------------
    def _metadata_store(self) -> dict:
        if not self.cluster_enabled:
            raise BadRequest("Distributed mode disabled: this node runs in standalone mode")
        return self.consensus.state.cluster_metadata

    def metadata_keys(self) -> list[str]:
        return sorted(self._metadata_store())

    def metadata_value(self, key: str) -> Any:
        """The value of a key; null when it is not set."""
        return self._metadata_store().get(key)

    def set_metadata(self, key: str, value: Any) -> bool:
        self._metadata_store()
        self.propose({"type": "set_cluster_metadata", "key": key, "value": value})
        return True

    def delete_metadata(self, key: str) -> bool:
        self._metadata_store()
        self.propose({"type": "set_cluster_metadata", "key": key})
        return True
