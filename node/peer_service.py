"""The peer gRPC service: other nodes run operations on the shard replicas this node holds.

The service knows nothing of collections or routing: ``lookup(collection_uuid, shard_id)``
returns the object that serves a replica (or None), and the call's method is invoked on it by
name, from a fixed list. ``node_calls`` answers calls addressed to the node itself.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import grpc

from node import errors, snapshot_archive, wire
from node.shard_snapshot import cut

log = logging.getLogger(__name__)

#: The replica methods a peer may call.
REPLICA_METHODS = frozenset({
    "check", "apply", "coordinate", "retrieve", "scroll", "count", "scroll_ordered", "facet",
    "payload_schema_counts", "search", "info", "last_op", "sparse_stats", "versions",
})

#: The peer service's definitions: package data of ``node`` (pyproject's package-data), so
#: they travel with the code into any install layout (venv, --prefix, --user, a wheel's target).
PROTO_FILE = "proto/peer.proto"


def load_protos() -> tuple[Any, Any]:
    """The peer service's messages and stubs (``node.proto.peer_pb2[_grpc]``), compiled at
    import from node/proto/peer.proto.

    grpc compiles a .proto found relative to an entry of sys.path and names the modules after
    that relative path; the entry that holds this ``node`` package is added when missing (an
    editable install imports it through a finder, not through sys.path).
    """
    proto = resources.files(__package__).joinpath(PROTO_FILE)
    if not proto.is_file():
        raise RuntimeError(f"{PROTO_FILE} is missing from the installed package {__package__}")
    root = str(Path(str(proto)).parents[2])
    if root not in sys.path:
        sys.path.append(root)
    return grpc.protos_and_services(f"{__package__}/{PROTO_FILE}")


peer_pb2, peer_pb2_grpc = load_protos()

#: The service's full name, as a gRPC path has it.
PEER_SERVICE = peer_pb2.DESCRIPTOR.services_by_name["PeerShards"].full_name


class PeerService(peer_pb2_grpc.PeerShardsServicer):
    def __init__(
        self,
        lookup: Callable[[str, int], Any],
        node_calls: dict[str, Callable[..., Any]],
    ) -> None:
        self.lookup = lookup
        self.node_calls = node_calls

    def Call(self, request, context):  # noqa: N802 (gRPC's name)
        try:
            args = wire.loads(request.args) if request.args else ()
            if not request.collection:
                handler = self.node_calls.get(request.method)
                if handler is None:
                    raise errors.BadRequest(f"unknown node call {request.method}")
                result = handler(*args)
            else:
                if request.method not in REPLICA_METHODS:
                    raise errors.BadRequest(f"unknown replica call {request.method}")
                target = self.lookup(request.collection, request.shard_id)
                if target is None:
                    raise errors.ReplicaNotHere(
                        f"Shard {request.shard_id} of collection {request.collection} "
                        "is not on this peer"
                    )
                result = getattr(target, request.method)(*args)
            return peer_pb2.ShardReply(result=wire.dumps(result))
        except Exception as exc:
            return _failure(request.method, exc)


class LoopPeerService(PeerService):
    """The peer service as the gRPC front serves it, on the front's event loop: a search of a
    replica held here is awaited there (the shard's batcher, or the loop itself for a quick
    one, answers it), as a public gRPC search is. Served blocking, every peer search held a
    worker thread while it waited for the batcher: two thread hand-offs per shard's answer,
    ~0.3 ms of a peer's CPU (bench/peer_profile.py). Every other call, and a search of a
    replica that is not (yet) known here, still runs blocking in the loop's executor."""

    def __init__(self, lookup: Callable[[str, int], Any], node_calls: dict[str, Callable[..., Any]],
                 quick_lookup: Callable[[str, int], Any]) -> None:
        super().__init__(lookup, node_calls)
        #: as ``lookup``, but never waits (None at once when the replica is not known)
        self.quick_lookup = quick_lookup

    async def Call(self, request, context):  # noqa: N802 (gRPC's name)
        if request.method == "search" and request.collection:
            target = self.quick_lookup(request.collection, request.shard_id)
            if target is not None:
                try:
                    args = wire.loads(request.args) if request.args else ()
                    result = await asyncio.wrap_future(target.search_future(*args))
                    return peer_pb2.ShardReply(result=wire.dumps(result))
                except Exception as exc:
                    return _failure(request.method, exc)
        blocking = super().Call
        return await asyncio.get_running_loop().run_in_executor(None, blocking, request, context)


def _failure(method: str, exc: Exception):
    """The reply of a call that raised: its error's kind and text for the caller to raise."""
    if isinstance(exc, errors.TesseraError):
        return peer_pb2.ShardReply(error_kind=type(exc).__name__, error=exc.detail)
    log.exception("peer call %s failed", method, exc_info=exc)  # unexpected: a service error
    return peer_pb2.ShardReply(error_kind="ServiceError", error=f"{type(exc).__name__}: {exc}")


def add_peer_service(server: grpc.Server, service: PeerService) -> None:
    peer_pb2_grpc.add_PeerShardsServicer_to_server(service, server)


def error_from_reply(kind: str, message: str) -> errors.TesseraError:
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.TesseraError)):
        cls = errors.ServiceError
    return cls(message)


# -- shard snapshots between peers ---------------------------------------------------------------
#: The snapshot service's full name (registered beside PeerShards, on the same port).
PEER_SNAPSHOT_SERVICE = peer_pb2.DESCRIPTOR.services_by_name["PeerSnapshots"].full_name
_SNAPSHOT_CHUNK = 1 << 20


class PeerSnapshotService(peer_pb2_grpc.PeerSnapshotsServicer):
    """Streams a snapshot of a local replica (``node.shard_snapshot.cut``) to the peer asking:
    the cut's hard links are staged under ``staging`` and gone when the stream ends."""

    def __init__(self, lookup: Callable[[str, int], Any], staging: Path) -> None:
        self.lookup = lookup
        self.staging = staging

    def ShardSnapshot(self, request, context):  # noqa: N802 (gRPC's name)
        target = self.lookup(request.collection, request.shard_id)
        if target is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Shard {request.shard_id} of collection "
                          f"{request.collection} is not on this peer")
        manifest = {"collection_uuid": request.collection, "shard_id": request.shard_id}
        with cut(target.shard, self.staging) as members:
            pending: list[bytes] = []
            size = 0
            for chunk in snapshot_archive.stream("shard", members, manifest):
                pending.append(chunk)
                size += len(chunk)
                if size >= _SNAPSHOT_CHUNK:
                    yield peer_pb2.SnapshotChunk(data=b"".join(pending))
                    pending, size = [], 0
            if pending:
                yield peer_pb2.SnapshotChunk(data=b"".join(pending))


def add_peer_snapshot_service(server: grpc.Server, service: PeerSnapshotService) -> None:
    peer_pb2_grpc.add_PeerSnapshotsServicer_to_server(service, server)
