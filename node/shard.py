"""One local shard: WAL + point state + vector stores + HNSW graphs, and the queries over them.

Besides dense rows it holds multivector stores (``node.multivector``, saved with the state),
sparse inverted indexes (``node.sparse_index``, rebuilt from the stored sparse vectors when the
shard opens) and quantized copies of dense rows (``node.quantization``, built by the optimizer
and kept in RAM only: rebuilt after a restart).

Writes are validated against the current state first (so a failing operation changes nothing),
appended to the WAL, then applied. Reads see every applied write. A single lock serializes
access; FAISS and numpy release the GIL while they work. The optimizer (``node.optimizer``) calls
``optimize_step`` to build graphs, vacuum dead rows and flush, outside the write path.

This module knows nothing of HTTP or of other shards.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import orjson

from node.errors import NotFound
from node.filter_cache import FilterCache
from node.ids import PointId, id_sort_key
from node.multivector import MultiStore
from node.payload_path import delete_by_path, select_payload, set_by_path
from node.planner import FilterPlanner
from node.quantization import Quantized, supported
from node.shard_config import ShardConfig
from node.shard_search import PointRecord, ShardSearch
from node.shard_state import ShardState
from node.sparse_index import SparseIndex
from node.value_graphs import ValueGraph, ValueGraphs
from node.vector_index import HnswGraph
from node.vector_store import VectorStore
from node.wal import WriteAheadLog

log = logging.getLogger(__name__)

_POOLED_PAYLOAD_BYTES = 128  # payloads this small are shared between equal points
_PAYLOAD_POOL_SIZE = 100_000
_TAIL_IDLE_SEC = 1.0  # writes paused this long: fold the unindexed tail into the graph



def _file_key(name: str) -> str:
    return name.encode().hex() or "_"


class LocalShard(ShardSearch):
    def __init__(self, path: Path, config: ShardConfig) -> None:
        self.path = path
        self.config = config
        self.lock = threading.RLock()
        path.mkdir(parents=True, exist_ok=True)
        self.state = ShardState.load(path, list(config.vectors))
        self.stores: dict[str, VectorStore] = {}
        self.graphs: dict[str, HnswGraph | None] = {}
        self.sparse_indexes: dict[str, SparseIndex] = {}
        self.quantized: dict[str, Quantized] = {}  # built by the optimizer, kept in RAM
        self._open_vectors()
        self.planner = FilterPlanner({})
        self.planner.set_schema(config.payload_schema, self.state.payloads, self.state.live_mask())
        self.wal = WriteAheadLog(path / "wal")
        self._dirty = False
        self._last_flush = time.monotonic()
        self._optimizing = False
        self._last_write = 0.0
        self._writes = 0  # changes applied since opening: the filter cache's clock
        self._filter_cache = FilterCache()
        self._payload_pool: dict[bytes, dict] = {}
        self.value_graphs = ValueGraphs()
        self._value_due: list = []
        self._value_due_marker: tuple | None = None
        self._replay()

    # -- opening -----------------------------------------------------------------------------
    def _open_vectors(self) -> None:
        self._open_other_vectors()
        for name in self.config.flat_names:
            params = self.config.vectors[name]
            key = _file_key(name)
            self.stores[name] = VectorStore(
                self.path / f"vec-{self.state.gen}-{key}.bin",
                params.size,
                params.storage_dtype,
                params.on_disk,
                count=self.state.count,
            )
            graph_path = self._graph_path(name)
            indexed = self.state.indexed.get(name, 0)
            self.graphs[name] = None
            if indexed and graph_path.exists():
                graph = HnswGraph.load(graph_path, params.distance)
                if graph is not None and graph.size == indexed:
                    self.graphs[name] = graph
                    self.stores[name].share_prefix(graph.stored_rows(), graph.index)
                    continue
            self.state.indexed[name] = 0

    def _open_other_vectors(self) -> None:
        """Multivector stores (kept in the state) and sparse inverted indexes (rebuilt from
        the stored sparse vectors)."""
        for name in self.config.multi_names:
            params = self.config.vectors[name]
            if name not in self.state.multi:
                self.state.multi[name] = MultiStore(params.size, params.storage_dtype)
        self.sparse_indexes = {
            name: SparseIndex.build(self.state.sparse.get(name, {}), params.datatype)
            for name, params in self.config.sparse_vectors.items()
        }

    def sparse_stats(self, name: str, dims) -> tuple[int, np.ndarray]:
        """For the idf modifier: (live points holding `name`, per dim: how many hold it)."""
        with self.lock:
            index = self.sparse_indexes.get(name)
            if index is None:
                return 0, np.zeros(len(dims), dtype=np.int64)
            return index.stats(np.asarray(dims), self.state.live_mask())

    def _graph_path(self, name: str) -> Path:
        return self.path / f"hnsw-{self.state.gen}-{_file_key(name)}.faiss"

    def _replay(self) -> None:
        replayed = 0
        for op_num, op in self.wal.replay(self.state.last_op):
            try:
                self._apply(op_num, op)
            except Exception:  # an op that failed before the crash fails again: skip it
                log.exception("skipping WAL record %s during replay", op_num)
            replayed += 1
        if replayed:
            self._dirty = True
            log.info("shard %s: replayed %d WAL records", self.path, replayed)

    @property
    def last_op(self) -> int:
        return self.state.last_op

    # -- writes ------------------------------------------------------------------------------
    def apply(self, op_num: int, op: dict, wait: bool = True) -> None:
        """Validate, log, apply. Raises before logging when the operation cannot apply."""
        with self.lock:
            self._check(op)
            self.wal.append(op_num, op)
            self._apply(op_num, op)
            self._last_write = time.monotonic()
            if wait:
                self.wal.sync()

    def _check(self, op: dict) -> None:
        kind = op["type"]
        if kind in ("update_vectors",):
            for point_id, _ in op["points"]:
                self._require(point_id)
        elif kind in ("set_payload", "overwrite_payload", "delete_payload", "delete_vectors"):
            for point_id in op.get("ids") or ():
                self._require(point_id)

    def _require(self, point_id: PointId) -> int:
        offset = self.state.offset_of(point_id)
        if offset is None:
            raise NotFound(f"No point with id {point_id} found")
        return offset

    def _apply(self, op_num: int, op: dict) -> None:
        handler: Callable[[int, dict], None] = getattr(self, "_op_" + op["type"])
        handler(op_num, op)
        self._writes += 1
        self.state.last_op = max(self.state.last_op, op_num)
        self._dirty = True

    def addressed_ids(self, op: dict) -> list:
        """The ids a write touches, before it applies (for a filter: its present matches)."""
        if op["type"] == "upsert":
            return list(op["ids"])
        if op["type"] == "update_vectors":
            return [point_id for point_id, _ in op["points"]]
        with self.lock:
            return self._selected(op)

    def _selected(self, op: dict) -> list:
        """Ids an operation addresses: its explicit ids, or those its filter matches."""
        if op.get("ids") is not None:
            return [pid for pid in op["ids"] if self.state.offset_of(pid) is not None]
        return self._matching_ids(op.get("filter"))

    def _op_upsert(self, op_num: int, op: dict) -> None:
        update_filter = self.planner.compile(op.get("update_filter"))
        for point_id, vectors, payload in zip(op["ids"], op["vectors"], op["payloads"]):
            if update_filter is not None:
                offset = self.state.offset_of(point_id)
                if offset is not None and not self._matches(update_filter, offset):
                    continue
            self._write_point(point_id, op_num, vectors, payload)

    def _write_point(self, point_id: PointId, version: int, vectors: dict, payload) -> int:
        state = self.state
        old = state.offset_of(point_id)
        if old is not None:
            self.planner.remove(old, state.payloads[old])
        payload = self._pooled(payload)
        offset = state.add(point_id, version, payload)
        self.planner.add(offset, payload)
        for name, store in self.stores.items():
            vector = vectors.get(name)
            if vector is None:
                store.append(np.zeros((1, store.dim), store.dtype))
                continue
            store.append(vector.reshape(1, -1))
            state.present[name][offset] = True
        for name, value in vectors.items():
            if name in self.config.sparse_vectors:
                state.sparse.setdefault(name, {})[offset] = value
                self.sparse_indexes[name].add(offset, value[0], value[1])
            elif name in state.multi:
                state.multi[name].add(offset, value)
                state.present[name][offset] = True
        return offset

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

    def _op_update_vectors(self, op_num: int, op: dict) -> None:
        update_filter = self.planner.compile(op.get("update_filter"))
        for point_id, new_vectors in op["points"]:
            offset = self.state.offset_of(point_id)
            if offset is None:
                continue
            if update_filter is not None and not self._matches(update_filter, offset):
                continue
            vectors = self._current_vectors(offset)
            vectors.update(new_vectors)
            self._write_point(point_id, op_num, vectors, self.state.payloads[offset])

    def _op_delete_vectors(self, op_num: int, op: dict) -> None:
        for point_id in self._selected(op):
            offset = self.state.offset_of(point_id)
            vectors = self._current_vectors(offset)
            for name in op["names"]:
                vectors.pop(name, None)
            self._write_point(point_id, op_num, vectors, self.state.payloads[offset])

    def _op_delete(self, op_num: int, op: dict) -> None:
        for point_id in self._selected(op):
            offset = self.state.offset_of(point_id)
            self.planner.remove(offset, self.state.payloads[offset])
            self.state.remove(point_id)

    def _touch(self, op_num: int, op: dict, change: Callable[[dict | None], dict]) -> None:
        for point_id in self._selected(op):
            offset = self.state.offset_of(point_id)
            self.planner.remove(offset, self.state.payloads[offset])
            self.state.payloads[offset] = self._pooled(change(self.state.payloads[offset]))
            self.state.versions[offset] = op_num
            self.planner.add(offset, self.state.payloads[offset])

    def _pooled(self, payload: dict | None) -> dict | None:
        """Equal small payloads (tags, tenants) share one dict; stored payloads are never
        changed in place (changes build a new one), so sharing is safe."""
        if not payload:
            return payload
        try:
            key = orjson.dumps(payload)
        except TypeError:
            return payload
        if len(key) > _POOLED_PAYLOAD_BYTES:
            return payload
        pooled = self._payload_pool.get(key)
        if pooled is not None:
            return pooled
        if len(self._payload_pool) < _PAYLOAD_POOL_SIZE:
            self._payload_pool[key] = payload
        return payload

    def _op_set_payload(self, op_num: int, op: dict) -> None:
        def change(payload: dict | None) -> dict:
            payload = _deep_copy(payload or {})
            if op.get("key"):
                set_by_path(payload, op["key"], op["payload"])
            else:
                payload.update(op["payload"])
            return payload

        self._touch(op_num, op, change)

    def _op_overwrite_payload(self, op_num: int, op: dict) -> None:
        self._touch(op_num, op, lambda _: dict(op["payload"]))

    def _op_delete_payload(self, op_num: int, op: dict) -> None:
        def change(payload: dict | None) -> dict:
            payload = _deep_copy(payload or {})
            for key in op["keys"]:
                delete_by_path(payload, key)
            return payload

        self._touch(op_num, op, change)

    def _op_clear_payload(self, op_num: int, op: dict) -> None:
        self._touch(op_num, op, lambda _: {})

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
                order_by["key"], mask, order_by.get("direction") == "desc", order_by.get("start_from")
            )
            values, offsets = self._ties_by_id(values, offsets, limit)
            out = []
            for value, offset in zip(values, offsets):
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

    def _indexing_due(self, name: str) -> bool:
        """Build a graph once the vectors pass indexing_threshold (KB), as Qdrant does; then
        extend it when the unindexed tail passes that too, or as soon as writes pause (the
        tail is scored exactly; during a bulk load, fewer and larger extensions copy the
        graph less often)."""
        threshold_kb = self.config.optimizers.get("indexing_threshold")
        if threshold_kb is None:
            threshold_kb = 10000
        if not threshold_kb:
            return False
        store = self.stores[name]
        graph = self.graphs.get(name)
        start = graph.size if graph else 0
        window = slice(start, store.count)
        live_unindexed = int((self.state.alive[window] & self.state.present[name][window]).sum())
        if live_unindexed == 0:
            return False
        row_kb = store.dim * store.dtype.itemsize / 1024
        if graph is None:
            return self.state.live_count * row_kb >= threshold_kb
        idle = time.monotonic() - self._last_write >= _TAIL_IDLE_SEC
        return idle or live_unindexed * row_kb >= threshold_kb

    def _quantization_due(self, name: str) -> bool:
        """Quantize once the vectors pass indexing_threshold (as Qdrant quantizes optimized
        segments); extend to new rows when writes pause or the tail passes it too."""
        params = self.config.vectors[name]
        store = self.stores[name]
        if not supported(params.quantization, params.distance, store.count):
            return False
        threshold_kb = self.config.optimizers.get("indexing_threshold")
        if threshold_kb is None:
            threshold_kb = 10000
        if not threshold_kb:
            return False
        row_kb = store.dim * store.dtype.itemsize / 1024
        current = self.quantized.get(name)
        if current is None:
            return self.state.live_count * row_kb >= threshold_kb
        tail = store.count - current.size
        if tail <= 0:
            return False
        idle = time.monotonic() - self._last_write >= _TAIL_IDLE_SEC
        return idle or tail * row_kb >= threshold_kb

    def _vacuum_due(self) -> bool:
        state = self.state
        dead = state.dead_count
        threshold = self.config.optimizers.get("deleted_threshold", 0.2)
        minimum = self.config.optimizers.get("vacuum_min_vector_number", 1000)
        return state.count > 0 and dead >= minimum and dead / state.count > threshold

    def _needs_optimization(self) -> bool:
        return (
            self._vacuum_due()
            or any(self._indexing_due(n) for n in self.stores)
            or any(self._quantization_due(n) for n in self.stores)
            or bool(self._value_graphs_due())
        )

    def _value_graphs_due(self) -> list:
        """Value graphs to build; the scan over indexed values runs again only after writes
        or a change of graphs (the optimizer and collection info ask often)."""
        names = [n for n, g in self.graphs.items() if g is not None]
        if not names:
            return []
        marker = (self._writes, tuple(id(self.graphs[n]) for n in names), len(self.value_graphs.graphs))
        if self._value_due_marker != marker:
            minimum = {n: self._min_value_graph_points(n) for n in names}
            self._value_due = self.value_graphs.due(
                names, self.planner, self.state.live_count, minimum
            )
            self._value_due_marker = marker
        return self._value_due

    def optimize_step(self, flush_interval: float) -> bool:
        """One unit of background work; True if something was done."""
        with self.lock:
            if self.state.id_to_offset.recent_ints:  # cheap: a merge, not counted as work
                self.state.id_to_offset.freeze()
            if self._vacuum_due():
                self._optimizing = True
                try:
                    self._vacuum()
                finally:
                    self._optimizing = False
                return True
            due = [n for n in self.stores if self._indexing_due(n)]
        if due:
            self._optimizing = True
            try:
                self._build_graph(due[0])
            finally:
                self._optimizing = False
            return True
        with self.lock:
            quantize = [n for n in self.stores if self._quantization_due(n)]
        if quantize:
            self._optimizing = True
            try:
                self._build_quantized(quantize[0])
            finally:
                self._optimizing = False
            return True
        with self.lock:
            value_due = self._value_graphs_due()
        if value_due:
            self._optimizing = True
            try:
                self._build_value_graph(*value_due[0])
            finally:
                self._optimizing = False
            return True
        if self._dirty and time.monotonic() - self._last_flush >= flush_interval:
            self.flush()
            return True
        return False

    def _build_graph(self, name: str) -> None:
        with self.lock:
            store = self.stores[name]
            gen = self.state.gen
            count = store.count
            rows = store.data  # rows [0, count) never change: appends reallocate, not rewrite
            graph = self.graphs.get(name)
            hnsw = self.config.hnsw_for(name)
            distance = self.config.vectors[name].distance
        started = time.monotonic()
        if graph is None:
            new_graph = HnswGraph.build(
                rows[:count].astype(np.float32, copy=False), distance, hnsw["m"], hnsw["ef_construct"]
            )
        else:
            new_graph = graph.extended(rows[:count])
        with self.lock:
            if self.state.gen != gen:
                return  # vacuumed meanwhile: the rows moved, build again later
            self.graphs[name] = new_graph
            self.state.indexed[name] = new_graph.size
            for store_ in self.stores.values():
                store_.flush()
            self.stores[name].share_prefix(new_graph.stored_rows(), new_graph.index)
            new_graph.save(self._graph_path(name))
            self._dirty = True
        log.info("shard %s: indexed %d vectors of %r in %.1fs", self.path, count, name,
                 time.monotonic() - started)

    def _build_quantized(self, name: str) -> None:
        with self.lock:
            store = self.stores[name]
            gen = self.state.gen
            count = store.count
            rows = store.data  # rows [0, count) never change
            params = self.config.vectors[name]
            current = self.quantized.get(name)
        started = time.monotonic()
        if current is None:
            built = Quantized.build(params.quantization, params.distance, rows[:count])
        else:
            built = current.copy()
            built.extend(rows[current.size : count])
        with self.lock:
            same = self.config.vectors.get(name) == params
            if self.state.gen != gen or not same:
                return  # vacuumed or reconfigured meanwhile: build again later
            self.quantized[name] = built
        log.info("shard %s: quantized (%s) %d vectors of %r in %.1fs", self.path, built.kind,
                 count, name, time.monotonic() - started)

    def _build_value_graph(self, name: str, key: str, value, offsets: np.ndarray) -> None:
        with self.lock:
            gen = self.state.gen
            rows = np.ascontiguousarray(self.stores[name].data[offsets], dtype=np.float32)
            hnsw = self.config.hnsw_for(name)
            distance = self.config.vectors[name].distance
        graph = HnswGraph.build(rows, distance, hnsw["m"], hnsw["ef_construct"], compact=True)
        with self.lock:
            if self.state.gen == gen:
                self.value_graphs.install(name, key, value, ValueGraph(offsets, graph))
            self._value_due_marker = None

    def _vacuum(self) -> None:
        """Copy live rows to a new generation of files; graphs are rebuilt afterwards."""
        state = self.state
        live = np.flatnonzero(state.live_mask())
        new = ShardState(vector_names=list(self.config.vectors), gen=state.gen + 1)
        new.last_op = state.last_op
        old_stores = self.stores
        self.stores = {}
        for name, old in old_stores.items():
            params = self.config.vectors[name]
            path = self.path / f"vec-{new.gen}-{_file_key(name)}.bin"
            if path.exists():
                path.unlink()
            store = VectorStore(path, params.size, params.storage_dtype, params.on_disk)
            if len(live):
                store.append(old.data[live])
            self.stores[name] = store
        self.planner.remap({int(offset): i for i, offset in enumerate(live)})
        for i, offset in enumerate(live):
            offset = int(offset)
            point_id = state.ext_ids[offset]
            new.add(point_id, int(state.versions[offset]), state.payloads[offset])
            for name in self.config.vectors:
                new.present[name][i] = state.present[name][offset]
            for name, vectors in state.sparse.items():
                if offset in vectors:
                    new.sparse.setdefault(name, {})[i] = vectors[offset]
        for name, store in state.multi.items():
            new.multi[name] = store.compacted(live)
        old_gen = state.gen
        self.value_graphs.clear()
        self.quantized = {}
        self.state = new
        self._open_other_vectors()
        self._writes += 1  # offsets moved: cached filter answers are void
        self.graphs = {name: None for name in self.stores}
        self._flush_locked()
        for old in old_stores.values():
            old.close()
        for path in self.path.glob(f"*-{old_gen}-*"):
            path.unlink()

    def flush(self) -> None:
        with self.lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        for store in self.stores.values():
            store.flush()
        self.state.id_to_offset.freeze()  # the ids written since: into the compact arrays
        self.state.save(self.path)
        self.wal.truncate_through(self.state.last_op)
        self._dirty = False
        self._last_flush = time.monotonic()

    def update_config(self, config: ShardConfig) -> None:
        """Apply a changed collection config (hnsw, optimizers); graphs rebuild if m changed."""
        with self.lock:
            old = self.config
            self.config = config
            if old.payload_schema != config.payload_schema:
                self.planner.set_schema(
                    config.payload_schema, self.state.payloads, self.state.live_mask()
                )
                self._writes += 1  # text matching may change with an index: drop cached answers
            if old.sparse_vectors != config.sparse_vectors:
                self._open_other_vectors()
            for name in self.stores:
                if old.vectors[name].quantization != config.vectors[name].quantization:
                    self.quantized.pop(name, None)
                if old.hnsw_for(name) != config.hnsw_for(name):
                    self.graphs[name] = None
                    self.state.indexed[name] = 0
                    self.value_graphs.clear()
            self.value_graphs.drop_missing(self.planner)

    def close(self) -> None:
        with self.lock:
            if self._dirty:
                self._flush_locked()
            self.wal.close()
            for store in self.stores.values():
                store.close()

    def drop(self) -> None:
        with self.lock:
            self.wal.close()
            for store in self.stores.values():
                store.close()
            shutil.rmtree(self.path, ignore_errors=True)


def _deep_copy(payload: dict) -> dict:
    """A copy that shares nothing with the stored payload (which other points may share)."""
    return orjson.loads(orjson.dumps(payload))
