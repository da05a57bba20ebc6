"""uvicorn's httptools protocol, with each response leaving in one socket write, and the hot
paths (query, query batch, upsert) answered without going through ASGI.

Through ASGI a response is two messages, and uvicorn writes each to the socket as it comes: the
head, then the body. On a small answer (a search result) that is two send() calls and two wake-ups
of the client for one response; on this benchmark's 2 cores the first write alone was ~13% of the
event loop's time. Here writes made during one turn of the event loop are joined and sent once,
right after it.

A hot-path request (see `Front.hot_route`) on a plain keep-alive HTTP/1.1 connection is answered
straight from the protocol's callbacks: its body is collected as the parser delivers it, and
`Front.answer` runs in one task whose answer is written as one response. That skips uvicorn's
request cycle, its ASGI messages and its per-response header checks: 10-13% more searches per
second on the benchmark's 2 cores, where the event loop is the bottleneck. Anything unusual (a
pipelined request behind another, `Expect: 100-continue`, no Content-Length, a body over the
size limit, HTTP/1.0, an encoded path, a missing or wrong API key) takes the ASGI path.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from router.api.rest.front import Front, HotHandler
from router.api.rest.parsing import is_json_content_type


class CoalescingTransport:
    """A transport whose writes are buffered until the end of the current loop turn; everything
    else is the wrapped transport's. Closing flushes first, so nothing written is lost."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, lines) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if self._pending:
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """Passed to uvicorn as its `http` protocol class."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]


class _NoWaiter:
    """uvicorn sets its cycle's message event when the connection is lost; nothing waits on a
    hot request's."""

    @staticmethod
    def set() -> None:
        pass


class _HotRequest:
    """Stands in for uvicorn's RequestResponseCycle while a hot-path request is answered: a
    pipelined request queues behind it, a lost connection marks it, and a shutdown turns its
    keep-alive off, all through the attributes uvicorn looks for."""

    __slots__ = ("handler", "query", "path", "chunks", "response_complete", "disconnected",
                 "keep_alive")
    message_event = _NoWaiter()

    def __init__(self, handler: HotHandler, query: bytes, path: str) -> None:
        self.handler = handler
        self.query = query
        self.path = path
        self.chunks: list[bytes] = []
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = True


class FrontProtocol(CoalescingHttpToolsProtocol):
    """The node's HTTP protocol; `protocol_for(front)` binds it to the node's `Front`."""

    front: Front

    def on_headers_complete(self) -> None:
        current = self.cycle
        if current is None or current.response_complete:
            hot = self._hot_request()
            if hot is not None:
                self.cycle = hot  # type: ignore[assignment]
                return
        super().on_headers_complete()

    def _hot_request(self) -> _HotRequest | None:
        parser = self.parser
        url = self.url
        if (
            url[:1] != b"/"
            or b"%" in url
            or self.root_path
            or self.expect_100_continue
            or self.limit_concurrency is not None
            or parser.get_http_version() != "1.1"
            or not parser.should_keep_alive()
            or parser.should_upgrade()
        ):
            return None
        path, _, query = url.partition(b"?")
        try:
            method, route = parser.get_method().decode("ascii"), path.decode("ascii")
        except UnicodeDecodeError:
            return None
        handler = self.front.hot_route(method, route)
        if handler is None:
            return None
        length = None
        json_body = False
        for name, value in self.headers:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                return None
            elif name == b"content-type":
                json_body = is_json_content_type(value)
        if length is None or not length.isdigit() or int(length) > self.front.limit:
            return None  # the ASGI path answers these (413, or reads a chunked body)
        if not json_body and length != b"0":
            return None  # and the 400 for a body that is not JSON
        if self.front.guard.secured and \
                not self.front.fast_path_allowed(method, route, self.headers):
            return None  # and the 401s and 403s, and per-collection tokens
        return _HotRequest(handler, query.partition(b"#")[0], route)

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if type(cycle) is _HotRequest:
            cycle.chunks.append(body)  # bounded by the Content-Length checked above
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if type(cycle) is _HotRequest:
            task = self.loop.create_task(self._answer(cycle))
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)  # uvicorn's shutdown waits for these
            return
        super().on_message_complete()

    async def _answer(self, request: _HotRequest) -> None:
        raw = request.chunks[0] if len(request.chunks) == 1 else b"".join(request.chunks)
        request.chunks = []
        status, body = await self.front.answer(request.handler, raw, request.query, request.path)
        if request.disconnected:
            return
        self.transport.write(self._head(status, len(body), request.keep_alive) + body)
        request.response_complete = True
        if not request.keep_alive:
            self.transport.close()
        self.on_response_complete()

    def _head(self, status: int, length: int, keep_alive: bool) -> bytes:
        defaults = self.server_state.default_headers  # a new list each second (the date)
        cached = _HEADS.get(status)
        if cached is None or cached[0] is not defaults:
            lines = [STATUS_LINE[status]]
            lines += [name + b": " + value + b"\r\n" for name, value in defaults]
            lines.append(b"content-type: application/json\r\ncontent-length: ")
            cached = _HEADS[status] = (defaults, b"".join(lines))
        tail = b"\r\n\r\n" if keep_alive else b"\r\nconnection: close\r\n\r\n"
        return cached[1] + str(length).encode() + tail


#: status → (the default headers it was made with, the head up to the Content-Length value).
_HEADS: dict[int, tuple[list, bytes]] = {}


def protocol_for(front: Front) -> type[FrontProtocol]:
    """The protocol class to give uvicorn (`http=`) for a node whose ASGI app is ``front``."""
    return type("FrontProtocol", (FrontProtocol,), {"front": front})
