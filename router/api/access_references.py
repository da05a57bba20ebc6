"""The other collections a request reads besides the one it names: ``lookup_from`` (vectors of
another collection as queries) and ``with_lookup`` (points of another collection in groups),
at any depth (prefetches, batches). A per-collection credential needs read access to each of
them, as Qdrant checks; only such credentials pay for this walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def in_json(body: Any) -> Iterator[str]:
    """Collection names referenced by a JSON request body."""
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "lookup_from" and isinstance(value, dict):
                    name = value.get("collection")
                elif key == "with_lookup":
                    name = value if isinstance(value, str) else (
                        value.get("collection") if isinstance(value, dict) else None)
                else:
                    stack.append(value)
                    continue
                if isinstance(name, str):
                    yield name


def in_message(message: Any) -> Iterator[str]:
    """Collection names referenced by a protobuf request message."""
    stack = [message]
    while stack:
        node = stack.pop()
        for field, value in node.ListFields():
            if field.message_type is None:
                continue
            values = value if field.is_repeated else [value]
            for item in values:
                if not hasattr(item, "ListFields"):  # a map's values
                    continue
                if field.name == "lookup_from":
                    yield item.collection_name
                elif field.name == "with_lookup":
                    yield item.collection
                else:
                    stack.append(item)
