"""A lean gRPC load generator: unary calls over raw HTTP/2 from one asyncio loop.

grpcio's Python client costs ~175 µs of CPU per call, taken from the same 2 cores as the node
it measures. This client pre-encodes each call (the header block through ``hpack``, as grpc's
C core encodes it: literals that enter the shared table on the first call, one-byte references
after that) and only parses the answer's frames, so the figures show the server's cost, as
`loadgen.AsyncHttpQueryTarget` does for REST.
"""

from __future__ import annotations

import asyncio
import struct
import time

import hpack
from loadgen import AsyncWindows, GrpcQueryTarget, _AsyncWindow

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK, PADDED, PRIORITY = 0x1, 0x4, 0x1, 0x8, 0x20
BIG_WINDOW = 2**31 - 1
_HEAD = struct.Struct(">BHBBI")


def _frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return _HEAD.pack(n >> 16, n & 0xFFFF, kind, flags, stream_id) + payload


class AsyncGrpcQueryTarget(AsyncWindows, GrpcQueryTarget):
    """`GrpcQueryTarget`'s calls, each client one HTTP/2 connection of one asyncio loop."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.host, _, port = self.endpoint.rpartition(":")
        self.port = int(port)
        self.requests = [struct.pack(">BI", 0, len(b)) + b for b in self.bodies]
        self.live: set = set()

    def connection(self, run: _AsyncWindow, first: int) -> asyncio.Protocol:
        return _H2Client(run, first, self)


class _H2Client(asyncio.Protocol):
    """One connection: one call at a time, answers handed to the window's ``answered`` (status
    200 for gRPC OK, else the gRPC status)."""

    def __init__(self, run: _AsyncWindow, first: int, target: AsyncGrpcQueryTarget) -> None:
        self.run = run
        self.q = first
        self.target = target
        self.stream_id = -1
        self.sent_at = 0.0
        self.latencies: list[float] = []
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.body: list[bytes] = []
        self.received = 0
        self.decoder = hpack.Decoder()
        self.decoded: dict[bytes, list] = {}
        headers = [
            (":method", "POST"), (":scheme", "http"), (":path", target.method),
            (":authority", target.endpoint), ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
        encoder = hpack.Encoder()
        self.first_block = encoder.encode(headers)
        self.block = encoder.encode(headers)  # from the second call on: table references
        self.calls = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(
            PREFACE
            + _frame(SETTINGS, 0, 0, struct.pack(">HI", 4, BIG_WINDOW))
            + _frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", BIG_WINDOW - 65_535))
        )

    def send(self) -> None:
        self.stream_id += 2
        block = self.first_block if self.calls == 0 else self.block
        self.calls += 1
        self.body = []
        self.sent_at = time.perf_counter()
        self.transport.write(
            _frame(HEADERS, END_HEADERS, self.stream_id, block)
            + _frame(DATA, END_STREAM, self.stream_id, self.target.requests[self.q])
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        pos, end = 0, len(buf)
        out = []
        while end - pos >= 9:
            size = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
            if end - pos - 9 < size:
                break
            kind, flags = buf[pos + 3], buf[pos + 4]
            sid = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
            payload = buf[pos + 9:pos + 9 + size]
            pos += 9 + size
            if kind == DATA:
                if flags & PADDED:
                    payload = payload[1:len(payload) - payload[0]]
                self.received += size
                if sid == self.stream_id:
                    self.body.append(payload)
            elif kind == HEADERS:
                if flags & PADDED:
                    payload = payload[1:len(payload) - payload[0]]
                if flags & PRIORITY:
                    payload = payload[5:]
                headers = self._decode(payload)
                if flags & END_STREAM and sid == self.stream_id:
                    self._answered(headers)
            elif kind == SETTINGS and not flags & ACK:
                out.append(_frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                out.append(_frame(PING, ACK, 0, payload))
            elif kind in (RST_STREAM, GOAWAY):
                self.run.lost(self, f"HTTP/2 frame type {kind} from the server")
                return
        self.buffer = buf[pos:]
        if self.received > 1 << 20:
            out.append(_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self.received)))
            self.received = 0
        if out:
            self.transport.write(b"".join(out))

    def _decode(self, block: bytes) -> list:
        """A header block, decoded (every block goes through the decoder, which keeps the
        shared table). A server repeats its blocks; one that left the table as it was is kept
        and reused until a block changes the table (hpack takes ~10 µs per block)."""
        headers = self.decoded.get(block)
        if headers is not None:
            return headers
        table = self.decoder.header_table.dynamic_entries
        before = tuple(table)
        headers = self.decoder.decode(block, raw=True)
        unchanged = tuple(table) == before
        if not unchanged or len(self.decoded) >= 64:
            self.decoded.clear()
        if unchanged:
            self.decoded[block] = headers
        return headers

    def _answered(self, trailers) -> None:
        now = time.perf_counter()
        status = 2  # UNKNOWN, if the trailers carry none
        details = b""
        for name, value in trailers:
            if name == b"grpc-status":
                status = int(value)
            elif name == b"grpc-message":
                details = value
        if status == 0:
            message = b"".join(self.body)[5:]
            self.run.answered(self, 200, message, now)
        else:
            self.run.answered(self, status, b"gRPC status %d: %s" % (status, details), now)

    def connection_lost(self, exc) -> None:
        self.run.lost(self, exc)
