"""Quick searches answered on the event loop that asks for them, one shard call per loop turn.

A search handed to a shard's batcher thread needs that thread to take the GIL twice per batch
(after its queue, after the index call). A busy event loop lets go of the GIL for a moment at
each of its I/O calls and takes it straight back, before the waiting thread is even scheduled,
so under load a batch waited ~0.5 ms for the GIL: that, not the search, set the pace of
queries with a selective filter (minilm-75k, 1% of points allowed, 8 clients).

A repeated, selective filter (a tenant, a category) is answered in tens of µs: the shard keeps
the rows it allows gathered and scores them exactly. Such searches the loop answers itself,
gathering those that arrive in one turn into one call of the shard, at the end of the turn.
Anything else, or a shard busy with a write or a batch, goes to the batcher as before.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Protocol

from node.search_batcher import SearchBatcher
from node.shard_search import PointRecord, SearchRequest


class QuickShard(Protocol):
    def quick(self, requests: list[SearchRequest]) -> bool: ...
    def search_now(self, requests: list[SearchRequest]) -> list[list[PointRecord]] | None: ...


class LoopSearches:
    def __init__(self, shard: QuickShard, batcher: SearchBatcher) -> None:
        self._shard = shard
        self._batcher = batcher
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[list, Future]]] = {}

    def submit(self, requests: list[SearchRequest]) -> Future | None:
        """A future of the answers, when this thread runs an event loop and the shard expects
        to answer at once; None otherwise (the caller hands them to the batcher)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a worker thread: it may as well wait for the batcher
            return None
        if not self._shard.quick(requests):
            return None
        future: Future = Future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)  # after the other callbacks of this turn
        pending.append((requests, future))
        return future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop, [])
        requests = [r for reqs, _ in batch for r in reqs]
        try:
            answers = self._shard.search_now(requests)
        except Exception:  # the batcher answers each request alone, with its own error
            answers = None
        if answers is None:
            for reqs, future in batch:
                self._batcher.enqueue(reqs, future)
            return
        pos = 0
        for reqs, future in batch:
            if future.set_running_or_notify_cancel():  # not given up meanwhile
                future.set_result(answers[pos : pos + len(reqs)])
            pos += len(reqs)
