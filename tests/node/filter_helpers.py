"""Helpers shared by the filter tests (``tests/node/test_filters_*.py``)."""

from __future__ import annotations

from node.filters import compile_filter

U1 = "550e8400-e29b-41d4-a716-446655440000"
U2 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def no_vectors(name: str) -> bool:
    return False


def matches(flt, payload, point_id=1, vectors=(), **kw):
    pred = compile_filter(flt, **kw)
    return pred(point_id, payload, lambda name: name in vectors)


def cond(c, payload, **kw):
    """Whether the single condition ``c`` holds for ``payload`` (as must)."""
    return matches({"must": [c]}, payload, **kw)


def field(key, **parts):
    return {"key": key, **parts}


def ring(*pts):
    return {"points": [{"lon": x, "lat": y} for x, y in pts]}
