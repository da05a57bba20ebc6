"""Qdrant's REST API: a thin face over the table of contents and the collections."""

from router.api.rest.app import create_app

__all__ = ["create_app"]
