"""Pages of a shard copy are sized by bytes, so that a page of large vectors stays well under
the peer channel's 64 MB message cap, and small points still travel 2,048 to a page."""

from __future__ import annotations

import numpy as np

from node.shard_search import PointRecord
from router.cluster.duties import TRANSFER_BATCH, TRANSFER_PAGE_BYTES, page_size


def _record(vectors: dict) -> PointRecord:
    return PointRecord(1, 1, {}, vectors)


def test_small_points_fill_a_whole_page():
    assert page_size(_record({"": [0.0] * 4})) == TRANSFER_BATCH


def test_large_vectors_make_smaller_pages_within_the_byte_budget():
    for vectors in ({"": np.zeros(1536, np.float32)},
                    {"": [0.0] * 65536, "multi": [[0.0] * 128] * 8},
                    {"a": np.zeros(4096, np.float32), "b": np.zeros(4096, np.float32)}):
        size = page_size(_record(vectors))
        floats = sum(int(np.asarray(v).size) for v in vectors.values())
        assert 1 <= size < TRANSFER_BATCH
        assert size * floats * 4 <= TRANSFER_PAGE_BYTES


def test_sparse_vectors_count_their_entries():
    entries = 200_000
    sparse = {"s": {"indices": list(range(entries)), "values": [1.0] * entries}}
    assert page_size(_record(sparse)) * entries * 2 * 4 <= TRANSFER_PAGE_BYTES
