"""A replica held by another node, reached through its peer gRPC service.

It implements the ``Replica`` interface of ``router.collection.replica_set`` by sending each call
to the peer; a peer that cannot be reached raises ``ReplicaUnavailable`` (transient: the replica set
tries another replica, and disables this one for writes).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import Counter
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import grpc

from node import wire
from node.errors import ReplicaNotHere, ServiceError
from node.peer_service import error_from_reply, peer_pb2, peer_pb2_grpc

#: Seconds a call may take: reads and writes of one shard part are small; transfers page.
CALL_TIMEOUT = 30.0
_MAX_MESSAGE = 64 * 1024 * 1024
#: HTTP/2 pings on every peer connection: a peer cut off by the network (its packets dropped,
#: no reset) fails the calls in flight within ~4 s as UNAVAILABLE, instead of each waiting out
#: its CALL_TIMEOUT while the write holding it waits too.
KEEPALIVE = (
    ("grpc.keepalive_time_ms", 2000),
    ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)


#: Set for a read's second round (``ReplicaSet.read``): calls wait up to PATIENT_READ_TIMEOUT for
#: the peer's connection instead of failing at once. A peer that has just come back is Active in
#: consensus while another node's channel to it may still sit in its reconnect backoff (≤ 1 s);
#: a read then failed with UNAVAILABLE though the peer was up.
patient = contextvars.ContextVar("patient_peer_calls", default=False)
PATIENT_READ_TIMEOUT = 3.0
#: Seconds a transfer source keeps passing a write on to a target that answers it has no such
#: replica: consensus placed it there, but a loaded peer may apply that some seconds after the
#: source began forwarding (the target's own grace, ``ENDPOINT_GRACE_SECONDS``, is shorter).
FORWARD_PLACEMENT_SECONDS = 10.0


class ReplicaUnavailable(ServiceError):
    """The peer holding the replica did not answer (down, restarting, partitioned).

    ``timed_out``: the call was sent and its deadline passed, so the peer may have run it (a
    write's outcome is then unknown); otherwise the call never reached a connected peer."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def _unavailable(address: str, exc: grpc.RpcError) -> ReplicaUnavailable:
    code = exc.code()
    return ReplicaUnavailable(f"peer {address} is unavailable: {code.name}",
                              timed_out=code == grpc.StatusCode.DEADLINE_EXCEEDED)


class _PeerLink:
    """A channel to one peer, its stub, and the channel's last known connectivity."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.stub = peer_pb2_grpc.PeerShardsStub(channel)
        self.state: grpc.ChannelConnectivity | None = None
        self.opened = time.monotonic()
        channel.subscribe(self._on_state, try_to_connect=True)

    def _on_state(self, state: grpc.ChannelConnectivity) -> None:
        self.state = state

    def close(self) -> None:
        self.channel.unsubscribe(self._on_state)
        self.channel.close()


class PeerChannels:
    """One gRPC channel per peer address, shared by every remote replica on that peer."""

    def __init__(self, api_key: str | None = None,
                 credentials: grpc.ChannelCredentials | None = None) -> None:
        self._links: dict[str, _PeerLink] = {}
        #: bytes of the answers received, per method (what a shard transfer costs the network)
        self.received_bytes: Counter[str] = Counter()
        #: TLS to the peers' gRPC ports (cluster.p2p.enable_tls); None: plain text
        self.credentials = credentials
        self._lock = threading.Lock()
        # peers serve on their public gRPC port, so the cluster's API key goes with every call
        self._metadata = (("api-key", api_key),) if api_key else None

    @property
    def metadata(self):
        """The metadata every call to a peer carries (the cluster's API key)."""
        return self._metadata

    def channel(self, address: str, options: list) -> grpc.Channel:
        """A new channel to a peer, over TLS when the cluster speaks it."""
        if self.credentials is None:
            return grpc.insecure_channel(address, options=options)
        return grpc.secure_channel(address, self.credentials, options=options)

    def stub(self, address: str):
        with self._lock:
            link = self._links.get(address)
            if link is None:
                link = self._links[address] = self._open(address)
            return link.stub

    def _open(self, address: str) -> _PeerLink:
        return _PeerLink(self.channel(address, [
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 1000),
            # its own connection: from gRPC's shared pool a new channel would get the old
            # one's, backoff and all (see ``reconnect``)
            ("grpc.use_local_subchannel_pool", 1),
            *KEEPALIVE,
        ]))

    def reconnect(self, address: str) -> None:
        """Consensus says the peer at ``address`` is back (a replica of it left Dead): a channel
        that is not connected is replaced by one that connects now. The old one may sit in its
        reconnect backoff (up to a second) after the peer died, and a write sent meanwhile
        would fail at once (the replica reported Dead again) or, forwarded by a transfer's
        source under its shard lock, wait out the backoff while every write to the shard does."""
        with self._lock:
            link = self._links.get(address)
            if link is not None and (link.state == grpc.ChannelConnectivity.READY
                                     or time.monotonic() - link.opened < 1.0):
                return  # connected, or connecting afresh already
            self._links[address] = self._open(address)
        if link is not None:  # calls still on it end by themselves; then it is closed
            timer = threading.Timer(CALL_TIMEOUT, link.close)
            timer.daemon = True
            timer.start()

    def call(self, address: str, collection: str, shard_id: int, method: str, *args,
             timeout: float = CALL_TIMEOUT, wait_for_ready: bool = False) -> Any:
        """Call a peer. By default a peer that is not connected fails at once (a write must not
        wait for a dead replica); ``wait_for_ready`` waits for the connection instead."""
        request = peer_pb2.ShardCall(collection=collection, shard_id=shard_id, method=method,
                                     args=wire.dumps(args))
        try:
            reply = self.stub(address).Call(request, timeout=timeout,
                                            wait_for_ready=wait_for_ready,
                                            metadata=self._metadata)
        except grpc.RpcError as exc:
            raise _unavailable(address, exc) from exc
        self.received_bytes[method] += len(reply.result)
        return _result(reply)

    def call_future(self, address: str, collection: str, shard_id: int, method: str,
                    *args) -> Future:
        request = peer_pb2.ShardCall(collection=collection, shard_id=shard_id, method=method,
                                     args=wire.dumps(args))
        out: Future = Future()
        out.set_running_or_notify_cancel()  # in flight: a waiter giving up cannot cancel it
        call = self.stub(address).Call.future(request, timeout=CALL_TIMEOUT,
                                              metadata=self._metadata)

        def done(call) -> None:
            try:
                out.set_result(_result(call.result()))
            except grpc.RpcError as exc:
                out.set_exception(_unavailable(address, exc))
            except Exception as exc:
                out.set_exception(exc)

        call.add_done_callback(done)
        return out


def _result(reply) -> Any:
    if reply.error_kind:
        raise error_from_reply(reply.error_kind, reply.error)
    return wire.loads(reply.result)


class RemoteReplica:
    """The replica of shard ``shard_id`` of collection ``uuid`` on peer ``peer_id``."""

    def __init__(self, channels: PeerChannels, address: str, uuid: str, shard_id: int) -> None:
        self.channels = channels
        self.address = address
        self.uuid = uuid
        self.shard_id = shard_id

    def _call(self, method: str, *args, timeout: float = CALL_TIMEOUT,
              wait_for_ready: bool = False):
        if patient.get():
            wait_for_ready, timeout = True, min(timeout, PATIENT_READ_TIMEOUT)
        return self.channels.call(self.address, self.uuid, self.shard_id, method, *args,
                                  timeout=timeout, wait_for_ready=wait_for_ready)

    def reconnect(self) -> None:
        self.channels.reconnect(self.address)

    def check(self, op: dict) -> None:
        self._call("check", op)

    def apply(self, op_num: int, op: dict, wait: bool) -> None:
        self._call("apply", op_num, op, wait)

    def forward(self, op_num: int, op: dict, wait: bool) -> None:
        """A write passed on by a transfer source: the target is alive (it is copying), so a
        connection that is still being set up is waited for."""
        give_up = time.monotonic() + FORWARD_PLACEMENT_SECONDS
        while True:
            try:
                self._call("apply", op_num, op, wait, timeout=10.0, wait_for_ready=True)
                return
            except ReplicaNotHere:  # the target has not applied its placement yet
                if time.monotonic() > give_up:
                    raise
                time.sleep(0.05)

    def coordinate(self, op_num: int, op: dict, wait: bool) -> None:
        """Have the peer apply ``op`` to every replica (it leads medium/strong ordering)."""
        self._call("coordinate", op_num, op, wait)

    def retrieve(self, ids, with_payload, with_vector):
        return self._call("retrieve", ids, with_payload, with_vector)

    def scroll(self, filter_, start, limit, with_payload, with_vector):
        return self._call("scroll", filter_, start, limit, with_payload, with_vector)

    def count(self, filter_) -> int:
        return self._call("count", filter_)

    def scroll_ordered(self, filter_, order_by, limit, with_payload, with_vector):
        return self._call("scroll_ordered", filter_, order_by, limit, with_payload, with_vector)

    def facet(self, key: str, filter_) -> dict:
        return self._call("facet", key, filter_)

    def payload_schema_counts(self) -> dict:
        return self._call("payload_schema_counts")

    def search(self, requests):
        return self._call("search", requests)

    def search_future(self, requests) -> Future:
        return self.channels.call_future(self.address, self.uuid, self.shard_id, "search",
                                         requests)

    def info(self) -> dict:
        return self._call("info", timeout=5.0)

    def sparse_stats(self, name: str, dims):
        """Document frequencies of sparse dimensions, for the idf modifier."""
        return self._call("sparse_stats", name, dims)

    def versions(self) -> tuple[list, list]:
        return self._call("versions")

    def last_op(self) -> int:
        return self._call("last_op", timeout=5.0)

    def close(self, drop: bool = False) -> None:
        pass


def fetch_shard_snapshot(channels: PeerChannels, address: str, collection_uuid: str,
                         shard_id: int, target: Path, timeout: float = 600.0) -> Path:
    """Receive a snapshot of the peer's replica of a shard into the file ``target`` (the
    ``node.snapshot_archive`` format, to be extracted and verified by the caller)."""
    request = peer_pb2.ShardCall(collection=collection_uuid, shard_id=shard_id)
    with channels.channel(address, [("grpc.max_receive_message_length", _MAX_MESSAGE)]) as channel:
        stub = peer_pb2_grpc.PeerSnapshotsStub(channel)
        try:
            with open(target, "wb") as out:
                for chunk in stub.ShardSnapshot(request, timeout=timeout,
                                                metadata=channels.metadata):
                    out.write(chunk.data)
                    channels.received_bytes["snapshot"] += len(chunk.data)
        except grpc.RpcError as exc:
            raise ReplicaUnavailable(f"shard snapshot from peer {address} failed: "
                                     f"{exc.code().name} {exc.details()}") from exc
    return target
