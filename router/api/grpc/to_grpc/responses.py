"""The response message of each RPC, from what the shared code returns: collections, aliases and
cluster info, write results, points read, query and search hits, facet counts, the distance
matrix and the health check."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from node.shard_config import ShardConfig
from node.shard_search import PointRecord
from router.api.grpc.messages import pb
from router.api.grpc.to_grpc.configs import collection_info
from router.api.grpc.to_grpc.records import retrieved_point, scored_points, shard_key, update_result
from router.api.grpc.to_grpc.values import point_id
from router.collection.collection import UpdateResult


# -- responses ---------------------------------------------------------------------------------
def list_collections_response(names: Iterable[str], elapsed: float) -> pb.ListCollectionsResponse:
    return pb.ListCollectionsResponse(
        collections=[pb.CollectionDescription(name=n) for n in names], time=elapsed
    )


def collection_info_response(
    info: Mapping[str, Any], elapsed: float
) -> pb.GetCollectionInfoResponse:
    return pb.GetCollectionInfoResponse(result=collection_info(info), time=elapsed)


def collection_operation_response(result: bool, elapsed: float) -> pb.CollectionOperationResponse:
    return pb.CollectionOperationResponse(result=bool(result), time=elapsed)


def collection_exists_response(exists: bool, elapsed: float) -> pb.CollectionExistsResponse:
    return pb.CollectionExistsResponse(result=pb.CollectionExists(exists=exists), time=elapsed)


def alias_descriptions(aliases: Iterable[Mapping[str, str]]) -> list[pb.AliasDescription]:
    return [
        pb.AliasDescription(alias_name=a["alias_name"], collection_name=a["collection_name"])
        for a in aliases
    ]


def aliases_response(
    aliases: Iterable[Mapping[str, str]], elapsed: float
) -> pb.ListAliasesResponse:
    return pb.ListAliasesResponse(aliases=alias_descriptions(aliases), time=elapsed)


def collection_cluster_info_response(
    info: dict, elapsed: float
) -> pb.CollectionClusterInfoResponse:
    """GET /collections/{name}/cluster's answer as gRPC's CollectionClusterInfoResponse."""

    def keyed(entry: dict) -> dict:
        return {"shard_key": shard_key(entry["shard_key"])} if "shard_key" in entry else {}

    return pb.CollectionClusterInfoResponse(
        peer_id=info["peer_id"],
        shard_count=info["shard_count"],
        local_shards=[
            pb.LocalShardInfo(shard_id=e["shard_id"], points_count=e["points_count"],
                              state=pb.ReplicaState.Value(e["state"]), **keyed(e))
            for e in info["local_shards"]
        ],
        remote_shards=[
            pb.RemoteShardInfo(shard_id=e["shard_id"], peer_id=e["peer_id"],
                               state=pb.ReplicaState.Value(e["state"]), **keyed(e))
            for e in info["remote_shards"]
        ],
        shard_transfers=[
            pb.ShardTransferInfo(**{"shard_id": t["shard_id"], "from": t["from"], "to": t["to"],
                                    "sync": t["sync"], **_to_shard(t)})
            for t in info["shard_transfers"]
        ],
        resharding_operations=[
            pb.ReshardingInfo(shard_id=r["shard_id"], peer_id=r["peer_id"],
                              direction=pb.ReshardingDirection.Value(r["direction"].title()),
                              **keyed(r))
            for r in info.get("resharding_operations") or ()
        ],
        time=elapsed,
    )


def _to_shard(transfer: dict) -> dict:
    """ShardTransferInfo.to_shard_id is optional: set only where the listing has one."""
    to_shard = transfer.get("to_shard_id")
    return {} if to_shard is None else {"to_shard_id": to_shard}


def points_operation_response(result: UpdateResult, elapsed: float) -> pb.PointsOperationResponse:
    return pb.PointsOperationResponse(result=update_result(result), time=elapsed)


def update_batch_response(
    results: Iterable[UpdateResult], elapsed: float
) -> pb.UpdateBatchResponse:
    return pb.UpdateBatchResponse(result=[update_result(r) for r in results], time=elapsed)


def get_response(
    config: ShardConfig, records: Iterable[PointRecord], elapsed: float
) -> pb.GetResponse:
    return pb.GetResponse(result=[retrieved_point(config, r) for r in records], time=elapsed)


def scroll_response(
    config: ShardConfig, records: Iterable[PointRecord], next_offset: Any, elapsed: float
) -> pb.ScrollResponse:
    out = pb.ScrollResponse(result=[retrieved_point(config, r) for r in records], time=elapsed)
    if next_offset is not None:
        out.next_page_offset.CopyFrom(point_id(next_offset))
    return out


def facet_value(v: Any) -> pb.FacetValue:
    """A facet value (a keyword, an integer or a bool) → FacetValue."""
    if isinstance(v, (bool, np.bool_)):
        return pb.FacetValue(bool_value=bool(v))
    if isinstance(v, (int, np.integer)):
        return pb.FacetValue(integer_value=int(v))
    return pb.FacetValue(string_value=str(v))


def facet_response(hits: Iterable[tuple[Any, int]], elapsed: float) -> pb.FacetResponse:
    """``Collection.facet`` (value, count) pairs → FacetResponse, in the same order."""
    return pb.FacetResponse(
        hits=[pb.FacetHit(value=facet_value(v), count=int(n)) for v, n in hits], time=elapsed
    )


def count_response(count: int, elapsed: float) -> pb.CountResponse:
    return pb.CountResponse(result=pb.CountResult(count=int(count)), time=elapsed)


def query_response(
    config: ShardConfig, records: Iterable[PointRecord], elapsed: float
) -> pb.QueryResponse:
    return pb.QueryResponse(result=scored_points(config, records), time=elapsed)


def query_batch_response(
    config: ShardConfig, results: Iterable[Iterable[PointRecord]], elapsed: float
) -> pb.QueryBatchResponse:
    return pb.QueryBatchResponse(
        result=[pb.BatchResult(result=scored_points(config, rs)) for rs in results], time=elapsed
    )


def search_response(
    config: ShardConfig, records: Iterable[PointRecord], elapsed: float
) -> pb.SearchResponse:
    return pb.SearchResponse(result=scored_points(config, records), time=elapsed)


def search_batch_response(
    config: ShardConfig, results: Iterable[Iterable[PointRecord]], elapsed: float
) -> pb.SearchBatchResponse:
    return pb.SearchBatchResponse(
        result=[pb.BatchResult(result=scored_points(config, rs)) for rs in results], time=elapsed
    )


def matrix_pairs_response(matrix: Any, elapsed: float) -> pb.SearchMatrixPairsResponse:
    pairs = [
        pb.SearchMatrixPair(a=point_id(matrix.ids[i]), b=point_id(matrix.ids[j]), score=float(s))
        for i, j, s in zip(matrix.rows, matrix.cols, matrix.scores, strict=False)
    ]
    return pb.SearchMatrixPairsResponse(result=pb.SearchMatrixPairs(pairs=pairs), time=elapsed)


def matrix_offsets_response(matrix: Any, elapsed: float) -> pb.SearchMatrixOffsetsResponse:
    result = pb.SearchMatrixOffsets(
        offsets_row=list(matrix.rows),
        offsets_col=list(matrix.cols),
        scores=[float(s) for s in matrix.scores],
        ids=[point_id(i) for i in matrix.ids],
    )
    return pb.SearchMatrixOffsetsResponse(result=result, time=elapsed)


def health_check_reply(title: str, version: str, commit: str | None = None) -> pb.HealthCheckReply:
    reply = pb.HealthCheckReply(title=title, version=version)
    if commit is not None:
        reply.commit = commit
    return reply
