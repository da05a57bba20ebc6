"""Nearest-neighbour search of one shard: the plan (graph, value graph or exact scoring) and
the batching of alike requests. A part of ``LocalShard`` kept in its own module; it reads the
shard's state and never changes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from node import distance as dist
from node.filter_cache import FilterCacheEntry
from node.ids import PointId
from node.quantization import GraphCodes, search_params
from node.value_graphs import rescored, search_value_graph, single_value_condition
from node.vector_index import exact_search, merge_hits

# with_payload after normalization: True, False, or ("include"|"exclude", [keys])
PayloadSelector = Any


@dataclass
class PointRecord:
    id: PointId
    version: int
    payload: dict | None = None
    vectors: dict | None = None
    score: float | None = None
    order_value: float | None = None


@dataclass
class SearchRequest:
    vector_name: str
    vectors: np.ndarray  # (1, dim) float32, already prepared for the distance
    limit: int  # offset + limit of the user's request: the router slices
    filter: dict | None = None
    exact: bool = False
    hnsw_ef: int | None = None
    score_threshold: float | None = None
    with_payload: PayloadSelector = False
    with_vector: bool | list[str] = False
    exclude_ids: tuple = ()
    # other vector kinds (then `vectors` is unused): a sparse query (indices uint32 sorted,
    # values float32, idf already applied), or a multivector query matrix (float32, prepared)
    sparse: tuple | None = None
    multi: np.ndarray | None = None
    quantization: dict | None = None  # QuantizationSearchParams: ignore, rescore, oversampling


def _codes_answer(params, quantization: dict | None) -> bool:
    """Scalar quantization and a request that neither rescores nor ignores it: the quantized
    scores themselves are the answer, as in Qdrant."""
    ignore, rescore, _ = search_params(quantization)
    return params.scalar_quantized and not (rescore or ignore)


class ShardSearch:
    """Search methods of ``LocalShard`` (which provides the state, stores, graphs and lock)."""

    def search(self, requests: list[SearchRequest]) -> list[list[PointRecord]]:
        """Answer several requests; those alike in vector, filter and parameters share one
        mask and one index call (concurrent tenants asking with the same filter, say)."""
        with self.lock:
            results: list = [None] * len(requests)
            groups: dict[tuple, list[int]] = {}
            for i, request in enumerate(requests):
                if request.sparse is not None or request.multi is not None:
                    results[i] = self._search_other(request)
                    continue
                if request.exclude_ids:
                    results[i] = self._search_group([request])[0]
                    continue
                filter_key = (
                    None if request.filter is None
                    else orjson.dumps(request.filter, option=orjson.OPT_SORT_KEYS)
                )
                key = (request.vector_name, request.exact, request.hnsw_ef, filter_key)
                if request.quantization is not None:
                    key += (orjson.dumps(request.quantization, option=orjson.OPT_SORT_KEYS),)
                groups.setdefault(key, []).append(i)
            for members in groups.values():
                answers = self._search_group([requests[i] for i in members])
                for i, records in zip(members, answers, strict=True):
                    results[i] = records
            return results

    def _search_group(self, requests: list[SearchRequest]) -> list[list[PointRecord]]:
        """Requests alike in vector, filter, exclusions, exact and ef: one mask, one search."""
        first = requests[0]
        name = first.vector_name
        params = self.config.vectors[name]
        state = self.state
        cached = None
        if first.filter is not None and not first.exclude_ids:
            cached = self._filter_cache.get(name, first.filter, self._writes)
        if cached is not None:
            mask = cached.mask
        else:
            mask = self._allowed_mask(first.filter)
            mask &= state.present[name][: state.count]
            if first.filter is not None and not first.exclude_ids:
                cached = self._filter_cache.put(name, first.filter, self._writes, mask)
        for point_id in first.exclude_ids:
            offset = state.offset_of(point_id)
            if offset is not None:
                mask[offset] = False
        queries = requests[0].vectors if len(requests) == 1 else np.vstack(
            [r.vectors for r in requests]
        )
        k = max(r.limit for r in requests)
        all_hits = self._nearest(name, first, mask, params, queries, k, cached)
        return [
            self._hit_records(request, hits, params.distance)
            for request, hits in zip(requests, all_hits, strict=True)
        ]

    def _hit_records(self, request: SearchRequest, hits, distance: str) -> list[PointRecord]:
        offsets, scores = hits.offsets[: request.limit], hits.scores[: request.limit]
        if request.score_threshold is not None:
            passing = (
                scores >= request.score_threshold
                if dist.higher_is_better(distance)
                else scores <= request.score_threshold
            )
            offsets, scores = offsets[passing], scores[passing]
        if request.with_payload or request.with_vector:
            records = []
            for offset, score in zip(offsets.tolist(), scores, strict=True):
                record = self._record(offset, request.with_payload, request.with_vector)
                record.score = score
                records.append(record)
            return records
        # ids and versions only (the common search): read them for all hits at once
        state = self.state
        return [
            PointRecord(point_id, version, score=score)
            for point_id, version, score in zip(
                state.ext_ids.ids_at(offsets), state.versions[offsets].tolist(), scores,
                strict=True,
            )
        ]

    def _search_other(self, request: SearchRequest) -> list[PointRecord]:
        """A sparse (inverted index) or multivector (exact MaxSim) search."""
        name = request.vector_name
        state = self.state
        mask = self._allowed_mask(request.filter)
        for point_id in request.exclude_ids:
            offset = state.offset_of(point_id)
            if offset is not None:
                mask[offset] = False
        if request.sparse is not None:
            index = self.sparse_indexes.get(name)
            if index is None:
                return []
            indices, values = request.sparse
            offsets, scores = index.search(indices, values, mask, request.limit)
            distance = dist.DOT
        else:
            distance = self.config.vectors[name].distance
            mask &= state.present[name][: state.count]
            candidates = np.flatnonzero(mask)
            all_scores = state.multi[name].maxsim(request.multi, candidates, distance)
            best = dist.top_k(
                all_scores, min(request.limit, len(candidates)), dist.higher_is_better(distance)
            )
            offsets, scores = candidates[best], all_scores[best]
        records = []
        for offset, score in zip(offsets, scores, strict=True):
            if request.score_threshold is not None and not _passes(
                score, request.score_threshold, distance
            ):
                continue
            record = self._record(int(offset), request.with_payload, request.with_vector)
            record.score = score
            records.append(record)
        return records

    def _nearest(
        self, name: str, request: SearchRequest, mask: np.ndarray, params, queries, k: int,
        cached: FilterCacheEntry | None = None,
    ) -> list:
        store = self.stores[name]
        allowed = len(cached.candidates) if cached is not None else int(np.count_nonzero(mask))
        kind, index = self._plan(name, request, allowed, k)
        if kind == "value_graph":
            ef = request.hnsw_ef or self.config.hnsw_for(name)["ef_construct"]
            hits, outside = search_value_graph(
                index, mask, queries, k, ef, store.data, params.distance
            )
            if len(outside) == 0:
                return hits
            extra = exact_search(store.data, params.distance, queries, k, outside)
            return [
                merge_hits([h, e], k, params.distance) for h, e in zip(hits, extra, strict=True)
            ]
        if kind == "quantized":  # Qdrant searches quantized vectors, then rescores
            _, rescore, oversampling = search_params(request.quantization)
            return self._quantized_nearest(
                index, store, params.distance, mask, queries, k, rescore, oversampling
            )
        if kind == "exact":
            if cached is None:
                return exact_search(store.data, params.distance, queries, k, np.flatnonzero(mask))
            if cached.rows is None:  # a repeated filter: keep its rows gathered
                self._filter_cache.gather(cached, store.data)
            return exact_search(
                store.data, params.distance, queries, k, cached.candidates, gathered=cached.rows
            )
        graph = index
        ef = request.hnsw_ef or self.config.hnsw_for(name)["ef_construct"]
        if request.filter is not None:
            ef = _filtered_ef(ef, max(allowed / max(graph.size, 1), 1e-6))
        if graph.compact:
            graph_hits = self._compact_graph_nearest(graph, store, params, request, mask,
                                                     queries, k, ef)
        else:
            graph_hits = graph.search(queries, k, mask, ef)
        tail = np.flatnonzero(mask[graph.size :]) + graph.size
        if len(tail) == 0:
            return graph_hits
        tail_hits = exact_search(store.data, params.distance, queries, k, tail)
        return [
            merge_hits([g, t], k, params.distance)
            for g, t in zip(graph_hits, tail_hits, strict=True)
        ]

    def _plan(self, name: str, request: SearchRequest, allowed: int, k: int) -> tuple[str, Any]:
        """How `_nearest` answers: ("value_graph", graph), ("quantized", copy), ("exact", None)
        or ("graph", graph)."""
        value_graph = self._value_graph_for(name, request, allowed)
        if value_graph is not None and allowed > k:
            return "value_graph", value_graph
        quantized = self.quantized.get(name) if not request.exact else None
        if quantized is not None and not search_params(request.quantization)[0]:
            return "quantized", quantized
        graph = self.graphs.get(name)
        if request.exact or graph is None or allowed <= k:
            return "exact", None
        if self._full_scan(name, allowed, request):
            if self._wants_codes(graph, request):
                return "quantized", GraphCodes(graph)
            return "exact", None
        return "graph", graph

    def _wants_codes(self, graph, request: SearchRequest) -> bool:
        """A scalar-quantized vector's request for the quantized scores themselves."""
        if not graph.compact or getattr(graph, "remapped", False):
            return False
        return _codes_answer(self.config.vectors[request.vector_name], request.quantization)

    def quick(self, requests: list[SearchRequest]) -> bool:
        """A guess, without the lock, that `search_now` will answer these."""
        return all(self._gathered(request) is not None for request in requests)

    def search_now(self, requests: list[SearchRequest]) -> list[list[PointRecord]] | None:
        """The answers, when the shard is free at once and each request is exact scoring of a
        repeated filter's few gathered rows (tens of µs); else None, and the caller hands the
        requests to the batcher's thread.

        Why: the batcher's thread needs the GIL twice per batch, and while an event loop is
        busy it wins the GIL back at each of its many short releases, so under load a batch
        waited ~0.5 ms for the GIL. A loop that answers its own quick searches skips that.
        """
        if not self.lock.acquire(blocking=False):
            return None
        try:
            for request in requests:
                entry = self._gathered(request)
                if entry is None:
                    return None
                allowed = len(entry.candidates)
                if self._plan(request.vector_name, request, allowed, request.limit)[0] != "exact":
                    return None
            return self.search(requests)
        finally:
            self.lock.release()

    def _gathered(self, request: SearchRequest) -> FilterCacheEntry | None:
        """The filter cache's entry of a dense, filtered request without exclusions, when that
        entry's rows are gathered and few enough to score at once."""
        if (
            request.filter is None or request.exclude_ids or request.sparse is not None
            or request.multi is not None
        ):
            return None
        entry = self._filter_cache.peek(request.vector_name, request.filter, self._writes)
        if entry is None or entry.rows is None or entry.rows.size > _QUICK_SCORES:
            return None
        return entry

    @staticmethod
    def _quantized_nearest(
        quantized, store, distance: str, mask: np.ndarray, queries, k: int, rescore: bool,
        oversampling: float,
    ) -> list:
        """Preselect k × oversampling by the quantized vectors, rescore them with the originals
        (unless told not to); rows not quantized yet are scored exactly."""
        preselect = max(k, int(np.ceil(k * oversampling))) if rescore else k
        hits = quantized.search(queries, preselect, mask)
        tail = np.flatnonzero(mask[quantized.size :]) + quantized.size
        tail_hits = exact_search(store.data, distance, queries, k, tail) if len(tail) else None
        out = []
        for i, found in enumerate(hits):
            if rescore and len(found.offsets):
                found = exact_search(
                    store.data, distance, queries[i : i + 1], k, np.sort(found.offsets)
                )[0]
            parts = [found] if tail_hits is None else [found, tail_hits[i]]
            out.append(merge_hits(parts, k, distance))
        return out

    @staticmethod
    def _compact_graph_nearest(
        graph, store, params, request: SearchRequest, mask: np.ndarray, queries, k: int, ef: int
    ) -> list:
        """A graph of codes (see ``DenseParams.graph_code_bits``) preselects; the stored
        rows rescore. Twice the candidates at least, as for value graphs (the codes misorder
        close neighbours), or k × oversampling when the request asks for more. With scalar
        quantization and ``rescore: false`` the codes' scores are the answer, as in Qdrant."""
        if _codes_answer(params, request.quantization):
            return graph.search(queries, k, mask, ef)
        oversampling = search_params(request.quantization)[2]
        preselect = max(2 * k, int(np.ceil(k * oversampling)))
        _, labels = graph.search_arrays(queries, preselect, mask, max(ef, preselect))
        return rescored(labels, queries, k, store.data, params.distance)

    def _value_graph_for(self, name: str, request: SearchRequest, allowed: int):
        """The value graph answering this request's filter, when there is one and the allowed
        points are too many to score exactly by Qdrant's full_scan_threshold rule."""
        if request.exact or request.filter is None or self.graphs.get(name) is None:
            return None
        condition = single_value_condition(request.filter)
        if condition is None or allowed < self._min_value_graph_points(name):
            return None
        return self.value_graphs.get(name, *condition)

    def _min_value_graph_points(self, name: str) -> int:
        row_bytes = self.stores[name].dim * 4
        return int(self.config.hnsw_for(name)["full_scan_threshold"] * 1024 // row_bytes) + 1

    def _full_scan(self, name: str, allowed: int, request: SearchRequest) -> bool:
        """Score exactly, or search the graph? Exact whenever Qdrant would (below
        full_scan_threshold KB), and also when it is the cheaper way to the same recall.

        Qdrant's rule: with a filter, the allowed points are compared with the threshold;
        without one, a segment's worth of them (Qdrant spreads a shard over
        default_segment_number segments, one per CPU when 0, and scores small segments
        exactly). Beyond it, a filtered graph search must widen its beam (ef / sqrt of the
        allowed fraction) to keep the recall of an unfiltered one; when scoring the allowed
        points costs less than that, exact scoring wins on both recall and time.
        """
        threshold = self.config.hnsw_for(name)["full_scan_threshold"] * 1024
        row_bytes = self.stores[name].dim * 4
        if request.filter is None:
            segments = self.config.optimizers.get("default_segment_number") or _CPUS
            return allowed * row_bytes / segments < threshold
        if allowed * row_bytes < threshold:
            return True
        graph = self.graphs[name]
        ef = request.hnsw_ef or self.config.hnsw_for(name)["ef_construct"]
        selectivity = max(allowed / max(graph.size, 1), 1e-6)
        graph_cost = _filtered_ef(ef, selectivity) * 2 * self.config.hnsw_for(name)["m"] * 1.5
        return allowed <= graph_cost

    # -- status and maintenance --------------------------------------------------------------


# Most scores (rows x dimensions) one request may cost in `search_now`: about 50 µs.
_QUICK_SCORES = 1 << 20

#: Qdrant's default segment count (one per CPU). Read once: os.cpu_count() reads
#: /sys/devices/system/cpu/online each time (~6 µs, with the GIL held).
_CPUS = os.cpu_count() or 1


def _filtered_ef(ef: int, selectivity: float) -> int:
    """The beam a bitmap-filtered HNSW search needs for the recall of an unfiltered one: the
    graph walk passes through filtered-out nodes, so widen it as the allowed share shrinks."""
    return int(min(ef / max(selectivity, 0.01) ** 0.5, 4096))


def _passes(score: float, threshold: float, distance: str) -> bool:
    if dist.higher_is_better(distance):
        return score >= threshold
    return score <= threshold
