"""Selecting the best k scores: the batched form answers exactly as the per-row one."""

from __future__ import annotations

import numpy as np
import pytest

from node import distance as dist


@pytest.mark.parametrize("kind", ["distinct", "rounded", "few values"])
def test_top_k_rows_is_top_k_of_every_row(kind):
    """Same positions in the same order, ties in position order, including ties that straddle
    the k-th place (which make top_k widen its partition)."""
    rng = np.random.default_rng(["distinct", "rounded", "few values"].index(kind))
    for _ in range(300):
        rows, n, k = int(rng.integers(1, 9)), int(rng.integers(1, 60)), int(rng.integers(1, 15))
        scores = rng.normal(size=(rows, n)).astype(np.float32)
        if kind == "rounded":
            scores = np.round(scores, 1)
        elif kind == "few values":
            scores = rng.integers(0, 3, size=(rows, n)).astype(np.float32)
        for higher in (True, False):
            batched = dist.top_k_rows(scores, k, higher)
            assert batched.shape == (rows, min(k, n))
            for row in range(rows):
                assert batched[row].tolist() == dist.top_k(scores[row], min(k, n), higher).tolist()
