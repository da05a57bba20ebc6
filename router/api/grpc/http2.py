"""A lean HTTP/2 server connection that carries gRPC calls (RFC 9113, gRPC over HTTP/2).

Why not grpcio's server: its Python layer costs ~240 µs of CPU per unary call on this machine,
almost all of it holding the GIL, which capped a search over gRPC at about half of what the
same search reaches over REST. This connection parses frames itself and leaves header
decompression to ``hpack``; a unary call costs ~50 µs.

It knows frames, streams, flow control and gRPC's length-prefixed messages, nothing of
services: each new stream goes to ``on_stream(stream)``, which installs the stream's
``on_message`` / ``on_end`` / ``on_reset`` callbacks; answers go back through ``respond`` (a
whole unary answer) or ``send_headers``, ``send_message`` and ``send_trailers``.

This module is the connection: the state machine of its frames and streams, and flow control.
What goes on the wire (frames, header blocks, the protocols' numbers) is ``http2_frames``'s; one
call's request side (its headers, its messages reassembled) is ``http2_streams.Stream``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Callable

import hpack

from router.api.grpc.http2_frames import (
    _MESSAGE_HEAD,
    _OK_TRAILERS,
    _RESPONSE_HEADERS,
    ACK,
    CANCELLED,
    COMPRESSION_ERROR,
    CONTINUATION,
    DATA,
    DEFAULT_FRAME,
    DEFAULT_WINDOW,
    END_HEADERS,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    GOAWAY,
    HEADERS,
    INTERNAL,
    INTERNAL_ERROR,
    MAX_FRAME_IN,
    MAX_WINDOW,
    NO_ERROR,
    PADDED,
    PING,
    PREFACE,
    PRIORITY_FLAG,
    PROTOCOL_ERROR,
    PUSH_PROMISE,
    REFUSED_STREAM,
    RESOURCE_EXHAUSTED,
    RST_STREAM,
    SETTINGS,
    SETTINGS_INITIAL_WINDOW_SIZE,
    SETTINGS_MAX_CONCURRENT_STREAMS,
    SETTINGS_MAX_FRAME_SIZE,
    SETTINGS_MAX_HEADER_LIST_SIZE,
    WINDOW_UPDATE,
    frame,
    metadata_block,
    trailers_block,
)
from router.api.grpc.http2_limits import DEFAULT_LIMITS, Budget, Http2Limits, TokenBucket
from router.api.grpc.http2_streams import Stream, StreamError

log = logging.getLogger(__name__)

#: Seconds a connection ended with an error GOAWAY is read from (and dropped) before it closes.
LINGER_SEC = 1.0


class ConnectionError_(Exception):
    """A connection-level protocol error: GOAWAY with ``code`` and close."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


class Http2Connection(asyncio.Protocol):
    """The server side of one HTTP/2 connection carrying gRPC calls."""

    def __init__(self, on_stream: Callable[[Stream], None], max_message: int,
                 connections: set | None = None, limits: Http2Limits = DEFAULT_LIMITS,
                 budget: Budget | None = None) -> None:
        self._on_stream = on_stream
        self._max_message = max_message
        self._connections = connections
        self._limits = limits
        self._budget = budget if budget is not None else Budget(max(4 * max_message, 2**28))
        self._resets = TokenBucket(limits.resets_per_sec, limits.reset_burst)
        self._control = TokenBucket(limits.control_per_sec, limits.control_burst)
        self._recv_window = limits.connection_window  # what the client may still send
        self._made = self._quiet_since = self._continuing_since = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._gone = False  # after our GOAWAY for an error: the rest is dropped
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._preface = False
        self._decoder = hpack.Decoder()
        self._decoder.max_header_list_size = limits.max_header_list
        self._decoded: dict[bytes, list] = {}  # all-indexed header blocks, decoded
        self._out: list[bytes] = []  # bytes for the socket, written by _flush
        self._streams: dict[int, Stream] = {}
        self._last_stream = 0
        self._continuing: tuple[int, int, list[bytes]] | None = None
        self._peer_window = DEFAULT_WINDOW  # the peer's initial stream window
        self._peer_frame = DEFAULT_FRAME
        self._send_window = DEFAULT_WINDOW  # connection-level, ours to send
        self._received = 0  # connection-level bytes since our last WINDOW_UPDATE
        self._blocked: dict[int, Stream] = {}  # streams whose backlog waits for window
        self._closing = False
        self.idle = asyncio.Event()

    # -- asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self._transport = transport
        if self._connections is not None:
            self._connections.add(self)
        limits = self._limits
        settings = struct.pack(">HIHIHI", SETTINGS_INITIAL_WINDOW_SIZE, limits.stream_window,
                               SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams,
                               SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_list)
        grow = limits.connection_window - DEFAULT_WINDOW
        transport.write(frame(SETTINGS, 0, 0, settings) + (
            frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", grow)) if grow > 0 else b""))
        self.idle.set()
        self._timer = asyncio.get_running_loop().call_later(limits.tick, self._tick)

    def connection_lost(self, exc) -> None:
        if self._connections is not None:
            self._connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        self._out.clear()
        streams, self._streams = self._streams, {}
        self._blocked.clear()
        for stream in streams.values():
            self._budget.give(stream.pending)
            stream.pending = 0
            stream.local_closed = True
            self._reset(stream)
        self.idle.set()

    def data_received(self, data: bytes) -> None:
        if self._gone:
            return
        buf = self._buffer + data if self._buffer else data
        pos = 0
        if not self._preface:
            if len(buf) < len(PREFACE):
                if not PREFACE.startswith(buf):
                    self._transport.close()
                self._buffer = buf
                return
            if not buf.startswith(PREFACE):
                self._transport.close()
                return
            self._preface = True
            pos = len(PREFACE)
        end = len(buf)
        try:
            while end - pos >= 9:
                size = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
                if size > MAX_FRAME_IN:
                    raise ConnectionError_(FRAME_SIZE_ERROR, "frame larger than the maximum")
                if end - pos - 9 < size:
                    break
                kind, flags = buf[pos + 3], buf[pos + 4]
                stream_id = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
                payload = buf[pos + 9:pos + 9 + size]
                pos += 9 + size
                self._frame(kind, flags, stream_id, payload)
        except ConnectionError_ as exc:
            self._go_away(exc.code, str(exc))
            return
        except Exception:  # a frame we did not foresee: this connection ends, not the server
            log.exception("an HTTP/2 frame broke its connection")
            self._go_away(INTERNAL_ERROR, "internal error")
            return
        self._buffer = buf[pos:]

    # -- incoming frames --------------------------------------------------------------------
    def _frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._continuing is not None and kind != CONTINUATION:
            raise ConnectionError_(PROTOCOL_ERROR, "expected CONTINUATION")
        if kind == DATA:
            self._on_data(stream_id, flags, payload)
        elif kind == HEADERS:
            self._on_headers(stream_id, flags, payload)
        elif kind == CONTINUATION:
            if self._continuing is None or self._continuing[0] != stream_id:
                raise ConnectionError_(PROTOCOL_ERROR, "unexpected CONTINUATION")
            self._continuing[2].append(payload)
            if not payload:
                self._calm()
            if sum(map(len, self._continuing[2])) > self._limits.max_header_block:
                raise ConnectionError_(ENHANCE_YOUR_CALM, "header block too large")
            if flags & END_HEADERS:
                stream_id, end_stream, parts = self._continuing
                self._continuing = None
                self._headers_done(stream_id, end_stream, b"".join(parts))
        elif kind == SETTINGS:
            if not flags & ACK:
                self._answering()
                self._on_settings(payload)
        elif kind == WINDOW_UPDATE:
            self._on_window_update(stream_id, payload)
        elif kind == PING:
            if len(payload) != 8:
                raise ConnectionError_(FRAME_SIZE_ERROR, "PING length not 8")
            if not flags & ACK:
                self._answering()
                self._write(frame(PING, ACK, 0, payload))
        elif kind == RST_STREAM:
            stream = self._streams.get(stream_id)
            if stream is not None:
                if not self._resets.take():  # rapid reset: streams opened only to be reset
                    raise ConnectionError_(ENHANCE_YOUR_CALM, "too many streams reset")
                stream.local_closed = True
                self._forget(stream)
                self._reset(stream)
        elif kind == GOAWAY:
            self._closing = True
        elif kind == PUSH_PROMISE:
            raise ConnectionError_(PROTOCOL_ERROR, "a client must not push")
        else:  # PRIORITY and unknown kinds are ignored, at a bounded rate
            self._calm()

    def _calm(self) -> None:
        """Count a frame that moves no call forward; too many of them end the connection."""
        if not self._control.take():
            raise ConnectionError_(ENHANCE_YOUR_CALM, "too many control frames")

    def _answering(self) -> None:
        """Before a PING or SETTINGS is answered: counted, and refused to a client that does
        not read what it is sent."""
        self._calm()
        if self._transport.get_write_buffer_size() > self._limits.max_write_backlog:
            raise ConnectionError_(ENHANCE_YOUR_CALM, "the client does not read its answers")

    def _on_headers(self, stream_id: int, flags: int, payload: bytes) -> None:
        if stream_id == 0:
            raise ConnectionError_(PROTOCOL_ERROR, "HEADERS on stream 0")
        start, end = 0, len(payload)
        if flags & PADDED:
            if not payload:
                raise ConnectionError_(PROTOCOL_ERROR, "PADDED without a pad length")
            start, end = 1, end - payload[0]
        if flags & PRIORITY_FLAG:
            start += 5
        if end < start:
            raise ConnectionError_(PROTOCOL_ERROR, "padding longer than the frame")
        block = payload[start:end]
        if flags & END_HEADERS:
            self._headers_done(stream_id, flags & END_STREAM, block)
        else:
            if len(block) > self._limits.max_header_block:
                raise ConnectionError_(ENHANCE_YOUR_CALM, "header block too large")
            self._continuing = (stream_id, flags & END_STREAM, [block])
            self._continuing_since = time.monotonic()

    def _headers_done(self, stream_id: int, end_stream: int, block: bytes) -> None:
        headers = self._decode(block)
        stream = self._streams.get(stream_id)
        if stream is not None:  # trailers from the client: only an end of stream
            if end_stream:
                self._remote_end(stream)
            return
        if stream_id <= self._last_stream:
            return  # a stream we already closed (or reset)
        self._last_stream = stream_id
        if self._closing or len(self._streams) >= self._limits.max_concurrent_streams:
            # after our GOAWAY, or past the streams we advertised: the client may retry it
            if not self._closing and not self._resets.take():
                raise ConnectionError_(ENHANCE_YOUR_CALM, "too many streams refused")
            self._write(frame(RST_STREAM, 0, stream_id, struct.pack(">I", REFUSED_STREAM)))
            return
        stream = Stream(self, stream_id, headers, self._peer_window, self._max_message)
        stream.in_window = self._limits.stream_window
        stream.last_seen = time.monotonic()
        self._streams[stream_id] = stream
        self.idle.clear()
        self._on_stream(stream)
        if end_stream and stream_id in self._streams:
            self._remote_end(stream)

    def _decode(self, block: bytes) -> list:
        """HPACK-decode a header block. A block of one-byte references to the tables (a
        client's repeated headers; ~16 µs in hpack) changes no table: its result is kept."""
        indexed_only = bool(block) and min(block) >= 0x80 and 0xFF not in block
        if indexed_only:
            headers = self._decoded.get(block)
            if headers is not None:
                return headers
        else:
            self._decoded.clear()
        try:
            headers = [(bytes(n), bytes(v)) for n, v in self._decoder.decode(block, raw=True)]
        except hpack.OversizedHeaderListError:
            raise ConnectionError_(ENHANCE_YOUR_CALM, "header list too large") from None
        except Exception as exc:  # hpack's errors: the shared table is now unusable
            raise ConnectionError_(COMPRESSION_ERROR, f"bad header block: {exc}") from None
        if indexed_only:
            if len(self._decoded) >= 64:
                self._decoded.clear()
            self._decoded[block] = headers
        return headers

    def _on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        size = len(payload)
        self._recv_window -= size
        if self._recv_window < 0:
            raise ConnectionError_(FLOW_CONTROL_ERROR, "data past the connection's window")
        self._received += size
        if self._received > self._limits.connection_window // 2:
            self._write(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", self._received)))
            self._recv_window += self._received
            self._received = 0
        if not size and not flags & END_STREAM:
            self._calm()
        stream = self._streams.get(stream_id)
        if stream is None or stream.remote_closed:
            return  # a stream we ended or reset: its data only counts for the connection
        stream.in_window -= size
        stream.last_seen = time.monotonic()
        if stream.in_window < 0:
            self._write(frame(RST_STREAM, 0, stream_id, struct.pack(">I", FLOW_CONTROL_ERROR)))
            stream.local_closed = True
            self._forget(stream)
            self._reset(stream)
            return
        stream.total += size  # past a small allowance per call, bytes count in the budget
        charge = min(size, stream.total - self._limits.free_per_stream)
        if charge > 0:
            if not self._budget.take(charge):
                self.fail(stream, RESOURCE_EXHAUSTED, "The server holds too many request bytes")
                return
            stream.pending += charge
        if flags & PADDED:
            if not payload or payload[0] >= size:
                raise ConnectionError_(PROTOCOL_ERROR, "padding longer than the frame")
            payload = payload[1:size - payload[0]]
        stream.received += size
        if stream.received > self._limits.stream_window // 2:
            self._write(
                frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", stream.received))
            )
            stream.in_window += stream.received
            stream.received = 0
        if payload:
            try:
                stream.feed(payload)
            except StreamError as exc:
                self.fail(stream, exc.code, exc.details)
                return
        if flags & END_STREAM:
            self._remote_end(stream)

    def _remote_end(self, stream: Stream) -> None:
        stream.remote_closed = True
        if stream.leftover() and not stream.local_closed:
            self.fail(stream, INTERNAL, "The request ended inside a message")
            return
        if stream.local_closed:
            self._forget(stream)
        elif stream.on_end is not None:
            stream.on_end()

    def _on_settings(self, payload: bytes) -> None:
        if len(payload) % 6:
            raise ConnectionError_(FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6")
        for offset in range(0, len(payload), 6):
            key, value = struct.unpack_from(">HI", payload, offset)
            if key == SETTINGS_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise ConnectionError_(FLOW_CONTROL_ERROR, "initial window too large")
                delta = value - self._peer_window
                self._peer_window = value
                for stream in self._streams.values():
                    stream.out_window += delta
            elif key == SETTINGS_MAX_FRAME_SIZE:
                if not DEFAULT_FRAME <= value <= 2**24 - 1:
                    raise ConnectionError_(PROTOCOL_ERROR, "bad SETTINGS_MAX_FRAME_SIZE")
                self._peer_frame = value
        self._write(frame(SETTINGS, ACK, 0))
        self._flush_blocked()

    def _on_window_update(self, stream_id: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ConnectionError_(FRAME_SIZE_ERROR, "WINDOW_UPDATE length not 4")
        increment = struct.unpack(">I", payload)[0] & 0x7FFFFFFF
        if stream_id == 0:
            self._send_window += increment
        else:
            stream = self._streams.get(stream_id)
            if stream is None:
                return
            stream.out_window += increment
        self._flush_blocked()

    # -- outgoing -------------------------------------------------------------------------
    def respond(self, stream: Stream, message: bytes) -> None:
        """A unary answer: headers, the message and OK trailers, written at once when the
        windows allow (the common case)."""
        if stream.local_closed:
            return
        body = _MESSAGE_HEAD.pack(0, len(message)) + message
        size = len(body)
        if (not stream.backlog and size <= self._peer_frame and size <= stream.out_window
                and size <= self._send_window):
            stream.out_window -= size
            self._send_window -= size
            stream.headers_sent = True
            sid = stream.id
            self._write(
                frame(HEADERS, END_HEADERS, sid, _RESPONSE_HEADERS)
                + frame(DATA, 0, sid, body)
                + frame(HEADERS, END_HEADERS | END_STREAM, sid, _OK_TRAILERS)
            )
            self._closed_locally(stream)
            return
        self.send_headers(stream)
        self._queue(stream, DATA, body, 0)
        self._queue(stream, HEADERS, _OK_TRAILERS, END_STREAM)

    def send_headers(self, stream: Stream, metadata=()) -> None:
        if not stream.local_closed and not stream.headers_sent:
            stream.headers_sent = True
            self._queue(stream, HEADERS, _RESPONSE_HEADERS + metadata_block(metadata), 0)

    def send_message(self, stream: Stream, message: bytes) -> None:
        if not stream.local_closed:
            self._queue(stream, DATA, _MESSAGE_HEAD.pack(0, len(message)) + message, 0)

    def send_trailers(self, stream: Stream, code: int, details: str = "", metadata=()) -> None:
        """End the call with gRPC status ``code``: a trailers-only answer (one HEADERS frame)
        when nothing was sent yet."""
        if stream.local_closed:
            return
        block = trailers_block(code, details, metadata)
        if not stream.headers_sent:
            stream.headers_sent = True
            block = _RESPONSE_HEADERS + block
        self._queue(stream, HEADERS, block, END_STREAM)

    def fail(self, stream: Stream, code: int, details: str) -> None:
        """End a call now with an error status; its handler is told (``on_reset``)."""
        self.send_trailers(stream, code, details)
        self._reset(stream)

    def _queue(self, stream: Stream, kind: int, payload: bytes, flags: int) -> None:
        stream.backlog.append((kind, payload, flags))
        if stream.id not in self._blocked:
            self._drain(stream)

    def _drain(self, stream: Stream) -> None:
        """Write what the flow-control windows allow of the stream's backlog."""
        out = []
        backlog = stream.backlog
        while backlog:
            kind, payload, flags = backlog[0]
            if kind == HEADERS:
                out.append(self._header_frames(stream.id, payload, flags))
                backlog.popleft()
                if flags & END_STREAM:
                    backlog.clear()
                    self._blocked.pop(stream.id, None)
                    if out:
                        self._write(b"".join(out))
                    self._closed_locally(stream)
                    return
                continue
            while payload:
                room = min(stream.out_window, self._send_window, self._peer_frame)
                if room <= 0:
                    break
                chunk, payload = payload[:room], payload[room:]
                stream.out_window -= len(chunk)
                self._send_window -= len(chunk)
                out.append(frame(DATA, 0, stream.id, chunk))
            if payload:
                backlog[0] = (kind, payload, flags)
                self._blocked[stream.id] = stream
                break
            backlog.popleft()
        else:
            self._blocked.pop(stream.id, None)
        if out:
            self._write(b"".join(out))

    def _flush_blocked(self) -> None:
        for stream in list(self._blocked.values()):
            if self._send_window <= 0:
                return
            self._drain(stream)

    def _header_frames(self, stream_id: int, block: bytes, flags: int) -> bytes:
        limit = self._peer_frame
        if len(block) <= limit:
            return frame(HEADERS, flags | END_HEADERS, stream_id, block)
        parts = [frame(HEADERS, flags, stream_id, block[:limit])]
        for offset in range(limit, len(block), limit):
            last = offset + limit >= len(block)
            parts.append(frame(CONTINUATION, END_HEADERS if last else 0, stream_id,
                               block[offset:offset + limit]))
        return b"".join(parts)

    def _closed_locally(self, stream: Stream) -> None:
        stream.local_closed = True
        if stream.remote_closed:
            self._forget(stream)
        else:  # answered before the request ended: the client may stop sending
            self._write(frame(RST_STREAM, 0, stream.id, struct.pack(">I", NO_ERROR)))
            self._forget(stream)

    def _forget(self, stream: Stream) -> None:
        # callbacks close over the stream and its request: a cycle, which under a bulk load
        # kept ~35 request bodies of ~800 KB alive until a rare full collection
        stream.on_message = stream.on_end = stream.on_reset = None
        self._streams.pop(stream.id, None)
        self._blocked.pop(stream.id, None)
        self._budget.give(stream.pending)
        stream.pending = 0
        self._check_idle()

    def _check_idle(self) -> None:
        if not self._streams:
            self.idle.set()
            self._quiet_since = time.monotonic()

    def _tick(self) -> None:
        """The timeouts: a handshake or header block not finished in time, a connection
        without calls for too long, a call whose request stalls."""
        limits = self._limits
        now = time.monotonic()
        if not self._preface and now - self._made > limits.handshake_timeout:
            return self._transport.close()
        if self._continuing is not None and now - self._continuing_since > limits.header_timeout:
            return self._go_away(ENHANCE_YOUR_CALM, "header block not finished in time")
        if not self._streams and now - self._quiet_since > limits.idle_timeout:
            return self._go_away(NO_ERROR, "idle")
        for stream in list(self._streams.values()):
            if not stream.remote_closed and now - stream.last_seen > limits.request_idle_timeout:
                self.fail(stream, CANCELLED, "The request stalled")
        self._timer = asyncio.get_running_loop().call_later(limits.tick, self._tick)

    def _write(self, data: bytes) -> None:
        """Queue bytes for the socket. They are sent together once the loop has run what it
        has ready: the answers of one search batch become one write (a send costs ~10 µs, with
        the GIL held)."""
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        if self._out and not self._transport.is_closing():
            self._transport.write(b"".join(self._out))
        self._out.clear()

    @staticmethod
    def _reset(stream: Stream) -> None:
        callback, stream.on_reset = stream.on_reset, None
        stream.on_message = stream.on_end = None
        if callback is not None:
            try:
                callback()
            except Exception:
                log.exception("gRPC stream reset callback failed")

    def _go_away(self, code: int, why: str) -> None:
        """GOAWAY, then a short linger reading and dropping what the client still sends:
        closing a socket with unread bytes resets it, and the client would lose the GOAWAY."""
        log.info("closing an HTTP/2 connection: %s", why)
        self._write(
            frame(GOAWAY, 0, 0, struct.pack(">II", self._last_stream, code) + why.encode()[:256])
        )
        self._flush()
        self._gone = True
        asyncio.get_running_loop().call_later(LINGER_SEC, self._transport.close)

    def shut_down(self) -> None:
        """Refuse new calls (GOAWAY); calls in flight go on."""
        if self._transport is not None and not self._transport.is_closing():
            self._closing = True
            self._write(
                frame(GOAWAY, 0, 0, struct.pack(">II", self._last_stream, NO_ERROR))
            )

    def close(self) -> None:
        if self._transport is not None:
            self._flush()
            self._transport.close()
