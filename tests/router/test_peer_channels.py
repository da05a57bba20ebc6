"""Channels to peers, against a real peer service on loopback: a peer that comes back is reached
at once after ``reconnect``, not after the old channel's reconnect backoff; a connected channel
is kept."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from node.peer_service import PeerService, add_peer_service
from router.collection.remote_replica import PeerChannels, ReplicaUnavailable


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
