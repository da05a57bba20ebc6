"""The copies of one shard, local or remote, behind one interface, and Qdrant's rules for them.

A ``Replica`` is anything that can validate, apply and answer shard operations: ``LocalReplica``
wraps a ``node.shard.LocalShard`` in this process,
``router.collection.remote_replica.RemoteReplica`` reaches one on another peer. The
``ReplicaSet`` knows each replica's state (from consensus) and applies Qdrant's write and read
rules (../shared/spec/distributed.md §1.5, §1.6):

- writes go to every updatable replica; ``write_consistency_factor`` of them must succeed, one
  of them Active; a replica that fails is disabled here at once and reported Dead;
- ``ordering`` medium/strong forwards the write to the replica set's leader peer;
- reads take the local replica first, else a readable remote, trying the next on failure.

A single node is a replica set of one local replica: the same code, without a thread hop.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from consensus.state import READABLE, UPDATABLE
from node.errors import ServiceError, ShardClosed, TesseraError, Timeout
from node.search_batcher import SearchBatcher
from node.shard import LocalShard
from node.shard_search import PointRecord, SearchRequest
from node.wal import deferred_syncs
from router.collection import read_consistency
from router.collection.loop_searches import LoopSearches
from router.collection.remote_replica import CALL_TIMEOUT, ReplicaUnavailable, patient

log = logging.getLogger(__name__)

_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="replica-io")


class Replica(Protocol):
    def check(self, op: dict) -> None: ...
    def apply(self, op_num: int, op: dict, wait: bool) -> None: ...
    def retrieve(self, ids: list, with_payload, with_vector) -> list[PointRecord]: ...
    def scroll(self, filter_, start, limit: int, with_payload,
               with_vector) -> list[PointRecord]: ...
    def count(self, filter_) -> int: ...
    def scroll_ordered(self, filter_, order_by: dict, limit: int, with_payload,
                       with_vector) -> list[PointRecord]: ...
    def facet(self, key: str, filter_) -> dict: ...
    def payload_schema_counts(self) -> dict: ...
    def search(self, requests: list[SearchRequest]) -> list[list[PointRecord]]: ...
    def search_future(self, requests: list[SearchRequest]) -> Future: ...
    def info(self) -> dict: ...
    def last_op(self) -> int: ...
    def versions(self) -> tuple[list, list]: ...
    def reconnect(self) -> None: ...
    def sparse_stats(self, name: str, dims): ...
    def close(self, drop: bool = False) -> None: ...


#: An operation's key naming the peers its coordinator left out because they were Partial
#: (filled by a transfer, whose source forwards them the write instead). Stripped on arrival.
LEFT_OUT = "left_out_partial"
#: Seconds a transfer source still forwards the writes of coordinators that left its target out,
#: after the transfer ended: a write may have been addressed before they learned of the end.
LATE_FORWARD_SECONDS = 30.0


#: Seconds a write waits for the successor of a local replica that was closed under it: a copy
#: replaced by a snapshot (recovery, the snapshot transfer) or renewed for a transfer is closed
#: first and its successor opened in the same directory, while its old object may still be
#: held by a write in flight.
SWAP_GRACE_SECONDS = 30.0


def _op_ids(op: dict) -> list:
    if op["type"] == "update_vectors":
        return [point_id for point_id, _ in op["points"]]
    return list(op.get("ids") or ())


class LocalReplica:
    """A replica held by this node."""

    def __init__(self, shard: LocalShard) -> None:
        self.shard = shard
        self.batcher = SearchBatcher(shard.search, name=f"search-{shard.path.name}")
        self.on_loop = LoopSearches(shard, self.batcher)
        #: ids written while the replica is refilled by a transfer: the copy must not undo them
        self.touched: set | None = None
        #: the replica a transfer from this one fills: it gets every write applied here
        self.forward_to: Replica | None = None
        self.on_forward_failure: Callable[[], None] | None = None
        #: the last transfer from this replica once it ended: (peer, target, on_failure, until)
        self._filled: tuple[int, Replica, Callable[[], None] | None, float] | None = None
        self._forward_peer: int | None = None

    def check(self, op: dict) -> None:
        with self.shard.lock:
            self.shard._check(op)

    def reconnect(self) -> None:
        """Nothing to connect to: the replica is here."""

    def apply(self, op_num: int, op: dict, wait: bool) -> None:
        left_out = op.get(LEFT_OUT)
        if left_out is not None:
            op = {key: value for key, value in op.items() if key != LEFT_OUT}
        with deferred_syncs(), self.shard.lock:  # the fsync after the lock: searches go on
            # The shard's WAL needs increasing numbers; writes coordinated by different peers
            # carry numbers from different counters, so the shard keeps its own order.
            seq = max(op_num, self.shard.last_op + 1)
            if self.touched is not None:
                self.touched.update(_op_ids(op))
            forward, on_failure = self.forward_to, self.on_forward_failure
            if forward is None and left_out:
                forward, on_failure = self._late_target(left_out)
            addressed = self.shard.addressed_ids(op) if forward is not None else None
            self.shard.apply(seq, op, wait)
            if forward is not None:  # under the lock: the target sees writes in our order
                try:
                    forward.forward(op_num, self._outcome(op, addressed), wait)
                except Exception as exc:  # the transfer fails; the target recovers anew
                    log.warning("forwarding a write to a shard being filled failed: %s", exc)
                    if forward is self.forward_to:
                        self.forward_to = None
                    self._filled = None
                    if on_failure is not None:
                        on_failure()

    def _late_target(self, left_out: list) -> tuple[Replica | None, Callable[[], None] | None]:
        """The target of a transfer that has ended, for a write whose coordinator still
        thought it Partial (and so left it out): without this the write would reach the source
        only, and the now Active target would miss it."""
        filled = self._filled
        if filled is None or filled[0] not in left_out or time.monotonic() > filled[3]:
            return None, None
        return filled[1], filled[2]

    def _outcome(self, op: dict, ids: list) -> dict:
        """What a replica being filled must receive for ``op``: the points as they now are
        (whole records) or the ids deleted. It may not hold those points yet, so partial
        updates (payload, some vectors, a filter) could not apply there as they are."""
        if op["type"] == "delete":
            return {"type": "delete", "ids": ids}
        if op["type"] == "upsert" and not op.get("update_filter") and not op.get("update_mode"):
            return op
        records = self.shard.retrieve(ids, True, True)
        return {
            "type": "upsert",
            "ids": [r.id for r in records],
            "vectors": [r.vectors or {} for r in records],
            "payloads": [r.payload for r in records],
            "update_filter": None,
        }

    def forward(self, op_num: int, op: dict, wait: bool) -> None:
        """A write passed on by the source of a transfer into this replica."""
        self.apply(op_num, op, wait)

    def set_forward(self, target: Replica | None,
                    on_failure: Callable[[], None] | None = None,
                    peer: int | None = None) -> None:
        """Forward every write to ``target`` (the replica on ``peer`` a transfer fills), or
        stop (None). After a stop, writes that a coordinator addressed to the old layout are
        still passed on for a while (``LATE_FORWARD_SECONDS``)."""
        with self.shard.lock:
            if target is None and self.forward_to is not None and self._forward_peer is not None:
                self._filled = (self._forward_peer, self.forward_to, self.on_forward_failure,
                                time.monotonic() + LATE_FORWARD_SECONDS)
            elif target is not None:
                self._filled = None
            self.forward_to = target
            self.on_forward_failure = on_failure
            self._forward_peer = peer

    def sparse_stats(self, name: str, dims):
        return self.shard.sparse_stats(name, dims)

    def copy_in(self, records: list[PointRecord], durable: bool = True) -> None:
        """Points streamed from another replica; those written here meanwhile are kept.
        With ``durable=False`` the pages of one transfer are fsynced once, by ``sync``."""
        with self.shard.lock:
            skip = self.touched or set()
            records = [r for r in records if r.id not in skip]
            if not records:
                return
            op = {
                "type": "upsert",
                "ids": [r.id for r in records],
                "vectors": [r.vectors or {} for r in records],
                "payloads": [r.payload for r in records],
                "versions": [r.version for r in records],  # as the source has them
                "update_filter": None,
            }
            self.shard.apply(self.shard.last_op + 1, op, durable)

    def versions(self) -> tuple[list, list]:
        return self.shard.versions()

    def remove_untouched(self, ids: list) -> None:
        """Points a transfer's source no longer has; those written here meanwhile are kept."""
        with self.shard.lock:
            skip = self.touched or set()
            ids = [i for i in ids if i not in skip]
            if ids:
                self.shard.apply(self.shard.last_op + 1, {"type": "delete", "ids": ids}, False)

    def sync(self) -> None:
        """Make every write applied here so far durable (the end of a transfer's copy)."""
        self.shard.sync()

    def retrieve(self, ids, with_payload, with_vector):
        return self.shard.retrieve(ids, with_payload, with_vector)

    def scroll(self, filter_, start, limit, with_payload, with_vector):
        return self.shard.scroll(filter_, start, limit, with_payload, with_vector)

    def count(self, filter_) -> int:
        return self.shard.count(filter_)

    def scroll_ordered(self, filter_, order_by, limit, with_payload, with_vector):
        return self.shard.scroll_ordered(filter_, order_by, limit, with_payload, with_vector)

    def facet(self, key: str, filter_) -> dict:
        return self.shard.facet(key, filter_)

    def payload_schema_counts(self) -> dict:
        return self.shard.payload_schema_counts()

    def search(self, requests):
        return self.batcher.submit(requests).result()

    def search_future(self, requests) -> Future:
        """Quick searches asked on an event loop are answered there
        (`router.collection.loop_searches`); the others are coalesced into batched index calls
        on the batcher's thread."""
        future = self.on_loop.submit(requests)
        return future if future is not None else self.batcher.submit(requests)

    def close(self, drop: bool = False) -> None:
        self.batcher.close()
        self.shard.drop() if drop else self.shard.close()

    def info(self) -> dict:
        return self.shard.info()

    def last_op(self) -> int:
        return self.shard.last_op


class ReplicaSet:
    """All replicas of one shard, as this peer sees them."""

    def __init__(
        self,
        shard_id: int,
        this_peer: int,
        replicas: dict[int, Replica],
        states: dict[int, str] | None = None,
        report_dead: Callable[[int, int, str], None] | None = None,
        write_consistency_factor: int = 1,
        shard_key: Any = None,
    ) -> None:
        self.shard_id = shard_id
        self.this_peer = this_peer
        self.replicas = dict(replicas)
        self.states = dict(states) if states is not None else {p: "Active" for p in replicas}
        self.report_dead = report_dead
        self.write_consistency_factor = write_consistency_factor
        self.shard_key = shard_key
        self.disabled: dict[int, str] = {}  # peer -> its state when this node disabled it
        self._ordered_lock = threading.Lock()
        self.closed = False

    # -- membership and states ---------------------------------------------------------------
    @property
    def local(self) -> LocalReplica | None:
        replica = self.replicas.get(self.this_peer)
        return replica if isinstance(replica, LocalReplica) else None

    def set_states(self, states: dict[int, str]) -> None:
        """New states from consensus; a local disabling ends once consensus has moved on. A
        replica that left Dead is on a peer that is back: its connection is made afresh."""
        for peer, state in states.items():
            if state != "Dead" and self.states.get(peer, "Dead") == "Dead" \
                    and peer in self.replicas:
                self.replicas[peer].reconnect()
        self.states = dict(states)
        for peer, when in list(self.disabled.items()):
            if self.states.get(peer) != when:
                del self.disabled[peer]

    def on_local(self, call: Callable[[LocalReplica], Any]) -> Any:
        """``call`` on this peer's replica as it is now. One closed meanwhile (its copy
        replaced) refuses writes; they then go to its successor, which holds every write the
        old one acknowledged: acknowledging a write on the old object would lose it."""
        deadline = time.monotonic() + SWAP_GRACE_SECONDS
        while True:
            local = self.local
            if local is None:
                raise ServiceError(f"shard {self.shard_id} has no replica on peer "
                                   f"{self.this_peer}")
            try:
                return call(local)
            except ShardClosed:
                if self.closed or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)

    def state_of(self, peer: int) -> str | None:
        return self.states.get(peer)

    def _disable(self, peer: int) -> None:
        state = self.states.get(peer)
        if state is None or peer in self.disabled:
            return
        active = [p for p, s in self.states.items() if s == "Active" and p not in self.disabled]
        if state == "Active" and active == [peer]:
            return  # never disable the last Active replica
        self.disabled[peer] = state
        if self.report_dead is not None:
            self.report_dead(self.shard_id, peer, state)

    # -- writes ------------------------------------------------------------------------------
    def check(self, op: dict) -> None:
        """Validate on the local replica when there is a readable one (remote replicas validate
        as they apply)."""
        local = self.local
        if local is not None and self.states.get(self.this_peer) in READABLE:
            local.check(op)

    def apply(self, op_num: int, op: dict, wait: bool, ordering: str = "weak") -> None:
        if ordering == "weak":
            self.apply_all(op_num, op, wait)
            return
        if ordering == "medium":
            candidates = [p for p, s in self.states.items()
                          if s == "Active" and p not in self.disabled]
        else:
            candidates = list(self.states)
        if not candidates:
            raise ServiceError(
                f"The replica set for shard {self.shard_id} on peer {self.this_peer} "
                "has no active replica"
            )
        leader = max(candidates)
        if leader == self.this_peer:
            with self._ordered_lock:
                self.apply_all(op_num, op, wait)
            return
        replica = self.replicas[leader]
        try:
            replica.coordinate(op_num, op, wait)  # type: ignore[attr-defined]
        except ReplicaUnavailable as exc:
            self._disable(leader)
            raise ServiceError(
                f"Failed to apply update with {ordering.capitalize()} ordering via leader peer "
                f"{leader}: {exc.detail}"
            ) from exc

    def coordinate(self, op_num: int, op: dict, wait: bool) -> None:
        """As the leader of medium/strong ordering: apply to every replica, one write at a time."""
        with self._ordered_lock:
            self.apply_all(op_num, op, wait)

    def apply_all(self, op_num: int, op: dict, wait: bool) -> None:
        # A Partial replica is being filled by a transfer: its source forwards every write it
        # applies, in its own order, so the coordinator leaves it out.
        targets = [
            (peer, replica) for peer, replica in self.replicas.items()
            if self.states.get(peer) in UPDATABLE and self.states.get(peer) != "Partial"
            and peer not in self.disabled
        ]
        left_out = [peer for peer, state in self.states.items() if state == "Partial"]
        if left_out:  # the sources forward to them, also if the transfer ends meanwhile
            op = {**op, LEFT_OUT: left_out}
        if not targets:
            raise ServiceError(
                f"The replica set for shard {self.shard_id} on peer {self.this_peer} "
                "has no active replica"
            )
        if len(targets) == 1 and len(self.replicas) == 1:
            peer, replica = targets[0]
            try:
                if peer == self.this_peer:  # one replica: no thread hop
                    self.on_local(lambda local: local.apply(op_num, op, wait))
                else:
                    replica.apply(op_num, op, wait)
            except ReplicaUnavailable:
                if self.states.get(peer) == "Resharding":  # lost: the resharding is aborted
                    self._disable(peer)
                raise
            return
        futures = {}
        for peer, replica in targets:
            if peer != self.this_peer:
                futures[peer] = _POOL.submit(replica.apply, op_num, op, wait)
        outcomes: dict[int, Exception | None] = {}
        if any(peer == self.this_peer for peer, _ in targets):
            try:
                self.on_local(lambda local: local.apply(op_num, op, wait))
                outcomes[self.this_peer] = None
            except Exception as exc:
                outcomes[self.this_peer] = exc
        for peer, future in futures.items():
            try:
                future.result()
                outcomes[peer] = None
            except Exception as exc:
                outcomes[peer] = exc
        self._resolve_write(outcomes, wait)

    def _resolve_write(self, outcomes: dict[int, Exception | None], wait: bool) -> None:
        succeeded = [p for p, e in outcomes.items() if e is None]
        failed = {p: e for p, e in outcomes.items() if e is not None}
        # Replicas being filled got the write from their transfer's source (an Active replica,
        # which passes it on before it answers, or aborts the transfer): they count as written
        # when an Active replica was.
        filled = sum(1 for p in self.replicas if self.states.get(p) == "Partial"
                     and p not in self.disabled)
        # a new shard's replicas under resharding count as Active (Qdrant's source of truth)
        active_ok = any(self.states.get(p) in ("Active", "Resharding") for p in succeeded)
        written = len(succeeded) + (filled if active_ok else 0)
        needed = min(self.write_consistency_factor, len(self.replicas))
        if written < needed:
            if not failed:  # the others are Dead or disabled: not even tried
                raise ServiceError(
                    f"Write consistency factor {self.write_consistency_factor} not met for "
                    f"shard {self.shard_id}: {written} of {len(self.replicas)} replicas "
                    "could take the write"
                )
            first = next(iter(failed.values()))
            if succeeded or isinstance(first, ReplicaUnavailable):
                for peer in failed:
                    self._disable(peer)
            timed_out = [e for e in failed.values()
                         if isinstance(e, ReplicaUnavailable) and e.timed_out]
            if timed_out:  # as Qdrant answers a replica's timeout: 408, DEADLINE_EXCEEDED
                raise Timeout(
                    f"Operation 'update' on shard {self.shard_id} timed out after "
                    f"{CALL_TIMEOUT:g} seconds: {timed_out[0].detail}. The update may have "
                    "been applied; consistency of this update is not guaranteed. Please retry."
                ) from timed_out[0]
            if succeeded:  # applied somewhere: the answer must not read as "not applied"
                detail = first.detail if isinstance(first, TesseraError) else str(first)
                raise ServiceError(
                    f"{detail}. Write consistency factor {self.write_consistency_factor} not "
                    f"met for shard {self.shard_id}: applied on {len(succeeded)} of "
                    f"{len(self.replicas)} replicas. Consistency of this update is not "
                    "guaranteed. Please retry."
                ) from first
            if isinstance(first, TesseraError):
                raise first
            raise ServiceError(str(first))
        for peer, exc in failed.items():
            if isinstance(exc, (ReplicaUnavailable, ServiceError)) or succeeded:
                self._disable(peer)
        disabled = [p for p in failed if p in self.disabled]
        if disabled and wait:
            self._await_deactivated(disabled, failed[disabled[0]])
        if not active_ok:
            raise ServiceError(
                "Failed to apply operation to at least one `Active` replica. "
                "Consistency of this update is not guaranteed. Please retry."
            )

    #: seconds a write that some replica missed waits for consensus to deactivate it
    #: (Qdrant's DEFAULT_SHARD_DEACTIVATION_TIMEOUT)
    deactivation_timeout = 30.0

    def _await_deactivated(self, peers: list[int], failure: Exception) -> None:
        """A wait=true write that some replica missed answers only once consensus no longer
        counts that replica as Active, so no peer reads the stale copy afterwards. When that
        does not happen in time, the answer is Qdrant's: applied here, but not guaranteed."""
        deadline = time.monotonic() + self.deactivation_timeout
        while any(self.states.get(p) == "Active" for p in peers):
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"Some replica of shard {self.shard_id} failed to apply operation and "
                    f"deactivation timed out after {self.deactivation_timeout:g} seconds. "
                    f"Consistency of this update is not guaranteed. Please retry. {failure}"
                )
            time.sleep(0.02)

    # -- reads -------------------------------------------------------------------------------
    def readable(self) -> list[Replica]:
        """Replicas to read from, in the order to try them: local first, then the others."""
        peers = [p for p, s in self.states.items()
                 if s in READABLE and p not in self.disabled and p in self.replicas]
        remote = [p for p in peers if p != self.this_peer]
        random.shuffle(remote)
        order = ([self.this_peer] if self.this_peer in peers else []) + remote
        return [self.replicas[p] for p in order]

    def _no_replica(self) -> ServiceError:
        return ServiceError(
            f"The replica set for shard {self.shard_id} on peer {self.this_peer} "
            "does not have enough active replicas"
        )

    def read(self, call: Callable[[Replica], Any], consistency: Any = None) -> Any:
        """One replica's answer, or with a read consistency above one replica, the answers of
        several resolved (router/collection/read_consistency.py)."""
        if consistency is None:
            consistency = read_consistency.current.get()
        asked, needed = read_consistency.plan(consistency, len(self.replicas))
        if asked > 1:
            answers = self.read_all(call, asked)
            return read_consistency.resolve(answers, needed, consistency == "majority")
        last: ReplicaUnavailable | None = None
        for round_ in ("at once", "patient"):
            token = patient.set(round_ == "patient")
            try:
                for replica in self.readable():
                    try:
                        return call(replica)
                    except ReplicaUnavailable as exc:
                        last = exc
            finally:
                patient.reset(token)
            if last is None or last.timed_out:
                break  # no replica, or one was reached and did not answer: no second round
            # no replica could be reached: once more, waiting briefly for each connection
        if last is not None:
            raise ServiceError(f"1 of 1 read operations failed: {last.detail}")
        raise self._no_replica()

    def read_all(self, call: Callable[[Replica], Any], count: int) -> list[Any]:
        """Answers of ``count`` readable replicas (for read consistency above 1)."""
        answers = []
        errors: list[str] = []
        for replica in self.readable():
            if len(answers) == count:
                break
            try:
                answers.append(call(replica))
            except ReplicaUnavailable as exc:
                errors.append(exc.detail)
        if len(answers) < count:
            if not answers and not errors:
                raise self._no_replica()
            raise ServiceError(
                f"{count - len(answers)} of {count} read operations failed: "
                + "; ".join(errors or ["too few readable replicas"])
            )
        return answers

    def search_future(self, requests: list[SearchRequest]) -> Future:
        """A search on the first replica that answers; the next is tried on failure."""
        consistency = read_consistency.current.get()
        if read_consistency.plan(consistency, len(self.replicas))[0] > 1:
            return _POOL.submit(self.read, lambda r: r.search(requests), consistency)
        replicas = self.readable()
        if not replicas:
            failed: Future = Future()
            failed.set_exception(self._no_replica())
            return failed
        if len(replicas) == 1 and isinstance(replicas[0], LocalReplica):
            return replicas[0].search_future(requests)
        out: Future = Future()
        out.set_running_or_notify_cancel()  # in flight: a waiter giving up cannot cancel it

        def attempt(i: int) -> None:
            future = replicas[i].search_future(requests)

            def done(f: Future) -> None:
                exc = f.exception()
                if exc is None:
                    out.set_result(f.result())
                elif isinstance(exc, ReplicaUnavailable) and i + 1 < len(replicas):
                    attempt(i + 1)
                else:
                    out.set_exception(exc)

            future.add_done_callback(done)

        attempt(0)
        return out

    def close(self, drop: bool = False) -> None:
        self.closed = True
        for replica in self.replicas.values():
            replica.close(drop)
