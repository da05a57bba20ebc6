"""The gRPC server: Qdrant's services on one port, plus the standard health and reflection
services when their packages (grpcio-health-checking, grpcio-reflection) are installed."""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from qdrant_client import grpc as pb

from router.grpc.services import CollectionsService, PointsService, QdrantService, SnapshotsService

log = logging.getLogger(__name__)

#: Largest request or response message, in bytes (Qdrant's clients send large upsert batches).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

#: The full names of the services this server answers, as reflection lists them.
SERVICE_NAMES = ("qdrant.Collections", "qdrant.Points", "qdrant.Qdrant", "qdrant.Snapshots")


def _address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):  # an IPv6 literal
        host = f"[{host}]"
    return f"{host}:{port}"


def _add_health(server: grpc.Server) -> None:
    try:
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    except ImportError:  # optional: grpcio-health-checking
        log.info("grpcio-health-checking is not installed: no grpc.health.v1.Health service")
        return
    servicer = health.HealthServicer()
    for name in ("", *SERVICE_NAMES):
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)


def _add_reflection(server: grpc.Server) -> None:
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


def start_grpc_server(
    toc, host: str, port: int, max_workers: int = 32, extra_services=()
) -> grpc.Server:
    """Start serving Qdrant's gRPC API for ``toc`` on ``host:port``; returns the running server
    (stop it with ``server.stop(grace)``). Raises RuntimeError when the port cannot be bound."""
    options = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=options,
    )
    pb.add_CollectionsServicer_to_server(CollectionsService(toc), server)
    pb.add_PointsServicer_to_server(PointsService(toc), server)
    pb.add_QdrantServicer_to_server(QdrantService(), server)
    pb.add_SnapshotsServicer_to_server(SnapshotsService(), server)
    for add_service in extra_services:  # e.g. the internal peer service, in cluster mode
        add_service(server)
    _add_health(server)
    _add_reflection(server)
    address = _address(host, port)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise RuntimeError(f"cannot serve gRPC on {address}: {exc}") from exc
    if not bound:
        raise RuntimeError(f"cannot serve gRPC on {address}")
    server.start()
    log.info("Tessera gRPC API on %s", address)
    return server
