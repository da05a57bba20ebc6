"""The write-ahead log: what is appended comes back in order after a reopen, an upsert's
vectors stored as one matrix per name; a torn tail is cut off and later appends start clean."""

from __future__ import annotations

import numpy as np

from node.wal import WriteAheadLog


def _upsert(n: int, dim: int = 5) -> dict:
    rng = np.random.default_rng(n)
    rows = rng.normal(size=(n, dim)).astype(np.float32)
    return {"type": "upsert", "ids": list(range(n)),
            "vectors": [{"": rows[i], "other": rows[i, :2].copy()} for i in range(n)],
            "payloads": [{"i": i} for i in range(n)], "update_filter": None}


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys() or a["ids"] != b["ids"] or a["payloads"] != b["payloads"]:
        return False
    return all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
               for x, y in zip(a["vectors"], b["vectors"], strict=True))


def test_operations_come_back_in_order_with_vectors_as_rows_of_one_matrix(tmp_path):
    wal = WriteAheadLog(tmp_path)
    ops = [_upsert(64), {"type": "delete", "ids": [3, 4]}, _upsert(3)]
    for number, op in enumerate(ops, start=1):
        wal.append(number, op)
    wal.sync()
    replayed = list(WriteAheadLog(tmp_path).replay(0))
    assert [n for n, _ in replayed] == [1, 2, 3]
    assert _same(replayed[0][1], ops[0]) and _same(replayed[2][1], ops[2])
    assert replayed[1][1] == ops[1]
    rows = [v[""] for v in replayed[0][1]["vectors"]]
    assert all(r.base is rows[0].base and r.base is not None for r in rows)  # one matrix
    assert [n for n, _ in WriteAheadLog(tmp_path).replay(2)] == [3]


def test_a_torn_tail_is_cut_off_and_appends_go_on_after_it(tmp_path):
    wal = WriteAheadLog(tmp_path)
    wal.append(1, _upsert(10))
    wal.append(2, _upsert(12))
    wal.sync()
    (path,) = tmp_path.glob("wal-*.log")
    path.write_bytes(path.read_bytes()[:-7])  # the last record torn
    reopened = WriteAheadLog(tmp_path)
    assert [n for n, _ in reopened.replay(0)] == [1]
    reopened.append(2, {"type": "delete", "ids": [1]})
    reopened.sync()
    assert [(n, op["type"]) for n, op in WriteAheadLog(tmp_path).replay(0)] == \
        [(1, "upsert"), (2, "delete")]
