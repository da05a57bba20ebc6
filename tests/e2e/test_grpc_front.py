"""The gRPC port's own HTTP/2 front (router.grpc.front, router.grpc.http2) on a real node.

What grpcio's server used to do for us and the front must now do itself: flow control both
ways (answers and requests larger than a window or a frame), compressed requests, header
blocks in CONTINUATION frames, padding, PING, a reset stream, and passing the calls it does
not answer itself (health, reflection, unknown methods) on to grpcio.
"""

from __future__ import annotations

import socket
import struct
import uuid

import grpc
import hpack
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as pb

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, CONTINUATION = 0, 1, 3, 4, 6, 9


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, kind, flags, stream_id) + payload


def grpc_body(message: bytes) -> bytes:
    return struct.pack(">BI", 0, len(message)) + message


@pytest.fixture
def collection(node, http):
    name = f"front_{uuid.uuid4().hex[:8]}"
    r = http.put(f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Dot"}})
    assert r.status_code == 200, r.text
    yield name
    http.delete(f"/collections/{name}")


def grpc_client(node, **kw) -> QdrantClient:
    return QdrantClient(host=node.host, port=node.http_port, grpc_port=node.grpc_port,
                        prefer_grpc=True, check_compatibility=False, **kw)


def test_answers_and_requests_larger_than_windows_and_frames(node, http, collection):
    """A 3 MB upsert (many DATA frames, more than a 64 KiB window) and a ~1.2 MB scroll answer
    (the client's window and frame size bound what the node may send at once)."""
    client = grpc_client(node)
    try:
        text = "x" * 4000
        points = [
            models.PointStruct(id=i, vector=[float(i), 1.0, 0.0, 0.5],
                               payload={"i": i, "text": text, "more": [text] * 2})
            for i in range(300)
        ]
        client.upsert(collection, points, wait=True)
        records, _ = client.scroll(collection, limit=300, with_payload=True)
        assert sorted(r.id for r in records) == list(range(300))
        assert all(r.payload["text"] == text and r.payload["more"] == [text] * 2
                   for r in records)
        rest = http.post(f"/collections/{collection}/points/count", json={"exact": True})
        assert rest.json()["result"]["count"] == 300
    finally:
        client.close()


def test_gzip_compressed_calls(node, collection):
    client = grpc_client(node, grpc_compression=grpc.Compression.Gzip)
    try:
        client.upsert(collection, [
            models.PointStruct(id=i, vector=[float(i), 0.0, 1.0, 0.0]) for i in range(1, 21)
        ], wait=True)
        hits = client.query_points(collection, query=[1.0, 0.0, 0.0, 0.0], limit=3).points
        assert [h.id for h in hits] == [20, 19, 18]
    finally:
        client.close()


def test_calls_it_does_not_serve_go_to_grpcio(node):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"{node.host}:{node.grpc_port}") as channel:
        check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary("/qdrant.Points/NoSuchMethod")(b"", timeout=10)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        # reflection is a bidirectional stream, relayed message by message
        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = list(stub.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="qdrant.Points"),
        ])))
        names = {s.name for s in answers[0].list_services_response.service}
        assert {"qdrant.Points", "qdrant.Collections", "grpc.health.v1.Health"} <= names
        assert answers[1].file_descriptor_response.file_descriptor_proto


def test_undecodable_message_is_internal(node):
    with grpc.insecure_channel(f"{node.host}:{node.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as info:
            channel.unary_unary("/qdrant.Points/Query")(b"\xff\xff\xff", timeout=10)
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "failed to decode Protobuf message" in info.value.details()


class RawConnection:
    """A bare HTTP/2 client socket: frames in, frames out."""

    def __init__(self, node, settings: bytes = b"") -> None:
        self.sock = socket.create_connection((node.host, node.grpc_port), timeout=10)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))
        self.buffer = b""
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request_headers(self, path: str) -> bytes:
        return self.encoder.encode([
            (":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", "localhost"), ("content-type", "application/grpc"),
            ("te", "trailers"), ("x-padding-header", "p" * 100),
        ])

    def next_frame(self) -> tuple[int, int, int, bytes]:
        while True:
            if len(self.buffer) >= 9:
                size = int.from_bytes(self.buffer[:3], "big")
                if len(self.buffer) >= 9 + size:
                    kind, flags = self.buffer[3], self.buffer[4]
                    sid = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
                    payload = self.buffer[9:9 + size]
                    self.buffer = self.buffer[9 + size:]
                    return kind, flags, sid, payload
            chunk = self.sock.recv(65536)
            assert chunk, "the node closed the connection"
            self.buffer += chunk

    def answer(self, stream_id: int) -> tuple[dict, bytes]:
        """(trailers, DATA bytes: the length-prefixed message) of one call, skipping other
        frames."""
        body = b""
        while True:
            kind, flags, sid, payload = self.next_frame()
            if sid != stream_id:
                continue
            if kind == DATA:
                body += payload
            elif kind == HEADERS:
                headers = dict(self.decoder.decode(payload, raw=True))
                if flags & 0x1:
                    return headers, body
            elif kind == RST_STREAM:
                raise AssertionError("stream reset")

    def close(self) -> None:
        self.sock.close()


def test_raw_frames_continuation_padding_ping_and_reset(node, collection, http):
    http.put(f"/collections/{collection}/points?wait=true", json={"points": [
        {"id": 1, "vector": [1, 0, 0, 0]}, {"id": 2, "vector": [0, 1, 0, 0]}]})
    query = pb.QueryPoints(
        collection_name=collection, limit=1,
        query=pb.Query(nearest=pb.VectorInput(dense=pb.DenseVector(data=[0.0, 1.0, 0.0, 0.0]))),
    ).SerializeToString()
    raw = RawConnection(node)
    try:
        # a PING is answered with the same payload
        raw.send(frame(PING, 0, 0, b"12345678"))
        while True:
            kind, flags, _, payload = raw.next_frame()
            if kind == PING:
                assert flags & 0x1 and payload == b"12345678"
                break
        # stream 1: the header block split over HEADERS + CONTINUATION, the message split
        # over two DATA frames, the second one padded
        block = raw.request_headers("/qdrant.Points/Query")
        body = grpc_body(query)
        raw.send(frame(HEADERS, 0, 1, block[:10]) + frame(CONTINUATION, 0x4, 1, block[10:]))
        raw.send(frame(DATA, 0, 1, body[:7]))
        raw.send(frame(DATA, 0x1 | 0x8, 1, bytes([3]) + body[7:] + b"\0\0\0"))
        trailers, message = raw.answer(1)
        assert trailers[b"grpc-status"] == b"0"
        assert [p.id.num for p in pb.QueryResponse.FromString(message[5:]).result] == [2]
        # stream 3 is reset by the client half way; stream 5 on the same connection still works
        raw.send(frame(HEADERS, 0x4, 3, raw.request_headers("/qdrant.Points/Query")))
        raw.send(frame(DATA, 0, 3, body[:4]))
        raw.send(frame(RST_STREAM, 0, 3, struct.pack(">I", 8)))
        raw.send(frame(HEADERS, 0x4, 5, raw.request_headers("/qdrant.Points/Query"))
                 + frame(DATA, 0x1, 5, body))
        trailers, message = raw.answer(5)
        assert trailers[b"grpc-status"] == b"0"
        assert [p.id.num for p in pb.QueryResponse.FromString(message[5:]).result] == [2]
        # a request that ends inside a message
        raw.send(frame(HEADERS, 0x4, 7, raw.request_headers("/qdrant.Points/Query"))
                 + frame(DATA, 0x1, 7, body[:-1]))
        trailers, _ = raw.answer(7)
        assert trailers[b"grpc-status"] == str(grpc.StatusCode.INTERNAL.value[0]).encode()
        # a message announced larger than 64 MiB is refused from its length prefix alone
        raw.send(frame(HEADERS, 0x4, 9, raw.request_headers("/qdrant.Points/Query"))
                 + frame(DATA, 0, 9, struct.pack(">BI", 0, 100_000_000) + b"abc"))
        trailers, _ = raw.answer(9)
        assert trailers[b"grpc-status"] == b"8"  # RESOURCE_EXHAUSTED
        assert b"larger than max (100000000 vs. 67108864)" in trailers[b"grpc-message"]
        # and the connection still serves calls
        raw.send(frame(HEADERS, 0x4, 11, raw.request_headers("/qdrant.Points/Query"))
                 + frame(DATA, 0x1, 11, body))
        trailers, message = raw.answer(11)
        assert trailers[b"grpc-status"] == b"0"
    finally:
        raw.close()


def test_answers_wait_for_the_clients_flow_control_window(node, collection, http):
    """With a 100-byte stream window, the node sends 100 bytes of the answer and waits for a
    WINDOW_UPDATE before the rest."""
    http.put(f"/collections/{collection}/points?wait=true", json={"points": [
        {"id": i, "vector": [1, 0, 0, 0], "payload": {"text": "y" * 500}} for i in range(10)]})
    scroll = pb.ScrollPoints(
        collection_name=collection, limit=10,
        with_payload=pb.WithPayloadSelector(enable=True),
    ).SerializeToString()
    raw = RawConnection(node, settings=struct.pack(">HI", 4, 100))
    try:
        while True:  # the node's SETTINGS ACK: from here on, our window is 100 bytes
            kind, flags, _, _ = raw.next_frame()
            if kind == SETTINGS and flags & 0x1:
                break
        raw.send(frame(HEADERS, 0x4, 1, raw.request_headers("/qdrant.Points/Scroll"))
                 + frame(DATA, 0x1, 1, grpc_body(scroll)))
        received = b""
        raw.sock.settimeout(1.0)
        try:
            while True:
                kind, _, sid, payload = raw.next_frame()
                if kind == DATA and sid == 1:
                    received += payload
        except TimeoutError:
            pass
        assert len(received) == 100
        raw.sock.settimeout(10)
        raw.send(frame(8, 0, 1, struct.pack(">I", 1 << 20)))  # WINDOW_UPDATE for stream 1
        trailers, rest = raw.answer(1)
        assert trailers[b"grpc-status"] == b"0"
        answer = pb.ScrollResponse.FromString((received + rest)[5:])
        assert sorted(p.id.num for p in answer.result) == list(range(10))
        assert len(received + rest) > 5000
    finally:
        raw.close()


def test_api_key_on_answered_and_relayed_calls(fresh_node):
    node = fresh_node(QDRANT__SERVICE__API_KEY="sesame")
    target = f"{node.host}:{node.grpc_port}"
    with grpc.insecure_channel(target) as channel:
        list_collections = channel.unary_unary(
            "/qdrant.Collections/List",
            request_serializer=pb.ListCollectionsRequest.SerializeToString,
            response_deserializer=pb.ListCollectionsResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as info:
            list_collections(pb.ListCollectionsRequest(), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert list_collections(pb.ListCollectionsRequest(), timeout=10,
                                metadata=[("api-key", "sesame")]).collections == []
        # reflection is relayed to grpcio, whose interceptor sees the relayed metadata
        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        ask = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as info:
            list(stub.ServerReflectionInfo(iter([ask]), timeout=10))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answers = list(stub.ServerReflectionInfo(iter([ask]), timeout=10,
                                                 metadata=[("api-key", "sesame")]))
        assert answers[0].list_services_response.service


def test_another_http2_implementation_h2(node):
    """The `h2` library as the client (Huffman-coded headers, its own SETTINGS and flow
    control): a call answered by the front and one relayed to grpcio."""
    import h2.config
    import h2.connection
    import h2.events
    from grpc_health.v1 import health_pb2

    sock = socket.create_connection((node.host, node.grpc_port), timeout=10)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    calls = {
        "/qdrant.Qdrant/HealthCheck": pb.HealthCheckRequest().SerializeToString(),
        "/grpc.health.v1.Health/Check": health_pb2.HealthCheckRequest().SerializeToString(),
    }
    streams = {}
    for path, message in calls.items():
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [
            (":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", f"{node.host}:{node.grpc_port}"),
            ("content-type", "application/grpc"), ("te", "trailers"),
            ("user-agent", "h2-test/1.0 " + "u" * 40),
        ])
        conn.send_data(sid, grpc_body(message), end_stream=True)
        streams[sid] = {"path": path, "data": b"", "trailers": None}
    sock.sendall(conn.data_to_send())
    try:
        while any(s["trailers"] is None for s in streams.values()):
            chunk = sock.recv(65536)
            assert chunk, "the node closed the connection"
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.DataReceived):
                    streams[event.stream_id]["data"] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.TrailersReceived):
                    streams[event.stream_id]["trailers"] = dict(event.headers)
            sock.sendall(conn.data_to_send())
    finally:
        sock.close()
    by_path = {s["path"]: s for s in streams.values()}
    own = by_path["/qdrant.Qdrant/HealthCheck"]
    assert own["trailers"][b"grpc-status"] == b"0"
    assert pb.HealthCheckReply.FromString(own["data"][5:]).title == "qdrant - vector search engine"
    relayed = by_path["/grpc.health.v1.Health/Check"]
    assert relayed["trailers"][b"grpc-status"] == b"0"
    reply = health_pb2.HealthCheckResponse.FromString(relayed["data"][5:])
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
