"""What a filter asks about: the payload keys its conditions read (with the index that would
serve each), how many conditions it has, and the largest condition. Strict mode limits these
and /issues reports the keys read without an index.

Filters here are already validated (``router.operations.fields.filter_``), so the walk only
follows the shapes Qdrant's Filter allows: must / should / must_not (a list or one condition),
min_should, nested filters, and nested conditions whose keys are read as ``key[].inner``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

_CLAUSES = ("must", "should", "must_not")


def _conditions(filter_: dict) -> Iterator[Any]:
    for clause in _CLAUSES:
        value = filter_.get(clause)
        if isinstance(value, list):
            yield from value
        elif value is not None:
            yield value
    min_should = filter_.get("min_should")
    if isinstance(min_should, dict):
        yield from min_should.get("conditions") or ()


def walk(filter_: dict | None, prefix: str = "") -> Iterator[tuple[str | None, dict]]:
    """Every leaf condition as (the payload key it reads or None, the condition)."""
    if not filter_:
        return
    for condition in _conditions(filter_):
        if not isinstance(condition, dict):
            continue
        if "key" in condition:
            yield prefix + condition["key"], condition
        elif "nested" in condition:
            nested = condition["nested"]
            yield from walk(nested.get("filter"), f"{prefix}{nested['key']}[].")
        elif "is_empty" in condition or "is_null" in condition:
            inner = condition.get("is_empty") or condition.get("is_null")
            yield prefix + inner["key"], condition
        elif "filter" in condition or any(c in condition for c in _CLAUSES + ("min_should",)):
            yield from walk(condition.get("filter", condition), prefix)
        else:  # has_id, has_vector: no payload key
            yield None, condition


def suggested_schema(condition: dict) -> str:
    """The payload index type that serves a condition (what Qdrant's /issues proposes)."""
    match = condition.get("match")
    if isinstance(match, dict):
        if "text" in match or "phrase" in match:
            return "text"
        value = match.get("value", match.get("any", match.get("except")))
        if isinstance(value, list):
            value = value[0] if value else ""
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "integer"
        return "keyword"
    range_ = condition.get("range")
    if isinstance(range_, dict):
        values = [v for v in range_.values() if v is not None]
        return "datetime" if any(isinstance(v, str) for v in values) else "float"
    if any(k in condition for k in ("geo_radius", "geo_bounding_box", "geo_polygon")):
        return "geo"
    if "values_count" in condition:
        return "integer"
    return "keyword"


def unindexed(filter_: dict | None, payload_schema: dict) -> list[tuple[str, str]]:
    """(key, suggested index type) of every key the filter reads that has no payload index,
    in the order they appear, each once."""
    found: dict[str, str] = {}
    for key, condition in walk(filter_):
        if key is not None and key not in payload_schema and key not in found:
            found[key] = suggested_schema(condition)
    return list(found.items())


def condition_count(filter_: dict | None) -> int:
    return sum(1 for _ in walk(filter_))


def largest_condition(filter_: dict | None) -> int:
    """The size of the largest condition: the values of a match any / except, the vertices
    of a polygon (Qdrant's ``condition_max_size``)."""
    largest = 0
    for _, condition in walk(filter_):
        match = condition.get("match")
        if isinstance(match, dict):
            for name in ("any", "except"):
                if isinstance(match.get(name), list):
                    largest = max(largest, len(match[name]))
        polygon = condition.get("geo_polygon")
        if isinstance(polygon, dict):
            exterior = (polygon.get("exterior") or {}).get("points") or []
            largest = max(largest, len(exterior))
        if isinstance(condition.get("has_id"), list):
            largest = max(largest, len(condition["has_id"]))
    return largest
