"""The peer wire: what a node sends another comes back equal, records and upserts' vectors in
column form among it, and nothing but the allowed classes can be rebuilt from a message."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from node import wire
from node.shard_search import PointRecord


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and np.array_equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, PointRecord):
        return isinstance(b, PointRecord) and all(
            _same(getattr(a, f), getattr(b, f))
            for f in ("id", "version", "payload", "vectors", "score", "order_value"))
    return type(a) is type(b) and a == b


def _round(value):
    out = wire.loads(wire.dumps(value))
    assert _same(value, out), (value, out)
    return out


def _records(n: int, rng, **kwargs) -> list[PointRecord]:
    return [PointRecord(i if i % 2 else f"0000000{i}-0000-0000-0000-000000000000"[-36:], i * 3,
                        {"k": i, "tags": ["a", i]},
                        {"": rng.random(6, dtype=np.float32),
                         "half": rng.random(3).astype(np.float16)}, **kwargs)
            for i in range(n)]


def test_a_page_of_records_comes_back_equal_with_dense_vectors_as_rows_of_one_matrix():
    rng = np.random.default_rng(1)
    out = _round(_records(40, rng))
    rows = [r.vectors[""] for r in out]
    assert rows[0].base is not None and all(row.base is rows[0].base for row in rows)
    rows[3][0] = 42.0  # a row is its own: writing it leaves the other rows as they were
    assert rows[2][0] != 42.0 and rows[4][0] != 42.0


def test_records_with_mixed_vectors_scores_and_missing_parts_come_back_equal():
    rng = np.random.default_rng(2)
    records = _records(12, rng, score=0.5)
    records[1].vectors = {"": rng.random(6, dtype=np.float32)}  # no "half" here
    records[2].vectors[""] = rng.random(4, dtype=np.float32)  # another length
    records[3].vectors["sparse"] = {"indices": [1, 7], "values": [0.5, 0.25]}
    records[4].vectors["multi"] = rng.random((2, 6), dtype=np.float32)
    records[5].payload = None
    _round(records)
    without = [PointRecord(i, i, None, None, order_value=float(i)) for i in range(10)]
    _round(without)
    some = [PointRecord(i, i, {}, {"": np.ones(2, np.float32)} if i % 2 else None)
            for i in range(10)]
    _round(some)


def test_pages_per_query_small_pages_and_empty_ones_come_back_equal():
    rng = np.random.default_rng(3)
    _round([_records(9, rng), [], _records(2, rng), _records(30, rng)])
    _round(_records(3, rng))
    _round([])


def test_an_upsert_comes_back_equal_its_vectors_rebuilt_from_columns():
    rng = np.random.default_rng(4)
    op = {"type": "upsert", "ids": list(range(20)),
          "vectors": [{"": rng.random(8, dtype=np.float32),
                       "s": {"indices": [k], "values": [1.0]}} for k in range(20)],
          "payloads": [{"n": k} for k in range(20)], "update_filter": None}
    _, out, _ = _round((7, op, True))
    assert out["vectors"][0][""].base is out["vectors"][19][""].base
    lists = {**op, "vectors": [{"": [0.5, 1.5]} for _ in range(20)]}  # JSON lists as they came
    _round((8, lists, False))
    _round((9, {**op, "vectors": [{} for _ in range(20)]}, True))


def test_a_message_naming_any_other_class_is_refused():
    class Sneaky:
        def __reduce__(self):
            return os.system, ("true",)

    for payload in (pickle.dumps(Sneaky()), pickle.dumps((1, {"x": Sneaky()}))):
        with pytest.raises(pickle.UnpicklingError, match="not allowed on the peer wire"):
            wire.loads(payload)
