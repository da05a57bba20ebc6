"""Rows of a store split into a shared prefix and its own tail read as one array."""

from __future__ import annotations

import numpy as np
import pytest

from node.vector_store import Rows, VectorStore


@pytest.mark.parametrize("split", [0, 1, 37, 99, 100])
def test_rows_at_reads_offsets_in_any_order_across_the_split(split):
    full = np.arange(100 * 4, dtype=np.float32).reshape(100, 4)
    rows = Rows(full[:split] if split else None, full[split:].copy(), 100)
    rng = np.random.default_rng(split)
    for offsets in (rng.integers(0, 100, 50), np.array([99, 0, 99, 0]), np.array([], np.int64)):
        assert np.array_equal(rows.rows_at(offsets), full[offsets])
    assert np.array_equal(rows[np.arange(20, 80)], full[20:80])  # sorted indexing as before


def test_a_growing_ram_store_appends_into_reserved_room_without_copying(tmp_path):
    """Past its first buffer a RAM store grows into a reservation of address space: later
    appends neither move nor copy the rows it holds (doubling copied them, under the shard's
    lock, 1.2 s for a 75k x 384 load), and what it holds reads back and persists."""
    store = VectorStore(tmp_path / "v.bin", 8, "float32", on_disk=False)
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(6000, 8)).astype(np.float32)
    store.append(rows[:2000])  # past _MIN_CAPACITY: into the reservation
    address = store._data.__array_interface__["data"][0]
    for start in range(2000, 6000, 500):
        store.append(rows[start : start + 500])
    assert store._data.__array_interface__["data"][0] == address
    np.testing.assert_array_equal(store.data[0:6000], rows)
    store.flush()
    reopened = VectorStore(tmp_path / "v.bin", 8, "float32", on_disk=False, count=6000)
    np.testing.assert_array_equal(reopened.data[0:6000], rows)


def test_a_refused_reservation_falls_back_to_a_copied_buffer(tmp_path, monkeypatch):
    from node import vector_store

    def refuse(*args, **kwargs):
        raise OSError("strict overcommit")

    monkeypatch.setattr(vector_store.mmap, "mmap", refuse)
    store = VectorStore(tmp_path / "v.bin", 4, "float32", on_disk=False)
    rows = np.arange(3000 * 4, dtype=np.float32).reshape(3000, 4)
    store.append(rows[:1500])
    store.append(rows[1500:])
    np.testing.assert_array_equal(store.data[0:3000], rows)
