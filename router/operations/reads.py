"""Read requests that are not searches (retrieve, scroll, count, facet): parsed and answered
the same way by both faces."""

from __future__ import annotations

from node.errors import BadRequest, FormatError
from node.ids import PointId, parse_point_id
from node.shard_search import PointRecord
from router.collection.collection import Collection
from router.operations.fields import (
    WITH_VECTORS,
    filter_,
    flag,
    order_by,
    point_ids,
    shard_selector,
    uint,
    unaliased,
    with_payload,
    with_vector,
)


def scoped(collection: Collection, body: dict) -> Collection:
    return collection.scoped(shard_selector(body))


def strict_read(collection: Collection, filter_dict: dict | None, limit: int | None) -> None:
    """Strict mode's checks of a read that is not a search (nothing when it is off)."""
    if collection.strict is not None:
        collection.strict.check_read(filter_dict, limit, collection.payload_schema)


def retrieve(collection: Collection, body: dict) -> list[PointRecord]:
    """PointRequest: ids, with_payload (default true), with_vector (default false)."""
    body = unaliased(body, WITH_VECTORS)
    collection = scoped(collection, body)
    if "ids" not in body:
        raise FormatError("missing field `ids`")
    ids = point_ids(body["ids"])
    wp = with_payload(body.get("with_payload"), True)
    wv = with_vector(body.get("with_vector"), False)
    strict_read(collection, None, None)
    return collection.retrieve(ids, wp, wv)


def scroll(collection: Collection, body: dict) -> tuple[list[PointRecord], PointId | None]:
    """ScrollRequest → (records, next_page_offset); with order_by the offset is always None."""
    body = unaliased(body, WITH_VECTORS)
    collection = scoped(collection, body)
    limit = uint(body.get("limit"), "limit", 10, minimum=1)
    offset = parse_point_id(body["offset"]) if body.get("offset") is not None else None
    ordering = order_by(body.get("order_by"))
    filter_dict = filter_(body.get("filter"))
    wp = with_payload(body.get("with_payload"), True)
    wv = with_vector(body.get("with_vector"), False)
    strict_read(collection, filter_dict, limit)
    if ordering is None:
        return collection.scroll(filter_dict, offset, limit, wp, wv)
    if offset is not None:
        raise BadRequest("Can't use `offset` with `order_by`, use `start_from` instead")
    return collection.scroll_ordered(filter_dict, ordering, limit, wp, wv), None


def count(collection: Collection, body: dict) -> int:
    """CountRequest: filter, exact (counts are always exact here)."""
    collection = scoped(collection, body)
    filter_dict = filter_(body.get("filter"))
    flag(body.get("exact"), "exact")
    strict_read(collection, filter_dict, None)
    return collection.count(filter_dict)


def facet(collection: Collection, body: dict) -> list[tuple]:
    """FacetRequest: key, filter, limit (default 10), exact → [(value, count)]."""
    collection = scoped(collection, body)
    key = body.get("key")
    if not isinstance(key, str):
        raise FormatError("missing field `key`")
    limit = uint(body.get("limit"), "limit", 10, minimum=1)
    flag(body.get("exact"), "exact")
    filter_dict = filter_(body.get("filter"))
    strict_read(collection, filter_dict, limit)
    return collection.facet(key, filter_dict, limit)


