"""Points in answers: a stored record as a RetrievedPoint, a hit as ScoredPoint fields, groups
of hits and batches of results; and an update's UpdateResult."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from node.shard_config import ShardConfig
from node.shard_search import PointRecord
from router.api.grpc.messages import pb
from router.api.grpc.to_grpc.values import _INT64_MAX, _INT64_MIN, _vectors_kwargs, payload_kwargs
from router.api.rest.serialize import vectors_json
from router.collection.collection import UpdateResult

_UPDATE_STATUS = {
    "acknowledged": pb.UpdateStatus.Acknowledged,
    "completed": pb.UpdateStatus.Completed,
    "wait_timeout": pb.UpdateStatus.WaitTimeout,
}


# -- points ------------------------------------------------------------------------------------
def _record_kwargs(config: ShardConfig, record: PointRecord) -> dict:
    pid = record.id
    kw: dict = {"id": {"uuid": pid} if isinstance(pid, str) else {"num": int(pid)}}
    if record.payload:
        kw["payload"] = payload_kwargs(record.payload)
    if record.vectors is not None:
        kw["vectors"] = _vectors_kwargs(vectors_json(config, record.vectors))
    key = getattr(record, "shard_key", None)
    if key is not None:
        kw["shard_key"] = shard_key(key)
    return kw


def shard_key(key) -> pb.ShardKey:
    return pb.ShardKey(keyword=key) if isinstance(key, str) else pb.ShardKey(number=key)


def order_value(v: int | float) -> pb.OrderValue:
    """The value a point was ordered by, as REST shows it: an int for integer and datetime
    keys, a float for float keys."""
    if isinstance(v, int) and _INT64_MIN <= v <= _INT64_MAX:
        return pb.OrderValue(int=v)
    return pb.OrderValue(float=float(v))


def retrieved_point(config: ShardConfig, record: PointRecord) -> pb.RetrievedPoint:
    kw = _record_kwargs(config, record)
    if record.order_value is not None:
        kw["order_value"] = order_value(record.order_value)
    return pb.RetrievedPoint(**kw)


def scored_point(config: ShardConfig, record: PointRecord) -> dict:
    """A hit as ScoredPoint's fields: a message's repeated field takes such dicts, and
    building the whole answer from plain dicts in one go is ~2× faster than from messages."""
    kw = _record_kwargs(config, record)
    kw["score"] = float(record.score or 0.0)
    kw["version"] = int(record.version)
    if record.order_value is not None:
        kw["order_value"] = order_value(record.order_value)
    return kw


def scored_points(config: ShardConfig, records: Iterable[PointRecord]) -> list[dict]:
    """ScoredPoint fields of each hit, for a repeated ScoredPoint field."""
    return [scored_point(config, r) for r in records]


def update_result(result: UpdateResult) -> pb.UpdateResult:
    return pb.UpdateResult(
        operation_id=result.operation_id,
        status=_UPDATE_STATUS.get(result.status, pb.UpdateStatus.UnknownUpdateStatus),
    )


# -- groups and batches of results -------------------------------------------------------------
def group_id(value: Any) -> pb.GroupId:
    if isinstance(value, str):
        return pb.GroupId(string_value=value)
    if value >= 0:
        return pb.GroupId(unsigned_value=value)
    return pb.GroupId(integer_value=value)


def groups_result(
    config: ShardConfig, groups: Iterable, lookup_config: ShardConfig | None
) -> pb.GroupsResult:
    out = []
    for group in groups:
        kw: dict = {"id": group_id(group.id), "hits": scored_points(config, group.hits)}
        if group.lookup is not None and lookup_config is not None:
            kw["lookup"] = retrieved_point(lookup_config, group.lookup)
        out.append(pb.PointGroup(**kw))
    return pb.GroupsResult(groups=out)


def batch_results(
    config: ShardConfig, results: Iterable[Iterable[PointRecord]]
) -> list[pb.BatchResult]:
    return [pb.BatchResult(result=scored_points(config, rs)) for rs in results]
