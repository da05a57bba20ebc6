"""Error kinds shared by every room.

The hierarchy maps 1:1 to Qdrant's error kinds; only the REST and gRPC faces translate them into
status codes and bodies. Messages are the text after Qdrant's prefix (the prefix is added here so
both faces print the same words).
"""

from __future__ import annotations


class TesseraError(Exception):
    """Base class. `message` is the full text shown to users (prefix included)."""

    prefix = ""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.prefix}{self.detail}"


class NotFound(TesseraError):
    """404 / grpc NOT_FOUND: a collection, point, alias or snapshot that does not exist."""

    prefix = "Not found: "


class WrongInput(TesseraError):
    """400 / INVALID_ARGUMENT: input that is well formed but wrong (dimension, vector name)."""

    prefix = "Wrong input: "


class BadRequest(TesseraError):
    """400 / INVALID_ARGUMENT: a request that cannot be served as asked."""

    prefix = "Bad request: "


class ValidationFailed(TesseraError):
    """422 / INVALID_ARGUMENT: semantic validation of a well-formed body (limit 0, ...)."""

    prefix = "Validation error in JSON body: "


class AlreadyExists(TesseraError):
    """409 / ALREADY_EXISTS: a collection or alias name conflict."""

    prefix = "Wrong input: "


class Timeout(TesseraError):
    """408 (REST) / DEADLINE_EXCEEDED: an operation did not finish within its timeout."""

    prefix = "Timeout error: "


class Forbidden(TesseraError):
    """403 / PERMISSION_DENIED."""

    prefix = "Forbidden: "


class ServiceError(TesseraError):
    """500 / INTERNAL: a failure of ours, never of the request."""

    prefix = "Service internal error: "


class ReplicaNotHere(ServiceError):
    """A peer call to a replica this node does not hold (or does not hold yet: the metadata
    that places it here may still be on its way)."""


class ShardClosed(ServiceError):
    """A write reached a copy of a shard that was closed: replaced by a snapshot or a transfer
    (its directory now holds the new copy) or dropped. The caller retries on the current one."""


class FormatError(TesseraError):
    """400 / INVALID_ARGUMENT: a body that does not deserialize (wrong type, bad id, bad JSON)."""

    prefix = "Format error in JSON body: "


class RateLimited(TesseraError):
    """429 / RESOURCE_EXHAUSTED: a collection's strict-mode read or write rate is used up."""

    prefix = "Rate limiting exceeded: "
