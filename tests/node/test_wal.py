"""The write-ahead log: what is appended comes back in order after a reopen, an upsert's
vectors stored as one matrix per name; a torn tail is cut off and later appends start clean."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_deferred_syncs_fsync_after_the_block_once_for_every_record_before_it(tmp_path,
                                                                              monkeypatch):
    """Inside ``deferred_syncs`` a wait=true write only notes its fsync; leaving the block
    fsyncs (the caller's locks released by then), and one fsync covers every record appended
    before it began, so a later writer whose record it covered does not fsync again."""
    from node import wal as wal_module

    wal = WriteAheadLog(tmp_path)
    wal.append(0, _upsert(1))  # the file opened (its directory fsynced) before counting
    wal.sync()
    fsyncs: list[int] = []
    real = wal_module.os.fsync
    monkeypatch.setattr(wal_module.os, "fsync", lambda fd: (fsyncs.append(fd), real(fd)))
    with wal_module.deferred_syncs():
        wal.append(1, _upsert(3))
        wal.sync_or_defer()
        with wal_module.deferred_syncs():  # nested: the outer block syncs
            wal.append(2, _upsert(4))
            wal.sync_or_defer()
        assert fsyncs == []
    assert len(fsyncs) == 1 and wal._synced == 3
    wal.append(3, _upsert(2))
    first = wal._appended
    wal.append(4, _upsert(2))
    wal.sync_through(first)  # covers record 4 too: it was appended before this fsync began
    wal.sync_through(wal._appended)
    assert len(fsyncs) == 2
    assert [n for n, _ in WriteAheadLog(tmp_path).replay(0)] == [1, 2, 3, 4]


def test_a_deferred_sync_after_a_truncation_has_nothing_left_to_fsync(tmp_path, monkeypatch):
    """A flush truncates the log (its records are in the flushed state): a deferred sync
    noted before it must not fsync the closed file."""
    from node import wal as wal_module

    wal = WriteAheadLog(tmp_path)
    with wal_module.deferred_syncs():
        wal.append(1, _upsert(3))
        wal.sync_or_defer()
        wal.truncate_through(1)
        monkeypatch.setattr(wal_module.os, "fsync", lambda fd: pytest.fail("fsync after close"))
    monkeypatch.undo()
    wal.append(2, _upsert(3))
    wal.sync()
    assert [n for n, _ in WriteAheadLog(tmp_path).replay(0)] == [2]
