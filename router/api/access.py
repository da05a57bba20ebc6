"""What a request may do: the access a credential grants, and the check of one operation's need.

Qdrant's model, kept exactly (its words are what clients see): an access is global, read (``r``)
or manage (``m``), or a list of collections each readable (``r``) or writable (``rw``). An
operation needs one of the `Need` classes below (router.api.access_rules says which); `refusal`
answers None when the access meets it, else the reason Qdrant gives. This module knows nothing
of HTTP or gRPC: the faces turn a refusal into a 401/403 or UNAUTHENTICATED/PERMISSION_DENIED.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Need(enum.Enum):
    """The access class of an operation."""

    OPEN = "open"  # no credentials at all (health probes, the version banner)
    LIST = "list"  # any credential; a per-collection access sees only its own collections
    GLOBAL_READ = "global read"  # a global access, read or manage (cluster state, telemetry)
    GLOBAL_MANAGE = "global manage"  # create/delete collections, aliases, cluster, full snapshots
    COLLECTION_READ = "collection read"  # searches, retrievals, collection info
    COLLECTION_WRITE = "collection write"  # point and payload updates, payload indexes
    INTERNAL = "internal"  # the peer services: only the read-write API key itself


class Refusal(Exception):
    """Why a request is not served. ``status``: 401 (unauthenticated) or 403 (forbidden);
    ``enveloped``: True when the REST face answers it as a JSON error (Qdrant's storage
    errors), False for the plain-text answers of its authentication layer."""

    def __init__(self, status: int, message: str, enveloped: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.enveloped = enveloped

    @property
    def grpc_code(self) -> int:
        return 16 if self.status == 401 else 7  # UNAUTHENTICATED, PERMISSION_DENIED


def _forbidden(description: str) -> Refusal:
    return Refusal(403, f"Forbidden: {description}", enveloped=True)


READ = "r"
MANAGE = "m"
READ_WRITE = "rw"


@dataclass(frozen=True)
class Access:
    """A credential's rights. ``mode``: "r" or "m" for a global access, None for a list of
    ``collections`` (name → "r" or "rw"). ``internal``: the read-write API key itself, the
    only credential the peer services accept. ``subject``: who, for the logs."""

    mode: str | None = MANAGE
    collections: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    internal: bool = False
    subject: str | None = None

    def refusal(self, need: Need, collection: str | None = None) -> Refusal | None:
        """None when this access meets ``need`` on ``collection`` (if the operation names
        one), else Qdrant's refusal. Cheap: a couple of comparisons and a dict lookup."""
        if self.mode == MANAGE and need is not Need.INTERNAL:
            return None
        if need is Need.OPEN or need is Need.LIST:
            return None
        if need is Need.INTERNAL:
            if self.internal:
                return None
            return Refusal(401, "Internal API requires the read-write API key")
        if self.mode == READ:
            if need is Need.GLOBAL_READ or need is Need.COLLECTION_READ:
                return None
            return _forbidden("Global manage access is required")
        # a list of collections
        if need is Need.GLOBAL_READ or need is Need.GLOBAL_MANAGE:
            return _forbidden("Global access is required")
        name = collection or ""
        granted = self.collections.get(name)
        if granted is None:
            return _forbidden(f"Access to collection {name} is required")
        if need is Need.COLLECTION_WRITE and granted != READ_WRITE:
            return _forbidden(f"Write access to collection {name} is required")
        return None

    def sees(self, collection: str) -> bool:
        """Whether a listing shows ``collection`` to this access."""
        return self.mode is not None or collection in self.collections

    def visible(self, names: Iterable[str]) -> list[str]:
        return list(names) if self.mode is not None else [n for n in names if n in self.collections]


#: The read-write API key (service.api_key): everything, the peer services included.
FULL = Access(MANAGE, internal=True)
#: The read-only API key (service.read_only_api_key).
READ_ONLY = Access(READ)
#: No authentication configured on this node.
UNSECURED = FULL
