"""A peer's part in a resharding (the stages are ``consensus.resharding``'s):

- ``init``: a peer holding a new-ring replica waits until every peer knows the new layout,
  then moves the resharding to ``migrating`` (from then on writes reach both owners);
- ``migrating``: each of its new-ring replicas, once every peer writes to both owners, copies
  in from the old-ring shards the points it gains (read from any Active replica, filtered by
  both rings), keeping what was written to it meanwhile (``LocalReplica.touched``), and says
  ``copied``;
- ``switched`` / ``aborting``: once every peer reads by the ring of that stage, each of its
  replicas of that ring drops the points it does not own under it, and says ``cleaned``.

Every step can be done again: a peer restarted mid-way does its part over from the stage
consensus holds. Nothing here decides a stage; consensus does, from the reports.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from consensus.resharding import read_ids
from router.collection.resharding import ring_condition

log = logging.getLogger(__name__)

#: ids per page when a replica looks for the points it no longer owns
CLEANUP_PAGE = 4096
#: how long a step waits for the peers to take the stage before it goes on regardless
SYNC_SECONDS = 30.0


def _holder(by_id: dict[int, dict], peer: str):
    """Whether ``peer`` holds a live replica of a shard (by id)."""
    def holds(shard_id: int) -> bool:
        return by_id[shard_id]["replicas"].get(peer) not in (None, "Dead")
    return holds


class ReshardingDuty:
    def __init__(self, duties: Any) -> None:
        self.duties = duties
        self.toc = duties.toc
        self._running: set[tuple] = set()
        self._lock = threading.Lock()
        #: uuid -> [points copied here, when the copy began]
        self._copied: dict[str, list] = {}

    def comment(self, uuid_: str | None) -> str | None:
        progress = self._copied.get(uuid_ or "")
        if progress is None:
            return None
        elapsed = time.monotonic() - progress[1]
        return f"peer {self.toc.peer_id} copied {progress[0]} points in {elapsed:.0f}s"

    def tick(self) -> None:
        me = str(self.toc.peer_id)
        for name, entry in list(self.toc.consensus.state.collections.items()):
            resharding = entry.get("resharding")
            if resharding is None:
                continue
            uuid_, stage = entry["uuid"], resharding["stage"]
            by_id = {s["shard_id"]: s for s in entry["shards"]}
            mine = _holder(by_id, me)
            if stage == "init":
                if any(mine(sid) for sid in resharding["new"]):
                    self._spawn((uuid_, stage), self._advance, name, uuid_)
            elif stage == "migrating":
                for sid in resharding["new"]:
                    if mine(sid) and f"{sid}/{me}" not in resharding["copied"]:
                        self._spawn((uuid_, stage, sid), self._copy, name, uuid_, sid,
                                    dict(resharding))
            else:
                for sid in read_ids(resharding):
                    if mine(sid) and f"{sid}/{me}" not in resharding["cleaned"]:
                        self._spawn((uuid_, stage, sid), self._clean, name, uuid_, sid,
                                    dict(resharding))

    def _spawn(self, key: tuple, target, *args) -> None:
        with self._lock:
            if key in self._running:
                return
            self._running.add(key)

        def run() -> None:
            try:
                target(*args)
            except Exception as exc:
                log.warning("resharding step %s failed, will retry: %s", key[1:], exc)
                time.sleep(1.0)
            finally:
                with self._lock:
                    self._running.discard(key)
                self.duties.wake()

        threading.Thread(target=run, name=f"reshard-{key[1]}", daemon=True).start()

    def _stage(self, name: str, uuid_: str) -> str | None:
        entry = self.toc.consensus.state.collections.get(name)
        if entry is None or entry.get("uuid") != uuid_ or entry.get("resharding") is None:
            return None
        return entry["resharding"]["stage"]

    def _propose(self, op: dict) -> None:
        result = self.duties._propose(op)
        if not result.ok:
            log.info("resharding report %s dismissed: %s", op["type"], result.message)
        self.toc.reconcile()

    def _await_peers(self) -> None:
        """Until every peer's collections reflect the stage this peer's consensus holds: this
        node's first (the duty may see a stage before the node reconciled it), then the
        others' applied index (which each reports once its reads of the old stage ended)."""
        self.toc.reconcile()
        self.duties.await_peers_synced(SYNC_SECONDS)

    def _advance(self, name: str, uuid_: str) -> None:
        self._await_peers()  # every peer has the new shard and notes writes into it
        self._propose({"type": "resharding_stage", "name": name, "uuid": uuid_,
                       "from": "init", "to": "migrating"})

    def _copy(self, name: str, uuid_: str, shard_id: int, resharding: dict) -> None:
        """The points ``shard_id`` gains, from every other old-ring shard into its replica
        here; pages stop as soon as the stage moves on (an abort)."""
        self._await_peers()  # every peer now writes to both owners
        target = self.toc.replica_set(name, uuid_, shard_id)
        if target is None or target.local is None:
            raise RuntimeError(f"shard {shard_id} is not set up here yet")
        local = target.local
        progress = self._copied.setdefault(uuid_, [0, time.monotonic()])
        for source_id in resharding["old"]:
            if source_id == shard_id:
                continue
            source = self.toc.replica_set(name, uuid_, source_id)
            if source is None:
                raise RuntimeError(f"shard {source_id} is not known here")
            wanted = {"must": [ring_condition(resharding["old"], source_id),
                               ring_condition(resharding["new"], shard_id)]}
            offset, size = None, 256
            while True:
                if self._stage(name, uuid_) != "migrating":
                    return
                page = source.read(
                    lambda r, w=wanted, o=offset, n=size: r.scroll(w, o, n + 1, True, True))
                local.copy_in(page[:size], durable=False)
                progress[0] += min(len(page), size)
                self.duties._pace([progress[0], 0, progress[1]])  # max_transfer_rate
                if len(page) <= size:
                    break
                offset, size = page[size].id, 1024
        local.sync()
        log.info("resharding %s: shard %s copied in here", name, shard_id)
        self._propose({"type": "resharding_done", "name": name, "uuid": uuid_,
                       "stage": "migrating", "shard_id": shard_id,
                       "peer_id": self.toc.peer_id})

    def _clean(self, name: str, uuid_: str, shard_id: int, resharding: dict) -> None:
        """Drop from this peer's replica of ``shard_id`` the points the ring read now does
        not give it: copies an abort leaves behind, or points that moved away."""
        while any(k[0] == uuid_ and k[1] == "migrating" for k in list(self._running)):
            time.sleep(0.05)  # a copy still finishing its page must not add after us
        self._await_peers()  # no peer writes or reads the other ring now
        shard = self.toc.replica_set(name, uuid_, shard_id)
        if shard is None or shard.local is None:
            raise RuntimeError(f"shard {shard_id} is not set up here")
        local = shard.local
        foreign = {"must_not": [ring_condition(read_ids(resharding), shard_id)]}
        dropped, last = 0, None
        while True:
            ids = [r.id for r in local.scroll(foreign, None, CLEANUP_PAGE, False, False)]
            if not ids:
                break
            if ids == last:
                raise RuntimeError(f"points of shard {shard_id} could not be dropped")
            local.remove_untouched(ids)
            dropped, last = dropped + len(ids), ids
        local.sync()
        self._copied.pop(uuid_, None)
        log.info("resharding %s: %d points dropped from shard %s here", name, dropped, shard_id)
        self._propose({"type": "resharding_done", "name": name, "uuid": uuid_,
                       "stage": resharding["stage"], "shard_id": shard_id,
                       "peer_id": self.toc.peer_id})
