"""The gRPC server: Qdrant's services on one port, plus the standard health and reflection
services when their packages (grpcio-health-checking, grpcio-reflection) are installed.

Two servers share an event loop on a thread of their own. The public port is Tessera's own
HTTP/2 front (router.api.grpc.front), which answers Qdrant's services itself: grpcio's Python
layer cost ~240 µs of CPU per call, more than the search behind it. grpcio's aio server, on a
loopback port, serves what the front passes on: health and reflection. The
hot RPCs (query, search) are coroutines that await the shard's search batcher on that loop, as
the REST face does; every other RPC runs its blocking body in a worker pool.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent import futures

import grpc

from router.api.auth import Authenticator
from router.api.grpc.front import GrpcFront, unary_handlers
from router.api.grpc.guard_interceptor import GuardInterceptor
from router.api.grpc.messages import pb
from router.api.grpc.services import (
    CollectionsService,
    PointsService,
    QdrantService,
)
from router.api.grpc.snapshots import SnapshotsService
from router.api.guard import Guard
from router.cluster.snapshots import SnapshotStore

log = logging.getLogger(__name__)

#: Largest request or response message, in bytes (Qdrant's clients send large upsert batches).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

#: The full names of the services this server answers, as reflection lists them.
SERVICE_NAMES = ("qdrant.Collections", "qdrant.Points", "qdrant.Qdrant", "qdrant.Snapshots")


def _address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):  # an IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}"


async def _add_health(server: grpc.aio.Server) -> None:
    try:
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    except ImportError:  # optional: grpcio-health-checking
        log.info("grpcio-health-checking is not installed: no grpc.health.v1.Health service")
        return
    servicer = health.aio.HealthServicer()
    for name in ("", *SERVICE_NAMES):  # the aio servicer's `set` is a coroutine
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)


def _add_reflection(server: grpc.aio.Server) -> None:
    try:
        from grpc_reflection.v1alpha import reflection
    except ImportError:  # optional: grpcio-reflection
        log.info("grpcio-reflection is not installed: no server reflection")
        return
    names = list(SERVICE_NAMES)
    try:
        from grpc_health.v1 import health_pb2

        names.append(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    except ImportError:
        pass
    names.append(reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (uvicorn[standard] brings it; a few % more queries per
    second on this server), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class GrpcServer:
    """The public front (router.api.grpc.front) and grpcio's inner server, on the event loop of a
    thread of their own."""

    def __init__(self, services: Sequence[tuple[str, Callable[[object], None]]],
                 setup_inner: Callable[[grpc.aio.Server], Awaitable[None]], host: str,
                 port: int, max_workers: int,
                 interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
                 guard: Guard | None = None, tls: ssl.SSLContext | None = None) -> None:
        self._services = services  # answered by the front
        self._setup_inner = setup_inner
        self._host = host
        self._port = port
        self._address = _address(host, port)
        self._interceptors = list(interceptors)
        self._guard = guard
        self._tls = tls
        self._pool = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc")
        self._loop = _new_loop()
        self._thread = threading.Thread(target=self._run, name="grpc-loop", daemon=True)
        self._server: grpc.aio.Server | None = None
        self._front: GrpcFront | None = None
        self._stopped = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_default_executor(self._pool)
        self._loop.run_forever()

    async def _start(self) -> None:
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ]
        direct, other_handlers = unary_handlers(self._services)
        # the pool is also the loop's default executor: the RPCs' blocking bodies and the peer
        # service's blocking servicer run there
        server = grpc.aio.server(
            migration_thread_pool=self._pool, options=options, interceptors=self._interceptors
        )
        server.add_generic_rpc_handlers(other_handlers)
        await self._setup_inner(server)
        inner_port = server.add_insecure_port("127.0.0.1:0")
        if not inner_port:
            raise RuntimeError("cannot bind the inner gRPC server on a loopback port")
        await server.start()
        self._server = server
        front = GrpcFront(direct, f"127.0.0.1:{inner_port}", MAX_MESSAGE_BYTES, self._guard)
        try:
            await front.start(self._host, self._port, self._tls)
        except OSError as exc:
            await server.stop(None)
            raise RuntimeError(f"cannot serve gRPC on {self._address}: {exc}") from exc
        self._front = front

    def start(self) -> None:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()
        except BaseException:
            self._shutdown_loop()
            raise
        log.info("Tessera gRPC API on %s", self._address)

    def stop(self, grace: float | None = None) -> threading.Event:
        """Stop serving (in-flight calls get ``grace`` seconds); the returned event is set once
        the server, its loop and its workers are gone."""
        if self._server is not None and not self._stopped.is_set():
            try:
                asyncio.run_coroutine_threadsafe(
                    self._stop(grace), self._loop
                ).result(timeout=2 * (grace or 0) + 10)
            except Exception:  # a stuck call must not keep the process from exiting
                log.exception("gRPC server did not stop cleanly")
        self._shutdown_loop()
        return self._stopped

    async def _stop(self, grace: float | None) -> None:
        if self._front is not None:
            await self._front.stop(grace)
        await self._server.stop(grace)

    def _shutdown_loop(self) -> None:
        if self._stopped.is_set():
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._stopped.set()


def start_grpc_server(
    toc, host: str, port: int, max_workers: int = 32, extra_services=(),
    api_key: str | None = None, snapshots: SnapshotStore | None = None,
    guard: Guard | None = None, tls: ssl.SSLContext | None = None,
) -> GrpcServer:
    """Start serving Qdrant's gRPC API for ``toc`` on ``host:port``; returns the running server
    (stop it with ``server.stop(grace)``). Raises RuntimeError when the port cannot be bound.
    ``extra_services``: (full service name, function adding it to a server) pairs. With
    ``guard`` (default: ``api_key`` alone), every call but the health checks must carry
    a credential that its rule (router.api.access_rules) admits. ``tls``: serve TLS with
    this context (router.api.tls; its ALPN must offer "h2"). ``snapshots``: the node's
    snapshot files (qdrant.Snapshots); by default ``snapshots`` beside the storage."""
    if snapshots is None:
        snapshots = SnapshotStore(toc, toc.storage_path.parent / "snapshots")
    services = [
        ("qdrant.Collections",
         lambda server: pb.add_CollectionsServicer_to_server(CollectionsService(toc), server)),
        ("qdrant.Points",
         lambda server: pb.add_PointsServicer_to_server(PointsService(toc), server)),
        ("qdrant.Qdrant", lambda server: pb.add_QdrantServicer_to_server(QdrantService(), server)),
        ("qdrant.Snapshots",
         lambda server: pb.add_SnapshotsServicer_to_server(SnapshotsService(snapshots), server)),
        *extra_services,  # e.g. the internal peer service, in cluster mode
    ]

    async def setup_inner(server: grpc.aio.Server) -> None:
        await _add_health(server)
        _add_reflection(server)

    if guard is None:
        guard = Guard(Authenticator(api_key))
    interceptors = [GuardInterceptor(guard)] if guard.secured else []
    server = GrpcServer(services, setup_inner, host, port, max_workers, interceptors, guard,
                        tls)
    server.start()
    return server
