"""Point ids: unsigned 64-bit integers or UUIDs.

Internally an id is a python ``int`` (0 ≤ id < 2**64) or a lowercase hyphenated UUID ``str``.
Ordering follows Qdrant: every integer id sorts before every UUID; UUIDs sort by value, which for
the canonical text form is plain string order.
"""

from __future__ import annotations

import uuid

from node.errors import FormatError

PointId = int | str

U64_MAX = 2**64 - 1


def parse_point_id(value: object) -> PointId:
    """Canonical form of an id given by a client, or WrongInput."""
    if isinstance(value, bool):
        raise FormatError(_invalid(value))
    if isinstance(value, int):
        if 0 <= value <= U64_MAX:
            return value
        raise FormatError(_invalid(value))
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
        raise FormatError(_invalid(value))
    raise FormatError(_invalid(value))


def _invalid(value: object) -> str:
    return (
        f"value {value} is not a valid point ID, "
        "valid values are either an unsigned integer or a UUID"
    )


def id_sort_key(point_id: PointId) -> tuple[int, int | str]:
    """Sort key placing integer ids before UUIDs."""
    if isinstance(point_id, int):
        return (0, point_id)
    return (1, point_id)
