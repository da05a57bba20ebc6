"""Grouped queries (POST …/points/query/groups, …/search/groups, …/recommend/groups).

The query runs as usual but over a longer list; its points are then dealt into groups by the
value(s) of `group_by` (an array value puts the point in several groups; only string and integer
values make groups), best point first: a new group opens while there are fewer than `limit`, an
open group takes points until it has `group_size`. Groups are ordered by their best hit.
`with_lookup` adds the point of another collection whose id is the group's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.errors import FormatError
from node.ids import parse_point_id
from node.payload_path import get_values
from node.shard_search import PointRecord
from router.collection.collection import Collection
from router.operations.fields import uint, with_payload, with_vector
from router.query import budget
from router.query import engine as query_engine
from router.query.stages import Request


@dataclass
class GroupsRequest:
    request: Request  # its stage limit is the number of groups
    group_by: str
    group_size: int
    with_lookup: dict | None  # {collection, with_payload, with_vectors}


@dataclass
class Group:
    id: Any
    hits: list[PointRecord]
    lookup: PointRecord | None = None


def parse_group_fields(
    body: dict, request: Request, prefix: str, required: bool
) -> GroupsRequest:
    """group_by, group_size, limit and with_lookup of a groups request body."""
    group_by = body.get("group_by")
    if not isinstance(group_by, str) or not group_by:
        raise FormatError("missing field `group_by`")
    if required and body.get("group_size") is None:
        raise FormatError("missing field `group_size`")
    group_size = uint(body.get("group_size"), "group_size", 3, minimum=1, prefix=prefix)
    lookup = body.get("with_lookup")
    if lookup is not None:
        if isinstance(lookup, str):
            lookup = {"collection": lookup, "with_payload": True, "with_vectors": False}
        elif isinstance(lookup, dict) and isinstance(lookup.get("collection"), str):
            lookup = {
                "collection": lookup["collection"],
                "with_payload": with_payload(lookup.get("with_payload"), True),
                "with_vectors": with_vector(lookup.get("with_vectors"), False),
            }
        else:
            raise FormatError(
                "invalid type for `with_lookup`: expected a collection name or {collection, …}"
            )
    return GroupsRequest(
        request=request, group_by=group_by, group_size=group_size, with_lookup=lookup
    )


def _group_values(payload: dict | None, key: str) -> list:
    out = []
    for value in get_values(payload or {}, key, flat=True):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            continue
        if value not in out:
            out.append(value)
    return out


def _deal(records: list[PointRecord], payloads: dict, req: GroupsRequest, limit: int) -> dict:
    groups: dict = {}
    for record in records:
        for value in _group_values(payloads.get(record.id), req.group_by):
            hits = groups.get(value)
            if hits is None:
                if len(groups) < limit:
                    groups[value] = [record]
            elif len(hits) < req.group_size and all(h.id != record.id for h in hits):
                hits.append(record)
    return groups


def run_groups(ctx: query_engine.Context, req: GroupsRequest) -> list[Group]:
    """Run the query over enough points to fill `limit` groups of `group_size`, then group."""
    collection: Collection = ctx.collection
    if collection.strict is not None:
        collection.strict.check_queries([req.request], collection.payload_schema)
    stage = req.request.stage
    limit = stage.limit
    fetch = max(limit * req.group_size * 2, 16)
    limits = getattr(ctx.toc, "limits", None)
    size = budget.row_bytes(collection, req.request.with_payload, req.request.with_vector)
    budget.check(collection, [(fetch + budget.query_rows(req.request), size)],
                 getattr(limits, "max_request_memory_mb", None))
    while True:
        records = query_engine.run_stage(ctx, stage, fetch)
        payloads = {
            r.id: r.payload
            for r in collection.retrieve(
                [r.id for r in records], ("include", [req.group_by]), False
            )
        }
        groups = _deal(records, payloads, req, limit)
        complete = len(groups) >= limit and all(len(h) >= req.group_size for h in groups.values())
        if complete or len(records) < fetch:
            break
        fetch *= 4
    out = []
    for value, hits in groups.items():
        hits = query_engine.attach(
            collection, hits, req.request.with_payload, req.request.with_vector
        )
        out.append(Group(id=value, hits=hits))
    if req.with_lookup is not None:
        other = ctx.other(req.with_lookup["collection"])
        ids = []
        for g in out:
            try:
                ids.append(parse_point_id(g.id))
            except Exception:  # a group value that is not a point id has no lookup
                continue
        found = {
            r.id: r
            for r in other.retrieve(
                ids, req.with_lookup["with_payload"], req.with_lookup["with_vectors"]
            )
        }
        for g in out:
            g.lookup = found.get(g.id)
    return out
