"""Read consistency (the ``consistency`` query parameter): how many replicas of a shard answer
a read, and which items of their answers are kept.

Qdrant's code (not its OpenAPI text, which swaps two of them), ../shared/spec/distributed.md §1.6:

| value      | replicas asked        | an item is kept if identical in |
|------------|-----------------------|---------------------------------|
| N (int)    | clamp(N, 1, total)    | all answers                     |
| "majority" | all                   | a majority (n/2 + 1) of answers |
| "quorum"   | total/2 + 1           | all answers                     |
| "all"      | all                   | all answers                     |

``total`` counts every replica of the shard, whatever its state. Counts resolve to the minimum
(all) or the median (majority).
"""

from __future__ import annotations

import contextvars
from typing import Any

import numpy as np

from node.errors import TesseraError
from node.shard_search import PointRecord

#: The consistency of the read being served (None: one replica, the default).
current: contextvars.ContextVar[int | str | None] = contextvars.ContextVar(
    "read_consistency", default=None
)


class ConsistencyFormatError(TesseraError):
    prefix = "Query deserialize error: "


def parse(raw: str | None) -> int | str | None:
    if raw is None:
        return None
    if raw in ("majority", "quorum", "all"):
        return raw
    try:
        value = int(raw)
    except ValueError:
        raise ConsistencyFormatError(
            f"data did not match any variant of untagged enum ReadConsistency: {raw}"
        ) from None
    if value < 1:
        raise ConsistencyFormatError(f"consistency factor must be at least 1, got {value}")
    return value


def plan(consistency: int | str | None, total: int) -> tuple[int, int]:
    """(replicas to ask, answers an item must appear identically in)."""
    if consistency is None or total <= 1:
        return 1, 1
    if consistency == "majority":
        return total, total // 2 + 1
    if consistency == "quorum":
        asked = total // 2 + 1
        return asked, asked
    if consistency == "all":
        return total, total
    asked = max(1, min(int(consistency), total))
    return asked, asked


def _value_key(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, dict):
        return tuple(sorted((k, _value_key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_value_key(v) for v in value)
    return value


def _record_key(record: PointRecord) -> Any:
    return (record.id, _value_key(record.payload), _value_key(record.vectors),
            record.score, record.order_value)


def resolve(answers: list[Any], needed: int, majority: bool) -> Any:
    """Merge the answers of several replicas of one shard."""
    first = answers[0]
    if len(answers) == 1:
        return first
    if isinstance(first, int) and not isinstance(first, bool):
        ordered = sorted(answers)
        return ordered[len(ordered) // 2] if majority else ordered[0]
    if isinstance(first, list) and (not first or isinstance(first[0], PointRecord)):
        seen: dict[Any, int] = {}
        for answer in answers:
            for key in {_record_key(r) for r in answer}:
                seen[key] = seen.get(key, 0) + 1
        merged: dict[Any, PointRecord] = {}
        for answer in answers:
            for record in answer:
                key = _record_key(record)
                if seen[key] >= needed and record.id not in merged:
                    merged[record.id] = record
        kept = list(merged.values())
        order = {r.id: i for i, r in enumerate(first)}
        kept.sort(key=lambda r: order.get(r.id, len(order)))
        return kept
    if isinstance(first, list) and first and isinstance(first[0], list):  # batched searches
        return [resolve([a[i] for a in answers], needed, majority) for i in range(len(first))]
    return first
