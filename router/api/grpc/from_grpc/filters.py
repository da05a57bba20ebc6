"""Filters and their conditions, and the selectors: which points a request is about
(``points_selector``) and which of their parts an answer carries (``with_payload``,
``with_vectors``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from node.errors import BadRequest
from router.api.grpc.from_grpc.values import f32, point_ids
from router.api.grpc.messages import pb


# -- filters -----------------------------------------------------------------------------------
def _geo_point(g: pb.GeoPoint) -> dict:
    return {"lon": g.lon, "lat": g.lat}


def _line(line: pb.GeoLineString) -> dict:
    return {"points": [_geo_point(p) for p in line.points]}


def _bounds(msg: Message, convert: Callable[[Any], Any] = lambda x: x) -> dict:
    return {k: convert(getattr(msg, k)) for k in ("lt", "gt", "gte", "lte") if msg.HasField(k)}


def timestamp(ts) -> str:
    """google.protobuf.Timestamp → RFC 3339 text (UTC, ``Z``), as a REST body writes it."""
    return ts.ToJsonString()


def match(m: pb.Match) -> dict:
    kind = m.WhichOneof("match_value")
    if kind in ("keyword", "integer", "boolean"):
        return {"value": getattr(m, kind)}
    if kind in ("text", "phrase", "text_any", "prefix", "substring"):
        return {kind: getattr(m, kind)}
    if kind == "keywords":
        return {"any": list(m.keywords.strings)}
    if kind == "integers":
        return {"any": list(m.integers.integers)}
    if kind == "except_keywords":
        return {"except": list(m.except_keywords.strings)}
    if kind == "except_integers":
        return {"except": list(m.except_integers.integers)}
    raise BadRequest("Malformed Match condition: no match value is set")


def field_condition(c: pb.FieldCondition) -> dict:
    out: dict = {"key": c.key}
    if c.HasField("match"):
        out["match"] = match(c.match)
    if c.HasField("range"):
        out["range"] = _bounds(c.range)
    if c.HasField("datetime_range"):
        out["range"] = _bounds(c.datetime_range, timestamp)
    if c.HasField("geo_bounding_box"):
        box = c.geo_bounding_box
        out["geo_bounding_box"] = {
            "top_left": _geo_point(box.top_left),
            "bottom_right": _geo_point(box.bottom_right),
        }
    if c.HasField("geo_radius"):
        out["geo_radius"] = {
            "center": _geo_point(c.geo_radius.center),
            "radius": f32(c.geo_radius.radius),
        }
    if c.HasField("geo_polygon"):
        polygon: dict = {"exterior": _line(c.geo_polygon.exterior)}
        if len(c.geo_polygon.interiors):
            polygon["interiors"] = [_line(line) for line in c.geo_polygon.interiors]
        out["geo_polygon"] = polygon
    if c.HasField("values_count"):
        out["values_count"] = _bounds(c.values_count)
    if c.HasField("is_empty"):
        out["is_empty"] = c.is_empty
    if c.HasField("is_null"):
        out["is_null"] = c.is_null
    return out


def condition(c: pb.Condition) -> dict:
    kind = c.WhichOneof("condition_one_of")
    if kind == "field":
        return field_condition(c.field)
    if kind == "filter":
        return filter_(c.filter)
    if kind == "is_empty":
        return {"is_empty": {"key": c.is_empty.key}}
    if kind == "is_null":
        return {"is_null": {"key": c.is_null.key}}
    if kind == "has_id":
        return {"has_id": point_ids(c.has_id.has_id)}
    if kind == "has_vector":
        return {"has_vector": c.has_vector.has_vector}
    if kind == "nested":
        return {"nested": {"key": c.nested.key, "filter": filter_(c.nested.filter)}}
    if kind == "slice":
        return {"slice": {"total": c.slice.total, "index": c.slice.index}}
    raise BadRequest("Malformed Condition: no condition kind is set")


def filter_(f: pb.Filter) -> dict:
    out: dict = {}
    for clause in ("must", "should", "must_not"):
        conditions = getattr(f, clause)
        if len(conditions):
            out[clause] = [condition(c) for c in conditions]
    if f.HasField("min_should"):
        out["min_should"] = {
            "conditions": [condition(c) for c in f.min_should.conditions],
            "min_count": f.min_should.min_count,
        }
    return out


def optional_filter(msg: Message, field: str = "filter") -> dict | None:
    return filter_(getattr(msg, field)) if msg.HasField(field) else None


# -- selectors ---------------------------------------------------------------------------------
def with_payload(s: pb.WithPayloadSelector) -> Any:
    """WithPayloadSelector → REST ``with_payload`` (None when nothing is chosen: the default)."""
    kind = s.WhichOneof("selector_options")
    if kind == "enable":
        return s.enable
    if kind == "include":
        return {"include": list(s.include.fields)}
    if kind == "exclude":
        return {"exclude": list(s.exclude.fields)}
    return None


def with_vectors(s: pb.WithVectorsSelector) -> Any:
    kind = s.WhichOneof("selector_options")
    if kind == "enable":
        return s.enable
    if kind == "include":
        return list(s.include.names)
    return None


def points_selector(s: pb.PointsSelector) -> dict:
    """PointsSelector → the REST body fields ``points`` or ``filter`` (empty when neither)."""
    kind = s.WhichOneof("points_selector_one_of")
    if kind == "points":
        return {"points": point_ids(s.points.ids)}
    if kind == "filter":
        return {"filter": filter_(s.filter)}
    return {}
