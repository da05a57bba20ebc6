"""The background work of one shard, asked for one unit at a time by ``node.optimizer`` through
``optimize_step``. A part of ``LocalShard`` kept in its own module (like ``node.shard_search``).

Owns deciding what is due (an HNSW graph or its extension, a quantized copy, value graphs,
a vacuum, a flush) and building graphs and quantized copies outside the shard's lock, installed
only if no vacuum moved the rows meanwhile. The vacuum itself (a new generation of files) is
``LocalShard._vacuum`` in ``node.shard``.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from node.quantization import Quantized, supported
from node.value_graphs import ValueGraph
from node.vector_index import HnswGraph

# the shard's logger: these messages kept the name they had before the module was split off
log = logging.getLogger("node.shard")

_TAIL_IDLE_SEC = 1.0  # writes paused this long: fold the unindexed tail into the graph
_EXTEND_FRACTION = 0.2  # while writes go on, a graph is extended by at least this part of it


class ShardOptimize:
    """Background work of ``LocalShard`` (which provides the state, stores, graphs and lock)."""

    def _indexing_due(self, name: str) -> bool:
        """Build a graph once the vectors pass indexing_threshold (KB), as Qdrant does; then
        extend it as soon as writes pause, or while they go on once the unindexed tail passes
        that threshold and a fifth of the graph (the tail is scored exactly meanwhile). An
        extension copies the whole graph: a steady stream of small writes with a small
        threshold extended a 100,000-point graph for every few points, the copies holding the
        GIL long enough to take search p99 from 4 to 70-170 ms."""
        threshold_kb = self.config.optimizers.get("indexing_threshold")
        if threshold_kb is None:
            threshold_kb = 10000
        if not threshold_kb:
            return False
        store = self.stores[name]
        graph = self.graphs.get(name)
        if getattr(graph, "remapped", False):
            return True  # a vacuum moved the rows: a graph of their own, at once
        start = graph.size if graph else 0
        window = slice(start, store.count)
        live_unindexed = int((self.state.alive[window] & self.state.present[name][window]).sum())
        if live_unindexed == 0:
            return False
        row_kb = store.dim * store.dtype.itemsize / 1024
        if graph is None:
            return self.state.live_count * row_kb >= threshold_kb
        idle = time.monotonic() - self._last_write >= _TAIL_IDLE_SEC
        return idle or live_unindexed >= max(threshold_kb / row_kb, _EXTEND_FRACTION * start)

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
        return idle or tail >= max(threshold_kb / row_kb, _EXTEND_FRACTION * current.size)

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
        marker = (
            self._writes,
            tuple(id(self.graphs[n]) for n in names),
            len(self.value_graphs.graphs),
        )
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
            if self.closed:  # taken from the optimizer's queue before the close
                return False
            # the ids written since into the compact arrays once writes pause (a merge, not
            # counted as work): at 100,000 points a merge holds the lock searches take for
            # 7-17 ms, and under steady writes it ran after each batch (IdMap.put_many bounds
            # the dict meanwhile)
            idle = time.monotonic() - self._last_write >= _TAIL_IDLE_SEC
            if idle and self.state.id_to_offset.recent_ints:
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
            self.flush_outside_lock()
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
            bits = self.config.vectors[name].graph_code_bits
            path = self._graph_path(name)
        started = time.monotonic()
        if graph is None or getattr(graph, "remapped", False) or graph.code_bits != bits:
            new_graph = HnswGraph.build(
                rows[:count].astype(np.float32, copy=False),
                distance,
                hnsw["m"],
                hnsw["ef_construct"],
                code_bits=bits,
            )
        else:
            # the Rows themselves, not rows[:count]: that slice spans the prefix shared with the
            # graph and the tail, so it is a copy of every row (1.5 GB at 1M x 384), while the
            # extension reads only rows[graph.size:], a view of the tail
            new_graph = graph.extended(rows)
        # written before the lock is taken: writes to the shard wait only for the rename (a
        # 100,000-point graph took its writes' longest pause from 0.1 to 2 s under the lock)
        staged = new_graph.write_staged(path)
        with self.lock:
            if self.closed or self.state.gen != gen or self.stores.get(name) is not store:
                staged.unlink(missing_ok=True)
                return  # vacuumed meanwhile (the rows moved: build again later), deleted or closed
            self.graphs[name] = new_graph
            self.state.indexed[name] = new_graph.size
            for store_ in self.stores.values():
                store_.flush()
            if not new_graph.compact:
                self.stores[name].share_prefix(new_graph.stored_rows(), new_graph.index)
            self.stores[name].release_pages()  # on disk: the rows the build read
            os.replace(staged, path)
            self._dirty = True
            self._graph_saved = True
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
        graph = HnswGraph.build(rows, distance, hnsw["m"], hnsw["ef_construct"], code_bits=8)
        with self.lock:
            if self.state.gen == gen:
                self.value_graphs.install(name, key, value, ValueGraph(offsets, graph))
            self._value_due_marker = None
