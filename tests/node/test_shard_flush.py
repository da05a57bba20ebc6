"""The periodic flush pickles and fsyncs the shard's state outside the lock that searches and
writes take: writes go on meanwhile and are kept (the log switched to a new file first), a
flush under the lock meanwhile wins, and a crash at any point leaves state + log complete."""

from __future__ import annotations

import threading

import pytest

import node.shard as shard_module
from node.shard import LocalShard
from tests.support.shards import small_shard, upsert


def _payloads(shard: LocalShard) -> dict:
    return {r.id: r.payload for r in shard.scroll(None, None, 10_000, True, False)}


def _during_write_state(monkeypatch, action) -> None:
    """Run ``action`` in another thread while the background flush writes its state."""
    real = shard_module.write_state

    def write_state(directory, data, staged_name):
        worker = threading.Thread(target=action)
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "the action waited for the shard's lock"
        return real(directory, data, staged_name=staged_name)

    monkeypatch.setattr(shard_module, "write_state", write_state)


def test_writes_go_on_while_the_state_is_written_and_are_kept(tmp_path, monkeypatch):
    shard = small_shard(tmp_path / "s")
    shard.apply(1, upsert(range(100)), True)
    _during_write_state(monkeypatch, lambda: shard.apply(2, upsert(range(100, 110)), True))
    shard.flush_outside_lock()
    monkeypatch.undo()

    assert not list((tmp_path / "s").glob("*.tmp"))
    logs = sorted(p.name for p in (tmp_path / "s" / "wal").glob("wal-*.log"))
    assert logs == [f"wal-{2:020d}.log"]  # the file covered by the saved state is gone
    shard.apply(3, {"type": "delete", "ids": [0]}, True)
    expected = _payloads(shard)
    assert len(expected) == 109
    reopened = small_shard(tmp_path / "s")  # not closed: as after kill -9
    try:
        assert _payloads(reopened) == expected and reopened.last_op == 3
    finally:
        reopened.close()
        shard.close()


def test_a_flush_under_the_lock_meanwhile_wins(tmp_path, monkeypatch):
    shard = small_shard(tmp_path / "s")
    shard.apply(1, upsert(range(50)), True)

    def newer() -> None:
        shard.apply(2, upsert([500]), True)
        shard.flush()  # e.g. a snapshot's cut after a graph was saved

    _during_write_state(monkeypatch, newer)
    shard.flush_outside_lock()
    monkeypatch.undo()
    shard.close()
    reopened = small_shard(tmp_path / "s")
    try:
        assert reopened.state.last_op == 2 and len(_payloads(reopened)) == 51
        assert not list((tmp_path / "s").glob("*.tmp"))
    finally:
        reopened.close()


def test_a_crash_while_the_state_is_written_loses_nothing(tmp_path, monkeypatch):
    shard = small_shard(tmp_path / "s")
    shard.apply(1, upsert(range(30)), True)
    shard.flush()
    shard.apply(2, upsert(range(30, 60)), True)

    def crash(directory, data, staged_name):
        (directory / staged_name).write_bytes(b"half a pickle")
        raise OSError("no space left on device")

    monkeypatch.setattr(shard_module, "write_state", crash)
    with pytest.raises(OSError):
        shard.flush_outside_lock()
    monkeypatch.undo()
    assert shard._dirty  # the next flush tries again
    shard.apply(3, upsert([99]), True)
    reopened = small_shard(tmp_path / "s")  # as after kill -9: the old state and the whole log
    try:
        assert len(_payloads(reopened)) == 61 and reopened.last_op == 3
        assert not list((tmp_path / "s").glob("*.tmp"))
    finally:
        reopened.close()


def test_the_optimizer_merges_recent_ids_once_writes_pause(tmp_path):
    """The merge holds the lock searches take (7-17 ms at 100,000 points): not after every
    batch while writes go on, but once they pause."""
    shard = small_shard(tmp_path / "s")
    try:
        shard.apply(1, upsert(range(10)), True)
        assert shard.state.id_to_offset.recent_ints == 10
        shard.optimize_step(flush_interval=3600.0)
        assert shard.state.id_to_offset.recent_ints == 10  # writes have not paused yet
        shard._last_write -= 2.0  # as two seconds later
        shard.optimize_step(flush_interval=3600.0)
        assert shard.state.id_to_offset.recent_ints == 0
        assert _payloads(shard) == {i: {"n": i} for i in range(10)}
    finally:
        shard.close()
