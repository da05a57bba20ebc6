"""HnswGraph (links chosen by float16 distances, vectors kept and scored in float32) and exact
search."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from node import distance as dist
from node.vector_index import HnswGraph, exact_search


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    rows = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, dim))
    return rows.astype(np.float32)


def _recall(graph: HnswGraph, rows: np.ndarray, queries: np.ndarray, distance: str) -> float:
    exact = dist.score_matrix(distance, rows, queries)
    higher = dist.higher_is_better(distance)
    _, labels = graph.search_arrays(queries, 10, np.ones(graph.size, bool), 64)
    found = 0
    for row, got in zip(exact, labels, strict=True):
        found += len(set(dist.top_k(row, 10, higher).tolist()) & set(got.tolist()))
    return found / (10 * len(queries))


@pytest.mark.parametrize("distance", [dist.COSINE, dist.EUCLID, dist.MANHATTAN])
def test_graph_built_in_steps_keeps_exact_vectors_and_finds_neighbours(distance):
    rows = dist.prepare(distance, _clustered(3000, 32, seed=1))
    queries = dist.prepare(distance, _clustered(50, 32, seed=2))
    graph = HnswGraph.build(rows[:1000], distance, 16, 64)
    bigger = graph.extended(rows[:2200]).extended(rows)

    assert graph.size == 1000  # the graph extended from is left as it was
    assert np.array_equal(graph.stored_rows(), rows[:1000])
    assert bigger.size == 3000
    assert np.array_equal(bigger.stored_rows(), rows)  # float32, not the float16 used to link
    # as good as a graph FAISS links by float32 distances in the same steps
    reference = faiss.IndexHNSWFlat(32, 16, bigger.index.metric_type)
    reference.hnsw.efConstruction = 64
    for part in (rows[:1000], rows[1000:2200], rows[2200:]):
        reference.add(part)
    baseline = _recall(HnswGraph(reference, distance), rows, queries, distance)
    assert _recall(bigger, rows, queries, distance) >= baseline - 0.02

    # scores come from the float32 vectors: exactly what scoring the stored rows gives
    scores, labels = bigger.search_arrays(queries[:5], 10, np.ones(3000, bool), 64)
    for query, row_scores, row_labels in zip(queries[:5], scores, labels, strict=True):
        expected = dist.score_matrix(distance, rows[row_labels], query[None, :])[0]
        np.testing.assert_allclose(row_scores, expected, rtol=1e-5, atol=1e-5)


def test_one_shot_build_keeps_m_and_ef_construct_and_recall():
    """Built in one go: the graph has FAISS's M and ef_construct, and its recall is that of a
    graph linked by float32 distances (within a point)."""
    rows = dist.prepare(dist.COSINE, _clustered(4000, 48, seed=3))
    queries = dist.prepare(dist.COSINE, _clustered(100, 48, seed=4))
    reference = faiss.IndexHNSWFlat(48, 16, faiss.METRIC_INNER_PRODUCT)
    reference.hnsw.efConstruction = 64
    reference.add(rows)
    ours = HnswGraph.build(rows, dist.COSINE, 16, 64)

    assert ours.index.hnsw.efConstruction == 64
    assert ours.index.hnsw.nb_neighbors(0) == reference.hnsw.nb_neighbors(0)  # M carried over
    baseline = _recall(HnswGraph(reference, dist.COSINE), rows, queries, dist.COSINE)
    assert _recall(ours, rows, queries, dist.COSINE) >= baseline - 0.01


@pytest.mark.parametrize("magnitude", [1e6, 1e-9])
def test_vectors_beyond_float16_range_are_linked_as_well(magnitude):
    """float16 overflows above 65,504 and flushes tiny values to zero: such vectors are scaled
    by a power of two before linking, so the graph is as good as FAISS's float32 one."""
    rows = _clustered(3000, 32, seed=5) * np.float32(magnitude)
    queries = _clustered(50, 32, seed=6) * np.float32(magnitude)
    graph = HnswGraph.build(rows[:1500], dist.EUCLID, 16, 64).extended(rows)
    reference = faiss.IndexHNSWFlat(32, 16, faiss.METRIC_L2)
    reference.hnsw.efConstruction = 64
    reference.add(rows[:1500])
    reference.add(rows[1500:])

    assert np.array_equal(graph.stored_rows(), rows)  # stored unscaled
    baseline = _recall(HnswGraph(reference, dist.EUCLID), rows, queries, dist.EUCLID)
    assert _recall(graph, rows, queries, dist.EUCLID) >= baseline - 0.02
    scores, labels = graph.search_arrays(queries[:3], 5, np.ones(3000, bool), 64)
    expected = np.linalg.norm(rows[labels[0]] - queries[0], axis=1)
    np.testing.assert_allclose(scores[0], expected, rtol=1e-4)


@pytest.mark.parametrize("n_queries", [1, 3])
@pytest.mark.parametrize("candidates", [[2, 3, 5], [0, 7, 9]])  # a dense window; a gather
def test_exact_search_answers_only_candidates_when_fewer_than_k(n_queries, candidates):
    rng = np.random.default_rng(7)
    stored = rng.normal(size=(10, 4)).astype(np.float32)
    queries = rng.normal(size=(n_queries, 4)).astype(np.float32)
    candidates = np.array(candidates)
    hits = exact_search(stored, dist.DOT, queries, 10, candidates)
    for query, found in zip(queries, hits, strict=True):
        expected = candidates[np.argsort(-(stored[candidates] @ query), kind="stable")]
        assert found.offsets.tolist() == expected.tolist()
        np.testing.assert_allclose(found.scores, stored[expected] @ query, rtol=1e-6)


@pytest.mark.parametrize("n_queries", [1, 3, 19, 25])  # FAISS changes method at 20 queries
@pytest.mark.parametrize("distance", [dist.DOT, dist.COSINE])
def test_exact_search_ranks_a_gather_as_numpy_does_ties_included(n_queries, distance):
    """Scoring gathered rows goes through FAISS, which breaks ties its own way: the answer must
    still be numpy's, ties in offset order, also when a tie crosses the k-th place."""
    rng = np.random.default_rng(11)
    for trial in range(60):
        n = int(rng.integers(2, 80))
        # small integer coordinates: many exactly equal scores
        stored = rng.integers(-2, 3, size=(4 * n, 3)).astype(np.float32)
        queries = rng.integers(-2, 3, size=(n_queries, 3)).astype(np.float32)
        candidates = np.sort(rng.choice(4 * n, size=n, replace=False))  # a sparse gather
        k = int(rng.integers(1, n + 3))
        gathered = stored[candidates] if trial % 2 else None
        hits = exact_search(stored, distance, queries, k, candidates, gathered=gathered)
        all_scores = stored[candidates] @ queries.T
        for i, found in enumerate(hits):
            best = dist.top_k(all_scores[:, i], min(k, n), True)
            assert found.offsets.tolist() == candidates[best].tolist(), (trial, i)
            np.testing.assert_allclose(found.scores, all_scores[best, i], rtol=1e-6)
