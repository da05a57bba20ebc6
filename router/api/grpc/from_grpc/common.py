"""The small helpers the request conversions share: a oneof's variant, a field put only when the
client set it, and the ``shard_key`` a request names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from router.api.grpc.from_grpc.values import shard_key_selector


def _oneof(msg: Message, group: str) -> tuple[str | None, Any]:
    kind = msg.WhichOneof(group)
    return kind, (getattr(msg, kind) if kind else None)


def _put(out: dict, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _opt(msg: Message, field: str, convert: Callable[[Any], Any] = lambda x: x) -> Any:
    return convert(getattr(msg, field)) if msg.HasField(field) else None


def _with_shard_key(body: dict, msg: Message) -> dict:
    if msg.HasField("shard_key_selector"):
        body["shard_key"] = shard_key_selector(msg.shard_key_selector)
    return body
