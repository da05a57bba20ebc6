"""Rows of a store split into a shared prefix and its own tail read as one array."""

from __future__ import annotations

import numpy as np
import pytest

from node.vector_store import Rows


@pytest.mark.parametrize("split", [0, 1, 37, 99, 100])
def test_rows_at_reads_offsets_in_any_order_across_the_split(split):
    full = np.arange(100 * 4, dtype=np.float32).reshape(100, 4)
    rows = Rows(full[:split] if split else None, full[split:].copy(), 100)
    rng = np.random.default_rng(split)
    for offsets in (rng.integers(0, 100, 50), np.array([99, 0, 99, 0]), np.array([], np.int64)):
        assert np.array_equal(rows.rows_at(offsets), full[offsets])
    assert np.array_equal(rows[np.arange(20, 80)], full[20:80])  # sorted indexing as before
