"""A small route matcher: (method, path) → the value stored under its template, and the
collection the path names.

A segment tree, literal segments before parameters (``/collections/aliases`` is not the
collection ``aliases``), so a lookup costs one dict access per path segment. Templates use
``{param}`` segments; ``{collection_name}`` or ``{name}`` is the collection; a final ``*``
matches any rest of the path.
"""

from __future__ import annotations

from typing import Any

_COLLECTION_PARAMS = frozenset({"{collection_name}", "{name}"})


class _Node:
    __slots__ = ("literal", "param", "ends", "tail")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.ends: dict[str, tuple[Any, int | None]] = {}  # method → (value, collection index)
        self.tail: dict[str, tuple[Any, int | None]] = {}  # the same, for a template's "*"


def normalized(template: str) -> str:
    """A template with every parameter written ``{}`` (FastAPI's and OpenAPI's agree)."""
    return "/".join("{}" if s.startswith("{") else s for s in template.split("/"))


class RouteTable:
    def __init__(self) -> None:
        self._root = _Node()
        self.templates: set[tuple[str, str]] = set()  # (method, normalized template)

    def add(self, method: str, template: str, value: Any) -> None:
        key = (method, normalized(template))
        if key in self.templates:
            raise ValueError(f"two rules for {method} {template}")
        self.templates.add(key)
        node = self._root
        collection = None
        segments = template.strip("/").split("/") if template != "/" else []
        tail = bool(segments) and segments[-1] == "*"
        if tail:
            segments = segments[:-1]
        for index, segment in enumerate(segments):
            if segment.startswith("{"):
                if segment in _COLLECTION_PARAMS:
                    collection = index
                node.param = node.param or _Node()
                node = node.param
            else:
                node = node.literal.setdefault(segment, _Node())
        (node.tail if tail else node.ends)[method] = (value, collection)

    def covers(self, method: str, template: str) -> bool:
        """Whether a route template has a rule: its own, or a ``/*`` rule above it."""
        template = normalized(template)
        if (method, template) in self.templates:
            return True
        return any(m == method and t.endswith("/*") and (template + "/").startswith(t[:-1])
                   for m, t in self.templates)

    def match(self, method: str, path: str) -> tuple[Any, str | None] | None:
        """(value, collection or None) for a request path, None when no template matches."""
        segments = path.strip("/").split("/") if path not in ("", "/") else []
        found = self._walk(self._root, segments, 0, method)
        if found is None:
            return None
        value, collection = found
        return value, (segments[collection] if collection is not None else None)

    def _walk(self, node: _Node, segments: list[str], index: int, method: str):
        if method in node.tail:
            tail = node.tail[method]
        else:
            tail = None
        if index == len(segments):
            return node.ends.get(method) or tail
        segment = segments[index]
        child = node.literal.get(segment)
        if child is not None:
            found = self._walk(child, segments, index + 1, method)
            if found is not None:
                return found
        if node.param is not None and segment:
            found = self._walk(node.param, segments, index + 1, method)
            if found is not None:
                return found
        return tail
