"""The fields that requests share, parsed from JSON-shaped bodies with Qdrant's error kinds.

Both faces hand bodies here: REST orjson-parsed dicts, gRPC messages converted to the same JSON
shapes. No pydantic: each field is checked by hand, a 400 (``FormatError``) for what does not
deserialize, a 422 (``ValidationFailed``) for a value out of range. Nothing here touches a
collection; the update, read and query parsers build on these.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import orjson

from node.datetimes import parse_datetime
from node.errors import FormatError, ValidationFailed
from node.filters import compile_filter
from node.ids import PointId, parse_point_id


def obj(body: Any, what: str) -> dict:
    if not isinstance(body, dict):
        raise FormatError(f"invalid type: expected struct {what}")
    return body


#: Qdrant's serde aliases of request fields: ``with_vectors`` everywhere ``with_vector`` is
WITH_VECTORS = {"with_vectors": "with_vector"}
#: and, in legacy search / recommend / discover, ``top`` for ``limit``
LEGACY_ALIASES = {"with_vectors": "with_vector", "top": "limit"}


def unaliased(body: dict, aliases: dict[str, str]) -> dict:
    """``body`` with each alias renamed to its field (both given: serde's duplicate field)."""
    if not any(alias in body for alias in aliases):
        return body
    out = dict(body)
    for alias, name in aliases.items():
        if alias in out:
            if name in out:
                raise FormatError(f"duplicate field `{name}`")
            out[name] = out.pop(alias)
    return out


def uint(
    value: Any, name: str, default: int | None, minimum: int = 0, prefix: str = ""
) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise FormatError(f"invalid type: {value!r}, expected an unsigned integer at `{name}`")
    if value < 0:
        raise FormatError(f"invalid value: integer `{value}`, expected usize at `{name}`")
    if value < minimum:
        raise ValidationFailed(
            f"[{prefix}{name}: value {value} invalid, must be {minimum} or larger]"
        )
    return value


def flag(value: Any, name: str, default: bool = False) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise FormatError(f"invalid type: {value!r}, expected a boolean at `{name}`")
    return value


def order_by(raw: Any) -> dict | None:
    """OrderBy: a key, or {key, direction, start_from} → dict (start_from as a number)."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return {"key": raw, "direction": "asc", "start_from": None}
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
        raise FormatError(
            "invalid type for `order_by`: expected a key or {key, direction, start_from}"
        )
    direction = raw.get("direction") or "asc"
    if direction not in ("asc", "desc"):
        raise FormatError(f"unknown variant `{direction}`, expected `asc` or `desc`")
    start = raw.get("start_from")
    if isinstance(start, str):
        stamp = parse_datetime(start)
        if stamp is None:
            raise FormatError(f"invalid datetime in `start_from`: {start}")
        start = float(stamp)
    elif start is not None and (isinstance(start, bool) or not isinstance(start, (int, float))):
        raise FormatError("invalid type for `start_from`: expected a number or a datetime")
    return {"key": raw["key"], "direction": direction, "start_from": start}


def point_ids(raw: Any) -> list[PointId]:
    if not isinstance(raw, list):
        raise FormatError("invalid type: expected a sequence of point ids")
    return [parse_point_id(v) for v in raw]


def with_payload(raw: Any, default: bool) -> Any:
    """→ True, False, or ("include"|"exclude", [keys])."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, list):
        return ("include", names(raw, "with_payload"))
    if isinstance(raw, dict):
        for kind in ("include", "exclude"):
            if kind in raw:
                keys = raw[kind]
                keys = keys if isinstance(keys, list) else [keys]
                return (kind, names(keys, f"with_payload.{kind}"))
    raise FormatError("invalid type for `with_payload`")


def names(raw: Any, where: str) -> list[str]:
    """A list of names (payload keys, vector names): every item a string."""
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise FormatError(f"invalid type: expected a sequence of strings at `{where}`")
    return raw


def with_vector(raw: Any, default: bool = False) -> Any:
    """→ True, False or a list of names."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        return raw
    raise FormatError("invalid type for `with_vector`")


#: Filters that compiled without error lately, by their canonical JSON. Applications send the
#: same few filters over and over (a tenant, a category), and validating one costs more of the
#: event loop's time than looking it up; whether a filter is valid depends on nothing else.
_VALID_FILTERS: OrderedDict[bytes, None] = OrderedDict()
_VALID_FILTERS_MAX = 256


def filter_(raw: Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError("invalid type: expected struct Filter")
    try:
        key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not plain JSON data: validate it every time
        key = None
    if key is not None:
        try:
            _VALID_FILTERS.move_to_end(key)  # one step, so safe against other threads
            return raw
        except KeyError:
            pass
    compile_filter(raw)  # validates the whole filter up front
    if key is not None:
        _VALID_FILTERS[key] = None
        if len(_VALID_FILTERS) > _VALID_FILTERS_MAX:
            _VALID_FILTERS.popitem(last=False)
    return raw


def payload(raw: Any) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError("invalid type: expected a payload object")
    return raw

def quantization_params(params: dict) -> dict | None:
    """params.quantization (QuantizationSearchParams): ignore, rescore, oversampling ≥ 1."""
    raw = params.get("quantization")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FormatError("invalid type for `params.quantization`: expected an object")
    out: dict = {}
    for name in ("ignore", "rescore"):
        if raw.get(name) is not None:
            out[name] = flag(raw[name], f"params.quantization.{name}")
    oversampling = raw.get("oversampling")
    if oversampling is not None:
        if isinstance(oversampling, bool) or not isinstance(oversampling, (int, float)):
            raise FormatError("invalid type for `params.quantization.oversampling`")
        if oversampling < 1:
            raise ValidationFailed(
                f"[params.quantization.oversampling: value {oversampling} invalid, must be 1.0 "
                "or larger]"
            )
        out["oversampling"] = float(oversampling)
    return out


def shard_key_value(raw: Any, where: str) -> Any:
    """A ShardKey: a string or an unsigned integer."""
    if isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0):
        return raw
    if raw is None:
        raise FormatError(f"missing field `{where}`")
    raise FormatError(f"data did not match any variant of untagged enum ShardKey at `{where}`")


def shard_selector(body: dict) -> Any:
    """A request's ``shard_key``: a key, a list of keys, or {"target": k, "fallback": k}."""
    raw = body.get("shard_key")
    if raw is None:
        return None
    if isinstance(raw, list):
        return [shard_key_value(k, "shard_key") for k in raw]
    if isinstance(raw, dict):
        if set(raw) != {"target", "fallback"}:
            raise FormatError("data did not match any variant of untagged enum ShardKeySelector")
        return {"target": shard_key_value(raw["target"], "shard_key.target"),
                "fallback": shard_key_value(raw["fallback"], "shard_key.fallback")}
    return shard_key_value(raw, "shard_key")

