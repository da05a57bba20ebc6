"""Channels to peers, against a real peer service on loopback: a peer that comes back is reached
at once after ``reconnect``, not after the old channel's reconnect backoff; a connected channel
is kept; a write a transfer source forwards waits for a target still placing its replica."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from node.errors import ReplicaNotHere
from node.peer_service import PeerService, add_peer_service
from router.collection.remote_replica import PeerChannels, RemoteReplica, ReplicaUnavailable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int) -> grpc.Server:
    server = grpc.server(ThreadPoolExecutor(2))
    add_peer_service(server, PeerService(lambda *_: None, {"applied_index": lambda: 7}))
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    server.start()
    return server


def _peer() -> tuple[int, str, PeerChannels, grpc.Server]:
    port = _free_port()
    return port, f"127.0.0.1:{port}", PeerChannels(), _serve(port)


def _until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_peer_that_came_back_is_reached_at_once_after_reconnect():
    port, address, channels, server = _peer()
    try:
        assert channels.call(address, "", 0, "applied_index") == 7
        link = channels._links[address]
        assert _until(lambda: link.state == grpc.ChannelConnectivity.READY, 2)
        server.stop(0).wait()
        # the peer is down for a while: calls fail, the channel backs off between attempts
        for _ in range(3):
            with pytest.raises(ReplicaUnavailable):
                channels.call(address, "", 0, "applied_index", timeout=1.0)
            time.sleep(0.5)
        assert _until(lambda: link.state == grpc.ChannelConnectivity.TRANSIENT_FAILURE, 2)
        server = _serve(port)
        assert link.state != grpc.ChannelConnectivity.READY  # still in its backoff
        channels.reconnect(address)
        assert channels._links[address] is not link
        started = time.monotonic()
        assert channels.call(address, "", 0, "applied_index", timeout=0.3,
                             wait_for_ready=True) == 7
        assert time.monotonic() - started < 0.3
    finally:
        server.stop(0).wait()


def test_reconnect_keeps_a_connected_channel_and_one_just_opened():
    _, address, channels, server = _peer()
    try:
        channels.reconnect(address)  # none yet: one is opened
        opened = channels._links[address]
        channels.reconnect(address)  # connecting afresh already: kept
        assert channels._links[address] is opened
        assert channels.call(address, "", 0, "applied_index") == 7
        assert _until(lambda: opened.state == grpc.ChannelConnectivity.READY, 2)
        time.sleep(1.0)
        channels.reconnect(address)
        assert channels._links[address] is opened
    finally:
        server.stop(0).wait()


class _Placed:
    """A peer's replica that consensus placed there, which the peer opens only after
    ``delay`` seconds (its metadata lags the transfer source's): calls find no replica till then."""

    def __init__(self, delay: float) -> None:
        self.opened = time.monotonic() + delay
        self.applied: list[tuple] = []

    def lookup(self, collection: str, shard_id: int):
        return self if time.monotonic() >= self.opened else None

    def apply(self, op_num: int, op: dict, wait: bool) -> None:
        self.applied.append((op_num, op, wait))


def _serve_replica(port: int, replica: _Placed) -> grpc.Server:
    server = grpc.server(ThreadPoolExecutor(2))
    add_peer_service(server, PeerService(replica.lookup, {}))
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    server.start()
    return server


def test_a_forwarded_write_waits_for_a_target_that_has_not_placed_its_replica_yet():
    """CI saw a replicate_shard aborted: the source forwarded a write before the target had
    applied the transfer's metadata (the target waits only 1 s for it), so the forward failed."""
    port = _free_port()
    replica = _Placed(delay=2.5)
    server = _serve_replica(port, replica)
    try:
        remote = RemoteReplica(PeerChannels(), f"127.0.0.1:{port}", "uuid", 0)
        op = {"type": "delete_points", "ids": [1]}
        remote.forward(5, op, True)
        assert replica.applied == [(5, op, True)]
        assert time.monotonic() >= replica.opened
    finally:
        server.stop(0).wait()


def test_a_plain_call_to_a_replica_not_here_fails_at_once():
    port = _free_port()
    server = _serve_replica(port, _Placed(delay=60))
    try:
        remote = RemoteReplica(PeerChannels(), f"127.0.0.1:{port}", "uuid", 0)
        started = time.monotonic()
        with pytest.raises(ReplicaNotHere, match="Shard 0 of collection uuid is not on this peer"):
            remote.apply(5, {"type": "delete_points", "ids": [1]}, True)
        assert time.monotonic() - started < 2
    finally:
        server.stop(0).wait()
