"""qdrant.Snapshots: what POST/GET/DELETE /collections/{c}/snapshots… and /snapshots… do.

A thin face over ``router.cluster.snapshots.SnapshotStore``: the same calls as the REST routes,
the descriptions converted to Qdrant's messages. (Recovery and shard snapshots have no gRPC
calls in Qdrant's API: qdrant-client uses REST for them.)
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from google.protobuf.timestamp_pb2 import Timestamp

from router.api.grpc.messages import pb
from router.api.grpc.services import rpc
from router.cluster.snapshots import SnapshotStore
from router.observability.snapshot_activity import SNAPSHOTS


def _description(snapshot: dict) -> pb.SnapshotDescription:
    created = Timestamp()
    if snapshot.get("creation_time"):
        moment = datetime.fromisoformat(snapshot["creation_time"]).replace(tzinfo=timezone.utc)
        created.FromDatetime(moment)
    return pb.SnapshotDescription(name=snapshot["name"], creation_time=created,
                                  size=snapshot["size"], checksum=snapshot.get("checksum") or "")


class SnapshotsService(pb.SnapshotsServicer):
    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    @rpc
    def Create(self, request: pb.CreateSnapshotRequest, context) -> pb.CreateSnapshotResponse:
        started = time.perf_counter()
        with SNAPSHOTS.creating(request.collection_name):
            snapshot = self.store.create_collection_snapshot(request.collection_name)
        return pb.CreateSnapshotResponse(snapshot_description=_description(snapshot),
                                         time=time.perf_counter() - started)

    @rpc
    def List(self, request: pb.ListSnapshotsRequest, context) -> pb.ListSnapshotsResponse:
        started = time.perf_counter()
        found = self.store.list_collection(request.collection_name)
        return pb.ListSnapshotsResponse(snapshot_descriptions=[_description(s) for s in found],
                                        time=time.perf_counter() - started)

    @rpc
    def Delete(self, request: pb.DeleteSnapshotRequest, context) -> pb.DeleteSnapshotResponse:
        started = time.perf_counter()
        self.store.delete(self.store.collection_file(request.collection_name,
                                                     request.snapshot_name))
        return pb.DeleteSnapshotResponse(time=time.perf_counter() - started)

    @rpc
    def CreateFull(self, request: pb.CreateFullSnapshotRequest, context
                   ) -> pb.CreateSnapshotResponse:
        started = time.perf_counter()
        with SNAPSHOTS.creating(""):
            snapshot = self.store.create_full_snapshot()
        return pb.CreateSnapshotResponse(snapshot_description=_description(snapshot),
                                         time=time.perf_counter() - started)

    @rpc
    def ListFull(self, request: pb.ListFullSnapshotsRequest, context
                 ) -> pb.ListSnapshotsResponse:
        started = time.perf_counter()
        found = self.store.list_full()
        return pb.ListSnapshotsResponse(snapshot_descriptions=[_description(s) for s in found],
                                        time=time.perf_counter() - started)

    @rpc
    def DeleteFull(self, request: pb.DeleteFullSnapshotRequest, context
                   ) -> pb.DeleteSnapshotResponse:
        started = time.perf_counter()
        self.store.delete(self.store.full_file(request.snapshot_name))
        return pb.DeleteSnapshotResponse(time=time.perf_counter() - started)
