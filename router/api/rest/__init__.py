"""Qdrant's REST API: a thin face over the table of contents and the collections.

``create_app`` is imported on first use: the gRPC face shares this package's serializers
(``serialize``) and should not pay for FastAPI when it starts (a restarting node's peer
service comes up on the gRPC port, and its shards' recovery waits for it)."""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from router.api.rest.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
