"""Vectors on disk: the HNSW graph holds 6-bit codes instead of a float32 copy of every vector,
the stored rows (a memory map of the file) rescore what it finds, and their pages do not stay
in the node's memory after a flush. The graph is the same kind after a reopen and a vacuum."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from node.shard import LocalShard
from node.shard_config import ShardConfig
from node.shard_search import SearchRequest

N, DIM = 6000, 32


def _config(on_disk: bool = True, distance: str = "Cosine") -> ShardConfig:
    return ShardConfig.from_collection({
        "params": {"vectors": {"size": DIM, "distance": distance, "on_disk": on_disk}},
        "hnsw_config": {"m": 16, "ef_construct": 64, "full_scan_threshold": 10},
        "optimizer_config": {"indexing_threshold": 1, "default_segment_number": 1},
    })


def _data(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(100).normal(size=(60, DIM))
    return (centres[rng.integers(0, 60, size=n)] + rng.normal(size=(n, DIM))).astype(np.float32)


def _loaded(path: Path, config: ShardConfig, data: np.ndarray) -> LocalShard:
    shard = LocalShard(path, config)
    shard.apply(1, {"type": "upsert", "ids": list(range(len(data))),
                    "vectors": [{"": row / np.linalg.norm(row)} for row in data],
                    "payloads": [{"p": i % 2} for i in range(len(data))]})
    shard._last_write = 0.0
    while shard.optimize_step(1e9):
        pass
    return shard


def _search(shard: LocalShard, query: np.ndarray, **kw) -> list[tuple[int, float]]:
    q = (query / np.linalg.norm(query)).astype(np.float32).reshape(1, -1)
    return [(r.id, float(r.score)) for r in shard.search([SearchRequest("", q, 10, **kw)])[0]]


def _recall_and_exact_scores(shard: LocalShard, queries: np.ndarray) -> float:
    total = 0.0
    for query in queries:
        got, exact = _search(shard, query), dict(_search(shard, query, exact=True))
        total += len(set(dict(got)) & set(exact)) / 10
        for point_id, score in got:  # rescored: the stored vectors' own scores
            if point_id in exact:
                assert abs(score - exact[point_id]) < 1e-6
    return total / len(queries)


def _resident_kb(path: Path) -> int:
    """This process's resident KB of the mappings of file `path` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        first = line.split(" ", 1)[0]
        if "-" in first and not first.endswith(":"):  # a mapping's header line
            inside = line.rstrip().endswith(str(path))
        elif inside and first == "Rss:":
            total += int(line.split()[1])
    return total


def test_the_graph_of_vectors_on_disk_holds_codes_and_rescores(tmp_path):
    shard = _loaded(tmp_path / "s", _config(), _data(1, N))
    graph = shard.graphs[""]
    assert graph.compact and graph.code_bits == 6 and graph.size == N
    assert graph.index.storage.sa_code_size() == DIM * 6 // 8  # 6 bits a dimension, not 32
    assert shard.stores[""]._prefix is None  # the store serves its own rows, from the file
    assert _recall_and_exact_scores(shard, _data(2, 30)) >= 0.95
    # filters still apply through the graph
    flt = {"must": [{"key": "p", "match": {"value": 1}}]}
    got = _search(shard, _data(3, 1)[0], filter=flt)
    assert len(got) == 10 and all(point_id % 2 == 1 for point_id, _ in got)
    shard.close()


def test_the_rows_pages_leave_memory_after_the_build(tmp_path):
    shard = _loaded(tmp_path / "s", _config(), _data(1, N))
    store_file = shard.stores[""].path
    assert store_file.stat().st_size >= N * DIM * 4
    assert _resident_kb(store_file) <= 8  # of 750 KB written and read by the build
    assert len(_search(shard, _data(2, 1)[0])) == 10  # a read maps pages back
    assert _resident_kb(store_file) > 0
    shard.close()


def test_vectors_in_memory_keep_the_float_graph(tmp_path):
    shard = _loaded(tmp_path / "s", _config(on_disk=False), _data(1, 2000))
    assert not shard.graphs[""].compact
    assert shard.stores[""]._prefix is not None  # one float32 copy, shared with the graph
    shard.close()


def test_a_compact_graph_survives_reopen_and_vacuum(tmp_path):
    data = _data(1, N)
    shard = _loaded(tmp_path / "s", _config(distance="Euclid"), data)
    shard.close()
    reopened = LocalShard(tmp_path / "s", _config(distance="Euclid"))
    assert reopened.graphs[""] is not None and reopened.graphs[""].code_bits == 6
    queries = _data(2, 20)
    assert _recall_and_exact_scores(reopened, queries) >= 0.95
    # a vacuum: the old graph answers through the moved rows until its successor is built
    reopened.apply(2, {"type": "delete", "ids": list(range(0, N, 2))})
    with reopened.lock:
        reopened._vacuum()
    assert getattr(reopened.graphs[""], "remapped", False)
    for query in queries[:5]:
        got = _search(reopened, query)
        assert len(got) == 10 and all(point_id % 2 == 1 for point_id, _ in got)
    assert _recall_and_exact_scores(reopened, queries) >= 0.9
    reopened._last_write = 0.0
    while reopened.optimize_step(1e9):
        pass
    assert reopened.graphs[""].compact and not getattr(reopened.graphs[""], "remapped", False)
    assert _recall_and_exact_scores(reopened, queries) >= 0.95
    reopened.close()
