"""Point reads of one shard: the points a filter allows, retrieve, scroll (in id order or in the
order of a payload key), count, facet and the shard's info. A part of ``LocalShard`` kept in its
own module (like ``node.shard_search``); it reads the shard's state and never changes it.
"""

from __future__ import annotations

import numpy as np

from node.ids import PointId, id_sort_key
from node.payload_path import select_payload
from node.shard_search import PointRecord


class ShardReads:
    """Read methods of ``LocalShard`` (which provides the state, stores, planner and lock)."""

    # -- filters -----------------------------------------------------------------------------
    def _matches(self, predicate, offset: int) -> bool:
        state = self.state
        return predicate(
            state.ext_ids[offset],
            state.payloads[offset] or {},
            lambda name: self._has_vector(name, offset),
        )

    def _has_vector(self, name: str, offset: int) -> bool:
        present = self.state.present.get(name)
        if present is not None:
            return bool(present[offset])
        return offset in self.state.sparse.get(name, {})

    def _matching_ids(self, filter_: dict | None) -> list:
        state = self.state
        if filter_ is None:
            return list(state.id_to_offset)
        mask = self._allowed_mask(filter_)
        return [state.ext_ids[int(offset)] for offset in np.flatnonzero(mask)]

    def _allowed_mask(self, filter_: dict | None) -> np.ndarray:
        """Boolean mask over offsets [0, count): live points that pass the filter."""
        state = self.state
        return self.planner.allowed_mask(
            filter_, state.live_mask(), state.id_to_offset, self._matches
        )

    # -- reads -------------------------------------------------------------------------------
    def _current_vectors(self, offset: int) -> dict:
        out = {}
        for name, store in self.stores.items():
            if self.state.present[name][offset]:
                out[name] = np.array(store.data[offset])  # a plain array, even from a memmap
        for name, store in self.state.multi.items():
            if self.state.present[name][offset]:
                out[name] = store.get(offset)
        for name, vectors in self.state.sparse.items():
            if offset in vectors:
                out[name] = vectors[offset]
        return out

    def sparse_stats(self, name: str, dims) -> tuple[int, np.ndarray]:
        """For the idf modifier: (live points holding `name`, per dim: how many hold it)."""
        with self.lock:
            index = self.sparse_indexes.get(name)
            if index is None:
                return 0, np.zeros(len(dims), dtype=np.int64)
            return index.stats(np.asarray(dims), self.state.live_mask())

    def _record(self, offset: int, with_payload, with_vector) -> PointRecord:
        state = self.state
        record = PointRecord(state.ext_ids[offset], int(state.versions[offset]))
        if with_payload:
            payload = state.payloads[offset] or {}
            if with_payload is True:
                record.payload = payload
            else:
                mode, keys = with_payload
                record.payload = (
                    select_payload(payload, keys, None)
                    if mode == "include"
                    else select_payload(payload, None, keys)
                )
        if with_vector:
            vectors = self._current_vectors(offset)
            if with_vector is not True:
                vectors = {k: v for k, v in vectors.items() if k in with_vector}
            record.vectors = vectors
        return record

    def retrieve(self, ids: list, with_payload=True, with_vector=False) -> list[PointRecord]:
        with self.lock:
            out = []
            for point_id in ids:
                offset = self.state.offset_of(point_id)
                if offset is not None:
                    out.append(self._record(offset, with_payload, with_vector))
            return out

    def versions(self) -> tuple[list, list]:
        """Every point's id and version (the number of the operation that wrote it last). The
        same replicated write carries the same number on every replica, so two replicas hold
        the same point where the versions agree: a stale replica is brought up to date by
        fetching only the points whose versions differ."""
        with self.lock:
            pairs = list(self.state.points_from(None))
            versions = self.state.versions
            return [pid for pid, _ in pairs], [int(versions[offset]) for _, offset in pairs]

    def scroll(
        self, filter_: dict | None, start: PointId | None, limit: int, with_payload, with_vector
    ) -> list[PointRecord]:
        """Up to `limit` points with id ≥ start, in id order."""
        with self.lock:
            mask = self._allowed_mask(filter_) if filter_ is not None else None
            out = []
            for _, offset in self.state.points_from(start):
                if mask is not None and not mask[offset]:
                    continue
                out.append(self._record(offset, with_payload, with_vector))
                if len(out) >= limit:
                    break
            return out

    def scroll_ordered(
        self, filter_: dict | None, order_by: dict, limit: int, with_payload, with_vector
    ) -> list[PointRecord]:
        """Up to `limit` points in order of a payload key's values (a point once per value)."""
        with self.lock:
            mask = self._allowed_mask(filter_)
            values, offsets, kind = self.planner.ordered(
                order_by["key"],
                mask,
                order_by.get("direction") == "desc",
                order_by.get("start_from"),
            )
            values, offsets = self._ties_by_id(values, offsets, limit)
            out = []
            for value, offset in zip(values, offsets, strict=True):
                record = self._record(int(offset), with_payload, with_vector)
                # Qdrant's order values: integers for integer and datetime keys (datetimes as
                # microsecond timestamps; indexed here in nanoseconds), floats for float keys
                if kind == "datetime":
                    record.order_value = int(value) // 1000
                elif kind == "integer" and float(value).is_integer():
                    record.order_value = int(value)
                else:
                    record.order_value = float(value)
                out.append(record)
            return out

    def _ties_by_id(self, values: np.ndarray, offsets: np.ndarray, limit: int):
        """The first ``limit`` of points already in value order, points of equal value in id
        order: the order the collection merges shards in, so the answer does not depend on how
        points are spread over shards (or on the order they were written in)."""
        if len(values) == 0:
            return values[:limit], offsets[:limit]
        last = values[min(limit, len(values)) - 1]
        # everything up to the end of the run of values equal to the last one kept
        end = min(limit, len(values))
        while end < len(values) and values[end] == last:
            end += 1
        values, offsets = values[:end], offsets[:end]
        ext = self.state.ext_ids
        rank = {v: i for i, v in enumerate(dict.fromkeys(values.tolist()))}
        order = sorted(range(end), key=lambda i: (rank[values[i].item()],
                                                   id_sort_key(ext[int(offsets[i])])))
        order = order[:limit]
        return values[order], offsets[order]

    def count(self, filter_: dict | None) -> int:
        with self.lock:
            if filter_ is None:
                return self.state.live_count
            return int(np.count_nonzero(self._allowed_mask(filter_)))

    def facet(self, key: str, filter_: dict | None) -> dict:
        """Value → number of allowed points holding it, for an indexed keyword/integer/bool key."""
        with self.lock:
            return self.planner.facet(key, self._allowed_mask(filter_))

    def payload_schema_counts(self) -> dict:
        with self.lock:
            return self.planner.schema_info()

    def info(self) -> dict:
        with self.lock:
            state = self.state
            indexed = 0
            for name, graph in self.graphs.items():
                if graph is not None:
                    live = state.alive[: graph.size] & state.present[name][: graph.size]
                    indexed += int(live.sum())
            return {
                "points_count": state.live_count,
                "indexed_vectors_count": indexed,
                "segments_count": 1,
                "optimizing": self._optimizing or self._needs_optimization(),
            }
