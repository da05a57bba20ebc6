"""Sparse inverted index, idf, murmur3 and BM25 embedding, and a shard's sparse / multivector
data across WAL replay, flush + reopen and vacuum."""

from __future__ import annotations

import math

import numpy as np

from node import bm25
from node.shard import LocalShard
from node.shard_config import ShardConfig
from node.shard_search import SearchRequest
from node.sparse_index import SparseIndex, idf_weights
from node.vector_input import prepare_named


def test_murmur3_known_values():
    # published MurmurHash3 x86_32 test vectors (seed 0)
    assert bm25.murmur3_32(b"") == 0
    assert bm25.murmur3_32(b"hello") == 0x248BFA47
    assert bm25.murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    assert bm25.murmur3_32(b"abc", seed=1) != bm25.murmur3_32(b"abc")
    # the token id is |h as i32|
    h = bm25.murmur3_32(b"cooki")
    assert bm25.token_id("cooki") == abs(h - (1 << 32) if h >= 1 << 31 else h)


def test_bm25_document_and_query_weights():
    indices, values = bm25.embed(
        {"text": "Cookies cookies and milk", "model": "qdrant/bm25"}, query=False
    )
    ids = {bm25.token_id("cooki"): 2, bm25.token_id("milk"): 1}
    assert sorted(ids) == indices.tolist()
    for dim, value in zip(indices.tolist(), values.tolist(), strict=True):
        tf = ids[dim]
        expected = tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * 3 / 256))
        assert math.isclose(value, expected, rel_tol=1e-6)
    q_indices, q_values = bm25.embed(
        {"text": "milk MILK cookies", "model": "Qdrant/bm25"}, query=True
    )
    assert q_indices.tolist() == sorted(ids) and q_values.tolist() == [1.0, 1.0]
    # options: no stemming / stop words with language none
    none = bm25.Bm25({"language": "none"})
    assert none.tokens("The cookies") == ["the", "cookies"]


def test_idf_formula():
    got = idf_weights(10, np.array([0, 1, 5, 10]))
    for value, df in zip(got, [0, 1, 5, 10], strict=True):
        assert math.isclose(value, math.log((10 - df + 0.5) / (df + 0.5) + 1), rel_tol=1e-5)


def test_index_search_is_brute_force_dot():
    rng = np.random.default_rng(0)
    vectors = {}
    for offset in range(200):
        n = int(rng.integers(1, 8))
        idx = np.sort(rng.choice(50, size=n, replace=False)).astype(np.uint32)
        vectors[offset] = (idx, rng.normal(size=n).astype(np.float32))
    index = SparseIndex.build(vectors)
    mask = np.ones(200, bool)
    mask[::3] = False
    q = (np.array([1, 7, 30], np.uint32), np.array([0.5, -1.0, 2.0], np.float32))
    offsets, scores = index.search(*q, mask, 20)
    expected = []
    for offset, (idx, vals) in vectors.items():
        shared = [(i, v) for i, v in zip(idx, vals, strict=True) if i in q[0]]
        if mask[offset] and shared:
            score = sum(float(v) * float(q[1][list(q[0]).index(i)]) for i, v in shared)
            expected.append((offset, score))
    expected.sort(key=lambda p: (-p[1], p[0]))
    assert offsets.tolist() == [o for o, _ in expected[:20]]
    assert np.allclose(scores, [s for _, s in expected[:20]], rtol=1e-5)
    n, df = index.stats(q[0], mask)
    assert n == int(mask.sum())
    assert df.tolist() == [
        sum(1 for o, (i, _) in vectors.items() if mask[o] and d in i) for d in q[0]
    ]


def _config() -> ShardConfig:
    return ShardConfig.from_collection({
        "params": {
            "vectors": {"m": {"size": 3, "distance": "Dot",
                              "multivector_config": {"comparator": "max_sim"}}},
            "sparse_vectors": {"s": {"modifier": "idf"}},
        },
        "optimizer_config": {"vacuum_min_vector_number": 100, "deleted_threshold": 0.1},
    })


def _answers(shard):
    sparse_query = (np.array([1, 2], np.uint32), np.array([1.0, 1.0], np.float32))
    sparse = SearchRequest("s", np.empty((1, 0)), 10, sparse=sparse_query)
    multi = SearchRequest("m", np.empty((1, 0)), 10, multi=np.array([[1.0, 0.0, 0.5]], np.float32))
    return [[(r.id, float(r.score)) for r in rs] for rs in shard.search([sparse, multi])]


def test_shard_keeps_sparse_and_multivectors(tmp_path):
    config = _config()
    rng = np.random.default_rng(1)
    shard = LocalShard(tmp_path / "s", config)
    ids = list(range(300))
    vectors = []
    for _ in ids:
        n = int(rng.integers(1, 4))
        raw_sparse = {"indices": rng.choice(6, size=n, replace=False).tolist(),
                      "values": rng.normal(size=n).tolist()}
        vectors.append({"s": prepare_named(config, "s", raw_sparse),
                        "m": prepare_named(config, "m", rng.normal(size=(n, 3)).tolist())})
    shard.apply(1, {"type": "upsert", "ids": ids, "vectors": vectors, "payloads": [None] * 300})
    shard.apply(2, {"type": "delete", "ids": ids[:150]})
    before = _answers(shard)
    assert all(pid >= 150 for pid, _ in before[0] + before[1])
    shard.wal.close()  # no flush: the WAL replays
    shard = LocalShard(tmp_path / "s", config)
    assert _answers(shard) == before
    shard.flush()
    shard.close()
    shard = LocalShard(tmp_path / "s", config)
    assert _answers(shard) == before
    assert shard._vacuum_due()
    shard.optimize_step(1000)
    assert shard.state.dead_count == 0
    assert _answers(shard) == before
    record = shard.retrieve([200], False, True)[0]
    assert record.vectors["m"].shape[1] == 3 and len(record.vectors["s"][0]) >= 1
