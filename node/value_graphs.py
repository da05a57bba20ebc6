"""Small HNSW graphs over the points that share a frequent indexed value (a tenant, a category).

A filter on one keyword, integer or bool value that allows too many points to score them all
cheaply, but few enough that a bitmap-filtered walk of the main graph must widen its beam a lot,
is best answered by a graph of just those points — the idea behind Qdrant's per-value links
(``payload_m``) and tenant graphs. The optimizer builds one per qualifying (vector, key, value)
in the background; searches use it when the filter is exactly that one condition. Points that
gained the value since the build are scored exactly beside it, and points that lost it (or were
deleted) are masked, so answers never depend on whether a graph is there or fresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from node import distance as dist
from node.vector_index import HnswGraph, SearchHits, exact_search
from node.vector_store import Rows

# a graph is rebuilt when this share of its value's points is not in it
_STALE_SHARE = 0.1
# values held by more than this share of the points are served by the main graph
_MAX_SHARE = 0.5
_KINDS = ("keyword", "integer", "bool")
_NONE = np.iinfo(np.int64).max  # a candidate slot FAISS left empty


@dataclass
class ValueGraph:
    offsets: np.ndarray  # sorted shard offsets; graph label i is offsets[i]
    graph: HnswGraph


def single_value_condition(filter_: Any) -> tuple[str, Any] | None:
    """(key, value) when a filter is exactly one `match: {value}` condition, else None."""
    if not isinstance(filter_, dict) or set(filter_) != {"must"}:
        return None
    must = filter_["must"]
    if isinstance(must, list):
        if len(must) != 1:
            return None
        must = must[0]
    if not isinstance(must, dict) or set(must) != {"key", "match"}:
        return None
    match = must["match"]
    if not isinstance(match, dict) or set(match) != {"value"} or not isinstance(must["key"], str):
        return None
    return must["key"], match["value"]


class ValueGraphs:
    """The value graphs of one shard, keyed by (vector name, payload key, value)."""

    def __init__(self) -> None:
        self.graphs: dict[tuple, ValueGraph] = {}

    def clear(self) -> None:
        self.graphs.clear()

    def get(self, name: str, key: str, value: Any) -> ValueGraph | None:
        return self.graphs.get((name, key, type(value).__name__, value))

    def due(self, names: list[str], planner, live_count: int, min_points: dict[str, int]) -> list:
        """(name, key, value, offsets) to (re)build: values held by enough points to deserve a
        graph, whose graph is missing or stale. `min_points[name]`: below it, exact scoring wins."""
        wanted = []
        for key, index in planner.fields.items():
            if index.type not in _KINDS:
                continue
            for value, posting in index._postings.items():
                n = len(posting)
                if n > _MAX_SHARE * live_count:
                    continue
                for name in names:
                    if n < min_points[name]:
                        continue
                    current = self.get(name, key, value)
                    if current is not None:
                        fresh = np.isin(index._posting(value), current.offsets).sum()
                        if n - fresh <= _STALE_SHARE * n:
                            continue
                    wanted.append((name, key, value, np.sort(index._posting(value))))
        return wanted

    def install(self, name: str, key: str, value: Any, graph: ValueGraph) -> None:
        self.graphs[(name, key, type(value).__name__, value)] = graph

    def drop_missing(self, planner) -> None:
        """Forget graphs of values or keys that are no longer indexed."""
        for gkey in list(self.graphs):
            _, key, _, value = gkey
            index = planner.fields.get(key)
            if index is None or value not in index._postings:
                del self.graphs[gkey]


def search_value_graph(
    entry: ValueGraph, mask: np.ndarray, queries: np.ndarray, k: int, ef: int,
    stored: np.ndarray, distance: str,
) -> tuple[list, np.ndarray]:
    """Hits from a value graph (labels mapped to shard offsets) restricted to `mask`, and the
    allowed offsets the graph does not hold (to be scored exactly beside it).

    The graph holds its vectors as 8-bit codes, so it is asked for twice the candidates and they
    are rescored with the exact `stored` rows: the answer's scores and order are exact."""
    offsets = entry.offsets  # sorted, and the mask only grows: usually all inside it
    inside = offsets if len(offsets) and offsets[-1] < len(mask) else offsets[offsets < len(mask)]
    sub_mask = np.zeros(entry.graph.size, dtype=np.bool_)
    sub_mask[: len(inside)] = mask[inside]
    _, labels = entry.graph.search_arrays(queries, 2 * k, sub_mask, ef)
    hits = rescored(labels, queries, k, stored, distance, entry.offsets)
    if np.count_nonzero(sub_mask) == np.count_nonzero(mask):  # the usual case: all inside
        return hits, np.empty(0, dtype=np.int64)
    rest = mask.copy()
    rest[inside] = False
    return hits, np.flatnonzero(rest)


def rescored(
    labels: np.ndarray, queries: np.ndarray, k: int, stored, distance: str,
    offsets: np.ndarray | None = None,
) -> list[SearchHits]:
    """The best k of each query's candidates (graph labels, -1 for none; `offsets` maps them
    to shard offsets, None when they are offsets already) by exact score, ties in offset order
    as everywhere else; one gather and one batched product for the whole batch (rows of
    candidates that two queries share are read twice: cheaper than deduplicating them)."""
    if distance not in (dist.COSINE, dist.DOT):
        return [
            exact_search(stored, distance, query[None, :], k,
                         np.sort(row[row >= 0] if offsets is None else offsets[row[row >= 0]]))[0]
            for query, row in zip(queries, labels, strict=True)
        ]
    candidates = np.maximum(labels, 0) if offsets is None else offsets[np.maximum(labels, 0)]
    complete = bool((labels >= 0).all())  # FAISS found 2k for every query: the usual case
    if not complete:
        candidates = np.where(labels >= 0, candidates, _NONE)
    candidates.sort(axis=1)  # offset order first, so that a stable sort by score keeps it for ties
    valid = None if complete else candidates != _NONE
    flat = candidates.ravel() if complete else np.where(valid, candidates, 0).ravel()
    rows = np.asarray(_gather(stored, flat), dtype=np.float32)
    rows = rows.reshape(len(queries), candidates.shape[1], -1)
    scores = np.matmul(rows, np.asarray(queries, dtype=np.float32)[:, :, None])[:, :, 0]
    if valid is not None:
        scores[~valid] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(candidates, order, axis=1)
    best_scores = np.take_along_axis(scores, order, axis=1)
    if valid is None:
        return [SearchHits(best[q], best_scores[q]) for q in range(len(queries))]
    keep = np.take_along_axis(valid, order, axis=1)
    return [SearchHits(best[q][keep[q]], best_scores[q][keep[q]]) for q in range(len(queries))]


def _gather(stored, offsets: np.ndarray) -> np.ndarray:
    """Rows at offsets in any order (`Rows` indexing wants them sorted)."""
    return stored.rows_at(offsets) if isinstance(stored, Rows) else stored[offsets]
