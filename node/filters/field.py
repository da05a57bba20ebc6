"""Field conditions: ``{"key": ..., "match" | "range" | ... }`` as a predicate over a point.

Owns how a field condition reads the values its key reaches (``node.payload_path``) and looks
one level into array values; how its parts combine (any part is enough; ``values_count``, then
``is_empty``, then ``is_null`` take precedence); and the fast paths for a top-level key and a
chain of object keys. The per-value checks themselves come from ``node.filters.checks``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.errors import FormatError
from node.filters.base import (
    HasVector,
    PointId,
    _always_false,
    _Check,
    _Cond,
    _Ctx,
    _key_path,
    _never,
    _type_name,
)
from node.filters.checks import (
    _compile_geo_bounding_box,
    _compile_geo_polygon,
    _compile_geo_radius,
    _compile_match,
    _compile_range,
    _compile_values_count,
    _value_count,
)
from node.payload_path import make_getter

# ---------------------------------------------------------------------------------------------
# field condition


def _optional_bool(c: dict, field: str) -> bool | None:
    value = c.get(field)
    if value is not None and not isinstance(value, bool):
        raise FormatError(f"invalid type: {_type_name(value)} for `{field}`, expected a boolean")
    return value


def _any_value(get: Callable[[dict], list], check: _Check) -> _Cond:
    """Holds when a value, or an element of an array value, passes ``check``."""

    def field_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        for value in get(payload):
            if isinstance(value, list):
                for element in value:
                    if check(element):
                        return True
            elif check(value):
                return True
        return False

    return field_pred


def _compile_field(c: dict, ctx: _Ctx, where: str) -> _Cond:
    path = _key_path(c)
    checks: list[_Check] = []
    if c.get("match") is not None:
        checks.append(_compile_match(c["match"], ctx, path))
    if c.get("range") is not None:
        checks.append(_compile_range(c["range"]))
    if c.get("geo_bounding_box") is not None:
        checks.append(_compile_geo_bounding_box(c["geo_bounding_box"]))
    if c.get("geo_radius") is not None:
        checks.append(_compile_geo_radius(c["geo_radius"]))
    if c.get("geo_polygon") is not None:
        checks.append(_compile_geo_polygon(c["geo_polygon"]))
    count_ok = None
    if c.get("values_count") is not None:
        count_ok = _compile_values_count(c["values_count"])
    is_empty = _optional_bool(c, "is_empty")
    is_null = _optional_bool(c, "is_null")

    if not checks and count_ok is None and is_empty is None and is_null is None:
        ctx.invalid.append(f"{where}: At least one field condition must be specified")
        return _always_false

    get = make_getter(path)

    if count_ok is not None:
        missing = count_ok(0)

        def values_count_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
            values = get(payload)
            if not values:
                return missing
            for value in values:
                if count_ok(_value_count(value)):
                    return True
            return False

        return values_count_pred

    if is_empty is not None:
        want_empty = is_empty

        def is_empty_field_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
            values = get(payload)
            if not values:
                return want_empty
            for value in values:
                if value is None:
                    empty = True
                elif isinstance(value, list):
                    empty = not value
                else:
                    empty = False
                if empty == want_empty:
                    return True
            return False

        return is_empty_field_pred

    if is_null is not None:
        want_null = is_null

        def is_null_field_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
            values = get(payload)
            if not values:
                return not want_null
            for value in values:
                if value is None:
                    null = True
                elif isinstance(value, list):
                    null = any(x is None for x in value)
                else:
                    null = False
                if null == want_null:
                    return True
            return False

        return is_null_field_pred

    if len(checks) == 1:
        check = checks[0]
    else:
        parts = tuple(checks)

        def check(v: Any) -> bool:
            for part in parts:
                if part(v):
                    return True
            return False

    if check is _never:
        return _always_false

    # A missing key and null fail every match / range / geo check (`except` included), so the
    # common shapes - a top-level key, a chain of object keys - skip building the value list.
    if len(path) == 1:
        key = path[0]

        def top_key_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
            value = payload.get(key)
            if isinstance(value, list):
                for element in value:
                    if check(element):
                        return True
                return False
            return value is not None and check(value)

        return top_key_pred

    if all(isinstance(item, str) for item in path):
        first, rest = path[0], path[1:]

        def object_keys_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
            value = payload.get(first)
            for item in rest:
                if not isinstance(value, dict):
                    return False
                value = value.get(item)
            if isinstance(value, list):
                for element in value:
                    if check(element):
                        return True
                return False
            return value is not None and check(value)

        return object_keys_pred

    return _any_value(get, check)
