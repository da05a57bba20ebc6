"""A tiny reference evaluator for the filter subset the suite uses (the oracle for count/scroll/
query filters): ``must`` / ``should`` / ``must_not`` with ``{"key", "match": {"value"}}``,
``{"has_id": [...]}`` and nested filters as conditions.

Semantics follow Qdrant: ``must`` = all, ``should`` = at least one, ``must_not`` = none; a key
path may be dotted; a match on an array payload value matches when any element matches; a
missing key never matches.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

_MISSING = object()


def _values_at(payload: Any, path: str) -> list[Any]:
    values = [payload]
    for part in path.split("."):
        nxt = []
        for v in values:
            if isinstance(v, dict) and part in v:
                nxt.append(v[part])
            elif isinstance(v, list):
                nxt.extend(x[part] for x in v if isinstance(x, dict) and part in x)
        values = nxt
    flat: list[Any] = []
    for v in values:
        if isinstance(v, list):
            flat.extend(v)
        else:
            flat.append(v)
    return flat


def _same(a: Any, b: Any) -> bool:
    # JSON equality with bool/int kept apart (True != 1 for payload matching).
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def condition_matches(cond: dict, point_id: Hashable, payload: dict) -> bool:
    if "has_id" in cond:
        return point_id in set(cond["has_id"])
    if "key" in cond and "match" in cond:
        wanted = cond["match"]["value"]
        return any(_same(v, wanted) for v in _values_at(payload, cond["key"]))
    if any(k in cond for k in ("must", "should", "must_not")):
        return filter_matches(cond, point_id, payload)
    raise ValueError(f"condition not supported by the reference evaluator: {cond}")


def filter_matches(flt: dict | None, point_id: Hashable, payload: dict | None) -> bool:
    if not flt:
        return True
    payload = payload or {}
    must = flt.get("must") or []
    should = flt.get("should") or []
    must_not = flt.get("must_not") or []
    if isinstance(must, dict):
        must = [must]
    if isinstance(should, dict):
        should = [should]
    if isinstance(must_not, dict):
        must_not = [must_not]
    if not all(condition_matches(c, point_id, payload) for c in must):
        return False
    if should and not any(condition_matches(c, point_id, payload) for c in should):
        return False
    if any(condition_matches(c, point_id, payload) for c in must_not):
        return False
    return True


def select(points: dict[Hashable, dict], flt: dict | None) -> set[Hashable]:
    """Ids of ``points`` (id -> payload) that match ``flt``."""
    return {pid for pid, payload in points.items() if filter_matches(flt, pid, payload)}
