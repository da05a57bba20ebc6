"""Checks of one payload value: the ``match``, ``range``, ``values_count`` and geo parts of a
field condition.

Each part compiles to ``check(value) -> bool`` over a single value (an array element when the
key reaches an array; ``node.filters.field`` does that fan-out). Owns ``match`` (``value``,
``any``, ``except``, ``prefix`` and the unindexed ``text`` / ``text_any`` / ``phrase``
matching with Qdrant's default word tokenizer ``text_tokens``), number and datetime ``range``,
the ``values_count`` bounds and ``geo_bounding_box`` / ``geo_radius`` / ``geo_polygon``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from node.datetimes import parse_datetime
from node.errors import FormatError
from node.filters.base import (
    _NUMBER_TYPES,
    _as_f64,
    _as_usize,
    _Check,
    _Ctx,
    _fmt_f64,
    _is_number,
    _never,
    _require,
    _require_dict,
    _type_name,
)
from node.geo import Polygon, haversine_m, in_bounding_box, is_valid_lat_lon

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_F64_EPSILON = 2.220446049250313e-16


# ---------------------------------------------------------------------------------------------
# text


_WORD_RE = re.compile(r"[^\W_]+")


def text_tokens(text: str) -> list[str]:
    """Qdrant's default word tokenizer: runs of letters/digits, lowercased."""
    return [t.lower() for t in _WORD_RE.findall(text)]


@lru_cache(maxsize=8192)
def _doc_tokens(text: str) -> tuple[str, ...]:
    return tuple(text_tokens(text))


@lru_cache(maxsize=8192)
def _doc_token_set(text: str) -> frozenset:
    return frozenset(_doc_tokens(text))


def _text_checker(kind: str, query: str, mode: str) -> _Check:
    if mode == "substring":
        if kind == "text_any":
            parts = query.split()
            if not parts:
                return _never
            return lambda v: isinstance(v, str) and any(p in v for p in parts)
        return lambda v: isinstance(v, str) and query in v

    tokens = text_tokens(query)
    if not tokens:
        return _never
    if kind == "text":
        wanted = frozenset(tokens)
        return lambda v: isinstance(v, str) and wanted <= _doc_token_set(v)
    if kind == "text_any":
        wanted = frozenset(tokens)
        return lambda v: isinstance(v, str) and not wanted.isdisjoint(_doc_token_set(v))
    phrase = tuple(tokens)
    n = len(phrase)
    head = phrase[0]

    def phrase_check(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        doc = _doc_tokens(v)
        for i in range(len(doc) - n + 1):
            if doc[i] == head and doc[i : i + n] == phrase:
                return True
        return False

    return phrase_check


# ---------------------------------------------------------------------------------------------
# match


def _match_value(raw: Any) -> _Check:
    if isinstance(raw, bool):
        if raw:
            return lambda v: v is True
        return lambda v: v is False
    if isinstance(raw, int):
        if not _I64_MIN <= raw <= _I64_MAX:
            raise FormatError(
                f"invalid value: integer `{raw}` for `match.value`, expected a string, "
                "a 64-bit signed integer or a boolean"
            )
        return lambda v: type(v) is int and v == raw  # noqa: E721 (bool and float excluded)
    if isinstance(raw, str):
        return lambda v: isinstance(v, str) and v == raw
    raise FormatError(
        f"invalid type: {_type_name(raw)} for `match.value`, expected a string, "
        "an integer or a boolean"
    )


def _any_variants(raw: Any, field: str) -> tuple[str, frozenset]:
    if not isinstance(raw, list):
        raise FormatError(
            f"invalid type: {_type_name(raw)} for `match.{field}`, "
            "expected a list of strings or a list of integers"
        )
    if all(isinstance(x, str) for x in raw):
        return "str", frozenset(raw)
    if all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        for x in raw:
            if not _I64_MIN <= x <= _I64_MAX:
                raise FormatError(
                    f"invalid value: integer `{x}` in `match.{field}`, "
                    "expected a 64-bit signed integer"
                )
        return "int", frozenset(raw)
    raise FormatError(
        f"invalid value for `match.{field}`: expected a list of strings "
        "or a list of integers, not a mix"
    )


def _match_any(raw: Any) -> _Check:
    kind, values = _any_variants(raw, "any")
    if not values:
        return _never
    if kind == "str":
        return lambda v: isinstance(v, str) and v in values
    return lambda v: type(v) is int and v in values  # noqa: E721


def _match_except(raw: Any) -> _Check:
    kind, values = _any_variants(raw, "except")
    if kind == "str":

        def except_str(v: Any) -> bool:
            if v is None:
                return False
            if isinstance(v, str):
                return v not in values
            return True

        return except_str

    def except_int(v: Any) -> bool:
        if v is None:
            return False
        if type(v) is int:  # noqa: E721
            return v not in values
        return True  # floats, strings, bools, objects, arrays

    return except_int


def _match_string(m: dict, field: str) -> str:
    value = m[field]
    if not isinstance(value, str):
        raise FormatError(
            f"invalid type: {_type_name(value)} for `match.{field}`, expected a string"
        )
    return value


def _compile_match(m: Any, ctx: _Ctx, path: tuple) -> _Check:
    m = _require_dict(m, "a match condition (value, text, text_any, phrase, prefix, any, except)")
    error: FormatError | None = None
    for field in ("value", "text", "text_any", "phrase", "prefix", "any", "except"):
        if field not in m:
            continue
        try:
            if field == "value":
                return _match_value(m["value"])
            if field in ("text", "text_any", "phrase"):
                query = _match_string(m, field)
                if ctx.lookup is not None:
                    matcher = ctx.lookup(ctx.full_key(path), field, query)
                    if matcher is not None:
                        return lambda v, _m=matcher: isinstance(v, str) and bool(_m(v))
                return _text_checker(field, query, ctx.text_mode)
            if field == "prefix":
                prefix = _match_string(m, field)
                return lambda v: isinstance(v, str) and v.startswith(prefix)
            if field == "any":
                return _match_any(m["any"])
            return _match_except(m["except"])
        except FormatError as exc:
            if error is None:
                error = exc
    if error is not None:
        raise error
    raise FormatError(
        "unknown match condition: expected one of `value`, `text`, `text_any`, `phrase`, "
        "`prefix`, `any`, `except`"
    )


# ---------------------------------------------------------------------------------------------
# range / values_count

_RANGE_KEYS = ("lt", "gt", "gte", "lte")


def _compile_range(r: Any) -> _Check:
    r = _require_dict(r, "a range (lt, gt, gte, lte)")
    bounds = {k: r.get(k) for k in _RANGE_KEYS}
    given = {k: v for k, v in bounds.items() if v is not None}
    if all(_is_number(v) for v in given.values()):
        fb = {k: _as_f64(v, f"range.{k}") for k, v in given.items()}
        inf = float("inf")
        gt, gte = fb.get("gt", -inf), fb.get("gte", -inf)
        lt, lte = fb.get("lt", inf), fb.get("lte", inf)

        def number_range(v: Any) -> bool:
            cls = type(v)
            if cls is float:
                x = v
            elif cls is int:
                try:
                    x = float(v)
                except OverflowError:
                    return False
            else:
                return False
            return gt < x < lt and gte <= x <= lte

        return number_range

    if all(isinstance(v, str) for v in given.values()):
        db: dict[str, int] = {}
        for k, v in given.items():
            ns = parse_datetime(v)
            if ns is None:
                raise FormatError(
                    f"'{v}' is not in a supported date/time format, please use RFC 3339"
                )
            db[k] = ns
        lo = -(2**127)
        hi = 2**127
        dgt, dgte = db.get("gt", lo), db.get("gte", lo)
        dlt, dlte = db.get("lt", hi), db.get("lte", hi)

        def datetime_range(v: Any) -> bool:
            if not isinstance(v, str):
                return False
            x = parse_datetime(v)
            if x is None:
                return False
            return dgt < x < dlt and dgte <= x <= dlte

        return datetime_range

    odd = [v for v in given.values() if not _is_number(v) and not isinstance(v, str)]
    if odd:
        raise FormatError(
            f"invalid type: {_type_name(odd[0])} in `range`, "
            "expected a number or an RFC 3339 datetime string"
        )
    raise FormatError("invalid `range`: bounds must be all numbers or all datetime strings")


def _compile_values_count(vc: Any) -> Callable[[int], bool]:
    vc = _require_dict(vc, "a values_count (lt, gt, gte, lte)")
    b = {k: _as_usize(vc[k], f"values_count.{k}") for k in _RANGE_KEYS if vc.get(k) is not None}
    lt, gt, gte, lte = b.get("lt"), b.get("gt"), b.get("gte"), b.get("lte")

    def count_ok(n: int) -> bool:
        return (
            (lt is None or n < lt)
            and (gt is None or n > gt)
            and (gte is None or n >= gte)
            and (lte is None or n <= lte)
        )

    return count_ok


def _value_count(v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, list):
        return len(v)
    return 1


# ---------------------------------------------------------------------------------------------
# geo


def _geo_point(raw: Any, field: str) -> tuple[float, float]:
    raw = _require_dict(raw, f"a geo point {{lon, lat}} for `{field}`")
    lon = _as_f64(_require(raw, "lon"), f"{field}.lon")
    lat = _as_f64(_require(raw, "lat"), f"{field}.lat")
    if not is_valid_lat_lon(lat, lon):
        raise FormatError(
            f"Wrong format of GeoPoint payload: expected `lat` = {_fmt_f64(lat)} within "
            f"[-90;90] and `lon` = {_fmt_f64(lon)} within [-180;180]"
        )
    return lon, lat


def _payload_lon_lat(v: Any) -> tuple[float, float] | None:
    if isinstance(v, dict):
        lon = v.get("lon")
        lat = v.get("lat")
        if type(lon) in _NUMBER_TYPES and type(lat) in _NUMBER_TYPES:
            return lon, lat
    return None


def _compile_geo_bounding_box(raw: Any) -> _Check:
    raw = _require_dict(raw, "a geo_bounding_box {top_left, bottom_right}")
    left, top = _geo_point(_require(raw, "top_left"), "top_left")
    right, bottom = _geo_point(_require(raw, "bottom_right"), "bottom_right")

    def check(v: Any) -> bool:
        p = _payload_lon_lat(v)
        return p is not None and in_bounding_box(p[0], p[1], left, top, right, bottom)

    return check


def _compile_geo_radius(raw: Any) -> _Check:
    raw = _require_dict(raw, "a geo_radius {center, radius}")
    c_lon, c_lat = _geo_point(_require(raw, "center"), "center")
    radius = _as_f64(_require(raw, "radius"), "radius")

    def check(v: Any) -> bool:
        p = _payload_lon_lat(v)
        return p is not None and haversine_m(c_lon, c_lat, p[0], p[1]) < radius

    return check


def _line_string(raw: Any, field: str) -> list[tuple[float, float]]:
    raw = _require_dict(raw, f"a line string {{points}} for `{field}`")
    points = _require(raw, "points")
    if not isinstance(points, list):
        raise FormatError(
            f"invalid type: {_type_name(points)} for `{field}.points`, expected a list"
        )
    coords = [_geo_point(p, f"{field}.points[{i}]") for i, p in enumerate(points)]
    if len(coords) <= 3:
        raise FormatError(f"polygon invalid, the size must be at least 4, got {len(coords)}")
    (lon0, lat0), (lon1, lat1) = coords[0], coords[-1]
    if abs(lat0 - lat1) > _F64_EPSILON or abs(lon0 - lon1) > _F64_EPSILON:
        raise FormatError(
            "polygon invalid, the first and the last points should be the same "
            "to form a closed line"
        )
    return coords


def _compile_geo_polygon(raw: Any) -> _Check:
    raw = _require_dict(raw, "a geo_polygon {exterior, interiors}")
    exterior = _line_string(_require(raw, "exterior"), "exterior")
    interiors_raw = raw.get("interiors")
    interiors = []
    if interiors_raw is not None:
        if not isinstance(interiors_raw, list):
            raise FormatError(
                f"invalid type: {_type_name(interiors_raw)} for `interiors`, expected a list"
            )
        interiors = [_line_string(x, f"interiors[{i}]") for i, x in enumerate(interiors_raw)]
    polygon = Polygon(exterior, interiors)

    def check(v: Any) -> bool:
        p = _payload_lon_lat(v)
        return p is not None and polygon.contains(p[0], p[1])

    return check
