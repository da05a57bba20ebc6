"""Background maintenance of every local shard: HNSW building, vacuum and periodic flush.

One daemon thread walks the registered shards and asks each for one unit of work at a time, so
writes never wait for indexing. Building a graph runs outside the shard's lock (FAISS releases
the GIL); only the swap-in is locked.
"""

from __future__ import annotations

import logging
import threading

from node import heap, priority
from node.shard import LocalShard

log = logging.getLogger(__name__)


class Optimizer:
    def __init__(self, flush_interval_sec: float = 5.0, idle_sleep: float = 0.2) -> None:
        self.flush_interval_sec = flush_interval_sec
        self.idle_sleep = idle_sleep
        self._shards: dict[int, LocalShard] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worked = False
        self._thread = threading.Thread(target=self._run, name="optimizer", daemon=True)
        self._thread.start()

    def register(self, shard: LocalShard) -> None:
        with self._lock:
            self._shards[id(shard)] = shard
        self._wake.set()

    def unregister(self, shard: LocalShard) -> None:
        with self._lock:
            self._shards.pop(id(shard), None)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        priority.lower_this_thread()  # builds yield the cores to requests
        while not self._stop.is_set():
            with self._lock:
                shards = list(self._shards.values())
            busy = False
            for shard in shards:
                if self._stop.is_set():
                    return
                with self._lock:
                    if id(shard) not in self._shards:
                        continue
                try:
                    busy |= shard.optimize_step(self.flush_interval_sec)
                except Exception:
                    log.exception("optimizer step failed for shard %s", shard.path)
            if busy:
                self._worked = True
            elif self._worked:
                heap.trim()  # once the work is done, not between its steps
                self._worked = False
            if not busy:
                self._wake.wait(self.idle_sleep)
                self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
