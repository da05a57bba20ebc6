"""One gRPC call on the HTTP/2 connection, as its application sees it: the request's headers and
metadata, and the length-prefixed gRPC messages reassembled from its DATA frames (decompressed
when the client compressed them) and handed to ``on_message``. Answers go back through the
stream's ``connection`` (a ``Responder``)."""

from __future__ import annotations

import base64
import zlib
from collections import deque
from collections.abc import Callable
from typing import Protocol

from router.api.grpc.http2_frames import _MESSAGE_HEAD, INTERNAL, RESOURCE_EXHAUSTED, UNIMPLEMENTED


class Responder(Protocol):
    """What a stream's application answers it through: the connection it came on
    (``router.api.grpc.http2.Http2Connection`` is one)."""

    def respond(self, stream: Stream, message: bytes) -> None: ...

    def send_headers(self, stream: Stream, metadata=()) -> None: ...

    def send_message(self, stream: Stream, message: bytes) -> None: ...

    def send_trailers(self, stream: Stream, code: int, details: str = "", metadata=()) -> None: ...

    def fail(self, stream: Stream, code: int, details: str) -> None: ...


class Stream:
    """One call. ``headers`` are the request's (name, value) byte pairs, pseudo-headers
    included; the callbacks are the application's."""

    __slots__ = (
        "id", "path", "headers", "encoding", "on_message", "on_end", "on_reset", "out_window",
        "backlog", "remote_closed", "local_closed", "_chunks", "_have", "_need", "received",
        "max_message", "connection", "headers_sent", "in_window", "pending", "last_seen",
        "total",
    )

    def __init__(self, connection: Responder, stream_id: int, headers: list,
                 window: int, max_message: int) -> None:
        self.connection = connection
        self.id = stream_id
        self.headers = headers
        self.path = ""
        self.encoding = b"identity"
        for name, value in headers:
            if name == b":path":
                self.path = value.decode("utf-8", "replace")
            elif name == b"grpc-encoding":
                self.encoding = value
        self.on_message: Callable[[bytes], None] | None = None
        self.on_end: Callable[[], None] | None = None
        self.on_reset: Callable[[], None] | None = None
        self.out_window = window
        self.backlog: deque[tuple[int, bytes, int]] = deque()
        self.remote_closed = False
        self.local_closed = False
        self.headers_sent = False
        self.received = 0  # bytes since the last WINDOW_UPDATE of this stream
        self.in_window = 0  # what the client may still send (set by the connection)
        self.pending = 0  # request bytes counted in the port's Budget
        self.total = 0  # request bytes received
        self.last_seen = 0.0  # monotonic time of the last frame of this stream
        self.max_message = max_message
        self._chunks: list[bytes] = []
        self._have = 0
        self._need: int | None = None

    def metadata(self) -> list[tuple[str, str | bytes]]:
        """The custom metadata: not pseudo-headers nor gRPC's own; ``-bin`` values decoded."""
        out = []
        for name, value in self.headers:
            if name.startswith(b":") or name in _RESERVED:
                continue
            key = name.decode("latin-1")
            if key.endswith("-bin"):
                out.append((key, base64.b64decode(value + b"=" * (-len(value) % 4))))
            else:
                out.append((key, value.decode("latin-1")))
        return out

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def feed(self, data: bytes) -> None:
        """Request bytes: whole length-prefixed messages go to ``on_message``."""
        self._chunks.append(data)
        self._have += len(data)
        while True:
            if self._need is None:
                if self._have < 5:
                    return
                joined = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
                self._chunks = [joined]
                size = _MESSAGE_HEAD.unpack_from(joined)[1]
                if size > self.max_message:
                    raise StreamError(
                        RESOURCE_EXHAUSTED,
                        f"Received message larger than max ({size} vs. {self.max_message})",
                    )
                self._need = 5 + size
            if self._have < self._need:
                return
            joined = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
            compressed, need = joined[0], self._need
            message = joined[5:need]
            rest = joined[need:]
            self._chunks = [rest] if rest else []
            self._have = len(rest)
            self._need = None
            if compressed:
                message = self._decompress(message)
            if self.on_message is not None:
                self.on_message(message)

    def _decompress(self, message: bytes) -> bytes:
        wbits = {b"gzip": 16 + zlib.MAX_WBITS, b"deflate": zlib.MAX_WBITS}.get(self.encoding)
        if wbits is not None:  # bounded: a small message must not inflate past max_message
            inflater = zlib.decompressobj(wbits)
            try:
                out = inflater.decompress(message, self.max_message + 1)
            except zlib.error as exc:
                raise StreamError(INTERNAL, f"Failed to decompress the message: {exc}") from None
            if len(out) > self.max_message or inflater.unconsumed_tail:
                raise StreamError(RESOURCE_EXHAUSTED, "Decompressed message larger than max "
                                                      f"({self.max_message})")
            if not inflater.eof:
                raise StreamError(INTERNAL, "Failed to decompress the message: truncated")
            return out
        if self.encoding == b"identity":
            raise StreamError(INTERNAL, "A compressed message without grpc-encoding")
        raise StreamError(UNIMPLEMENTED, f"Unsupported grpc-encoding {self.encoding.decode()!r}")

    def leftover(self) -> bool:
        """Whether a partial message was left when the client ended its side."""
        return self._have > 0


class StreamError(Exception):
    """A call that must end now with gRPC status ``code``."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


#: Request headers that are the transport's, not the call's metadata.
_RESERVED = frozenset({
    b"te", b"content-type", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding",
    b"user-agent", b"host", b"grpc-message-type", b"content-length",
})
