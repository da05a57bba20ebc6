"""The gRPC port's HTTP/2 connection under the attacks a public HTTP/2 server meets, on a real
loopback socket with small limits (router.api.grpc.http2_limits): each one is refused the way
RFC 9113 says, and the connection (or the server) goes on serving what is legitimate."""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import threading

import hpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.api.grpc import http2, http2_frames
from router.api.grpc.http2_limits import Budget, Http2Limits
from tests.router.test_http2 import HEADERS_BLOCK, PREFACE, Client

F = http2_frames
LIMITS = Http2Limits(max_concurrent_streams=4, max_header_list=4096, max_header_block=8192,
                     stream_window=65_535, connection_window=200_000, resets_per_sec=10,
                     reset_burst=20, control_per_sec=10, control_burst=50,
                     handshake_timeout=0.5, header_timeout=0.5, idle_timeout=0.8,
                     request_idle_timeout=0.5, tick=0.1)


async def _serve(on_stream, limits: Http2Limits = LIMITS, budget: Budget | None = None,
                 handshake: bool = True):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: http2.Http2Connection(on_stream, 1 << 20, set(), limits, budget),
        "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = Client(reader, writer)
    if handshake:
        client.send(PREFACE, F.frame(F.SETTINGS, 0, 0))
        _, settings = await client.until(F.SETTINGS)
        client.settings = dict(struct.iter_unpack(">HI", settings))
        await client.until(F.SETTINGS)
    return server, client


def _held():
    streams = []
    return streams, streams.append


def _echo(stream):
    stream.on_end = lambda: stream.connection.respond(stream, b"pong")


async def _closed(client: Client, within: float = 5.0) -> bool:
    """Whether the server closes the connection within ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    try:
        while await client.frame(max(0.01, deadline - loop.time())) is not None:
            pass
    except ConnectionResetError:
        pass
    except asyncio.TimeoutError:
        return False
    return True


async def _goaway_code(client: Client) -> int:
    _, payload = await client.until(F.GOAWAY)
    assert await _closed(client)  # and then the socket closes
    return struct.unpack(">II", payload[:8])[1]


def _partial(client: Client, sid: int, size: int) -> bytes:
    """HEADERS, then the first ``size`` bytes of a 900 KB message, in frames of 16 KB."""
    body = struct.pack(">BI", 0, 900_000) + b"\x01" * (size - 5)
    block = client.encoder.encode(HEADERS_BLOCK)
    frames = [F.frame(F.HEADERS, F.END_HEADERS, sid, block)]
    frames += [F.frame(F.DATA, 0, sid, body[i:i + 16_000]) for i in range(0, size, 16_000)]
    return b"".join(frames)


def _run(coroutine) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 20))


def test_streams_past_the_advertised_maximum_are_refused():
    async def main():
        held, on_stream = _held()
        server, client = await _serve(on_stream)
        assert client.settings[F.SETTINGS_MAX_CONCURRENT_STREAMS] == 4
        for sid in (1, 3, 5, 7, 9):
            client.send(client.request(sid))
        _, reset = await client.until(F.RST_STREAM, 9)
        assert struct.unpack(">I", reset)[0] == F.REFUSED_STREAM
        assert [s.id for s in held] == [1, 3, 5, 7]
        held[0].connection.respond(held[0], b"done")  # one answered: room for a new one
        client.send(client.request(11))
        await asyncio.sleep(0.1)
        assert [s.id for s in held][-1] == 11
        server.close()

    _run(main())


def test_oversized_header_lists_and_endless_continuations_end_the_connection():
    async def main():
        server, client = await _serve(_echo)
        assert client.settings[F.SETTINGS_MAX_HEADER_LIST_SIZE] == 4096
        block = client.encoder.encode(HEADERS_BLOCK + [("x-big", "v" * 6000)])
        client.send(F.frame(F.HEADERS, F.END_HEADERS | F.END_STREAM, 1, block))
        assert await _goaway_code(client) == F.ENHANCE_YOUR_CALM

        server, client = await _serve(_echo)
        client.send(F.frame(F.HEADERS, 0, 1, client.encoder.encode(HEADERS_BLOCK)))
        for _ in range(20):  # CONTINUATION flood: the block never ends
            client.send(F.frame(F.CONTINUATION, 0, 1, b"\x00" * 1000))
        assert await _goaway_code(client) == F.ENHANCE_YOUR_CALM
        server.close()

    _run(main())


def test_rapid_reset_is_bounded():
    async def main():
        held, on_stream = _held()
        server, client = await _serve(on_stream)
        for sid in range(1, 2 * 200, 2):
            client.send(client.request(sid, end=False),
                        F.frame(F.RST_STREAM, 0, sid, struct.pack(">I", 8)))  # CANCEL
        assert await _goaway_code(client) == F.ENHANCE_YOUR_CALM
        assert len(held) <= LIMITS.reset_burst + 2  # the application saw a bounded churn
        server.close()

    _run(main())


def test_ping_and_settings_floods_are_bounded():
    async def main():
        for flood in (F.frame(F.PING, 0, 0, b"12345678"), F.frame(F.SETTINGS, 0, 0),
                      F.frame(F.PRIORITY, 0, 1, b"\x00" * 5)):
            server, client = await _serve(_echo)
            client.send(flood * 500)
            assert await _goaway_code(client) == F.ENHANCE_YOUR_CALM
            server.close()

    _run(main())


def test_data_past_the_granted_window_is_a_flow_control_error():
    async def main():
        held, on_stream = _held()
        small = Http2Limits(stream_window=10_000)
        server, client = await _serve(on_stream, small)
        assert client.settings[F.SETTINGS_INITIAL_WINDOW_SIZE] == 10_000
        client.send(client.request(1, b"", end=False), F.frame(F.DATA, 0, 1, b"\x00" * 12_000))
        _, reset = await client.until(F.RST_STREAM, 1)
        assert struct.unpack(">I", reset)[0] == F.FLOW_CONTROL_ERROR
        assert held[0].local_closed  # and the application was told
        server.close()

    _run(main())


def test_timeouts_for_handshake_header_block_idle_connection_and_stalled_request():
    async def main():
        server, client = await _serve(_echo, handshake=False)
        client.send(PREFACE[:10])  # and nothing more
        assert await _closed(client, 3)
        server.close()

        server, client = await _serve(_echo)
        client.send(F.frame(F.HEADERS, 0, 1, client.encoder.encode(HEADERS_BLOCK)))
        assert await _goaway_code(client) == F.ENHANCE_YOUR_CALM

        server, client = await _serve(_echo)  # no call at all
        assert await _goaway_code(client) == F.NO_ERROR

        held, on_stream = _held()
        server, client = await _serve(on_stream)
        client.send(client.request(1, b"", end=False))  # the request never ends
        _, trailers = await client.until(F.HEADERS, 1)
        assert b"stalled" in trailers
        server.close()

    _run(main())


def test_request_bytes_are_bounded_across_connections_and_gzip_bombs_refused():
    async def main():
        budget = Budget(100_000)
        limits = Http2Limits(stream_window=1 << 20, connection_window=1 << 22, free_per_stream=0)
        held, on_stream = _held()
        server, client = await _serve(on_stream, limits, budget)
        _, second = await _serve(on_stream, limits, budget)
        for sid, who in ((1, client), (3, client), (1, second)):
            who.send(_partial(who, sid, 40_000))
        _, trailers = await second.until(F.HEADERS, 1)
        assert b"too many request bytes" in trailers
        assert budget.used <= 100_000
        client.writer.close()
        await asyncio.sleep(0.2)
        assert budget.used == 0  # a closed connection gives its bytes back

        server, client = await _serve(_echo)
        bomb = gzip.compress(b"\x00" * (4 << 20))  # 4 MB from ~4 KB; max_message is 1 MB
        headers = HEADERS_BLOCK + [("grpc-encoding", "gzip")]
        data = struct.pack(">BI", 1, len(bomb)) + bomb
        client.send(F.frame(F.HEADERS, F.END_HEADERS, 1, client.encoder.encode(headers)),
                    F.frame(F.DATA, F.END_STREAM, 1, data))
        _, trailers = await client.until(F.HEADERS, 1)
        assert b"grpc-status" in trailers and b"larger than max" in trailers
        server.close()

    _run(main())


@pytest.fixture(autouse=True)
def _short_linger(monkeypatch):
    monkeypatch.setattr(http2, "LINGER_SEC", 0.05)


def test_a_padded_frame_without_its_pad_length_is_a_protocol_error():
    async def main():
        server, client = await _serve(_echo)
        client.send(F.frame(F.HEADERS, F.PADDED | F.END_HEADERS, 1, b""))
        assert await _goaway_code(client) == F.PROTOCOL_ERROR  # found by the fuzz test below
        server.close()

    _run(main())


class _Server:
    """One connection factory on a loop of its own thread, for the fuzz test's many examples."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.budget = Budget(1 << 22)
        self.errors: list[dict] = []  # what the loop would log: an exception a frame raised
        self.loop.set_exception_handler(lambda _loop, context: self.errors.append(context))
        thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        thread.start()

        async def start():
            return await self.loop.create_server(
                lambda: http2.Http2Connection(_echo, 1 << 20, set(), LIMITS, self.budget),
                "127.0.0.1", 0)

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result()
        self.port = self.server.sockets[0].getsockname()[1]

    def call_works(self) -> bool:
        """A good call on a new connection is answered."""
        encoder = hpack.Encoder()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(PREFACE + F.frame(F.SETTINGS, 0, 0)
                         + F.frame(F.HEADERS, F.END_HEADERS, 1, encoder.encode(HEADERS_BLOCK))
                         + F.frame(F.DATA, F.END_STREAM, 1, struct.pack(">BI", 0, 2) + b"hi"))
            received = b""
            while b"pong" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                received += chunk
        return True


_FRAMES = st.tuples(
    st.integers(0, 12),  # kind: every defined one and a few unknown
    st.integers(0, 255),  # flags
    st.sampled_from([0, 1, 3, 5, 2**31 - 1]),  # stream id
    st.binary(max_size=64) | st.sampled_from([
        hpack.Encoder().encode(HEADERS_BLOCK), struct.pack(">BI", 0, 2) + b"hi",
        struct.pack(">I", 8), struct.pack(">HI", 4, 0), b"\x00" * 8, b""]),
)


@pytest.fixture(scope="module")
def fuzz_server():
    server = _Server()
    yield server
    server.loop.call_soon_threadsafe(server.server.close)
    server.loop.call_soon_threadsafe(server.loop.stop)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(_FRAMES, max_size=30), preface=st.booleans())
def test_random_frame_sequences_never_break_the_server(fuzz_server, caplog, frames, preface):
    fuzz_server.errors.clear()
    caplog.clear()
    data = (PREFACE if preface else b"") + b"".join(
        struct.pack(">I", len(p))[1:] + bytes((k, f)) + struct.pack(">I", s) + p
        for k, f, s, p in frames)
    with socket.create_connection(("127.0.0.1", fuzz_server.port), timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(0.05)
        try:
            while sock.recv(65536):
                pass
        except (TimeoutError, ConnectionResetError):
            pass
    assert fuzz_server.call_works()
    assert fuzz_server.errors == []
    assert [r for r in caplog.records if "broke its connection" in r.getMessage()] == []
