"""A real node's gRPC port under HTTP/2 attacks, with the production limits: each attack is cut
off, the node's resident memory stays bounded (VmRSS before and after, printed with -s), and
qdrant-client keeps being served on another connection throughout."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import hpack
import pytest
from qdrant_client import models

from router.api.grpc import http2_frames as F
from tests.support.node import Node

HEADERS = [(":method", "POST"), (":scheme", "http"), (":path", "/qdrant.Points/Count"),
           (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers")]
MIB = 1024 * 1024


def _rss(node: Node) -> int:
    for line in Path(f"/proc/{node.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _connect(node: Node) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", node.grpc_port), timeout=10)
    sock.sendall(F.PREFACE + F.frame(F.SETTINGS, 0, 0))
    return sock


def _until_closed(sock: socket.socket, timeout: float = 20) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


def _attack(node: Node, data: bytes) -> bool:
    """Send ``data`` on a new connection; True once the node closed it."""
    sock = _connect(node)
    try:
        sock.sendall(data)
    except OSError:  # the node may close it before everything is sent
        pass
    return _until_closed(sock)


def _rapid_reset(node: Node) -> bool:
    encoder = hpack.Encoder()
    return _attack(node, b"".join(
        F.frame(F.HEADERS, F.END_HEADERS, sid, encoder.encode(HEADERS))
        + F.frame(F.RST_STREAM, 0, sid, struct.pack(">I", 8)) for sid in range(1, 6000, 2)))


def _ping_flood(node: Node) -> bool:
    return _attack(node, F.frame(F.PING, 0, 0, b"12345678") * 20_000)


def _continuation_flood(node: Node) -> bool:
    return _attack(node, F.frame(F.HEADERS, 0, 1, hpack.Encoder().encode(HEADERS))
                   + F.frame(F.CONTINUATION, 0, 1, b"\x00" * 16_000) * 200)


def _held_uploads(node: Node, streams: int = 128, size: int = 512 * 1024) -> socket.socket:
    """``streams`` calls, each holding the first ``size`` bytes of a message never finished."""
    sock, encoder = _connect(node), hpack.Encoder()
    body = struct.pack(">BI", 0, 8 * MIB) + b"\x01" * (size - 5)
    for sid in range(1, 2 * streams, 2):
        sock.sendall(F.frame(F.HEADERS, F.END_HEADERS, sid, encoder.encode(HEADERS)) + b"".join(
            F.frame(F.DATA, 0, sid, body[i:i + 16_000]) for i in range(0, size, 16_000)))
    return sock


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("h2"))
    node.start().wait_ready(60)
    client = node.client(prefer_grpc=True)
    client.create_collection("c", vectors_config=models.VectorParams(
        size=2, distance=models.Distance.DOT))
    client.upsert("c", [models.PointStruct(id=1, vector=[1.0, 0.0])], wait=True)
    yield node, client
    node.stop()


@pytest.mark.parametrize("attack", [_rapid_reset, _ping_flood, _continuation_flood],
                         ids=lambda a: a.__name__.strip("_"))
def test_each_attack_is_cut_off_and_memory_stays_bounded(target, attack):
    node, client = target
    before = _rss(node)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(attack(node))) for _ in range(8)]
    for thread in threads:
        thread.start()
    served = 0
    while any(t.is_alive() for t in threads):
        assert client.count("c").count == 1  # another connection is served meanwhile
        served += 1
    for thread in threads:
        thread.join()
    after = _rss(node)
    print(f"\n{attack.__name__}: 8 connections, RSS {before / MIB:.0f} -> {after / MIB:.0f} MiB, "
          f"{served} calls served meanwhile")
    assert results == [True] * 8  # every attacking connection was closed by the node
    assert after - before < 64 * MIB


def test_held_uploads_are_bounded_by_the_request_byte_budget(target):
    node, client = target
    before = _rss(node)
    socks = [_held_uploads(node) for _ in range(6)]  # 6 x 128 x 512 KiB = 384 MiB attempted
    try:
        peak = _rss(node)
        assert client.count("c").count == 1  # small calls are served while the budget is full
        print(f"\nheld uploads: 384 MiB attempted, RSS {before / MIB:.0f} -> {peak / MIB:.0f} MiB")
        # the budget (256 MiB) plus each call's free 64 KiB (6 x 128 x 64 KiB = 48 MiB)
        assert peak - before < 360 * MIB
    finally:
        for sock in socks:
            sock.close()
