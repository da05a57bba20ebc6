"""storage.optimizers (QDRANT__STORAGE__OPTIMIZERS__…) are the defaults of new collections'
optimizer_config, as in Qdrant: shown in the collection's info, and acted on."""

from __future__ import annotations

import time

import numpy as np


def test_the_nodes_indexing_threshold_is_the_default_of_new_collections(fresh_node):
    node = fresh_node(
        QDRANT__STORAGE__OPTIMIZERS__INDEXING_THRESHOLD_KB="1",
        QDRANT__STORAGE__OPTIMIZERS__FLUSH_INTERVAL_SEC="3",
    )
    http = node.http
    assert http.put("/collections/d", json={"vectors": {"size": 4, "distance": "Dot"}}).is_success
    own = {"vectors": {"size": 4, "distance": "Dot"},
           "optimizers_config": {"indexing_threshold": 0}}
    assert http.put("/collections/own", json=own).is_success
    config = http.get("/collections/d").json()["result"]["config"]["optimizer_config"]
    assert (config["indexing_threshold"], config["flush_interval_sec"]) == (1, 3)
    assert http.get("/collections/own").json()["result"]["config"]["optimizer_config"][
        "indexing_threshold"] == 0  # what the request gives wins

    rows = np.random.default_rng(5).standard_normal((200, 4)).tolist()  # 3.2 KB of vectors
    points = [{"id": i, "vector": v} for i, v in enumerate(rows)]
    for name in ("d", "own"):
        assert http.put(f"/collections/{name}/points?wait=true", json={"points": points}).is_success
    deadline = time.monotonic() + 30
    while http.get("/collections/d").json()["result"]["indexed_vectors_count"] < 200:
        assert time.monotonic() < deadline, "the 1 KB threshold did not start indexing"
        time.sleep(0.2)
    # 3.2 KB is far below the built-in 10,000 KB: only the node's default made this index;
    # and indexing_threshold 0 turns indexing off
    assert http.get("/collections/own").json()["result"]["indexed_vectors_count"] == 0
