"""The filter's boolean structure and the entry points: ``compile_filter``, ``extract_has_id``.

Owns the clauses (``must``, ``should``, ``must_not``, ``min_should``) and how their compiled
conditions combine (folding always-true / always-false parts away), the untagged dispatch of a
condition to its kind, ``nested`` (a filter over the elements of an array, compiled by the same
recursive descent), and the reporting of validation failures once the whole filter parsed.
"""

from __future__ import annotations

from typing import Any

from node.errors import FormatError, ValidationFailed
from node.filters.base import (
    DEFAULT_UNINDEXED_TEXT,
    MATCH_ALL,
    HasVector,
    PointId,
    Predicate,
    TextIndexLookup,
    _always_false,
    _always_true,
    _as_usize,
    _Cond,
    _Ctx,
    _key_path,
    _require,
    _require_dict,
    _type_name,
)
from node.filters.conditions import (
    _compile_has_id,
    _compile_has_vector,
    _compile_is_empty,
    _compile_is_null,
    _compile_ring,
    _compile_slice,
    _parse_has_id,
)
from node.filters.field import _compile_field
from node.payload_path import array_key, make_getter

_FILTER_KEYS = ("should", "min_should", "must", "must_not")
_EXPECTING_CONDITION = (
    'Expected some form of condition, which can be a field condition (like {"key": ..., '
    '"match": ... }), or some other mentioned in the documentation: '
    "https://qdrant.tech/documentation/concepts/filtering/#filtering-conditions"
)


# ---------------------------------------------------------------------------------------------
# nested


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


# ---------------------------------------------------------------------------------------------
# conditions


_VARIANTS = (
    ("key", _compile_field),
    ("is_empty", _compile_is_empty),
    ("is_null", _compile_is_null),
    ("has_id", _compile_has_id),
    ("has_vector", _compile_has_vector),
    ("slice", _compile_slice),
    ("nested", _compile_nested),
    ("tessera_ring", _compile_ring),
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
