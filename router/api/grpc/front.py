"""The public gRPC port: Qdrant's own services and the internal peer service answered straight
off the HTTP/2 connection; every other service (health, reflection) passed to grpcio's server
on a loopback port.

Qdrant's services and the peer service are all unary. Their generated handlers (deserializer,
servicer method, serializer) are collected once; a call's one message is decoded, the
servicer's coroutine is awaited on this event loop (a blocking servicer runs in the loop's
executor), and the answer is written back, with no grpcio on the way. The servicers only
ever use ``context.abort``, which ``_Context`` provides. A call to any other path is
forwarded as a raw byte stream, so grpcio keeps doing what it does well for the rare calls:
streaming, interceptors, unknown methods.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import grpc
from google.protobuf import descriptor_pool

from node import priority
from router.api.access import FULL, Access, Need, Refusal
from router.api.access_references import in_message
from router.api.grpc.http2 import Http2Connection
from router.api.grpc.http2_frames import INTERNAL, UNKNOWN
from router.api.grpc.http2_limits import DEFAULT_LIMITS, Budget, Http2Limits
from router.api.grpc.http2_streams import Stream
from router.api.guard import Guard
from router.observability.responses import GRPC

log = logging.getLogger(__name__)

_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


class _Details(NamedTuple):  # what a generic handler looks a method up by
    method: str
    invocation_metadata: tuple = ()


class _Collector:
    """Stands in for a grpc server while generated ``add_XServicer_to_server`` functions
    register their handlers."""

    def __init__(self) -> None:
        self.generic: list = []

    def add_generic_rpc_handlers(self, handlers) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: dict) -> None:
        self.generic.append(grpc.method_handlers_generic_handler(service, handlers))


class Method(NamedTuple):
    handler: grpc.RpcMethodHandler
    is_coroutine: bool  # else a blocking function, run in the loop's executor


def unary_handlers(
    services: Iterable[tuple[str, Callable[[Any], None]]],
) -> tuple[dict[str, Method], list]:
    """``services``: (full service name, function that adds it to a server). Returns the
    unary-unary methods by path, and the generic handlers of everything else (to register on
    grpcio's server)."""
    direct: dict[str, Method] = {}
    rest: list = []
    pool = descriptor_pool.Default()
    for name, add in services:
        collector = _Collector()
        add(collector)
        others: dict[str, grpc.RpcMethodHandler] = {}
        for method in pool.FindServiceByName(name).methods:
            path = f"/{name}/{method.name}"
            handler = next(
                (h for g in collector.generic if (h := g.service(_Details(path))) is not None),
                None,
            )
            if handler is None:
                continue
            if handler.unary_unary is not None:
                direct[path] = Method(handler, inspect.iscoroutinefunction(handler.unary_unary))
            else:
                others[method.name] = handler
        if others:
            rest.append(grpc.method_handlers_generic_handler(name, others))
    return direct, rest


class _Aborted(Exception):
    def __init__(self, code: int, details: str, metadata=()) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.metadata = metadata


class _Context:
    """The part of grpc's ServicerContext that the servicers use: the blocking form, plus the
    `access` the call is served with (listings show only what it may see)."""

    __slots__ = ("_stream", "access")

    def __init__(self, stream: Stream, access: Access = FULL) -> None:
        self._stream = stream
        self.access = access

    def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata=()):
        raise _Aborted(code.value[0], details, trailing_metadata)

    def invocation_metadata(self):
        return tuple(self._stream.metadata())


class _AsyncContext(_Context):
    """grpc.aio's form, for coroutine servicers."""

    __slots__ = ()

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata=()):
        raise _Aborted(code.value[0], details, trailing_metadata)


def parse_timeout(value: bytes | None) -> float | None:
    """``grpc-timeout`` ("100m", "5S", ...) in seconds."""
    if not value or value[-1:] not in _TIMEOUT_UNITS or not value[:-1].isdigit():
        return None
    return int(value[:-1]) * _TIMEOUT_UNITS[value[-1:]]


class GrpcFront:
    """Serves the public gRPC port on the running event loop."""

    def __init__(self, direct: dict[str, Method], inner_address: str,
                 max_message: int, guard: Guard | None = None,
                 limits: Http2Limits = DEFAULT_LIMITS) -> None:
        self._direct = direct
        self._inner_address = inner_address
        self._max_message = max_message
        self._guard = guard if guard is not None and guard.secured else None
        self._channel: grpc.aio.Channel | None = None
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[Http2Connection] = set()
        self._limits = limits
        #: request bytes held for unanswered calls, over all connections
        self._budget = Budget(max(4 * max_message, 2**28))

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host or None, port,
                                                reuse_address=True, ssl=tls)

    def _protocol(self) -> Http2Connection:
        return Http2Connection(self._on_stream, self._max_message, self._connections,
                               self._limits, self._budget)

    def _on_stream(self, stream: Stream) -> None:
        priority.note_request()
        method = self._direct.get(stream.path)
        access, need = FULL, Need.OPEN
        if self._guard is not None:
            try:
                access, need = self._guard.admit_grpc(stream.path, stream.header(b"api-key"),
                                                      stream.header(b"authorization"))
                if method is None:  # refused here, as grpcio's interceptor would: a relayed
                    # call that grpcio ends before reading its requests sometimes came back
                    # as INTERNAL ("Internal error from Core") instead of the refusal
                    self._guard.check(access, need, None, stream.path)
            except Refusal as refusal:
                stream.connection.fail(stream, refusal.grpc_code, refusal.message)
                return
        if method is None:
            self._forward(stream)
            return
        messages: list[bytes] = []

        def on_message(message: bytes) -> None:
            if messages:  # a unary call: a second message is refused, not kept
                stream.connection.fail(stream, INTERNAL, "Expected exactly one request message")
                return
            messages.append(message)

        stream.on_message = on_message
        stream.on_end = lambda: self._call(stream, method, messages, access, need)

    def _call(self, stream: Stream, method: Method, messages: list, access: Access,
              need: Need) -> None:
        if len(messages) != 1:
            stream.connection.fail(stream, INTERNAL, "Expected exactly one request message")
            return
        task = asyncio.get_running_loop().create_task(
            self._unary(stream, method, messages[0], access, need))
        stream.on_reset = task.cancel

    async def _unary(self, stream: Stream, method: Method, body: bytes, access: Access,
                     need: Need) -> None:
        """One call, answered and counted in the metrics under its method's path."""
        started = time.perf_counter()
        code, collection = await self._answer(stream, method, body, access, need)
        GRPC.record((stream.path, code, collection if code != 5 else ""), started, code != 0)

    async def _answer(self, stream: Stream, method: Method, body: bytes, access: Access,
                      need: Need) -> tuple[int, str]:
        """Answers a call; returns its status code and the collection it named ("": none)."""
        connection = stream.connection
        handler = method.handler
        try:
            request = handler.request_deserializer(body)
        except Exception as exc:  # what Qdrant (tonic) answers to a message it cannot decode
            connection.send_trailers(stream, INTERNAL, f"failed to decode Protobuf message: {exc}")
            return INTERNAL, ""
        collection = getattr(request, "collection_name", "")
        if need is Need.COLLECTION_READ or need is Need.COLLECTION_WRITE:
            try:
                self._guard.check(access, need, collection, stream.path)
                if access.mode is None:  # a per-collection token: the other collections read
                    self._guard.check_references(access, in_message(request), stream.path)
            except Refusal as refusal:
                connection.send_trailers(stream, refusal.grpc_code, refusal.message)
                return refusal.grpc_code, collection
            except Exception as exc:  # never a call left without an answer
                log.exception("checking the access of gRPC %s failed", stream.path)
                connection.send_trailers(stream, INTERNAL, f"Service internal error: {exc}")
                return INTERNAL, collection
        try:
            if method.is_coroutine:
                response = await handler.unary_unary(request, _AsyncContext(stream, access))
            else:  # a blocking servicer (the peer service's): the loop's executor runs it
                response = await asyncio.get_running_loop().run_in_executor(
                    None, handler.unary_unary, request, _Context(stream, access)
                )
            answer = handler.response_serializer(response)
        except _Aborted as exc:
            connection.send_trailers(stream, exc.code, exc.details, exc.metadata)
            return exc.code, collection
        except Exception as exc:
            log.exception("unhandled error in gRPC %s", stream.path)
            connection.send_trailers(stream, UNKNOWN, f"Unexpected {type(exc)}: {exc}")
            return UNKNOWN, collection
        connection.respond(stream, answer)
        return 0, collection

    # -- everything else: grpcio's server on a loopback port ---------------------------------
    def _forward(self, stream: Stream) -> None:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        stream.on_message = queue.put_nowait
        stream.on_end = lambda: queue.put_nowait(None)
        task = asyncio.get_running_loop().create_task(self._relay(stream, queue))
        stream.on_reset = task.cancel

    def _inner(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._inner_address, options=[
                ("grpc.max_send_message_length", self._max_message),
                ("grpc.max_receive_message_length", self._max_message),
            ])
        return self._channel

    async def _relay(self, stream: Stream, queue: asyncio.Queue) -> None:
        async def requests():
            while (message := await queue.get()) is not None:
                yield message

        connection = stream.connection
        call = None
        try:
            call = self._inner().stream_stream(stream.path)(
                requests(), metadata=stream.metadata(),
                timeout=parse_timeout(stream.header(b"grpc-timeout")),
            )
            async for message in call:
                if not stream.headers_sent:
                    connection.send_headers(stream, await call.initial_metadata())
                connection.send_message(stream, message)
            code = await call.code()
            connection.send_trailers(stream, code.value[0], await call.details() or "",
                                     await call.trailing_metadata())
        except grpc.aio.AioRpcError as exc:
            connection.send_trailers(stream, exc.code().value[0], exc.details() or "",
                                     exc.trailing_metadata() or ())
        except asyncio.CancelledError:
            if call is not None:
                call.cancel()
            raise
        except Exception as exc:  # e.g. metadata grpcio refuses to pass on
            log.exception("relaying gRPC %s failed", stream.path)
            connection.send_trailers(stream, INTERNAL, f"Service internal error: {exc}")

    # -- shutdown ---------------------------------------------------------------------------
    async def stop(self, grace: float | None) -> None:
        """Stop taking connections and calls; calls in flight get ``grace`` seconds."""
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        for connection in connections:
            connection.shut_down()
        if grace and connections:
            waits = [asyncio.ensure_future(c.idle.wait()) for c in connections]
            _, pending = await asyncio.wait(waits, timeout=grace)
            for wait in pending:
                wait.cancel()
        for connection in connections:
            connection.close()
        if self._channel is not None:
            await self._channel.close()
