"""LocalShard on its own: WAL replay, flush, vacuum and graph building keep answers exact."""

from __future__ import annotations

import numpy as np
import pytest

from node.errors import NotFound
from node.shard import LocalShard
from node.shard_config import ShardConfig
from node.shard_search import SearchRequest
from tests.support.threads import held_elsewhere


def _config(dim: int = 8, distance: str = "Euclid", **optimizers) -> ShardConfig:
    return ShardConfig.from_collection(
        {
            "params": {"vectors": {"size": dim, "distance": distance}},
            "hnsw_config": {"m": 16, "ef_construct": 64, "full_scan_threshold": 10},
            "optimizer_config": {"default_segment_number": 1, **optimizers},
        }
    )


def _upsert(shard: LocalShard, op_num: int, ids, vectors, payloads=None) -> None:
    shard.apply(
        op_num,
        {
            "type": "upsert",
            "ids": list(ids),
            "vectors": [{"": np.asarray(v, np.float32)} for v in vectors],
            "payloads": payloads or [{"i": int(i)} for i in ids],
        },
    )


def _nearest(shard: LocalShard, query, k: int, exact: bool = False, ef: int | None = None):
    request = SearchRequest("", np.asarray(query, np.float32).reshape(1, -1), k, exact=exact,
                            hnsw_ef=ef)
    return [(r.id, float(r.score)) for r in shard.search([request])[0]]


def _brute(ids, vectors, query, k):
    d = np.sqrt(((np.asarray(vectors) - query) ** 2).sum(axis=1))
    order = np.argsort(d, kind="stable")[:k]
    return [ids[i] for i in order]


def test_wal_replay_restores_unflushed_writes(tmp_path):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    shard = LocalShard(tmp_path / "s", _config())
    _upsert(shard, 1, range(50), vectors)
    shard.apply(2, {"type": "delete", "ids": [3, 4]})
    shard.apply(3, {"type": "set_payload", "ids": [5], "payload": {"x": 1}})
    # no flush, no close: as after kill -9
    shard.wal.close()
    reopened = LocalShard(tmp_path / "s", _config())
    assert reopened.count(None) == 48
    assert reopened.last_op == 3
    record = reopened.retrieve([5], True, True)[0]
    assert record.payload == {"i": 5, "x": 1}
    assert record.version == 3
    np.testing.assert_array_equal(record.vectors[""], vectors[5])
    assert reopened.retrieve([3, 4], True, False) == []


def test_flush_then_more_writes_then_reopen(tmp_path):
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(30, 8)).astype(np.float32)
    shard = LocalShard(tmp_path / "s", _config())
    _upsert(shard, 1, range(20), vectors[:20])
    shard.flush()
    assert not list((tmp_path / "s" / "wal").glob("*.log"))  # flushed ops leave the WAL
    _upsert(shard, 2, range(20, 30), vectors[20:])
    shard.wal.close()
    reopened = LocalShard(tmp_path / "s", _config())
    assert reopened.count(None) == 30
    got = reopened.retrieve(list(range(30)), False, True)
    np.testing.assert_array_equal(np.stack([r.vectors[""] for r in got]), vectors)


def test_failed_operation_writes_nothing(tmp_path):
    shard = LocalShard(tmp_path / "s", _config())
    _upsert(shard, 1, [1], [np.zeros(8)])
    with pytest.raises(NotFound):
        shard.apply(2, {"type": "set_payload", "ids": [1, 99], "payload": {"x": 1}})
    assert shard.retrieve([1], True, False)[0].payload == {"i": 1}
    shard.wal.close()
    reopened = LocalShard(tmp_path / "s", _config())
    assert reopened.retrieve([1], True, False)[0].payload == {"i": 1}


def test_graph_search_and_tail_match_brute_force(tmp_path):
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(600, 8)).astype(np.float32)
    shard = LocalShard(tmp_path / "s", _config(indexing_threshold=1))
    _upsert(shard, 1, range(500), vectors[:500])
    while shard.optimize_step(flush_interval=1e9):
        pass
    assert shard.graphs[""] is not None and shard.graphs[""].size == 500
    _upsert(shard, 2, range(500, 600), vectors[500:])  # an unindexed tail
    shard.apply(3, {"type": "delete", "ids": list(range(0, 600, 7))})
    live = [i for i in range(600) if i % 7]
    for query in rng.normal(size=(10, 8)).astype(np.float32):
        expected = _brute(live, vectors[live], query, 10)
        assert [i for i, _ in _nearest(shard, query, 10, exact=True)] == expected
        approx = [i for i, _ in _nearest(shard, query, 10, ef=600)]
        assert approx == expected  # ef ≥ points: HNSW at 8-d finds the exact neighbours


def test_vacuum_reclaims_and_keeps_answers(tmp_path):
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(400, 8)).astype(np.float32)
    config = _config(indexing_threshold=1, vacuum_min_vector_number=100, deleted_threshold=0.2)
    shard = LocalShard(tmp_path / "s", config)
    _upsert(shard, 1, range(400), vectors)
    shard.apply(2, {"type": "delete", "ids": list(range(0, 400, 2))})
    assert shard.info()["optimizing"]
    while shard.optimize_step(flush_interval=1e9):
        pass
    assert shard.state.count == 200 and shard.state.gen == 1
    assert not shard.info()["optimizing"]
    live = list(range(1, 400, 2))
    query = rng.normal(size=8).astype(np.float32)
    assert [i for i, _ in _nearest(shard, query, 5, exact=True)] == _brute(
        live, vectors[live], query, 5
    )
    shard.close()
    reopened = LocalShard(tmp_path / "s", config)
    assert reopened.count(None) == 200
    assert reopened.graphs[""] is not None  # the graph was saved and loads again
    got = reopened.retrieve(live, False, True)
    np.testing.assert_array_equal(np.stack([r.vectors[""] for r in got]), vectors[live])


def test_on_disk_vectors_survive_reopen(tmp_path):
    config = ShardConfig.from_collection(
        {"params": {"vectors": {"size": 4, "distance": "Dot", "on_disk": True}}}
    )
    shard = LocalShard(tmp_path / "s", config)
    vectors = np.arange(4000, dtype=np.float32).reshape(1000, 4)
    _upsert(shard, 1, range(1000), vectors)
    shard.close()
    reopened = LocalShard(tmp_path / "s", config)
    assert reopened.stores[""].on_disk
    got = reopened.retrieve([0, 999], False, True)
    np.testing.assert_array_equal(got[1].vectors[""], vectors[999])


def test_indexed_vectors_are_held_once(tmp_path):
    """After indexing, the store serves the indexed rows from the graph's own copy."""
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(3100, 8)).astype(np.float32)
    shard = LocalShard(tmp_path / "s", _config(indexing_threshold=1))
    _upsert(shard, 1, range(3000), vectors[:3000])
    while shard.optimize_step(flush_interval=1e9):
        pass
    store = shard.stores[""]
    assert store._split == shard.graphs[""].size == 3000
    assert len(store._data) < 3000  # our own copy of the indexed rows is gone
    _upsert(shard, 2, range(3000, 3100), vectors[3000:])
    rows = store.data
    np.testing.assert_array_equal(rows[2990:3010], vectors[2990:3010])  # across the split
    picks = np.array([3, 2999, 3000, 3050])
    np.testing.assert_array_equal(rows[picks], vectors[picks])
    got = shard.retrieve(list(range(3100)), False, True)
    np.testing.assert_array_equal(np.stack([r.vectors[""] for r in got]), vectors)
    query = rng.normal(size=8).astype(np.float32)
    assert [i for i, _ in _nearest(shard, query, 10, exact=True)] == _brute(
        list(range(3100)), vectors, query, 10
    )


def test_value_graph_answers_a_frequent_value_filter(tmp_path, monkeypatch):
    """A filter on one frequent keyword value is answered from a graph of just those points;
    points that gained or lost the value since the graph was built keep the answer exact."""
    rng = np.random.default_rng(6)
    n = 3000
    vectors = rng.normal(size=(n + 200, 8)).astype(np.float32)
    colors = ["a" if i % 5 < 2 else "b" for i in range(n + 200)]  # "a": 40%
    config = ShardConfig.from_collection(
        {
            "params": {"vectors": {"size": 8, "distance": "Euclid"}},
            "hnsw_config": {"m": 16, "ef_construct": 64, "full_scan_threshold": 10},
            "optimizer_config": {"default_segment_number": 1, "indexing_threshold": 1},
        },
        {"c": {"type": "keyword"}},
    )
    shard = LocalShard(tmp_path / "s", config)
    shard.apply(1, {"type": "upsert", "ids": list(range(n)),
                    "vectors": [{"": v} for v in vectors[:n]],
                    "payloads": [{"c": c} for c in colors[:n]]})
    while shard.optimize_step(flush_interval=1e9):
        pass
    entry = shard.value_graphs.get("", "c", "a")
    assert entry is not None and entry.graph.size == sum(c == "a" for c in colors[:n])
    assert shard.value_graphs.get("", "c", "b") is None  # 60%: the main graph serves it

    flt = {"must": [{"key": "c", "match": {"value": "a"}}]}
    import node.shard_search as shard_module

    used = []
    real = shard_module.search_value_graph
    monkeypatch.setattr(
        shard_module, "search_value_graph", lambda *a, **kw: used.append(1) or real(*a, **kw)
    )

    def check(ids_alive):
        allowed = [i for i in ids_alive if colors[i] == "a"]
        for query in rng.normal(size=(5, 8)).astype(np.float32):
            request = SearchRequest("", query.reshape(1, -1), 10, filter=flt, hnsw_ef=2000)
            got = [r.id for r in shard.search([request])[0]]
            assert got == _brute(allowed, vectors[allowed], query, 10)

    check(list(range(n)))
    assert used  # the value graph answered
    # new points with the value (not in the value graph yet), and deletions of graph points
    shard.apply(2, {"type": "upsert", "ids": list(range(n, n + 200)),
                    "vectors": [{"": v} for v in vectors[n:]],
                    "payloads": [{"c": c} for c in colors[n:]]})
    gone = [i for i in range(0, n, 7) if colors[i] == "a"]
    shard.apply(3, {"type": "delete", "ids": gone})
    check([i for i in range(n + 200) if i not in set(gone)])


def test_value_graph_keeps_8_bit_codes_and_answers_with_exact_scores(tmp_path):
    """The value graph stores a byte per dimension, yet a Cosine search through it returns the
    same ids and the same float32 scores as scoring every allowed point exactly."""
    import faiss

    rng = np.random.default_rng(16)
    n, dim = 4000, 32
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)  # as the router prepares them
    tags = ["t" if i % 10 < 3 else "u" for i in range(n)]  # "t": 30%
    config = ShardConfig.from_collection(
        {
            "params": {"vectors": {"size": dim, "distance": "Cosine"}},
            "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10},
            "optimizer_config": {"default_segment_number": 1, "indexing_threshold": 1},
        },
        {"tag": {"type": "keyword"}},
    )
    shard = LocalShard(tmp_path / "s", config)
    shard.apply(1, {"type": "upsert", "ids": list(range(n)),
                    "vectors": [{"": v} for v in unit],
                    "payloads": [{"tag": t} for t in tags]})
    while shard.optimize_step(flush_interval=1e9):
        pass
    entry = shard.value_graphs.get("", "tag", "t")
    assert entry is not None
    assert faiss.downcast_index(entry.graph.index.storage).code_size == dim  # 1 byte each

    allowed = np.array([i for i in range(n) if tags[i] == "t"])
    flt = {"must": [{"key": "tag", "match": {"value": "t"}}]}
    for query in rng.normal(size=(8, dim)).astype(np.float32):
        q = query / np.linalg.norm(query)
        exact = unit[allowed] @ q
        best = np.argsort(-exact, kind="stable")[:10]
        request = SearchRequest("", q.reshape(1, -1), 10, filter=flt, hnsw_ef=500)
        got = shard.search([request])[0]
        assert [r.id for r in got] == [int(i) for i in allowed[best]]
        np.testing.assert_allclose([r.score for r in got], exact[best], rtol=1e-6, atol=1e-6)


def test_unreadable_graph_file_is_rebuilt_not_fatal(tmp_path):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(500, 8)).astype(np.float32)
    config = _config(indexing_threshold=1)
    shard = LocalShard(tmp_path / "s", config)
    _upsert(shard, 1, range(500), vectors)
    while shard.optimize_step(flush_interval=1e9):
        pass
    shard.close()
    (graph_file,) = (tmp_path / "s").glob("hnsw-*.faiss")
    graph_file.write_bytes(b"torn")  # as if the disk lost the file's content
    reopened = LocalShard(tmp_path / "s", config)
    assert reopened.graphs[""] is None  # dropped, and the optimizer builds it again
    assert reopened.count(None) == 500
    while reopened.optimize_step(flush_interval=1e9):
        pass
    assert reopened.graphs[""] is not None and reopened.graphs[""].size == 500
    query = rng.normal(size=8).astype(np.float32)
    assert [i for i, _ in _nearest(reopened, query, 5, exact=True)] == _brute(
        list(range(500)), vectors, query, 5
    )


def test_search_now_answers_only_exact_scoring_of_gathered_rows_and_a_free_shard(tmp_path):
    """`search_now` runs on the router's event loop: it must decline anything that is not exact
    scoring of a repeated filter's gathered rows (a search of the whole quantized copy, or a
    graph walk, would hold the loop up), and must not wait for a busy shard."""
    rng = np.random.default_rng(12)
    vectors = rng.normal(size=(3000, 8)).astype(np.float32)
    payloads = [{"tenant": i % 30} for i in range(3000)]
    config = ShardConfig.from_collection({
        "params": {"vectors": {"size": 8, "distance": "Dot"}},
        "optimizer_config": {"default_segment_number": 1, "indexing_threshold": 1},
        "quantization_config": {"binary": {"always_ram": True}},
    })
    shard = LocalShard(tmp_path / "s", config)
    _upsert(shard, 1, range(3000), vectors, payloads)
    while shard.optimize_step(flush_interval=1e9):
        pass
    assert shard.quantized.get("") is not None  # a search that does not say exact uses it
    tenant = {"must": [{"key": "tenant", "match": {"value": 7}}]}

    def request(exact: bool) -> SearchRequest:
        return SearchRequest("", vectors[:1], 5, filter=tenant, exact=exact)

    assert shard.search_now([request(True)]) is None  # rows not gathered yet
    expected = [r.id for r in shard.search([request(True)])[0]]  # now they are
    assert shard.quick([request(True)]) and shard.quick([request(False)])
    assert shard.search_now([request(False)]) is None  # gathered, but this one is quantized
    assert [r.id for r in shard.search_now([request(True)])[0]] == expected
    with held_elsewhere(shard.lock):
        assert shard.search_now([request(True)]) is None  # busy: declined, not waited for
    assert [r.id for r in shard.search_now([request(True)])[0]] == expected
    shard.close()


def test_while_writes_go_on_a_graph_is_extended_by_a_fifth_of_itself_at_least(tmp_path):
    rng = np.random.default_rng(11)
    shard = LocalShard(tmp_path / "s", _config(indexing_threshold=1))
    _upsert(shard, 1, range(1000), rng.normal(size=(1000, 8)))
    while shard.optimize_step(flush_interval=1e9):
        pass
    assert shard.graphs[""].size == 1000
    _upsert(shard, 2, range(1000, 1150), rng.normal(size=(150, 8)))  # writes go on: 15%
    assert not shard.optimize_step(flush_interval=1e9)
    assert shard.graphs[""].size == 1000
    _upsert(shard, 3, range(1150, 1200), rng.normal(size=(50, 8)))  # 20%
    assert shard.optimize_step(flush_interval=1e9)
    assert shard.graphs[""].size == 1200
    _upsert(shard, 4, range(1200, 1210), rng.normal(size=(10, 8)))
    assert not shard.optimize_step(flush_interval=1e9)
    shard._last_write = 0.0  # writes paused: the tail is folded in
    assert shard.optimize_step(flush_interval=1e9)
    assert shard.graphs[""].size == 1210
    assert not list((tmp_path / "s").glob("*.tmp"))  # staged files were renamed into place
    shard.close()
    reopened = LocalShard(tmp_path / "s", _config(indexing_threshold=1))
    assert reopened.graphs[""] is not None and reopened.graphs[""].size == 1210


def test_after_a_vacuum_the_old_graph_answers_until_its_replacement_is_built(tmp_path):
    """A vacuum moves the rows; the graph built before it keeps answering through the new
    offsets (not an exact scan of every row), also after a second vacuum, until the optimizer
    has built a graph of the new rows."""
    from node.vector_index import HnswGraph, RemappedGraph

    rng = np.random.default_rng(8)
    vectors = rng.normal(size=(3000, 8)).astype(np.float32)
    config = _config(indexing_threshold=1, vacuum_min_vector_number=100, deleted_threshold=0.2)
    shard = LocalShard(tmp_path / "s", config)
    _upsert(shard, 1, range(3000), vectors)
    while shard.optimize_step(flush_interval=1e9):
        pass
    live = set(range(3000))

    def check() -> None:
        ids = sorted(live)
        for query in rng.normal(size=(5, 8)).astype(np.float32):
            got = [i for i, _ in _nearest(shard, query, 10, ef=128)]
            assert set(got) <= live
            assert len(set(got) & set(_brute(ids, vectors[ids], query, 10))) >= 9
        request = SearchRequest("", vectors[:1], 10)
        assert shard._plan("", request, len(live), 10)[0] == "graph"

    for op_num, step in ((2, 3), (3, 4)):  # every 3rd row, then every 4th of the rest
        doomed = sorted(live)[::step]
        shard.apply(op_num, {"type": "delete", "ids": doomed})
        live -= set(doomed)
        assert shard.optimize_step(flush_interval=1e9)  # the vacuum comes first
        assert shard.state.gen == op_num - 1 and shard.state.count == len(live)
        assert isinstance(shard.graphs[""], RemappedGraph)
        assert shard.info()["indexed_vectors_count"] == len(live)
        check()
    while shard.optimize_step(flush_interval=1e9):
        pass
    graph = shard.graphs[""]
    assert type(graph) is HnswGraph and graph.size == len(live) == shard.state.count
    check()


def test_extending_the_graph_does_not_copy_the_rows_it_shares(tmp_path, monkeypatch):
    # rows[:count] over the prefix shared with the graph and the store's own tail is a
    # concatenated copy of every row: 1.5 GB at the indexing peak of 1M x 384 (bench/scale.py)
    from node.vector_store import Rows

    rng = np.random.default_rng(8)
    vectors = rng.normal(size=(700, 8)).astype(np.float32)
    shard = LocalShard(tmp_path / "s", _config(indexing_threshold=1))
    _upsert(shard, 1, range(500), vectors[:500])
    while shard.optimize_step(flush_interval=1e9):
        pass
    assert shard.stores[""].data.split == 500  # the graph's storage serves rows [0, 500)
    _upsert(shard, 2, range(500, 700), vectors[500:])
    spans = []
    original = Rows.__getitem__

    def spy(self, key):
        if isinstance(key, slice) and self.split:
            lo, hi, _ = key.indices(self.count)
            if lo < self.split < hi:
                spans.append((lo, hi))
        return original(self, key)

    monkeypatch.setattr(Rows, "__getitem__", spy)
    while shard.optimize_step(flush_interval=1e9):
        pass
    assert shard.graphs[""].size == 700
    assert spans == []
    for query in rng.normal(size=(5, 8)).astype(np.float32):
        expected = _brute(range(700), vectors, query, 10)
        assert [i for i, _ in _nearest(shard, query, 10, ef=700)] == expected
