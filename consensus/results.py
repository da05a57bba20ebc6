"""What a metadata operation answers, and how shard keys compare and print: shared by the state
machine (``consensus.state``) and its resharding operations (``consensus.resharding``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class OpResult:
    ok: bool
    error_kind: str | None = None  # "not_found" | "already_exists" | "bad_request" | "refused"
    message: str | None = None
    value: Any = None


def same_key(a, b) -> bool:
    """Shard keys 1 and "1" differ: the type is part of the key."""
    return a is not None and type(a) is type(b) and a == b


def key_text(key) -> str:
    """A shard key as Qdrant prints it in messages (strings quoted)."""
    return f'"{key}"' if isinstance(key, str) else str(key)
