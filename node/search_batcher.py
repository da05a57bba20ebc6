"""Coalescing of concurrent searches on one shard into batched index calls.

Concurrent requests wait in a queue; one worker thread takes everything queued at that moment
and hands it to the shard in one call, where unfiltered requests on the same vector become one
FAISS batch search (about twice the throughput of single queries). A lone request goes through
at once: batching only ever collects what is already waiting, it never waits to fill a batch.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

log = logging.getLogger(__name__)

_MAX_BATCH = 64


class SearchBatcher:
    def __init__(self, search: Callable[[list], list], name: str = "search") -> None:
        self._search = search
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, requests: list) -> Future:
        """A future of the answers to `requests` (one list of records per request)."""
        future: Future = Future()
        self.enqueue(requests, future)
        return future

    def enqueue(self, requests: list, future: Future) -> None:
        """Answer `requests` into a future made elsewhere (by a caller that could not)."""
        if self._closed:
            if future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError("shard is closed"))
            return
        self._queue.put((requests, future))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            size = len(item[0])
            while size < _MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
                size += len(more[0])
            # A waiter that gave up (a gRPC deadline, a cancelled task) has cancelled its
            # future: skip it. The others are marked running, so they can no longer be
            # cancelled, and setting their result below cannot fail.
            batch = [(reqs, f) for reqs, f in batch if f.set_running_or_notify_cancel()]
            if batch:
                try:
                    self._serve(batch)
                except Exception:  # never let one batch stop the shard's searches
                    log.exception("search batch failed")
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(RuntimeError("search failed"))

    def _serve(self, batch: list) -> None:
        requests = [r for reqs, _ in batch for r in reqs]
        try:
            answers = self._search(requests)
        except Exception as exc:  # one bad request must not fail its neighbours
            if len(batch) > 1:
                for reqs, future in batch:
                    self._serve([(reqs, future)])
                return
            batch[0][1].set_exception(exc)
            return
        pos = 0
        for reqs, future in batch:
            future.set_result(answers[pos : pos + len(reqs)])
            pos += len(reqs)

    def close(self) -> None:
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)
