"""Qdrant filters: parse the JSON filter once into nested closures, then test points with it.

``compile_filter(f)`` returns ``pred(point_id, payload, has_vector) -> bool`` (or ``None`` for no
filter). ``point_id`` is an ``int`` or a lowercase hyphenated UUID ``str``; ``has_vector(name)``
says whether the point has that named vector (``""`` is the unnamed one).

Semantics (Qdrant 1.19):

* ``must`` — all hold; ``must_not`` — none holds; ``should`` — at least one holds;
  ``min_should {conditions, min_count}`` — at least ``min_count`` hold. Each clause takes one
  condition or a list. An *empty* clause (``should: []``, ``min_should.conditions: []``) is no
  constraint; ``{}`` matches every point.
* A condition is a field condition (``{"key": ..., "match"|"range"|...}``), ``is_empty``,
  ``is_null``, ``has_id``, ``has_vector``, ``slice``, ``nested`` or a filter (``{"must": ...}``).
* Field conditions read the values the key reaches (see ``node.payload_path``); an array value
  is looked into one level; the condition holds when any value / element satisfies it. When a
  field condition has several parts (``match`` and ``range``...), an element satisfying any part
  is enough; ``values_count``, ``is_empty`` and ``is_null`` (in that order) take precedence.
* ``match.value`` is exact and typed: a string matches strings, an integer matches integer values
  (not ``1.0``, not ``true``), a bool matches bools. ``any`` / ``except`` take a list of strings or
  of integers. ``except`` holds for a value of another type and never for ``null`` or a missing
  key (or an empty array).
* ``text`` / ``text_any`` / ``phrase`` on a field without a full-text index: by default (Qdrant
  1.19.1+) both sides are split into words (runs of letters and digits) and lowercased; ``text``
  needs every query word, ``text_any`` one of them, ``phrase`` all of them consecutively. An
  empty query matches nothing. ``unindexed_text="substring"`` gives Qdrant 1.19.0's behaviour
  (case-sensitive substring, ``text_any`` = any whitespace-separated part is a substring).
  ``text_index_lookup(key, kind, query)`` lets the storage supply the matcher for an indexed key.
* ``prefix``: string values starting with the prefix (case-sensitive).
* ``range``: numbers (integers and floats, not bools), compared as float64. With string bounds it
  is a datetime range over datetime-string values (see ``node.datetimes``).
* ``values_count``: a value counts its array length, 1 for a scalar, 0 for ``null``; a missing
  key counts 0.
* ``geo_bounding_box`` (strict, antimeridian aware), ``geo_radius`` (haversine < radius meters),
  ``geo_polygon`` (strictly inside the exterior, outside every hole) over ``{"lon", "lat"}``
  objects.
* ``is_empty``: true when the key is missing, ``null`` or ``[]`` (every value it reaches is).
  ``is_null``: true when a value is ``null`` or an array holding a ``null``; a missing key is not
  null. The field-condition forms ``{"key": k, "is_empty": bool}`` / ``"is_null": bool`` exist too.
* ``nested {key, filter}``: the filter must hold for one element (an object) of the array at
  ``key`` (``key`` and ``key[]`` are the same). Inside it ``has_id``, ``has_vector`` and ``slice``
  never hold.
* ``slice {total, index}``: SipHash-2-4 (zero key) of the id's bytes (8 little-endian bytes for a
  number, the 16 UUID bytes) modulo ``total`` equals ``index``.

Errors: a body of the wrong shape raises ``FormatError`` (400 "Format error in JSON body: ...");
a well-formed but invalid one (a field condition with only ``key``, ``min_count`` 0, a slice
index not below ``total``) raises ``ValidationFailed`` (422).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from node.datetimes import parse_datetime
from node.errors import FormatError, ValidationFailed
from node.geo import Polygon, haversine_m, in_bounding_box, is_valid_lat_lon
from node.ids import parse_point_id
from node.payload_path import array_key, format_path, make_getter, parse_path

PointId = int | str
HasVector = Callable[[str], bool]
Predicate = Callable[[PointId, dict, HasVector], bool]
#: ``(key, kind, query) -> matcher or None``; kind is "text", "text_any" or "phrase"; the matcher
#: takes a stored string and says whether it matches. None: use the unindexed behaviour.
TextIndexLookup = Callable[[str, str, str], Callable[[str], bool] | None]

DEFAULT_UNINDEXED_TEXT = "tokens"

__all__ = [
    "Predicate",
    "TextIndexLookup",
    "MATCH_ALL",
    "compile_filter",
    "extract_has_id",
    "text_tokens",
    "slice_of",
]

_FILTER_KEYS = ("should", "min_should", "must", "must_not")
_EXPECTING_CONDITION = (
    'Expected some form of condition, which can be a field condition (like {"key": ..., '
    '"match": ... }), or some other mentioned in the documentation: '
    "https://qdrant.tech/documentation/concepts/filtering/#filtering-conditions"
)
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_U32_MAX = 2**32 - 1
_F64_EPSILON = 2.220446049250313e-16
_NUMBER_TYPES = (int, float)

_Check = Callable[[Any], bool]  # one payload value (array element) -> bool
_Cond = Callable[[PointId, dict, HasVector], bool]


def MATCH_ALL(point_id: PointId, payload: dict, has_vector: HasVector) -> bool:  # noqa: N802
    """The predicate of an empty filter."""
    return True


def _always_true(pid: PointId, payload: dict, hv: HasVector) -> bool:
    return True


def _always_false(pid: PointId, payload: dict, hv: HasVector) -> bool:
    return False


def _never(value: Any) -> bool:
    return False


# ---------------------------------------------------------------------------------------------
# small parsing helpers


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, _NUMBER_TYPES) and not isinstance(value, bool)


def _fmt_f64(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(float(x))


def _require_dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise FormatError(f"invalid type: {_type_name(value)}, expected {what}")
    return value


def _require(obj: dict, field: str) -> Any:
    if field not in obj:
        raise FormatError(f"missing field `{field}`")
    return obj[field]


def _as_f64(value: Any, field: str) -> float:
    if not _is_number(value):
        raise FormatError(f"invalid type: {_type_name(value)} for `{field}`, expected a number")
    try:
        return float(value)
    except OverflowError:
        raise FormatError(f"number out of range for `{field}`: {value}") from None


def _as_usize(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(
            f"invalid type: {_type_name(value)} for `{field}`, expected an unsigned integer"
        )
    if value < 0 or value > 2**64 - 1:
        raise FormatError(
            f"invalid value: integer `{value}` for `{field}`, expected an unsigned integer"
        )
    return value


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
# slice (SipHash-2-4, zero key)

_M64 = 0xFFFFFFFFFFFFFFFF


def _siphash24_zero_key(data: bytes) -> int:
    v0 = 0x736F6D6570736575
    v1 = 0x646F72616E646F6D
    v2 = 0x6C7967656E657261
    v3 = 0x7465646279746573

    def rounds(v0: int, v1: int, v2: int, v3: int, count: int) -> tuple[int, int, int, int]:
        for _ in range(count):
            v0 = (v0 + v1) & _M64
            v1 = ((v1 << 13) | (v1 >> 51)) & _M64
            v1 ^= v0
            v0 = ((v0 << 32) | (v0 >> 32)) & _M64
            v2 = (v2 + v3) & _M64
            v3 = ((v3 << 16) | (v3 >> 48)) & _M64
            v3 ^= v2
            v0 = (v0 + v3) & _M64
            v3 = ((v3 << 21) | (v3 >> 43)) & _M64
            v3 ^= v0
            v2 = (v2 + v1) & _M64
            v1 = ((v1 << 17) | (v1 >> 47)) & _M64
            v1 ^= v2
            v2 = ((v2 << 32) | (v2 >> 32)) & _M64
        return v0, v1, v2, v3

    length = len(data)
    full = length - length % 8
    for off in range(0, full, 8):
        m = int.from_bytes(data[off : off + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    last = int.from_bytes(data[full:], "little") | ((length & 0xFF) << 56)
    v3 ^= last
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 2)
    v0 ^= last
    v2 ^= 0xFF
    v0, v1, v2, v3 = rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


@lru_cache(maxsize=1 << 17)
def _id_hash(point_id: PointId) -> int:
    if isinstance(point_id, int):
        data = point_id.to_bytes(8, "little")
    else:
        data = uuid.UUID(point_id).bytes
    return _siphash24_zero_key(data)


def slice_of(point_id: PointId, total: int) -> int:
    """The slice (out of ``total``) a point id falls into."""
    return _id_hash(point_id) % total


# ---------------------------------------------------------------------------------------------
# compilation context


class _Ctx:
    __slots__ = ("lookup", "text_mode", "prefix", "in_nested", "invalid")

    def __init__(
        self,
        lookup: TextIndexLookup | None,
        text_mode: str,
        prefix: tuple | None,
        in_nested: bool,
        invalid: list,
    ) -> None:
        self.lookup = lookup
        self.text_mode = text_mode
        self.prefix = prefix
        self.in_nested = in_nested
        self.invalid = invalid  # validation failures, reported after the whole filter parsed

    def nested(self, prefix: tuple) -> _Ctx:
        return _Ctx(self.lookup, self.text_mode, prefix, True, self.invalid)

    def full_key(self, path: tuple) -> str:
        return format_path(self.prefix + path if self.prefix else path)


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


# ---------------------------------------------------------------------------------------------
# field condition


def _optional_bool(c: dict, field: str) -> bool | None:
    value = c.get(field)
    if value is not None and not isinstance(value, bool):
        raise FormatError(f"invalid type: {_type_name(value)} for `{field}`, expected a boolean")
    return value


def _key_path(c: dict, field: str = "key") -> tuple:
    key = c[field]
    if not isinstance(key, str):
        raise FormatError(f"invalid type: {_type_name(key)} for `{field}`, expected a string")
    return parse_path(key)


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


# ---------------------------------------------------------------------------------------------
# other conditions


def _payload_field_key(c: dict, field: str) -> tuple:
    inner = c[field]
    if not isinstance(inner, dict):
        raise FormatError(f"invalid type: {_type_name(inner)} for `{field}`, expected {{key}}")
    if "key" not in inner:
        raise FormatError(f"missing field `key` in `{field}`")
    return _key_path(inner)


def _compile_is_empty(c: dict, ctx: _Ctx, where: str) -> _Cond:
    get = make_getter(_payload_field_key(c, "is_empty"))

    def is_empty_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        for value in get(payload):
            if value is None:
                continue
            if isinstance(value, list) and not value:
                continue
            return False
        return True

    return is_empty_pred


def _compile_is_null(c: dict, ctx: _Ctx, where: str) -> _Cond:
    get = make_getter(_payload_field_key(c, "is_null"))

    def is_null_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        for value in get(payload):
            if value is None:
                return True
            if isinstance(value, list):
                for element in value:
                    if element is None:
                        return True
        return False

    return is_null_pred


def _parse_has_id(c: dict) -> frozenset:
    ids = c["has_id"]
    if not isinstance(ids, list):
        raise FormatError(f"invalid type: {_type_name(ids)} for `has_id`, expected a list of ids")
    return frozenset(parse_point_id(x) for x in ids)


def _compile_has_id(c: dict, ctx: _Ctx, where: str) -> _Cond:
    ids = _parse_has_id(c)
    if ctx.in_nested or not ids:
        return _always_false

    def has_id_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        return pid in ids

    return has_id_pred


def _compile_has_vector(c: dict, ctx: _Ctx, where: str) -> _Cond:
    name = c["has_vector"]
    if not isinstance(name, str):
        raise FormatError(f"invalid type: {_type_name(name)} for `has_vector`, expected a string")
    if ctx.in_nested:
        return _always_false

    def has_vector_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        return hv is not None and bool(hv(name))

    return has_vector_pred


def _u32(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f"invalid type: {_type_name(value)} for `{field}`, expected an integer")
    if value < minimum or value > _U32_MAX:
        expected = "a nonzero u32" if minimum else "u32"
        raise FormatError(f"invalid value: integer `{value}` for `{field}`, expected {expected}")
    return value


def _compile_slice(c: dict, ctx: _Ctx, where: str) -> _Cond:
    s = _require_dict(c["slice"], "a slice {total, index}")
    total = _u32(_require(s, "total"), "slice.total", 1)
    index = _u32(_require(s, "index"), "slice.index", 0)
    if index >= total:
        ctx.invalid.append(
            f"{where}.slice.index: value {index} invalid, must be less than total ({total})"
        )
        return _always_false
    if ctx.in_nested:
        return _always_false
    if total == 1:
        return _always_true

    def slice_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        return _id_hash(pid) % total == index

    return slice_pred


def _compile_nested(c: dict, ctx: _Ctx, where: str) -> _Cond:
    n = _require_dict(c["nested"], "a nested condition {key, filter}")
    if "key" not in n:
        raise FormatError("missing field `key` in `nested`")
    if "filter" not in n:
        raise FormatError("missing field `filter` in `nested`")
    path = array_key(_key_path(n))
    prefix = ctx.prefix + path if ctx.prefix else path
    inner = _compile_filter_obj(n["filter"], ctx.nested(prefix), f"{where}.nested.filter", True)
    get = make_getter(path)
    if inner is _always_false:
        return _always_false

    def nested_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        for element in get(payload):
            if isinstance(element, dict) and inner(pid, element, hv):
                return True
        return False

    return nested_pred


_VARIANTS = (
    ("key", _compile_field),
    ("is_empty", _compile_is_empty),
    ("is_null", _compile_is_null),
    ("has_id", _compile_has_id),
    ("has_vector", _compile_has_vector),
    ("slice", _compile_slice),
    ("nested", _compile_nested),
)


def _compile_condition(c: Any, ctx: _Ctx, where: str) -> _Cond:
    if not isinstance(c, dict):
        raise FormatError(_EXPECTING_CONDITION)
    error: FormatError | None = None
    # like an untagged enum: the first variant whose fields fit wins
    for field, compile_variant in _VARIANTS:
        if field in c:
            try:
                return compile_variant(c, ctx, where)
            except FormatError as exc:
                if error is None:
                    error = exc
    if all(k in _FILTER_KEYS for k in c):
        return _compile_filter_obj(c, ctx, where, True)
    raise error if error is not None else FormatError(_EXPECTING_CONDITION)


# ---------------------------------------------------------------------------------------------
# filters


def _condition_list(value: Any, ctx: _Ctx, where: str) -> list[_Cond] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return [_compile_condition(value, ctx, f"{where}[0]")]
    if isinstance(value, list):
        return [_compile_condition(c, ctx, f"{where}[{i}]") for i, c in enumerate(value)]
    raise FormatError(
        f"invalid type: {_type_name(value)} for `{where.rsplit('.', 1)[-1]}`, "
        "expected a condition or a list of conditions"
    )


def _all_of(conds: list[_Cond]) -> _Cond:
    if any(c is _always_false for c in conds):
        return _always_false
    conds = [c for c in conds if c is not _always_true]
    if not conds:
        return _always_true
    if len(conds) == 1:
        return conds[0]
    if len(conds) == 2:
        a, b = conds
        return lambda pid, payload, hv: a(pid, payload, hv) and b(pid, payload, hv)
    parts = tuple(conds)

    def all_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        for c in parts:
            if not c(pid, payload, hv):
                return False
        return True

    return all_pred


def _any_of(conds: list[_Cond]) -> _Cond:
    if any(c is _always_true for c in conds):
        return _always_true
    conds = [c for c in conds if c is not _always_false]
    if not conds:
        return _always_false
    if len(conds) == 1:
        return conds[0]
    parts = tuple(conds)

    def any_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        for c in parts:
            if c(pid, payload, hv):
                return True
        return False

    return any_pred


def _none_of(conds: list[_Cond]) -> _Cond:
    if any(c is _always_true for c in conds):
        return _always_false
    conds = [c for c in conds if c is not _always_false]
    if not conds:
        return _always_true
    if len(conds) == 1:
        only = conds[0]
        return lambda pid, payload, hv: not only(pid, payload, hv)
    parts = tuple(conds)

    def none_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        for c in parts:
            if c(pid, payload, hv):
                return False
        return True

    return none_pred


def _at_least(conds: list[_Cond], min_count: int) -> _Cond:
    need = min_count - sum(1 for c in conds if c is _always_true)
    conds = [c for c in conds if c is not _always_true and c is not _always_false]
    if need <= 0:
        return _always_true
    if need > len(conds):
        return _always_false
    if need == 1:
        return _any_of(conds)
    if need == len(conds):
        return _all_of(conds)
    parts = tuple(conds)

    def min_should_pred(pid: PointId, payload: dict, hv: HasVector) -> bool:
        left = need
        remaining = len(parts)
        for c in parts:
            if c(pid, payload, hv):
                left -= 1
                if left == 0:
                    return True
            remaining -= 1
            if remaining < left:
                return False
        return False

    return min_should_pred


def _compile_filter_obj(f: Any, ctx: _Ctx, where: str, as_condition: bool) -> _Cond:
    if not isinstance(f, dict):
        if as_condition:
            raise FormatError(_EXPECTING_CONDITION)
        raise FormatError(f"invalid type: {_type_name(f)} for `{where}`, expected a filter object")
    for k in f:
        if k not in _FILTER_KEYS:
            if as_condition:
                raise FormatError(_EXPECTING_CONDITION)
            raise FormatError(
                f"unknown field `{k}`, expected one of `should`, `min_should`, `must`, `must_not`"
            )

    parts: list[_Cond] = []
    must = _condition_list(f.get("must"), ctx, f"{where}.must")
    if must:
        parts.append(_all_of(must))
    should = _condition_list(f.get("should"), ctx, f"{where}.should")
    if should:  # an empty `should` is no constraint
        parts.append(_any_of(should))
    min_should = f.get("min_should")
    if min_should is not None:
        ms = _require_dict(min_should, "a min_should {conditions, min_count}")
        conditions = _require(ms, "conditions")
        if not isinstance(conditions, list):
            raise FormatError(
                f"invalid type: {_type_name(conditions)} for `min_should.conditions`, "
                "expected a list of conditions"
            )
        min_count = _as_usize(_require(ms, "min_count"), "min_should.min_count")
        conds = [
            _compile_condition(c, ctx, f"{where}.min_should.conditions[{i}]")
            for i, c in enumerate(conditions)
        ]
        if min_count < 1:
            ctx.invalid.append(
                f"{where}.min_should.min_count: value {min_count} invalid, must be 1 or larger"
            )
        elif conds:  # no conditions: no constraint
            parts.append(_at_least(conds, min_count))
    must_not = _condition_list(f.get("must_not"), ctx, f"{where}.must_not")
    if must_not:
        parts.append(_none_of(must_not))
    return _all_of(parts)


def compile_filter(
    filter: dict | None,  # noqa: A002 (the API's own name)
    text_index_lookup: TextIndexLookup | None = None,
    *,
    unindexed_text: str = DEFAULT_UNINDEXED_TEXT,
    path: str = "filter",
) -> Predicate | None:
    """Compile a Qdrant filter (parsed JSON) into ``pred(point_id, payload, has_vector)``.

    ``None`` gives ``None`` (no filtering); a filter that matches everything gives
    ``MATCH_ALL``. ``text_index_lookup(key, kind, query)`` may return a matcher for text /
    text_any / phrase conditions on indexed keys (nested keys are given in full, e.g.
    ``items[].title``). ``unindexed_text`` is ``"tokens"`` (default) or ``"substring"``.
    ``path`` names the filter in validation messages.

    Raises ``FormatError`` for a malformed filter and ``ValidationFailed`` for an invalid one.
    """
    if filter is None:
        return None
    if unindexed_text not in ("tokens", "substring"):
        raise ValueError(f"unknown unindexed_text mode {unindexed_text!r}")
    ctx = _Ctx(text_index_lookup, unindexed_text, None, False, [])
    compiled = _compile_filter_obj(filter, ctx, path, False)
    if ctx.invalid:
        raise ValidationFailed("[" + ", ".join(ctx.invalid) + "]")
    if compiled is _always_true:
        return MATCH_ALL
    inner = compiled

    def predicate(point_id: PointId, payload: dict, has_vector: HasVector) -> bool:
        return inner(point_id, payload if payload is not None else {}, has_vector)

    return predicate


def extract_has_id(filter: dict | None) -> set | None:  # noqa: A002
    """Ids a point must have to match, when the filter's ``must`` holds ``has_id`` conditions.

    Returns the intersection of the top-level ``must`` has_id sets (also through plain filters
    nested in ``must``), or None when ``must`` restricts no ids. Points outside the set never
    match; the caller still applies the predicate to the points inside it. Call it on a filter
    ``compile_filter`` accepted.
    """
    if not isinstance(filter, dict):
        return None
    must = filter.get("must")
    if isinstance(must, dict):
        must = [must]
    if not isinstance(must, list):
        return None
    result: set | None = None
    for c in must:
        if not isinstance(c, dict) or any(k in c for k in ("key", "is_empty", "is_null")):
            continue
        ids: set | None = None
        if "has_id" in c:
            try:
                ids = set(_parse_has_id(c))
            except FormatError:
                return None
        elif c and all(k in _FILTER_KEYS for k in c):
            ids = extract_has_id(c)
        if ids is not None:
            result = ids if result is None else result & ids
    return result
