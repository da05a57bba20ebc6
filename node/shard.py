"""One local shard: WAL + point state + vector stores + HNSW graphs, and the queries over them.

Besides dense rows it holds multivector stores (``node.multivector``, saved with the state),
sparse inverted indexes (``node.sparse_index``, rebuilt from the stored sparse vectors when the
shard opens) and quantized copies of dense rows (``node.quantization``, built by the optimizer
and kept in RAM only: rebuilt after a restart).

Writes are validated against the current state first (so a failing operation changes nothing),
appended to the WAL, then applied. Reads see every applied write. A single lock serializes
access; FAISS and numpy release the GIL while they work. The optimizer (``node.optimizer``) calls
``optimize_step`` to build graphs, vacuum dead rows and flush, outside the write path.

The class is put together from parts kept in their own modules: ``node.shard_writes`` (the write
path), ``node.shard_reads`` (point reads and filter masks), ``node.shard_search``
(nearest-neighbour search) and ``node.shard_optimize`` (deciding and building the background
work). This module owns the shard's lifecycle and files: opening them and replaying the WAL, the
switch to a new generation of files when vacuuming, config changes, flush, close and drop.

This module knows nothing of HTTP or of other shards.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import numpy as np

from node.filter_cache import FilterCache
from node.multivector import MultiStore
from node.planner import FilterPlanner
from node.quantization import Quantized
from node.shard_config import ShardConfig
from node.shard_optimize import ShardOptimize
from node.shard_reads import ShardReads
from node.shard_search import ShardSearch
from node.shard_state import ShardState, install_state, write_state
from node.shard_writes import ShardWrites
from node.sparse_index import SparseIndex
from node.value_graphs import ValueGraphs
from node.vector_index import HnswGraph, RemappedGraph
from node.vector_store import VectorStore
from node.wal import WriteAheadLog

log = logging.getLogger(__name__)

#: the state file ``flush_outside_lock`` stages (a flush under the lock stages its own)
_BACKGROUND_STATE = "state.pkl.background.tmp"


def _file_key(name: str) -> str:
    return name.encode().hex() or "_"


class LocalShard(ShardWrites, ShardReads, ShardOptimize, ShardSearch):
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
        self._graph_saved = False  # a graph file newer than the saved state (see flush_for_cut)
        self._flushes = 0  # states saved since opening (flush_outside_lock's check)
        self._last_flush = time.monotonic()
        self._optimizing = False
        self._last_write = 0.0
        self._writes = 0  # changes applied since opening: the filter cache's clock
        #: closed or dropped: the directory may hold another copy by now, so nothing here
        #: writes to it again (``ShardWrites.apply`` refuses, flushes and graph installs stop)
        self.closed = False
        self._filter_cache = FilterCache()
        self._payload_pool: dict[bytes, dict] = {}
        self.value_graphs = ValueGraphs()
        self._value_due: list = []
        self._value_due_marker: tuple | None = None
        self._replay()

    # -- opening -----------------------------------------------------------------------------
    def _open_vectors(self) -> None:
        for pattern in ("hnsw-*.tmp", _BACKGROUND_STATE):  # a crash left it before its rename
            for staged in self.path.glob(pattern):
                staged.unlink()
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
                    if not graph.compact:
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

    # -- vacuum ------------------------------------------------------------------------------
    def _vacuum(self) -> None:
        """Copy live rows to a new generation of files; graphs are rebuilt afterwards (the old
        ones answer meanwhile, remapped)."""
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
        kept = live.tolist()
        new.add_many([state.ext_ids[offset] for offset in kept], state.versions[live].tolist(),
                     [state.payloads[offset] for offset in kept])
        for name in self.config.vectors:
            new.present[name][: len(kept)] = state.present[name][live]
        for name, vectors in state.sparse.items():
            for i, offset in enumerate(kept):
                if offset in vectors:
                    new.sparse.setdefault(name, {})[i] = vectors[offset]
        for name, store in state.multi.items():
            new.multi[name] = store.compacted(live)
        old_gen = state.gen
        new_of_old = np.full(state.count, -1, dtype=np.int64)
        new_of_old[live] = np.arange(len(live))
        old_graphs = self.graphs
        self.value_graphs.clear()
        self.quantized = {}
        self.state = new
        self._open_other_vectors()
        self._writes += 1  # offsets moved: cached filter answers are void
        # the old graphs keep answering, through the rows' new offsets, until new ones are built
        self.graphs = {name: None if old_graphs.get(name) is None
                       else RemappedGraph(old_graphs[name], new_of_old) for name in self.stores}
        self._flush_locked()
        for old in old_stores.values():
            old.close()
        for path in self.path.glob(f"*-{old_gen}-*"):
            path.unlink()

    def flush(self) -> None:
        with self.lock:
            self._flush_locked()

    def flush_outside_lock(self) -> None:
        """The periodic flush, with the slow part out of the lock that searches and writes
        take: the state is copied under it (and the log switched to a new file), pickled and
        fsynced without it (50-140 ms at 100,000 points, seconds at millions), then renamed
        into place under it, and the log's older files dropped. A flush under the lock meanwhile
        (a snapshot's cut, a close) saved a newer state: the staged one is then discarded."""
        with self.lock:
            if self.closed or not self._dirty:
                return
            if not self.state.copies_whole:  # sparse or multi vectors: saved under the lock
                self._flush_locked()
                return
            for store in self.stores.values():
                store.flush()
                store.release_pages()
            self.state.id_to_offset.freeze()
            data, flushes = self.state.data(), self._flushes
            covered = self.wal.rotate()
            self._dirty = False
        try:
            staged = write_state(self.path, data, staged_name=_BACKGROUND_STATE)
        except BaseException:
            with self.lock:
                self._dirty = True  # still in the log; the next flush tries again
            raise
        with self.lock:
            if self.closed or self._flushes != flushes:
                staged.unlink(missing_ok=True)
                return
            install_state(self.path, staged)
            self._flushes += 1
            self._graph_saved = False
            self._last_flush = time.monotonic()
            self.wal.drop(covered)

    def flush_for_cut(self) -> None:
        """Before a snapshot's cut (under the lock): a flush only if a graph file was saved
        since the last one, so that the state names every graph the cut links (otherwise a
        recovered copy would rebuild it). Plain writes stay in the WAL, which the cut takes."""
        with self.lock:
            if self._graph_saved:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self.closed:
            return
        for store in self.stores.values():
            store.flush()
            store.release_pages()
        self.state.id_to_offset.freeze()  # the ids written since: into the compact arrays
        self.state.save(self.path)
        self.wal.truncate_through(self.state.last_op)
        self._flushes += 1
        self._dirty = False
        self._graph_saved = False
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
            if set(old.vectors) != set(config.vectors) or \
                    set(old.sparse_vectors) != set(config.sparse_vectors):
                self._rename_vectors(old, config)
            if old.sparse_vectors != config.sparse_vectors:
                self._open_other_vectors()
            for name in self.stores:
                if name not in old.vectors:
                    continue  # just added
                if old.vectors[name].quantization != config.vectors[name].quantization:
                    self.quantized.pop(name, None)
                if old.hnsw_for(name) != config.hnsw_for(name) or \
                        old.vectors[name].graph_code_bits != config.vectors[name].graph_code_bits:
                    self.graphs[name] = None
                    self.state.indexed[name] = 0
                    self.value_graphs.clear()
            self.value_graphs.drop_missing(self.planner)

    def _rename_vectors(self, old: ShardConfig, config: ShardConfig) -> None:
        """Vector names added to the collection start empty for every point here; deleted
        ones take their storage with them (under the lock, flushed at once)."""
        state = self.state
        for name in set(old.vectors) - set(config.vectors):
            store = self.stores.pop(name, None)
            if store is not None:
                store.close()
                store.path.unlink(missing_ok=True)
                self._graph_path(name).unlink(missing_ok=True)
            self.graphs.pop(name, None)
            self.quantized.pop(name, None)
            state.multi.pop(name, None)
            state.present.pop(name, None)
            state.indexed.pop(name, None)
        for name in set(old.sparse_vectors) - set(config.sparse_vectors):
            state.sparse.pop(name, None)
        for name in [n for n in config.flat_names if n not in self.stores]:
            params = config.vectors[name]
            path = self.path / f"vec-{state.gen}-{_file_key(name)}.bin"
            path.unlink(missing_ok=True)
            store = VectorStore(path, params.size, params.storage_dtype, params.on_disk)
            if state.count:
                store.append(np.zeros((state.count, params.size), store.dtype))
            self.stores[name] = store
            self.graphs[name] = None
        for name in config.vectors:
            state.present.setdefault(name, np.zeros(len(state.alive), np.bool_))
            state.indexed.setdefault(name, 0)
        state.vector_names = list(config.vectors)
        self._open_other_vectors()
        self._writes += 1
        self._flush_locked()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            if self._dirty:
                self._flush_locked()
            self.wal.close()
            for store in self.stores.values():
                store.close()
            self.closed = True

    def drop(self) -> None:
        with self.lock:
            self.closed = True
            self.wal.close()
            for store in self.stores.values():
                store.close()
            shutil.rmtree(self.path, ignore_errors=True)
