"""``PUT / DELETE /collections/{name}/vectors/{vector_name}`` (and gRPC CreateVectorName /
DeleteVectorName): the collection's config changes through consensus like any update, and
every peer's shards follow it (``router.collection.vector_names`` has the config rules)."""

from __future__ import annotations

from typing import Any

from router.collection.vector_names import with_vector_name, without_vector_name


def create_vector_name(toc: Any, name: str, vector_name: str, body: Any) -> int:
    """Add the vector; returns the operation id the change got."""
    real = toc.resolve_name(name)
    current = toc.consensus.state.collections[real]["config"]
    config = with_vector_name(current, vector_name, body, toc.limits)
    toc.propose({"type": "update_collection", "name": real, "config": config})
    return toc.get(real).next_operation_id()


def delete_vector_name(toc: Any, name: str, vector_name: str) -> int:
    real = toc.resolve_name(name)
    current = toc.consensus.state.collections[real]["config"]
    config = without_vector_name(current, vector_name)
    toc.propose({"type": "update_collection", "name": real, "config": config})
    return toc.get(real).next_operation_id()
