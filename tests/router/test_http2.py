"""router.api.grpc.http2 on a real loopback socket: what the end-to-end tests cannot reach through
a node — refusing calls after GOAWAY, a connection error, and a window change that lets a
waiting answer go on."""

from __future__ import annotations

import asyncio
import struct

import hpack

from router.api.grpc import http2, http2_frames

PREFACE = http2_frames.PREFACE
HEADERS_BLOCK = [
    (":method", "POST"), (":scheme", "http"), (":path", "/test.Echo/Call"),
    (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers"),
]


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.encoder = hpack.Encoder()

    def send(self, *frames: bytes) -> None:
        self.writer.write(b"".join(frames))

    def request(self, stream_id: int, message: bytes = b"", end: bool = True) -> bytes:
        block = self.encoder.encode(HEADERS_BLOCK)
        data = struct.pack(">BI", 0, len(message)) + message
        return (http2_frames.frame(http2_frames.HEADERS, http2_frames.END_HEADERS, stream_id, block)
                + http2_frames.frame(http2_frames.DATA, http2_frames.END_STREAM if end else 0,
                                     stream_id, data))

    async def frame(self, timeout: float = 5) -> tuple[int, int, int, bytes] | None:
        """The next frame, or None when the connection is closed."""
        try:
            head = await asyncio.wait_for(self.reader.readexactly(9), timeout)
        except asyncio.IncompleteReadError:
            return None
        size = int.from_bytes(head[:3], "big")
        payload = await asyncio.wait_for(self.reader.readexactly(size), timeout)
        return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, payload

    async def until(self, kind: int, stream_id: int | None = None) -> tuple[int, bytes]:
        while True:
            got = await self.frame()
            assert got is not None, "the connection closed"
            if got[0] == kind and (stream_id is None or got[2] == stream_id):
                return got[1], got[3]

    async def data_of(self, stream_id: int, timeout: float) -> bytes:
        """DATA bytes of a stream that arrive within ``timeout`` seconds."""
        data = b""
        while True:
            try:
                got = await self.frame(timeout)
            except asyncio.TimeoutError:
                return data
            assert got is not None
            if got[0] == http2_frames.DATA and got[2] == stream_id:
                data += got[3]


async def _serve(on_stream, settings: bytes = b""):
    connections: set = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: http2.Http2Connection(on_stream, 1 << 20, connections), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = Client(reader, writer)
    client.send(PREFACE, http2_frames.frame(http2_frames.SETTINGS, 0, 0, settings))
    await client.until(http2_frames.SETTINGS)  # the server's own settings
    await client.until(http2_frames.SETTINGS)  # its ACK of ours: from here on they apply
    return server, connections, client


def _echo(answer: bytes = b"pong"):
    streams = []

    def on_stream(stream):
        streams.append(stream)
        stream.on_end = lambda: stream.connection.respond(stream, answer)

    return on_stream, streams


def test_after_goaway_new_calls_are_refused_and_calls_in_flight_finish():
    async def main():
        held = []

        def on_stream(stream):
            held.append(stream)  # answered later, by hand

        server, connections, client = await _serve(on_stream)
        client.send(client.request(1))
        while not held:
            await asyncio.sleep(0.01)
        (connection,) = connections
        connection.shut_down()
        _, goaway = await client.until(http2_frames.GOAWAY)
        last_stream, code = struct.unpack(">II", goaway[:8])
        assert (last_stream, code) == (1, http2_frames.NO_ERROR)
        client.send(client.request(3))
        _, reset = await client.until(http2_frames.RST_STREAM, 3)
        assert struct.unpack(">I", reset)[0] == http2_frames.REFUSED_STREAM
        assert len(held) == 1  # stream 3 never reached the application
        assert not connection.idle.is_set()
        connection.respond(held[0], b"late")  # the call in flight still gets its answer
        _, body = await client.until(http2_frames.DATA, 1)
        assert body[5:] == b"late"
        await asyncio.wait_for(connection.idle.wait(), 5)
        client.writer.close()
        server.close()

    asyncio.run(main())


def test_a_frame_between_headers_and_continuation_closes_the_connection():
    async def main():
        on_stream, streams = _echo()
        server, _, client = await _serve(on_stream)
        block = client.encoder.encode(HEADERS_BLOCK)
        client.send(http2_frames.frame(http2_frames.HEADERS, 0, 1, block[:4]),  # no END_HEADERS
                    http2_frames.frame(http2_frames.PING, 0, 0, b"12345678"))
        _, goaway = await client.until(http2_frames.GOAWAY)
        assert struct.unpack(">II", goaway[:8])[1] == http2_frames.PROTOCOL_ERROR
        while await client.frame() is not None:  # then the node closes the socket
            pass
        assert streams == []
        server.close()

    asyncio.run(main())


def test_a_larger_initial_window_lets_a_waiting_answer_go_on():
    async def main():
        answer = bytes(range(256)) * 4  # 1 KiB
        on_stream, _ = _echo(answer)
        small = struct.pack(">HI", http2_frames.SETTINGS_INITIAL_WINDOW_SIZE, 100)
        server, _, client = await _serve(on_stream, settings=small)
        client.send(client.request(1))
        first = await client.data_of(1, timeout=0.5)
        assert len(first) == 100  # the stream's window, and no more
        bigger = struct.pack(">HI", http2_frames.SETTINGS_INITIAL_WINDOW_SIZE, 1 << 16)
        client.send(http2_frames.frame(http2_frames.SETTINGS, 0, 0, bigger))
        rest = await client.data_of(1, timeout=0.5)
        assert first + rest == struct.pack(">BI", 0, len(answer)) + answer
        client.writer.close()
        server.close()

    asyncio.run(main())


def test_an_answered_call_leaves_nothing_for_the_cyclic_gc():
    """Handlers close over their stream and keep its request (as router.api.grpc.front does):
    once answered, the connection drops those callbacks, so plain reference counting frees the
    stream and its request at once. Left to the cyclic GC, a bulk load's request bodies piled
    up (tens of MB) between its rare full collections."""
    import gc

    from router.api.grpc.http2_streams import Stream

    def on_stream(stream):
        kept = []
        stream.on_message = kept.append
        stream.on_end = lambda: stream.connection.respond(stream, b"ok" + bytes(len(kept)))

    async def main():
        server, _, client = await _serve(on_stream)
        for stream_id in range(1, 41, 2):
            client.send(client.request(stream_id, b"x" * 10_000))
            await client.until(http2_frames.DATA, stream_id)  # answered
        await asyncio.sleep(0.05)
        alive = sum(1 for o in gc.get_objects() if isinstance(o, Stream))
        client.writer.close()
        server.close()
        return alive

    gc.collect()
    gc.disable()
    try:
        alive = asyncio.run(main())
    finally:
        gc.enable()
    assert alive == 0
