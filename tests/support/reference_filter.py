"""A reference evaluator for Qdrant filters, written for the tests from Qdrant's documented
semantics (the 1.19 behaviour summarised at the top of ``node/filters/__init__.py``). It shares no
code with the server: the property tests compare the server's answers with it.

``matches(filter, point_id, payload, vectors)`` says whether a point passes a filter (parsed
JSON). ``vectors`` is the set of vector names the point has. Point ids are ``int`` or lowercase
hyphenated UUID strings.

What it implements:

* ``must`` (all), ``should`` (at least one; an empty list is no constraint), ``must_not``
  (none), ``min_should {conditions, min_count}`` (at least ``min_count``; no conditions is no
  constraint). A clause may be one condition instead of a list. ``{}`` matches everything.
* Keys: ``a``, ``a.b``, ``a[]``, ``a[2]``, ``"quoted key"``. A key step only enters an object,
  an index step only an array, ``[]`` visits every element. The values reached are kept as they
  are; match / range / geo conditions look one level into an array value and hold when any
  element (or the value itself) satisfies them. ``null`` and missing never satisfy them.
* ``match.value``: typed equality (string / integer, not a float / bool). ``any``: one of the
  strings or integers. ``except``: holds for an element that is not ``null`` and is not one of
  the listed values (elements of another type count as "not one of them").
* ``match.text`` / ``text_any`` / ``phrase`` (no full-text index, or the default ``word``
  lowercase one): words are runs of letters and digits, lowercased; ``text`` needs all query
  words in one string value, ``text_any`` one of them, ``phrase`` all of them consecutively.
  A query without words matches nothing. ``prefix``: case-sensitive ``startswith``.
* ``range`` with number bounds: numeric values (not bools) compared as floats. With string
  bounds: a datetime range over datetime strings (a missing offset means UTC).
* ``values_count``: per value reached; an array counts its length, ``null`` 0, a scalar 1; a
  missing key counts 0.
* ``geo_bounding_box`` (strict; ``left > right`` crosses the antimeridian), ``geo_radius``
  (haversine on a 6371008.8 m sphere, strictly less than the radius), ``geo_polygon``
  (strictly inside the exterior ring and not inside any interior ring).
* ``is_empty``: every value reached is ``null`` or ``[]`` (a missing key is empty).
  ``is_null``: a value reached is ``null`` or an array holding ``null``. The field forms
  ``{"key": k, "is_empty": b}`` / ``{"key": k, "is_null": b}`` hold when some value reached
  is (or is not, for ``false``) empty / null; with nothing reached, ``is_empty: true`` and
  ``is_null: false`` hold.
* ``has_id``, ``has_vector`` (never hold inside ``nested``), ``nested {key, filter}``: the
  filter holds for one object element of the array at ``key`` (``key[]`` is the same).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

EARTH_RADIUS_M = 6371008.8

_RANGE_OPS = ("gt", "gte", "lt", "lte")
_FILTER_CLAUSES = ("must", "should", "must_not", "min_should")


class UnsupportedCondition(ValueError):
    """The evaluator does not know this condition shape (a test-generator bug)."""


# ---------------------------------------------------------------------------------- key paths

WILD = object()  # the `[]` step


def parse_key(key: str) -> list:
    """``'a.b[0].c[]'`` -> ``['a', 'b', 0, 'c', WILD]``."""
    steps: list = []
    i, n = 0, len(key)
    expect_name = True
    while i < n:
        c = key[i]
        if expect_name:
            if c == '"':
                j = key.index('"', i + 1)
                steps.append(key[i + 1 : j])
                i = j + 1
            else:
                j = i
                while j < n and key[j] not in '.["':
                    j += 1
                if j == i:
                    raise UnsupportedCondition(f"bad key {key!r}")
                steps.append(key[i:j])
                i = j
            expect_name = False
        elif c == ".":
            expect_name = True
            i += 1
        elif c == "[":
            j = key.index("]", i)
            inside = key[i + 1 : j]
            steps.append(WILD if inside == "" else int(inside))
            i = j + 1
        else:
            raise UnsupportedCondition(f"bad key {key!r}")
    if expect_name:
        raise UnsupportedCondition(f"bad key {key!r}")
    return steps


def reach(payload: Any, key: str) -> list:
    """The values ``key`` reaches in ``payload`` (arrays at the end are kept whole)."""
    current = [payload]
    for step in parse_key(key):
        nxt = []
        for value in current:
            if step is WILD:
                if isinstance(value, list):
                    nxt.extend(value)
            elif isinstance(step, int):
                if isinstance(value, list) and step < len(value):
                    nxt.append(value[step])
            else:
                if isinstance(value, dict) and step in value:
                    nxt.append(value[step])
        current = nxt
    return current


def elements(values: Iterable) -> list:
    """Arrays opened one level; everything else as is."""
    out = []
    for v in values:
        if isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out


# ---------------------------------------------------------------------------------- scalars


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def words(text: str) -> list[str]:
    """Runs of letters and digits, lowercased."""
    out, cur = [], []
    for ch in text:
        if ch.isalnum():
            cur.append(ch)
        elif cur:
            out.append("".join(cur).lower())
            cur = []
    if cur:
        out.append("".join(cur).lower())
    return out


def parse_datetime_us(text: Any) -> int | None:
    """Microseconds since the epoch for the datetime formats the tests use, else None."""
    if not isinstance(text, str):
        return None
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        if len(s) == 10:
            d = dt.date.fromisoformat(s)
            value = dt.datetime(d.year, d.month, d.day)
        else:
            value = dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def lon_lat(v: Any) -> tuple[float, float] | None:
    if isinstance(v, dict) and is_number(v.get("lon")) and is_number(v.get("lat")):
        return float(v["lon"]), float(v["lat"])
    return None


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def inside_ring(lon: float, lat: float, ring: list[tuple[float, float]]) -> bool:
    """Even-odd rule (points exactly on an edge are not expected in the tests)."""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
        if (y1 > lat) != (y2 > lat):
            x_at = x1 + (lat - y1) / (y2 - y1) * (x2 - x1)
            if lon < x_at:
                inside = not inside
    return inside


def _ring(line: dict) -> list[tuple[float, float]]:
    return [(float(p["lon"]), float(p["lat"])) for p in line["points"]]


# ---------------------------------------------------------------------------------- element checks


def _range_ok(x: Any, bounds: dict) -> bool:
    ops = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    return all(ops[k](x, b) for k, b in bounds.items())


def element_check(cond: dict):
    """A function element -> bool for the match / range / geo part of a field condition."""
    parts = []
    if cond.get("match") is not None:
        parts.append(_match_check(cond["match"]))
    if cond.get("range") is not None:
        parts.append(_range_check(cond["range"]))
    if cond.get("geo_bounding_box") is not None:
        box = cond["geo_bounding_box"]
        left, top = float(box["top_left"]["lon"]), float(box["top_left"]["lat"])
        right, bottom = float(box["bottom_right"]["lon"]), float(box["bottom_right"]["lat"])

        def in_box(v):
            p = lon_lat(v)
            if p is None:
                return False
            lon, lat = p
            if not bottom < lat < top:
                return False
            if left <= right:
                return left < lon < right
            return lon > left or lon < right

        parts.append(in_box)
    if cond.get("geo_radius") is not None:
        r = cond["geo_radius"]
        c_lon, c_lat, radius = (
            float(r["center"]["lon"]),
            float(r["center"]["lat"]),
            float(r["radius"]),
        )

        def in_radius(v):
            p = lon_lat(v)
            return p is not None and haversine_m(c_lon, c_lat, p[0], p[1]) < radius

        parts.append(in_radius)
    if cond.get("geo_polygon") is not None:
        poly = cond["geo_polygon"]
        exterior = _ring(poly["exterior"])
        holes = [_ring(h) for h in (poly.get("interiors") or [])]

        def in_polygon(v):
            p = lon_lat(v)
            if p is None or not inside_ring(p[0], p[1], exterior):
                return False
            return not any(inside_ring(p[0], p[1], h) for h in holes)

        parts.append(in_polygon)
    if not parts:
        raise UnsupportedCondition(f"field condition without a check: {cond}")
    return lambda v: any(part(v) for part in parts)


def _match_check(m: dict):
    if "value" in m:
        want = m["value"]
        if isinstance(want, bool):
            return lambda v: isinstance(v, bool) and v == want
        if is_int(want):
            return lambda v: is_int(v) and v == want
        if isinstance(want, str):
            return lambda v: isinstance(v, str) and v == want
        raise UnsupportedCondition(f"match.value {want!r}")
    if "any" in m:
        options = list(m["any"])
        if all(isinstance(o, str) for o in options):
            return lambda v: isinstance(v, str) and v in options
        if all(is_int(o) for o in options):
            return lambda v: is_int(v) and v in options
        raise UnsupportedCondition(f"match.any {options!r}")
    if "except" in m:
        excluded = list(m["except"])
        strings = all(isinstance(o, str) for o in excluded)
        if not strings and not all(is_int(o) for o in excluded):
            raise UnsupportedCondition(f"match.except {excluded!r}")

        def not_listed(v):
            if v is None:
                return False
            if strings and isinstance(v, str):
                return v not in excluded
            if not strings and is_int(v):
                return v not in excluded
            return True

        return not_listed
    if "text" in m or "text_any" in m or "phrase" in m:
        kind = "text" if "text" in m else "text_any" if "text_any" in m else "phrase"
        query = words(m[kind])

        def text_check(v):
            if not isinstance(v, str) or not query:
                return False
            doc = words(v)
            if kind == "text":
                return set(query) <= set(doc)
            if kind == "text_any":
                return bool(set(query) & set(doc))
            n = len(query)
            return any(doc[i : i + n] == query for i in range(len(doc) - n + 1))

        return text_check
    if "prefix" in m:
        prefix = m["prefix"]
        return lambda v: isinstance(v, str) and v.startswith(prefix)
    raise UnsupportedCondition(f"match {m!r}")


def _range_check(r: dict):
    bounds = {k: r[k] for k in _RANGE_OPS if r.get(k) is not None}
    if all(is_number(b) for b in bounds.values()):
        fb = {k: float(b) for k, b in bounds.items()}
        return lambda v: is_number(v) and _range_ok(float(v), fb)
    if all(isinstance(b, str) for b in bounds.values()):
        db = {k: parse_datetime_us(b) for k, b in bounds.items()}
        if any(x is None for x in db.values()):
            raise UnsupportedCondition(f"datetime range {r!r}")

        def dt_check(v):
            x = parse_datetime_us(v)
            return x is not None and _range_ok(x, db)

        return dt_check
    raise UnsupportedCondition(f"range {r!r}")


def _count_of(v: Any) -> int:
    if v is None:
        return 0
    if isinstance(v, list):
        return len(v)
    return 1


# ---------------------------------------------------------------------------------- conditions


def _as_list(clause: Any) -> list:
    if clause is None:
        return []
    return clause if isinstance(clause, list) else [clause]


class _Point:
    __slots__ = ("id", "vectors")

    def __init__(self, point_id, vectors):
        self.id = point_id
        self.vectors = vectors


def _field(cond: dict, payload: dict) -> bool:
    values = reach(payload, cond["key"])
    if cond.get("values_count") is not None:
        vc = {
            k: cond["values_count"][k]
            for k in _RANGE_OPS
            if cond["values_count"].get(k) is not None
        }
        if not values:
            return _range_ok(0, vc)
        return any(_range_ok(_count_of(v), vc) for v in values)
    if cond.get("is_empty") is not None:
        # the field form tests each value reached (unlike the `is_empty` condition)
        if not values:
            return cond["is_empty"]
        return any((v is None or v == []) == cond["is_empty"] for v in values)
    if cond.get("is_null") is not None:
        if not values:
            return not cond["is_null"]
        for v in values:
            null = v is None or (isinstance(v, list) and any(x is None for x in v))
            if null == cond["is_null"]:
                return True
        return False
    check = element_check(cond)
    return any(e is not None and check(e) for e in elements(values))


def _condition(cond: Any, point: _Point, payload: dict, in_nested: bool) -> bool:
    if not isinstance(cond, dict):
        raise UnsupportedCondition(f"condition {cond!r}")
    if "key" in cond:
        return _field(cond, payload)
    if "is_empty" in cond:
        values = reach(payload, cond["is_empty"]["key"])
        return all(v is None or v == [] for v in values)
    if "is_null" in cond:
        values = reach(payload, cond["is_null"]["key"])
        return any(v is None or (isinstance(v, list) and None in v) for v in values)
    if "has_id" in cond:
        if in_nested:
            return False
        return point.id in set(cond["has_id"])
    if "has_vector" in cond:
        if in_nested:
            return False
        return cond["has_vector"] in point.vectors
    if "nested" in cond:
        key = cond["nested"]["key"]
        if not key.endswith("[]"):
            key = key + "[]"
        inner = cond["nested"]["filter"]
        return any(
            isinstance(element, dict) and _filter(inner, point, element, True)
            for element in reach(payload, key)
        )
    if set(cond) <= set(_FILTER_CLAUSES):
        return _filter(cond, point, payload, in_nested)
    raise UnsupportedCondition(f"condition {cond!r}")


def _filter(f: dict, point: _Point, payload: dict, in_nested: bool) -> bool:
    def holds(c):
        return _condition(c, point, payload, in_nested)

    if not all(holds(c) for c in _as_list(f.get("must"))):
        return False
    should = _as_list(f.get("should"))
    if should and not any(holds(c) for c in should):
        return False
    ms = f.get("min_should")
    if ms is not None and ms["conditions"]:
        if sum(1 for c in ms["conditions"] if holds(c)) < ms["min_count"]:
            return False
    if any(holds(c) for c in _as_list(f.get("must_not"))):
        return False
    return True


def matches(
    flt: dict | None, point_id: int | str, payload: dict | None, vectors: Iterable[str] = ()
) -> bool:
    """Whether the point passes ``flt`` (None or ``{}``: every point does)."""
    if not flt:
        return True
    return _filter(flt, _Point(point_id, frozenset(vectors)), payload or {}, False)


def select(flt: dict | None, points: Iterable[tuple]) -> list:
    """Ids of ``(id, payload, vectors)`` triples that pass ``flt``, in the given order."""
    return [pid for pid, payload, vectors in points if matches(flt, pid, payload, vectors)]
