"""The vocabulary every part of the filter compiler shares.

Owns the predicate types (``Predicate``, ``TextIndexLookup``, and the internal ``_Check`` for one
payload value and ``_Cond`` for one point), the constant predicates (``MATCH_ALL``, always
true / false, the check that never holds), the readers of the filter's JSON body that raise
Qdrant's format errors (``_require_dict``, ``_as_f64``, ``_key_path``...) and the compilation
context ``_Ctx`` (text index hook, text mode, nested prefix, collected validation failures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.errors import FormatError
from node.payload_path import format_path, parse_path

PointId = int | str
HasVector = Callable[[str], bool]
Predicate = Callable[[PointId, dict, HasVector], bool]
#: ``(key, kind, query) -> matcher or None``; kind is "text", "text_any" or "phrase"; the matcher
#: takes a stored string and says whether it matches. None: use the unindexed behaviour.
TextIndexLookup = Callable[[str, str, str], Callable[[str], bool] | None]

DEFAULT_UNINDEXED_TEXT = "tokens"

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


def _key_path(c: dict, field: str = "key") -> tuple:
    key = c[field]
    if not isinstance(key, str):
        raise FormatError(f"invalid type: {_type_name(key)} for `{field}`, expected a string")
    return parse_path(key)


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
