"""What consensus asks of this peer, done outside Raft (../shared/spec/distributed.md §1.4, §1.7).

A duty thread looks at this peer's replicas in the applied metadata and acts:
- ``Initializing`` → the local shard exists: report it Active;
- ``Dead`` → recover: start a transfer (the replica turns ``Partial``, so live writes reach it)
  from a healthy Active replica; a copy that kept its points (its node was down a while)
  fetches only the points whose versions differ and drops those the source no longer has
  (``wal_delta``), an empty one streams every point; finish (``Active``);
- ``Partial`` with no copy running here (a restart interrupted it) → abort, so it recovers anew;
- a ``replicate_points`` transfer into a shard held here → copy the points through the
  collection (``router.cluster.replicate_points``), then finish it;
- replicas that failed a write here are reported Dead, retried until consensus answers.
Placement of new shards is ``router.cluster.placement``'s.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from node.errors import TesseraError
from router.cluster import replicate_points
from router.cluster.rebalance_duty import RebalanceDuty
from router.cluster.resharding_duty import ReshardingDuty
from router.cluster.snapshot_transfer import install_from_peer
from router.collection.remote_replica import PeerChannels
from router.collection.replica_set import LocalReplica, ReplicaSet

log = logging.getLogger(__name__)

#: Seconds without a Raft connection to a transfer's target before its source aborts it.
LOST_TARGET_SECONDS = 2.0

#: Transfers an operator asks for (POST /collections/{name}/cluster); ``recovery`` is ours.
OPERATOR_KINDS = ("replicate", "move")

#: Points per page of a shard transfer: at most this many, and about this many bytes (a page
#: is one peer call, whose messages are capped at 64 MB).
TRANSFER_BATCH = 2048
#: The peer calls of a copy (``PeerChannels.received_bytes`` keys): what it costs the network.
COPY_CALLS = ("info", "versions", "retrieve", "scroll", "snapshot")
TRANSFER_PAGE_BYTES = 8 * 1024 * 1024


def page_size(sample) -> int:
    """Points per page for records like ``sample`` (vectors of 4-byte floats)."""
    floats = 0
    for vector in (sample.vectors or {}).values():
        if isinstance(vector, dict):  # sparse: an index and a value per entry
            floats += 2 * len(vector.get("values", ()))
        else:  # dense (a list or an array) or multi-vector (a list of them)
            floats += int(np.asarray(vector).size)
    return max(1, min(TRANSFER_BATCH, TRANSFER_PAGE_BYTES // (4 * floats + 256)))


class DutiesHost(Protocol):
    """What the duties need of the table of contents (``router.cluster.toc.TableOfContent``):
    this peer, consensus, the peer channels, and a way to find and renew local replicas."""

    peer_id: int
    consensus: Any
    channels: PeerChannels | None
    reconciled_index: int
    transfer_limits: tuple[int, int]  # automatic transfers at once: (incoming, outgoing)
    transfer_rate: int  # points per second of one copy (0: unlimited)
    storage_path: Any

    def reconcile(self) -> None: ...

    def replica_set(self, name: str, uuid_: str, shard_id: int) -> ReplicaSet | None: ...

    def renew_local_replica(self, shard: ReplicaSet) -> LocalReplica: ...

    def get(self, name: str) -> Any: ...


class ClusterDuties:
    def __init__(self, toc: DutiesHost) -> None:
        self.toc = toc
        self.peer_id = toc.peer_id
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._dead_reports: dict[tuple, str] = {}  # (name, uuid, shard, peer) -> from_state
        self._reports_lock = threading.Lock()
        self._recovering: set[tuple] = set()  # (uuid, shard id) or (uuid, "points-<tid>")
        self._recoveries: set[tuple[str, int]] = set()  # the automatic ones among them
        self._activating: set[tuple[str, int]] = set()
        self._before_start: set[tuple] | None = None
        self._target_lost: dict[tuple, float] = {}  # transfers from here whose target is gone
        #: (collection uuid, shard id) of each copy running here -> [copied, total, started]
        self.progress: dict[tuple[str, int], list] = {}
        #: the leader's rebalancing and repair (router.cluster.rebalance_duty)
        self.rebalance = RebalanceDuty(toc, toc.rebalance_policy)
        #: this peer's part in a resharding (router.cluster.resharding_duty)
        self.resharding = ReshardingDuty(self)
        self._thread = threading.Thread(target=self._loop, name="cluster-duties", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def busy_with_own_replicas(self) -> bool:
        """This peer knows one of its replicas needs refilling (reported, or being refilled)."""
        with self._reports_lock:
            reporting = any(peer == self.peer_id for (_, _, _, peer) in self._dead_reports)
        return reporting or bool(self._recovering)

    def report_dead(self, name: str, uuid_: str, shard_id: int, peer: int, state: str) -> None:
        with self._reports_lock:
            self._dead_reports[(name, uuid_, shard_id, peer)] = state
        self.wake()

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            if not self.toc.consensus.is_synced():
                continue  # the state is still replaying: act on the present, not the past
            try:
                self._send_dead_reports()
                self._tend_local_replicas()
                self.resharding.tick()
                self.rebalance.tick()
            except Exception:
                log.exception("cluster duties failed; retrying")
                time.sleep(0.5)

    def _propose(self, op: dict):
        return self.toc.consensus.propose(op, timeout=5.0)

    def _send_dead_reports(self) -> None:
        with self._reports_lock:
            reports = dict(self._dead_reports)
        for (name, uuid_, shard_id, peer), state in reports.items():
            try:
                result = self._propose({
                    "type": "set_replica_state", "name": name, "uuid": uuid_,
                    "shard_id": shard_id, "peer_id": peer, "state": "Dead",
                    "from_state": state,
                })
            except Exception as exc:
                log.info("reporting replica %s of %s/%s dead: %s", peer, name, shard_id, exc)
                continue
            log.info("replica %s of %s/%s reported Dead: %s", peer, name, shard_id,
                     result.message or "ok")
            with self._reports_lock:
                self._dead_reports.pop((name, uuid_, shard_id, peer), None)
        if reports:
            self.toc.reconcile()

    def _tend_local_replicas(self) -> None:
        state = self.toc.consensus.state
        me = str(self.peer_id)
        if self._before_start is None:  # transfers to here that a previous process ran
            self._before_start = {
                (entry["uuid"], t["shard_id"], t["from"])
                for entry in state.collections.values() for t in entry.get("transfers", [])
                if str(t["to"]) == me}
        self._abort_transfers_to_lost_peers(state)
        for name, entry in state.collections.items():
            transfers = entry.get("transfers", [])
            for t in transfers:
                running = (entry["uuid"], f"points-{t.get('tid')}")
                if t.get("kind") == "points" and str(t["to"]) == me and \
                        running not in self._recovering:
                    self._recovering.add(running)
                    threading.Thread(target=self._replicate_points, args=(
                        name, entry["uuid"], t, running), name="replicate-points",
                        daemon=True).start()
            for shard in entry["shards"]:
                replica_state = shard["replicas"].get(me)
                key = (entry["uuid"], shard["shard_id"])
                if replica_state == "Initializing" and key not in self._activating:
                    self._activating.add(key)
                    threading.Thread(target=self._activate, args=(name, entry["uuid"],
                                     shard["shard_id"]), daemon=True).start()
                elif replica_state == "Dead" and key not in self._recovering:
                    if self._incoming_recoveries(state) >= self.toc.transfer_limits[0]:
                        continue  # one at a time (storage.performance limits): later
                    self._recovering.add(key)
                    self._recoveries.add(key)
                    threading.Thread(target=self._recover, args=(name, entry["uuid"],
                                     shard["shard_id"]), name=f"recover-{shard['shard_id']}",
                                     daemon=True).start()
                elif replica_state == "Partial" and key not in self._recovering:
                    for t in transfers:
                        if t["shard_id"] != shard["shard_id"] or str(t["to"]) != me:
                            continue
                        mark = (entry["uuid"], t["shard_id"], t["from"])
                        if t.get("kind") in OPERATOR_KINDS and mark not in self._before_start:
                            self._recovering.add(key)
                            threading.Thread(target=self._pull, args=(name, entry["uuid"], t),
                                             name=f"pull-{t['shard_id']}", daemon=True).start()
                        else:  # a copy this process did not start (a restart cut it off)
                            self._abort(name, entry["uuid"], t)

    def _incoming_recoveries(self, state) -> int:
        """Recoveries running into this peer: the ones consensus lists, and any this peer
        has begun but consensus does not list yet."""
        listed = {(entry["uuid"], t["shard_id"]) for entry in state.collections.values()
                  for t in entry.get("transfers", [])
                  if t["to"] == self.peer_id and t.get("kind", "recovery") == "recovery"}
        return len(listed | self._recoveries)

    @staticmethod
    def _outgoing_recoveries(state) -> dict[int, int]:
        counts: dict[int, int] = {}
        for entry in state.collections.values():
            for t in entry.get("transfers", []):
                if t.get("kind", "recovery") == "recovery":
                    counts[t["from"]] = counts.get(t["from"], 0) + 1
        return counts

    def _abort_transfers_to_lost_peers(self, state) -> None:
        """A transfer from here whose target is gone (no Raft connection for a while) is
        aborted: nothing else would notice while no write is forwarded to it."""
        live = set(self.toc.consensus.live_peers())
        now = time.monotonic()
        running = set()
        for name, entry in state.collections.items():
            for t in entry.get("transfers", []):
                if t["from"] != self.peer_id:
                    continue
                mark = (entry["uuid"], t["shard_id"], t["to"])
                running.add(mark)
                if t["to"] in live:
                    self._target_lost.pop(mark, None)
                elif now - self._target_lost.setdefault(mark, now) > LOST_TARGET_SECONDS:
                    log.warning("aborting transfer of %s/%s: peer %s is unreachable", name,
                                t["shard_id"], t["to"])
                    self._target_lost.pop(mark, None)
                    self._abort(name, entry["uuid"], t)
        for mark in set(self._target_lost) - running:
            del self._target_lost[mark]

    # -- duties ------------------------------------------------------------------------------
    def _activate(self, name: str, uuid_: str, shard_id: int) -> None:
        try:
            self._propose({"type": "set_replica_state", "name": name, "uuid": uuid_,
                           "shard_id": shard_id, "peer_id": self.peer_id, "state": "Active",
                           "from_state": "Initializing"})
            self.toc.reconcile()
        except Exception as exc:
            log.info("activating %s/%s: %s", name, shard_id, exc)
        finally:
            self._activating.discard((uuid_, shard_id))

    def _abort(self, name: str, uuid_: str, transfer: dict) -> None:
        try:
            self._propose({"type": "abort_transfer", "name": name, "uuid": uuid_,
                           "shard_id": transfer["shard_id"], "to": transfer["to"]})
            self.toc.reconcile()
        except Exception as exc:
            log.info("aborting transfer of %s/%s: %s", name, transfer["shard_id"], exc)

    def _recover(self, name: str, uuid_: str, shard_id: int) -> None:
        """Refill this peer's Dead replica from an Active one (the points that differ, or a
        stream of all records when it has none)."""
        key = (uuid_, shard_id)
        try:
            self._recover_once(name, uuid_, shard_id)
        except Exception as exc:
            log.warning("recovery of %s/%s failed, will retry: %s", name, shard_id, exc)
            time.sleep(1.0)
        finally:
            self._recoveries.discard(key)
            self._recovering.discard(key)
            self.progress.pop(key, None)
            self.wake()

    def _recover_once(self, name: str, uuid_: str, shard_id: int) -> None:
        shard = self.toc.replica_set(name, uuid_, shard_id)
        if shard is None or shard.local is None:
            return
        source_peer = None
        outgoing = self._outgoing_recoveries(self.toc.consensus.state)
        for peer, state in sorted(shard.states.items()):
            if peer == self.peer_id or state != "Active":
                continue
            if outgoing.get(peer, 0) >= self.toc.transfer_limits[1]:
                continue  # that peer sends enough already
            try:
                shard.replicas[peer].info()  # health check
            except TesseraError:
                continue
            source_peer = peer
            break
        if source_peer is None:
            log.info("no healthy Active replica to recover %s/%s from yet", name, shard_id)
            time.sleep(1.0)
            return
        # A replica that kept its points (its node was down a while) fetches only what
        # differs from the source's; an empty one copies everything.
        delta = shard.local.info()["points_count"] > 0
        local = shard.local if delta else self.toc.renew_local_replica(shard)
        local.touched = set()
        try:
            result = self._propose({"type": "start_transfer", "name": name, "uuid": uuid_,
                                    "shard_id": shard_id, "from": source_peer,
                                    "to": self.peer_id,
                                    "method": "wal_delta" if delta else "stream_records"})
            if not result.ok:
                log.info("transfer of %s/%s not started: %s", name, shard_id, result.message)
                return
            self.toc.reconcile()
            self.await_peers_synced(10.0)
            source = shard.replicas[source_peer]
            key, received = (uuid_, shard_id), self._received()
            copied = self._delta(source, local, key) if delta else self._copy(source, local, key)
            local.sync()  # the copy is durable before the replica may count as Active
            self._propose({"type": "finish_transfer", "name": name, "uuid": uuid_,
                           "shard_id": shard_id, "to": self.peer_id})
            log.info("recovered %s/%s from peer %s by %s: %d points, %d bytes received", name,
                     shard_id, source_peer, "wal_delta" if delta else "stream_records", copied,
                     self._received() - received)
        except Exception:
            try:
                self._propose({"type": "abort_transfer", "name": name, "uuid": uuid_,
                               "shard_id": shard_id, "to": self.peer_id})
            except Exception:
                pass
            raise
        finally:
            local.touched = None
            self.toc.reconcile()

    def _copy(self, source, local: LocalReplica, key: tuple[str, int]) -> int:
        """Every point of ``source`` into ``local``, page by page; the points written into
        ``local`` meanwhile (forwarded by the source) are kept. The next page is fetched while
        this one is written (the two peers work at once)."""
        copied, size = 0, 16  # the first page is small: it sizes the rest
        progress = self._track(key, source.info()["points_count"])
        with ThreadPoolExecutor(1, thread_name_prefix="transfer-page") as pages:
            pending = pages.submit(source.scroll, None, None, size + 1, True, True)
            while pending is not None:
                page = pending.result()
                pending = None
                if len(page) > size:
                    following = page_size(page[0])
                    pending = pages.submit(source.scroll, None, page[size].id, following + 1,
                                           True, True)
                local.copy_in(page[:size], durable=False)
                copied += min(len(page), size)
                progress[0] = copied
                self._pace(progress)
                if pending is not None:
                    size = following
        return copied

    def _received(self) -> int:
        """Bytes of the answers to the calls a copy makes, received from any peer so far (a
        copy's cost is the difference; reads this node sends meanwhile count too)."""
        received = self.toc.channels.received_bytes
        return sum(received[method] for method in COPY_CALLS)

    def _track(self, key: tuple[str, int], total: int) -> list:
        progress = self.progress[key] = [0, total, time.monotonic()]
        return progress

    def _pace(self, progress: list) -> None:
        """Hold a copy to ``storage.performance.max_transfer_rate`` points per second (0: as
        fast as it goes), so that foreground traffic keeps its share of the node."""
        rate = self.toc.transfer_rate
        if rate:
            ahead = progress[2] + progress[0] / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def transfer_comment(self, uuid_: str, shard_id: int) -> str | None:
        """Qdrant's progress comment of a copy running here, e.g. ``Transferring records
        (1500/6000), started 3s ago, ETA: 9.00s``."""
        progress = self.progress.get((uuid_, shard_id))
        if progress is None:
            return None
        copied, total, started = progress
        elapsed = time.monotonic() - started
        comment = f"Transferring records ({copied}/{total}), started {elapsed:.0f}s ago"
        if 0 < copied < total:
            comment += f", ETA: {elapsed * (total - copied) / copied:.2f}s"
        return comment

    def _delta(self, source, local: LocalReplica, key: tuple[str, int]) -> int:
        """Bring a stale ``local`` up to date: fetch the points whose versions differ from the
        source's (or that it lacks), drop those the source no longer has. Tessera's
        ``wal_delta``: not a replay of the source's WAL (which is truncated at every flush)
        but of what differs; points written here meanwhile (forwarded) are left as they are."""
        source_ids, source_versions = source.versions()
        mine = dict(zip(*local.versions(), strict=True))
        wanted = [pid for pid, version in zip(source_ids, source_versions, strict=True)
                  if mine.get(pid) != version]
        present = set(source_ids)
        local.remove_untouched([pid for pid in mine if pid not in present])
        size, start = 16, 0  # the first page is small: it sizes the rest
        progress = self._track(key, len(wanted))
        with ThreadPoolExecutor(1, thread_name_prefix="transfer-page") as pages:
            pending = pages.submit(source.retrieve, wanted[:size], True, True) if wanted else None
            while pending is not None:  # the next page is fetched while this one is written
                page = pending.result()
                start += size
                if page:
                    size = page_size(page[0])
                pending = pages.submit(source.retrieve, wanted[start:start + size], True, True) \
                    if start < len(wanted) else None
                local.copy_in(page, durable=False)
                progress[0] = min(start, len(wanted))
                self._pace(progress)
        log.info("delta: %d of %d points fetched, %d removed", len(wanted), len(source_ids),
                 len(mine) - len(present & mine.keys()))
        return len(wanted)

    def _pull(self, name: str, uuid_: str, transfer: dict) -> None:
        """The target's side of an operator's transfer (replicate_shard, move_shard): the
        Partial replica consensus added here is filled from the source, then finished."""
        shard_id, key = transfer["shard_id"], (uuid_, transfer["shard_id"])
        ends = {"name": name, "uuid": uuid_, "shard_id": shard_id,
                "from": transfer["from"], "to": self.peer_id, "tid": transfer.get("tid")}
        shard = self.toc.replica_set(name, uuid_, shard_id)
        try:
            source = shard.replicas.get(transfer["from"]) if shard is not None else None
            if shard is None or shard.local is None or source is None:
                raise TesseraError(f"shard {shard_id} is not set up here yet")
            self.await_peers_synced(10.0)  # every coordinator leaves the target to the source
            method, received = transfer.get("method", "stream_records"), self._received()
            if method == "snapshot":  # the source's snapshot, then what changed since its cut
                local = install_from_peer(self.toc, shard, source, uuid_)
                local.touched = set()
                copied = self._delta(source, local, key)
            elif method == "wal_delta":  # what differs from what this peer holds
                local = shard.local
                local.touched = set()
                copied = self._delta(source, local, key)
            else:
                # A replica that was here already starts empty (points deleted meanwhile at
                # the source would stay otherwise). Writes forwarded before the first page is
                # read are in the pages; those after are kept over older pages (``touched``).
                local = shard.local if transfer.get("fresh") else \
                    self.toc.renew_local_replica(shard)
                local.touched = set()
                copied = self._copy(source, local, key)
            local.sync()
            self._propose({"type": "finish_transfer", **ends})
            if transfer.get("kind") == "move":
                # only once no peer still sends this shard's writes to the source alone
                self.await_peers_synced(10.0)
                self._propose({"type": "drop_replica", "name": name, "uuid": uuid_,
                               "shard_id": shard_id, "peer_id": transfer["from"]})
            log.info("%s of %s/%s from peer %s by %s done: %d points, %d bytes received",
                     transfer.get("kind"), name, shard_id, transfer["from"], method, copied,
                     self._received() - received)
        except Exception as exc:
            log.warning("%s of %s/%s failed: %s", transfer.get("kind"), name, shard_id, exc,
                        exc_info=True)
            try:
                self._propose({"type": "abort_transfer", **ends})
            except Exception:
                pass
        finally:
            if shard is not None and shard.local is not None:
                shard.local.touched = None
            self._recovering.discard(key)
            self.progress.pop(key, None)
            self.toc.reconcile()
            self.wake()

    def _replicate_points(self, name: str, uuid_: str, transfer: dict, running: tuple) -> None:
        """The copy of a ``replicate_points`` transfer, by the peer holding its target shard
        (``router.cluster.replicate_points``); a failure aborts it (what was copied stays)."""
        ends = {"name": name, "uuid": uuid_, "shard_id": transfer["shard_id"],
                "from": transfer["from"], "to": self.peer_id, "tid": transfer.get("tid")}
        key = (uuid_, transfer["shard_id"])

        def pace(progress: list) -> None:  # and stop once the transfer is aborted
            self._pace(progress)
            entry = self.toc.consensus.state.collections.get(name, {})
            if not any(t.get("tid") == transfer.get("tid") and t.get("kind") == "points"
                       for t in entry.get("transfers", [])):
                raise TesseraError("the transfer was aborted")

        try:
            copied = replicate_points.copy(self.toc.get(name), transfer,
                                           self._track(key, 0), pace)
            self._propose({"type": "finish_transfer", **ends})
            log.info("replicate_points of %s: %d points from shard %s into shard %s", name,
                     copied, transfer["shard_id"], transfer["to_shard_id"])
        except Exception as exc:
            log.warning("replicate_points of %s failed: %s", name, exc, exc_info=True)
            try:
                self._propose({"type": "abort_transfer", **ends})
            except Exception:
                pass
        finally:
            self.progress.pop(key, None)
            self._recovering.discard(running)
            self.wake()

    # -- forwarding of writes from a transfer source --------------------------------------
    def forwarding_failed(self, name: str, uuid_: str, transfer: dict | None) -> None:
        """A write could not be passed on to the replica being filled: the copy is incomplete,
        so the transfer is aborted (the target turns Dead and recovers again)."""
        if transfer is None:
            return

        def abort() -> None:
            try:
                result = self._propose({"type": "abort_transfer", "name": name, "uuid": uuid_,
                                        "shard_id": transfer["shard_id"], "to": transfer["to"]})
                if not result.ok:  # it finished meanwhile: the copy it made is still short
                    self._propose({"type": "set_replica_state", "name": name, "uuid": uuid_,
                                   "shard_id": transfer["shard_id"], "peer_id": transfer["to"],
                                   "state": "Dead", "from_state": "Active"})
                self.toc.reconcile()
            except Exception as exc:
                log.warning("aborting transfer of %s/%s: %s", name, transfer["shard_id"], exc)

        threading.Thread(target=abort, name="abort-transfer", daemon=True).start()

    def stop_forwarding_when_synced(self, local: LocalReplica, target) -> None:
        def stop() -> None:
            self.await_peers_synced(10.0)
            with local.shard.lock:
                if local.forward_to is target:
                    local.set_forward(None)

        if getattr(target, "_stopping", False):
            return
        target._stopping = True
        threading.Thread(target=stop, name="stop-forwarding", daemon=True).start()

    # -- consensus sync ----------------------------------------------------------------------
    def await_peers_synced(self, timeout: float) -> None:
        """Until every reachable peer's collections reflect the metadata this peer's do
        (Qdrant's await_consensus_sync); peers that do not answer are given up after the
        timeout."""
        target = self.toc.reconciled_index
        deadline = time.monotonic() + timeout
        live = set(self.toc.consensus.live_peers())  # a peer that is down cannot catch up
        pending = {int(p): info.get("grpc") for p, info in self.toc.consensus.state.peers.items()
                   if int(p) != self.peer_id and int(p) in live}
        while pending and time.monotonic() < deadline:
            for peer, address in list(pending.items()):
                try:
                    index = self.toc.channels.call(address, "", 0, "applied_index", timeout=1.0)
                    if index >= target:
                        del pending[peer]
                except TesseraError:
                    pass
            if pending:
                time.sleep(0.05)
