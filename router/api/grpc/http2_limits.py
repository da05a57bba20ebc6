"""What one client may make the gRPC port's HTTP/2 connection (router.api.grpc.http2) hold or
do: the limits a public HTTP/2 server needs, and the two small meters that enforce them.

Each limit answers one known attack: a header block that never ends (CONTINUATION flood), more
streams than advertised, streams opened and reset at once (CVE-2023-44487, "rapid reset"),
PING/SETTINGS floods whose answers pile up unread, request bytes held without end (slow or
huge uploads, spread over many connections: `Budget` is shared by all of them), connections
that never finish the handshake or stay open doing nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Http2Limits:
    #: Streams open at once per connection (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused
    #: with RST_STREAM(REFUSED_STREAM).
    max_concurrent_streams: int = 128
    #: Decoded size of one request's header list (RFC 7541: name + value + 32 per header;
    #: SETTINGS_MAX_HEADER_LIST_SIZE). gRPC clients default to 8 KiB of metadata.
    max_header_list: int = 16 * 1024
    #: Compressed bytes of one header block, CONTINUATION frames included.
    max_header_block: int = 32 * 1024
    #: Flow-control windows granted to the client: per stream and for the whole connection.
    #: Data past them is a FLOW_CONTROL_ERROR.
    stream_window: int = 8 * 1024 * 1024
    connection_window: int = 32 * 1024 * 1024
    #: Request bytes of each call not counted in the port's `Budget`, so that small calls are
    #: served while large uploads exhaust it (bounded per connection by the stream limit).
    free_per_stream: int = 64 * 1024
    #: Streams the client may reset (or have refused) per second, and in one burst.
    resets_per_sec: float = 100.0
    reset_burst: int = 400
    #: Frames that cost the server work but move no call forward (PING, SETTINGS, PRIORITY,
    #: empty DATA, unknown kinds) per second, and in one burst.
    control_per_sec: float = 200.0
    control_burst: int = 1000
    #: Unsent bytes the socket may hold when a PING or SETTINGS is to be answered: past it the
    #: client is not reading its answers and the connection is closed.
    max_write_backlog: int = 16 * 1024 * 1024
    #: Seconds to send the preface; to finish a header block; a connection may stay without
    #: calls; a call may go without a frame while its request is not complete.
    handshake_timeout: float = 10.0
    header_timeout: float = 10.0
    idle_timeout: float = 300.0
    request_idle_timeout: float = 60.0
    #: How often the timeouts are looked at.
    tick: float = 1.0


DEFAULT_LIMITS = Http2Limits()


class TokenBucket:
    """``take`` succeeds while fewer than ``burst`` events happened recently, refilling at
    ``rate`` per second."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        if self.tokens < 1.0:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens < 1.0:
                return False
        self.tokens -= 1.0
        return True


class Budget:
    """Request bytes the port holds for calls not yet answered, across all its connections.
    A DATA frame that would pass ``limit`` fails its call (RESOURCE_EXHAUSTED)."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> bool:
        if self.used + size > self.limit:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used -= size
