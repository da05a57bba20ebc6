"""The encoding of shard operations and results between nodes: pickle, restricted.

Shard operations are plain Python values with numpy arrays inside, and results are
``PointRecord`` lists, so pickle carries them without a schema of their own. Only the classes a
shard call can contain may be rebuilt on the receiving side; anything else is refused, so a
message cannot make a node run code.

Pages of records and the vectors of an upsert travel as columns: a pickled numpy array costs a
few microseconds however small it is, so a page of 2,048 records with a 384-float vector each
paid more for its vectors' headers than for their floats (a shard transfer, a replicated write).
Dense vectors that every row has, of one length and type, go as one matrix per name; the rows
are rebuilt on arrival as views into it.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from node.shard_search import PointRecord

_ALLOWED = {
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("builtins", "slice"), ("builtins", "bytearray"),
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("node.shard_search", "PointRecord"), ("node.shard_search", "SearchRequest"),
    ("node.wire", "_rows_from_columns"), ("node.wire", "_records_from_columns"),
}

#: Fewer rows than this go as they are (columns save nothing on a handful).
_MIN_ROWS = 8


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed on the peer wire")
        return super().find_class(module, name)


def dumps(value: Any) -> bytes:
    return pickle.dumps(columnar(value), protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()


# -- columns -------------------------------------------------------------------------------
def columnar(value: Any) -> Any:
    """``value`` with its record pages and upserts' vectors in column form: a call's
    arguments (a tuple holding an operation) or a result (records, or one page per query).
    Plain pickle turns it back into the same value (the WAL stores operations so)."""
    if isinstance(value, tuple):
        return tuple(columnar(item) for item in value)
    if isinstance(value, dict):
        vectors = value.get("vectors")
        if isinstance(vectors, list) and len(vectors) >= _MIN_ROWS:
            return {**value, "vectors": _VectorRows.of(vectors)}
        return value
    if isinstance(value, list) and value:
        if isinstance(value[0], list):
            return [columnar(item) for item in value]
        if len(value) >= _MIN_ROWS and all(type(r) is PointRecord for r in value):
            return _RecordPage(value)
    return value


class _VectorRows:
    """A list of ``{name: vector}`` dicts as a matrix per name that every row holds as a 1-D
    array of one shape and type, and the other entries row by row. Unpickles as the list."""

    def __init__(self, dense: dict[str, np.ndarray], rest: list | None, count: int) -> None:
        self.dense, self.rest, self.count = dense, rest, count

    @classmethod
    def of(cls, rows: list) -> _VectorRows | list:
        first = rows[0]
        if not isinstance(first, dict) or not all(type(row) is dict for row in rows):
            return rows
        dense = {}
        for name, vector in first.items():
            if not isinstance(vector, np.ndarray) or vector.ndim != 1:
                continue
            shape, dtype = vector.shape, vector.dtype
            column = [row.get(name) for row in rows]
            if all(type(v) is np.ndarray and v.shape == shape and v.dtype == dtype
                   for v in column):
                dense[name] = np.stack(column)
        if not dense:
            return rows
        rest = [{k: v for k, v in row.items() if k not in dense} for row in rows]
        return cls(dense, rest if any(rest) else None, len(rows))

    def __reduce__(self):
        return _rows_from_columns, (self.dense, self.rest, self.count)


def _rows_from_columns(dense: dict, rest: list | None, count: int) -> list[dict]:
    names = list(dense.items())
    rows = [{name: matrix[k] for name, matrix in names} for k in range(count)]
    if rest is not None:
        for row, others in zip(rows, rest, strict=True):
            row.update(others)
    return rows


class _RecordPage:
    """A list of ``PointRecord`` as columns. Unpickles as the list."""

    def __init__(self, records: list[PointRecord]) -> None:
        self.records = records

    def __reduce__(self):
        records = self.records
        vectors = [r.vectors for r in records]
        if all(v is not None for v in vectors):
            packed: Any = _VectorRows.of(vectors)
        elif all(v is None for v in vectors):
            packed = None
        else:
            packed = vectors
        scores = [r.score for r in records]
        orders = [r.order_value for r in records]
        return _records_from_columns, (
            [r.id for r in records], [r.version for r in records], [r.payload for r in records],
            packed, scores if any(s is not None for s in scores) else None,
            orders if any(o is not None for o in orders) else None,
        )


def _records_from_columns(ids: list, versions: list, payloads: list, vectors: list | None,
                          scores: list | None, orders: list | None) -> list[PointRecord]:
    count = len(ids)
    vectors = vectors if vectors is not None else [None] * count
    scores = scores if scores is not None else [None] * count
    orders = orders if orders is not None else [None] * count
    return [PointRecord(*fields) for fields in
            zip(ids, versions, payloads, vectors, scores, orders, strict=True)]
