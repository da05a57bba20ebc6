"""Payload keys (JSON paths) and the payload operations that follow them.

A key is Qdrant's JSON path: a first key, then any number of ``.key``, ``."quoted key"``,
``[N]`` (array index) and ``[]`` (every element of an array)::

    a            a.b.c        a[].b        a[0].b       a."b.c".d       "a b"[1][]

Plain keys are made of letters, digits, ``_`` and ``-``; anything else goes in double quotes
(a quoted key cannot contain ``"`` or ``\\``). The empty string is not a key.

A parsed path is a tuple: its first item is the first key (``str``); then ``str`` for a key,
``int`` for an index and ``None`` for ``[]``.

Reading follows Qdrant: a key only descends into an object and an index into an array; ``[]``
fans out over the elements of an array. A key never looks inside an array by itself (``a.b`` does
not reach ``{"a": [{"b": 1}]}``, ``a[].b`` does). The values a path reaches are kept as they are;
conditions then look one level into an array value (``flat=True``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from node.errors import FormatError

PathItem = str | int | None
Path = tuple  # tuple[str, *PathItem]
PathLike = str | Path

WILDCARD = None
U64_MAX = 2**64 - 1

_MISSING = object()

__all__ = [
    "WILDCARD",
    "Path",
    "parse_path",
    "format_path",
    "array_key",
    "make_getter",
    "get_values",
    "set_by_path",
    "merge_payload",
    "delete_by_path",
    "select_payload",
]


# ---------------------------------------------------------------------------------------------
# parsing and printing


def _is_plain_char(c: str) -> bool:
    return c.isalnum() or c == "_" or c == "-"


def _invalid(key: object) -> FormatError:
    return FormatError(f"Invalid json path: '{key}'")


@lru_cache(maxsize=4096)
def _parse(key: str) -> Path:
    n = len(key)
    i = 0
    items: list[PathItem] = []

    def read_key(i: int) -> tuple[str, int] | None:
        """A plain or quoted key starting at ``i``: (key, next position) or None."""
        if i < n and key[i] == '"':
            j = i + 1
            while j < n and key[j] != '"':
                if key[j] == "\\":
                    return None
                j += 1
            if j >= n:
                return None
            return key[i + 1 : j], j + 1
        j = i
        while j < n and _is_plain_char(key[j]):
            j += 1
        if j == i:
            return None
        return key[i:j], j

    first = read_key(0)
    if first is None:
        raise _invalid(key)
    items.append(first[0])
    i = first[1]
    while i < n:
        c = key[i]
        if c == ".":
            nxt = read_key(i + 1)
            if nxt is None:
                raise _invalid(key)
            items.append(nxt[0])
            i = nxt[1]
        elif c == "[":
            j = i + 1
            while j < n and "0" <= key[j] <= "9":
                j += 1
            if j >= n or key[j] != "]":
                raise _invalid(key)
            if j == i + 1:
                items.append(WILDCARD)
            else:
                index = int(key[i + 1 : j])
                if index > U64_MAX:
                    raise _invalid(key)
                items.append(index)
            i = j + 1
        else:
            raise _invalid(key)
    return tuple(items)


def parse_path(key: PathLike) -> Path:
    """Parse a payload key into a path tuple; FormatError ("Invalid json path: 'k'") if invalid."""
    if isinstance(key, tuple):
        if not key or not isinstance(key[0], str):
            raise _invalid(key)
        return key
    if not isinstance(key, str):
        raise FormatError(f"invalid type: {type(key).__name__}, expected a json path string")
    return _parse(key)


def _needs_quoting(k: str) -> bool:
    return not k or not all(_is_plain_char(c) for c in k)


def _fmt_key(k: str) -> str:
    return f'"{k}"' if _needs_quoting(k) else k


def format_path(path: PathLike) -> str:
    """The canonical text of a path (keys quoted only where needed)."""
    path = parse_path(path)
    out = [_fmt_key(path[0])]
    for item in path[1:]:
        if item is None:
            out.append("[]")
        elif isinstance(item, int):
            out.append(f"[{item}]")
        else:
            out.append("." + _fmt_key(item))
    return "".join(out)


def array_key(path: PathLike) -> Path:
    """The path with ``[]`` appended unless it already ends with ``[]`` (nested filters)."""
    path = parse_path(path)
    if len(path) > 1 and path[-1] is None:
        return path
    return path + (None,)


# ---------------------------------------------------------------------------------------------
# reading


def _collect(value: Any, rest: Path, pos: int, out: list) -> None:
    n = len(rest)
    while pos < n:
        item = rest[pos]
        if item is None:
            if isinstance(value, list):
                for element in value:
                    _collect(element, rest, pos + 1, out)
            return
        if isinstance(item, str):
            if not isinstance(value, dict):
                return
            value = value.get(item, _MISSING)
            if value is _MISSING:
                return
        else:
            if not isinstance(value, list) or item >= len(value):
                return
            value = value[item]
        pos += 1
    out.append(value)


def make_getter(path: PathLike) -> Callable[[dict], list]:
    """A function ``payload -> list of the values the path reaches`` (arrays kept whole)."""
    path = parse_path(path)
    first = path[0]
    rest = path[1:]
    if not rest:

        def get_one(payload: dict) -> list:
            value = payload.get(first, _MISSING)
            return [] if value is _MISSING else [value]

        return get_one

    if all(isinstance(item, str) for item in rest):

        def get_keys(payload: dict) -> list:
            value = payload.get(first, _MISSING)
            for item in rest:
                if not isinstance(value, dict):
                    return []
                value = value.get(item, _MISSING)
            return [] if value is _MISSING else [value]

        return get_keys

    def get_any(payload: dict) -> list:
        value = payload.get(first, _MISSING)
        if value is _MISSING:
            return []
        out: list = []
        _collect(value, rest, 0, out)
        return out

    return get_any


@lru_cache(maxsize=1024)
def _cached_getter(path: Path) -> Callable[[dict], list]:
    return make_getter(path)


def get_values(payload: dict | None, path: PathLike, flat: bool = True) -> list:
    """The values ``path`` reaches in ``payload``.

    ``flat=True`` (what match / range / geo conditions see): an array value is replaced by its
    elements, one level only (``[[1, 2], 3]`` stays ``[[1, 2], 3]``). ``flat=False``: the values
    as found (what is_empty / is_null / values_count see). A missing key gives ``[]``; an explicit
    ``null`` gives ``[None]``.
    """
    if not payload:
        return []
    values = _cached_getter(parse_path(path))(payload)
    if not flat:
        return values
    out: list = []
    for value in values:
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


# ---------------------------------------------------------------------------------------------
# set payload


def _json_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def merge_payload(dest: dict, src: dict) -> dict:
    """Qdrant's merge: every key of ``src`` replaces the one in ``dest``; a ``null`` deletes it."""
    for key, value in src.items():
        if value is None:
            dest.pop(key, None)
        else:
            dest[key] = _json_copy(value)
    return dest


def _set_value(rest: Path, dest: Any, src: dict) -> Any:
    """Set ``src`` at ``rest`` below ``dest``; returns the (possibly replaced) ``dest``."""
    if not rest:
        if not isinstance(dest, dict):
            dest = {}
        merge_payload(dest, src)
        return dest
    head, tail = rest[0], rest[1:]
    if isinstance(head, str):
        if not isinstance(dest, dict):
            dest = {}
        dest[head] = _set_value(tail, dest.get(head), src)
        return dest
    if head is None:
        if isinstance(dest, list):
            for i, element in enumerate(dest):
                dest[i] = _set_value(tail, element, src)
            return dest
        return []
    # an index: only an existing element is updated, a missing one is not created
    if not isinstance(dest, list):
        dest = []
    if head < len(dest):
        dest[head] = _set_value(tail, dest[head], src)
    return dest


def set_by_path(payload: dict, key: PathLike | None, value: dict) -> dict:
    """Set-payload: merge ``value`` into ``payload`` (in place) at ``key``; returns ``payload``.

    Without a key (``None``) the top level is merged; ``""`` is an invalid key. With a key, the
    object at the key is merged into, created when missing; a non-object on the way (or at the
    key) is replaced by an object; a ``[]`` step updates every element of an existing array (and
    turns a non-array into ``[]``); an index step updates an existing element only. A ``null``
    in ``value`` deletes that key.
    """
    if key is None:
        return merge_payload(payload, value)
    path = parse_path(key)
    first, rest = path[0], path[1:]
    payload[first] = _set_value(rest, payload.get(first), value)
    return payload


# ---------------------------------------------------------------------------------------------
# delete payload


def _remove(head: PathItem, rest: Path, value: Any, removed: list) -> None:
    if rest:
        nxt, tail = rest[0], rest[1:]
        if isinstance(head, str):
            if isinstance(value, dict) and head in value:
                _remove(nxt, tail, value[head], removed)
        elif head is None:
            if isinstance(value, list):
                for element in value:
                    _remove(nxt, tail, element, removed)
        elif isinstance(value, list) and head < len(value):
            _remove(nxt, tail, value[head], removed)
        return
    if isinstance(head, str):
        if isinstance(value, dict) and head in value:
            removed.append(value.pop(head))
    elif head is None:
        if isinstance(value, list):
            removed.append(list(value))
            value.clear()
    # a trailing index deletes nothing: Qdrant does not remove array elements (not idempotent)


def delete_by_path(payload: dict, key: PathLike) -> list:
    """Delete-payload of one key (in place); returns the removed values.

    ``a.b`` removes key ``b`` of the object at ``a``; ``a[].b`` removes ``b`` from every element;
    ``a[]`` empties the array; a path ending in an index removes nothing.
    """
    path = parse_path(key)
    removed: list = []
    first, rest = path[0], path[1:]
    if not rest:
        if first in payload:
            removed.append(payload.pop(first))
    elif first in payload:
        _remove(rest[0], rest[1:], payload[first], removed)
    return removed


# ---------------------------------------------------------------------------------------------
# with_payload include / exclude

_END = object()  # marks the end of a selector in the prefix tree


@lru_cache(maxsize=256)
def _selector_tree(keys: tuple[str, ...]) -> dict:
    """Prefix tree of the selectors; a node holding ``_END`` selects everything below it."""
    tree: dict = {}
    for key in keys:
        path = parse_path(key)
        node = tree
        for item in path:
            if _END in node:
                break
            node = node.setdefault(item, {})
        else:
            node.clear()
            node[_END] = True
    return tree


def _include(value: Any, node: dict) -> Any:
    if _END in node:
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            child = node.get(k)
            if child is not None:
                out[k] = _include(v, child)
        return out
    if isinstance(value, list):
        child = node.get(None)
        if child is None:
            return []
        return [_include(v, child) for v in value]
    return value


def _exclude(value: Any, node: dict) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            child = node.get(k)
            if child is None:
                out[k] = v
            elif _END not in child:
                out[k] = _exclude(v, child)
        return out
    if isinstance(value, list):
        child = node.get(None)
        if child is None:
            return value
        if _END in child:
            return []
        return [_exclude(v, child) for v in value]
    return value


def _key_tuple(keys: Iterable[str]) -> tuple[str, ...]:
    if isinstance(keys, str) or not isinstance(keys, (list, tuple)):
        raise FormatError("invalid type: expected a sequence of payload keys")
    out = tuple(keys)
    for k in out:
        parse_path(k)  # raises on an invalid key
    return out


def select_payload(
    payload: dict | None, include: list[str] | None = None, exclude: list[str] | None = None
) -> dict:
    """Apply ``with_payload`` selectors; returns a new dict (``payload`` is not changed).

    ``include``: keep what lies on the way to or below one of the keys (``a.b`` keeps ``a`` with
    only its ``b``; a non-object ``a`` is kept whole; arrays are entered only by ``[]`` keys, so
    ``include: ["a.b"]`` over ``{"a": [{"b": 1}]}`` gives ``{"a": []}``). ``exclude``: drop what
    lies at or below one of the keys. Both ``None``: the payload as it is.
    """
    if payload is None:
        return {}
    result: Any = payload
    if include is not None:
        result = _include(result, _selector_tree(_key_tuple(include)))
    if exclude is not None:
        result = _exclude(result, _selector_tree(_key_tuple(exclude)))
    return result
