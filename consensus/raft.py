"""Consensus of a cluster: the metadata state machine replicated by a pysyncobj Raft group.

It offers the interface of ``LocalConsensus`` (``state``, ``propose``, ``subscribe``,
``peer_id``), so the table of contents above it runs the same code on one node and on many.

How the pieces follow ../shared/spec/distributed.md §3:
- Raft runs on the p2p port; a node's identity there is its ``host:port`` string, while its
  Qdrant identity is a random ``peer_id`` kept in ``raft_state.json`` with the membership seen
  last (a restarted member must never start alone, or it elects itself and forks the log).
- Every operation goes through one replicated method with a request id, so a retried proposal
  takes effect once; the state machine never raises.
- A joiner asks its bootstrap peer for the members, starts with them, and asks to be added until
  the leader accepts. Until it has heard a leader it does not campaign, and members drop vote
  requests while they hear from a live leader: joiners cannot depose the leader.
- Listeners are told of every change on a queue thread, never on Raft's tick thread.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated
from pysyncobj.monotonic import monotonic as raft_clock  # not time.monotonic: another clock
from pysyncobj.transport import TCPTransport
from pysyncobj.utility import TcpUtility, UtilityException

from consensus.state import MetadataState, OpResult

log = logging.getLogger(__name__)

RAFT_DIR = "raft"
IDENTITY_FILE = "raft_state.json"
#: pysyncobj timings (seconds): the values the spec measured to work on loopback and LANs.
MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 2.0
#: Once its leader's connection dropped, a follower campaigns after the first delay (seconds),
#: plus one step per follower before it in address order: long enough for the others to see
#: the same drop (or they refuse the vote) and for one vote round to end before the next.
LEADER_LOST_ELECTION_DELAY = (0.05, 0.3)
#: The message members send each other every KEEPALIVE_PERIOD seconds (see keep_alive).
KEEPALIVE, KEEPALIVE_PERIOD = "tessera_keepalive", 1.0
#: Seconds the Raft port may fail to bind before the node gives up (another process has it).
BIND_GRACE = 3.0
#: Seconds a restarted member listens for a leader before it may start an election.
RESTART_ELECTION_GRACE = 6.0
#: Seconds a connected peer may keep asking for votes at a term above a leader's before the
#: leader lets the request depose it (see _StickyTransport._stuck_above).
STUCK_CANDIDATE_AFTER = 3.0

_RETRYABLE = {
    FAIL_REASON.QUEUE_FULL, FAIL_REASON.MISSING_LEADER, FAIL_REASON.DISCARDED,
    FAIL_REASON.NOT_LEADER, FAIL_REASON.LEADER_CHANGED, FAIL_REASON.UNKNOWN_OUTCOME,
}


class ConsensusError(Exception):
    """The operation could not be committed in time (no leader, no quorum)."""


def raft_address(uri: str) -> str:
    """``http://host:6335/`` → ``host:6335`` (the same string on every node)."""
    parts = urlsplit(uri if "://" in uri else f"http://{uri}")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"a peer URI needs a host and a port: {uri}")
    return f"{parts.hostname}:{parts.port}"


class _StickyTransport(TCPTransport):
    """Two election rules on top of pysyncobj's transport.

    Leader stickiness (Raft thesis §4.2.3): vote requests are dropped while this node follows a
    live leader or is the leader itself. pysyncobj has no pre-vote, so without this a node that
    joins or comes back with a higher term would depose a healthy leader. One exception: a peer
    cut off by a partition campaigns, raises its term, and after the partition heals it ignores
    the leader's lower-term appends for good; once it has asked for votes for
    STUCK_CANDIDATE_AFTER seconds, the leader takes the request as Raft says (steps down to
    that term). The peer cannot win with the log it missed; an up-to-date member wins the next
    election and the peer follows it.

    Fast failover: when the TCP connection to the leader drops (a killed process's socket is
    closed by its kernel at once), the follower campaigns after a short delay instead of
    waiting out the election timeout, and a leader whose connection dropped no longer counts as
    live for the stickiness rule. A leader that is alive but lost one connection keeps its
    other followers, which refuse to vote: the rule cannot depose it.
    """

    last_leader_contact = 0.0
    #: the node that sent the last append_entries, and whether its connection has dropped since
    leader_node = None
    leader_lost = False
    #: an election may start only after this (set by the consensus while it holds elections)
    elections_allowed = True
    #: node -> (first, last) time it asked this leader for votes at a higher term
    _asking: dict | None = None

    def keep_alive(self) -> None:
        """Say something to every other member. pysyncobj drops a connection that has been
        quiet for ``connectionTimeout``, and followers never talk to each other: without this,
        the survivors of a dead leader are often not connected when one of them campaigns."""
        for node in self._syncObj.otherNodes:
            self.send(node, {"type": KEEPALIVE})

    def _onMessageReceived(self, node, message):  # noqa: N802 (pysyncobj's name)
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == KEEPALIVE:
            return
        if kind == "append_entries":
            self.last_leader_contact = time.monotonic()
            self.leader_node, self.leader_lost = node, False
        elif kind == "request_vote":
            if self._syncObj._isLeader() and self._syncObj.hasQuorum:
                if not self._stuck_above(node, message):
                    return
            recent = time.monotonic() - self.last_leader_contact < MIN_TIMEOUT
            if recent and not self.leader_lost:
                return
        super()._onMessageReceived(node, message)

    def _stuck_above(self, node, message) -> bool:
        """Whether ``node`` has been asking for votes at a term above this leader's for
        STUCK_CANDIDATE_AFTER seconds, without a pause of more than two election timeouts."""
        if self._asking is None:
            self._asking = {}
        now = time.monotonic()
        if message.get("term", 0) <= self._syncObj._SyncObj__raftCurrentTerm:
            self._asking.pop(node, None)
            return False
        first, last = self._asking.get(node, (now, now))
        if now - last > 2 * MAX_TIMEOUT:
            first = now
        self._asking[node] = (first, now)
        if now - first < STUCK_CANDIDATE_AFTER:
            return False
        log.warning("peer %s asks for votes at term %s above ours for %.0f s: stepping down",
                    getattr(node, "address", node), message.get("term"), now - first)
        self._asking.pop(node, None)
        return True

    def _campaign_soon(self, lost_leader) -> None:
        """Move this follower's election deadline close. The survivors take turns by address
        (the lowest first, then the next a step later) rather than at random, so two of them
        do not split the vote by campaigning at the same moment."""
        sync_obj = self._syncObj
        me = sync_obj.selfNode.address
        others = [n.address for n in sync_obj.otherNodes if n != lost_leader]
        rank = sorted([me, *others]).index(me)
        first, step = LEADER_LOST_ELECTION_DELAY
        soon = raft_clock() + first + rank * step + random.uniform(0.0, first)
        sync_obj._SyncObj__raftElectionDeadline = min(
            sync_obj._SyncObj__raftElectionDeadline, soon)

    def _onNodeDisconnected(self, node):  # noqa: N802 (pysyncobj's name)
        if node is self.leader_node and not self.leader_lost:
            self.leader_lost = True
            if self.elections_allowed and not self._syncObj._isLeader():
                self._campaign_soon(node)
        super()._onNodeDisconnected(node)


class _MetadataLog(SyncObj):
    """The replicated object. Attributes set before ``super().__init__`` are local (not part
    of Raft snapshots); ``meta`` is the replicated state."""

    def __init__(self, self_addr: str, partners: list[str], conf: SyncObjConf,
                 on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._apply_lock = threading.Lock()
        super().__init__(self_addr, partners, conf, transportClass=_StickyTransport)
        self.meta = MetadataState()

    @replicated
    def apply_op(self, op: dict) -> OpResult:
        with self._apply_lock:
            try:
                result = self.meta.apply(op)
            except Exception as exc:  # never raise on the tick thread: it would re-apply forever
                log.exception("metadata operation failed: %s", op.get("type"))
                result = OpResult(False, "bad_request", f"{type(exc).__name__}: {exc}")
        self._on_change()
        return result


class RaftConsensus:
    """A node's seat in the cluster's metadata Raft group."""

    def __init__(self, storage_path: Path, uri: str | None, bootstrap: str | None,
                 grpc_port: int, http_port: int, compact_entries: int = 128,
                 secret: str | None = None,
                 on_refused: Callable[[str], None] | None = None) -> None:
        # the cluster secret: pysyncobj encrypts and authenticates every frame with a key
        # derived from it (Fernet), and drops a connection whose frames do not decrypt
        self._secret = secret
        self.dir = storage_path / RAFT_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self._identity_path = storage_path / IDENTITY_FILE
        self._listeners: list[Callable[[dict, OpResult], None]] = []
        self._changes: queue.Queue = queue.Queue()
        self._view = MetadataState()
        self._view_lock = threading.Lock()
        self._identity_lock = threading.Lock()
        self.last_update = time.time()
        self._next_keepalive = 0.0
        #: set on the tick thread once this node has applied an entry of the current term
        self._caught_up = threading.Event()

        identity = self._load_identity()
        #: until its first registration is accepted (kept over restarts), a peer may take the
        #: place of a gone peer at its address (identities from before this flag: registered)
        self._first_start = identity is None or identity.get("registered") is False
        self._has_data = any((storage_path / "collections").glob("*/*"))
        self._on_refused = on_refused  # told why this node cannot be a member
        moved_from = None
        self._hold_elections_until = float("inf")  # a joiner never campaigns before it joined
        if identity is not None:
            if bootstrap:
                log.info("Local raft state found - the bootstrap argument is ignored")
            self.peer_id = identity["peer_id"]
            self.address = identity["address"]
            partners = identity["members"]
            # a joiner stopped before the cluster accepted it asks again
            self._pending_join = identity.get("pending_join")
            # A member that comes back waits a while for the leader's heartbeat before it
            # campaigns: an election from it would only raise its term above the leader's.
            self._heard_leader = False
            self._hold_elections_until = time.monotonic() + RESTART_ELECTION_GRACE
            if uri is not None and raft_address(uri) != self.address:
                # same peer, new address: rejoin under it, then retire the old one
                moved_from, self.address = self.address, raft_address(uri)
                self._heard_leader = False
                self._hold_elections_until = float("inf")
                log.info("peer %d moved from %s to %s", self.peer_id, moved_from, self.address)
        else:
            if uri is None:
                raise ValueError("cluster mode needs --uri (this peer's p2p URI) on first start")
            self.peer_id = random.getrandbits(63)
            self.address = raft_address(uri)
            partners = self._members_of(bootstrap, secret) if bootstrap else []
            self._heard_leader = bootstrap is None
            self._pending_join = bootstrap
        self.uri = f"http://{self.address}/"
        host = self.address.rsplit(":", 1)[0]
        self.info = {"uri": self.uri, "raft": self.address, "grpc": f"{host}:{grpc_port}",
                     "http": f"{host}:{http_port}"}

        conf = SyncObjConf(
            dynamicMembershipChange=True,
            journalFile=str(self.dir / "journal"),
            fullDumpFile=str(self.dir / "dump"),
            useFork=False,
            appendEntriesPeriod=0.03,
            autoTickPeriod=0.01,
            raftMinTimeout=MIN_TIMEOUT,
            raftMaxTimeout=MAX_TIMEOUT,
            connectionTimeout=3.5,
            connectionRetryTime=0.5,
            leaderFallbackTimeout=5.0,
            commandsWaitLeader=True,
            # past this many entries the log is replaced by a snapshot of the state (Qdrant's
            # cluster.consensus.compact_wal_entries): a late joiner gets the snapshot
            logCompactionMinEntries=max(2, compact_entries),
            password=secret,
        )
        self._members = sorted(set(partners))
        self._save_identity()
        self.log = _MetadataLog(self.address, partners, conf, self._changed)
        self.log.addOnTickCallback(self._on_tick)
        self._notifier = threading.Thread(target=self._notify_loop, name="consensus-notify",
                                          daemon=True)
        self._notifier.start()
        if self._pending_join and moved_from is None:
            if identity is not None:
                self._hold_elections_until = float("inf")
            threading.Thread(target=self._join, args=(self._pending_join,), name="raft-join",
                             daemon=True).start()
        elif moved_from is not None:
            threading.Thread(target=self._move, args=(moved_from, partners), name="raft-move",
                             daemon=True).start()
        threading.Thread(target=self._register, name="raft-register", daemon=True).start()

    # -- identity and membership -------------------------------------------------------------
    def _load_identity(self) -> dict | None:
        if not self._identity_path.exists():
            return None
        return json.loads(self._identity_path.read_text())

    def _save_identity(self) -> None:
        with self._identity_lock:
            self._write_identity()

    def _write_identity(self) -> None:
        data = {"peer_id": self.peer_id, "address": self.address, "members": self._members,
                "pending_join": self._pending_join, "registered": not self._first_start}
        tmp = self._identity_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self._identity_path)

    @staticmethod
    def _members_of(bootstrap: str, secret: str | None) -> list[str]:
        """Ask the bootstrap peer for the members of the cluster, once it has a leader."""
        address = raft_address(bootstrap)
        utility = TcpUtility(secret, timeout=3.0)
        deadline = time.monotonic() + 120
        while True:
            try:
                status = utility.executeCommand(address, ["status"])
                if status.get("leader") is not None:
                    members = [str(status["self"].address if hasattr(status["self"], "address")
                                   else status["self"])]
                    prefix = "partner_node_status_server_"
                    members += [k[len(prefix):] for k in status if k.startswith(prefix)]
                    return members
            except (UtilityException, OSError) as exc:
                log.info("waiting for bootstrap peer %s: %s", address, exc)
            if time.monotonic() > deadline:
                raise ConsensusError(f"bootstrap peer {address} has no leader")
            time.sleep(0.3)

    def _join(self, bootstrap: str) -> None:
        """Ask the cluster to add this node until it accepts (one change at a time)."""
        utility = TcpUtility(self._secret, timeout=10.0)
        target = raft_address(bootstrap)
        attempts = 0
        while True:
            if self._heard_leader:  # a leader replicates to us: we are a member already
                log.info("member of the cluster (a leader replicates to this peer)")
                return  # ``pending_join`` ends with the registration (it may be refused)
            attempts += 1
            answer = None
            try:
                status = utility.executeCommand(target, ["status"]) or {}
                leader = status.get("leader")
                if leader is not None:
                    leader_addr = getattr(leader, "address", str(leader))
                    answer = utility.executeCommand(leader_addr, ["add", self.address])
                    if isinstance(answer, str) and answer.startswith("SUCCESS"):
                        log.info("joined the cluster through %s", leader_addr)
                        return
            except (UtilityException, OSError, AttributeError) as exc:
                answer = exc
            if attempts <= 3 or attempts % 20 == 0:
                log.info("join attempt %d through %s: %s", attempts, target, answer)
            time.sleep(0.2 + random.random() * 0.3)

    def _move(self, old_address: str, members: list[str]) -> None:
        """Rejoin under the new address through any member, then remove the old address."""
        utility = TcpUtility(self._secret, timeout=3.0)
        added = False
        while True:
            for member in members:
                if member in (old_address, self.address):
                    continue
                try:
                    leader = utility.executeCommand(member, ["status"]).get("leader")
                    if leader is None:
                        continue
                    leader_addr = getattr(leader, "address", str(leader))
                    if not added:
                        answer = utility.executeCommand(leader_addr, ["add", self.address])
                        added = isinstance(answer, str) and answer.startswith("SUCCESS")
                    if added:
                        answer = utility.executeCommand(leader_addr, ["remove", old_address])
                        if isinstance(answer, str) and answer.startswith("SUCCESS"):
                            log.info("now a member as %s (was %s)", self.address, old_address)
                            return
                except (UtilityException, OSError) as exc:
                    log.debug("move attempt through %s failed: %s", member, exc)
            time.sleep(0.3 + random.random() * 0.3)

    def _register(self) -> None:
        """Enter (or refresh) this peer's record in the peer table. A first start, once it holds
        its Raft address (no other process does), replaces a gone peer registered there."""
        op = {"type": "add_peer", "peer_id": self.peer_id, "info": self.info}
        started = time.monotonic()
        while not self.log._SyncObj__transport.ready:  # pysyncobj retries a bind every second
            if time.monotonic() - started > BIND_GRACE:
                self._refuse(f"cannot listen on {self.address}: another process holds this "
                             "peer's address (is a node with the same --uri running already?)")
                return
            time.sleep(0.1)
        if self._first_start:
            op.update(replaces=self.address, adopt=self._has_data)
        while True:
            try:
                result = self.propose(op, timeout=10.0)
                if result.ok:  # a member now: a restart need not join (or replace) again
                    if self._first_start or self._pending_join:
                        self._first_start, self._pending_join = False, None
                        self._save_identity()
                    return
                if result.error_kind == "refused":
                    self._refuse(result.message or "refused by the cluster")
                    return
            except ConsensusError as exc:
                log.info("peer registration pending: %s", exc)
            time.sleep(0.5)

    def _refuse(self, why: str) -> None:
        """This node cannot take its seat: say why to whoever started it."""
        log.error("this peer cannot join the cluster: %s", why)
        if self._on_refused is not None:
            self._on_refused(why)

    def _on_tick(self) -> None:
        """On pysyncobj's tick thread: keep the membership on disk, hold off a joiner's
        elections until a leader has spoken to it."""
        self.last_update = time.time()
        transport = self.log._SyncObj__transport
        transport.elections_allowed = self._heard_leader
        if time.monotonic() >= self._next_keepalive:
            self._next_keepalive = time.monotonic() + KEEPALIVE_PERIOD
            transport.keep_alive()
        if not self._heard_leader:
            if transport.last_leader_contact or time.monotonic() > self._hold_elections_until:
                self._heard_leader = True
            else:
                self.log._SyncObj__raftElectionDeadline = raft_clock() + MAX_TIMEOUT
        if not self._caught_up.is_set() and self._applied_current_term():
            self._caught_up.set()
            self._changed()  # listeners act now: nothing they saw before was synced
        members = sorted(n.address for n in self.log.otherNodes)
        if members != self._members:
            self._members = members
            self._save_identity()

    def _applied_current_term(self) -> bool:
        """Whether the last entry applied here was written in the leader's current term.

        Raft's read barrier: a leader commits nothing of its own term before everything
        committed earlier, so once such an entry is applied the state holds every operation
        the cluster had committed. pysyncobj's ``isReady`` is weaker: after a whole-cluster
        restart the new leader's commit index is the one its journal stored (saved once a
        second), and followers are "ready" at that older state. Acting on it dropped the
        directories of a collection created in the last second before the restart."""
        sync_obj = self.log
        if not sync_obj.isReady() or sync_obj._getLeader() is None:
            return False
        applied = sync_obj.raftLastApplied
        entries = sync_obj._SyncObj__getEntries(applied, 1)
        if not entries:  # compacted away: the oldest entry kept is newer than it
            first = sync_obj._SyncObj__raftLog[0]
            entries = [first] if first[1] <= applied else []
        return bool(entries) and entries[0][2] == sync_obj.raftCurrentTerm

    # -- the LocalConsensus interface --------------------------------------------------------
    @property
    def state(self) -> MetadataState:
        """A consistent snapshot of the applied state (replaced, never mutated, on change)."""
        return self._view

    def subscribe(self, listener: Callable[[dict, OpResult], None]) -> None:
        """listener(op, result) runs on a notifier thread after changes are applied; ``op`` is
        ``{"type": "changed"}`` (a snapshot may replace many operations at once)."""
        self._listeners.append(listener)

    def propose(self, op: dict, timeout: float = 10.0) -> OpResult:
        """Commit ``op`` and wait until it is applied on this node (read-your-writes)."""
        op = dict(op, rid=op.get("rid") or uuid.uuid4().hex)
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            done = threading.Event()
            outcome: list = []

            def callback(result, error, outcome=outcome, done=done):
                outcome.append((result, error))
                done.set()

            self.log.apply_op(op, callback=callback)
            if not done.wait(max(0.05, deadline - time.monotonic())):
                break
            result, error = outcome[0]
            if error == FAIL_REASON.SUCCESS:
                self._refresh_view()
                return result
            last_error = error
            if error not in _RETRYABLE:
                break
            time.sleep(0.1)
        raise ConsensusError(
            "Failed to propose operation: leader is not established within "
            f"{timeout:g} secs (last error: {last_error})"
        )

    # -- status ------------------------------------------------------------------------------
    def raft_status(self) -> dict:
        status = self.log.getStatus()
        leader = status.get("leader")
        leader_addr = getattr(leader, "address", None) if leader is not None else None
        leader_id = None
        for peer_id, info in self.state.peers.items():
            if info.get("raft") == leader_addr:
                leader_id = int(peer_id)
        return {
            "term": status.get("raft_term", 0),
            "commit": status.get("commit_idx", 0),
            "pending_operations": max(
                0, status.get("commit_idx", 0) - status.get("last_applied", 0)
            ),
            "leader": leader_id,
            "role": {0: "Follower", 1: "Candidate", 2: "Leader"}.get(
                status.get("state"), "Follower"
            ),
            "is_voter": True,
        }

    def live_peers(self) -> list[int]:
        """Peers this node has a Raft connection to, itself included."""
        connected = {n.address for n in self.log.otherNodes if self.log.isNodeConnected(n)}
        return sorted(int(p) for p, info in self.state.peers.items()
                      if int(p) == self.peer_id or info.get("raft") in connected)

    def remove_member(self, address: str, timeout: float = 10.0) -> None:
        """Take a Raft member out of the configuration (asked of the leader, retried)."""
        utility = TcpUtility(self._secret, timeout=3.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if address not in {n.address for n in self.log.otherNodes} and \
                    address != self.address:
                return
            leader = self.log._getLeader()
            if leader is not None:
                try:
                    answer = utility.executeCommand(getattr(leader, "address", str(leader)),
                                                    ["remove", address])
                    if isinstance(answer, str) and answer.startswith("SUCCESS"):
                        return
                except (UtilityException, OSError) as exc:
                    log.info("removing %s: %s", address, exc)
            time.sleep(0.3)
        raise ConsensusError(f"could not remove {address} from the Raft group in {timeout:g} s")

    def is_synced(self) -> bool:
        """This node has applied an entry of the current term once since it started, so its
        state holds everything committed before (and its view is refreshed to include it)."""
        if not self._caught_up.is_set():
            return False
        self._refresh_view()
        return True

    def is_leader(self) -> bool:
        return self.log._isLeader()

    def has_leader(self) -> bool:
        return self.log._getLeader() is not None

    def thread_alive(self) -> bool:
        return self.log.tick_thread_alive()

    def applied_index(self) -> int:
        return self.log.raftLastApplied

    def close(self) -> None:
        self.log.destroy()

    # -- change notification -----------------------------------------------------------------
    def _changed(self) -> None:
        self._changes.put(None)

    def _refresh_view(self) -> None:
        with self.log._apply_lock:
            view = copy.deepcopy(self.log.meta)
        with self._view_lock:
            if view.applied >= self._view.applied or view.applied == 0:
                self._view = view

    def _notify_loop(self) -> None:
        while True:
            try:
                self._changes.get(timeout=1.0)
            except queue.Empty:
                pass  # also catches snapshots installed without an apply
            while not self._changes.empty():
                self._changes.get_nowait()
            self._refresh_view()
            # compare with what listeners last heard of: proposals refresh the view too
            synced = self._caught_up.is_set()
            if self._view.applied != self._notified_applied or synced != self._notified_synced:
                self._notified_applied, self._notified_synced = self._view.applied, synced
                for listener in self._listeners:
                    try:
                        listener({"type": "changed"}, OpResult(True))
                    except Exception:
                        log.exception("metadata listener failed")

    _notified_applied = -1
    _notified_synced = False
