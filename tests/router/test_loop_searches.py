"""router.collection.loop_searches on a real shard: quick searches are answered on the asking
event loop, in one shard call per loop turn, with the batcher's answers; everything else still
goes to the batcher's thread."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from node.search_batcher import SearchBatcher
from node.shard import LocalShard
from node.shard_config import ShardConfig
from node.shard_search import SearchRequest
from router.collection import wakeups
from router.collection.loop_searches import LoopSearches
from tests.support.threads import held_elsewhere

DIM = 8
TENANT = {"must": [{"key": "tenant", "match": {"value": 3}}]}  # 1 point in 10


class Spy:
    """The real shard, with a record of which thread called which method."""

    def __init__(self, shard: LocalShard) -> None:
        self.shard = shard
        self.calls: list[tuple[str, int, int]] = []  # (method, thread, requests)

    def quick(self, requests):
        return self.shard.quick(requests)

    def search_now(self, requests):
        self.calls.append(("search_now", threading.get_ident(), len(requests)))
        return self.shard.search_now(requests)

    def search(self, requests):
        self.calls.append(("search", threading.get_ident(), len(requests)))
        return self.shard.search(requests)


@pytest.fixture
def setup(tmp_path):
    config = ShardConfig.from_collection(
        {"params": {"vectors": {"size": DIM, "distance": "Cosine"}},
         "optimizer_config": {"default_segment_number": 1}}
    )
    shard = LocalShard(tmp_path / "s", config)
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(1000, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # as the router prepares them
    shard.apply(1, {
        "type": "upsert", "ids": list(range(1000)),
        "vectors": [{"": v} for v in vectors],
        "payloads": [{"tenant": i % 10} for i in range(1000)],
    })
    spy = Spy(shard)
    batcher = SearchBatcher(spy.search)
    yield shard, spy, batcher, LoopSearches(spy, batcher), vectors
    batcher.close()
    shard.close()


def _request(query, filter_=TENANT, k=5, **more) -> SearchRequest:
    unit = (query / np.linalg.norm(query)).astype(np.float32).reshape(1, -1)
    return SearchRequest("", unit, k, filter=filter_, **more)


def _expected(vectors, query, k=5, tenant=3) -> list[int]:
    ids = np.flatnonzero(np.arange(len(vectors)) % 10 == tenant)
    scores = vectors[ids] @ (query / np.linalg.norm(query))
    return ids[np.argsort(-scores, kind="stable")[:k]].tolist()


def _search(searches: LoopSearches, batcher: SearchBatcher, requests) -> object:
    future = searches.submit(requests)
    return future if future is not None else batcher.submit(requests)


def test_a_repeated_selective_filter_is_answered_on_the_loop_in_one_call_per_turn(setup):
    shard, spy, batcher, searches, vectors = setup
    queries = np.random.default_rng(6).normal(size=(6, DIM)).astype(np.float32)

    async def main():
        loop_thread = threading.get_ident()
        # the first time, the filter's rows are not gathered yet: the batcher's thread
        first = await wakeups.wrap(_search(searches, batcher, [_request(queries[0])]))
        assert [(m, t != loop_thread) for m, t, _ in spy.calls] == [("search", True)]
        spy.calls.clear()
        # now they are: five arriving in one turn are one call, on the loop's own thread
        waiters = [wakeups.wrap(_search(searches, batcher, [_request(q)])) for q in queries[1:]]
        answers = await asyncio.wait_for(asyncio.gather(*waiters), 10)
        assert spy.calls == [("search_now", loop_thread, 5)]
        return [first] + answers

    answers = asyncio.run(main())
    for query, answer in zip(queries, answers, strict=True):
        assert [r.id for r in answer[0]] == _expected(vectors, query)


def test_what_is_not_quick_goes_to_the_batcher(setup):
    shard, spy, batcher, searches, vectors = setup
    query = np.random.default_rng(7).normal(size=DIM).astype(np.float32)
    batcher.submit([_request(query)]).result(10)  # the filter's rows are now gathered

    async def on_loop(requests):
        return searches.submit(requests)

    assert asyncio.run(on_loop([_request(query)])) is not None
    assert asyncio.run(on_loop([_request(query, filter_=None)])) is None  # unfiltered: a graph
    assert asyncio.run(on_loop([_request(query, exclude_ids=(3,))])) is None
    other = {"must": [{"key": "tenant", "match": {"value": 4}}]}
    assert asyncio.run(on_loop([_request(query, filter_=other)])) is None  # not gathered yet
    # one request of a batch that is not quick sends the whole batch to the batcher
    assert asyncio.run(on_loop([_request(query), _request(query, filter_=None)])) is None
    # a worker thread (no event loop) waits for the batcher as before
    assert searches.submit([_request(query)]) is None
    # a write makes the gathered rows stale
    unit = query / np.linalg.norm(query)
    shard.apply(2, {"type": "upsert", "ids": [5000], "vectors": [{"": unit}],
                    "payloads": [{"tenant": 3}]})
    assert asyncio.run(on_loop([_request(query)])) is None
    answer = batcher.submit([_request(query)]).result(10)
    assert answer[0][0].id == 5000  # the new point: its own vector, the best match


def test_a_busy_shard_hands_the_turn_to_the_batcher_and_nothing_is_lost(setup):
    shard, spy, batcher, searches, vectors = setup
    queries = np.random.default_rng(8).normal(size=(4, DIM)).astype(np.float32)
    batcher.submit([_request(queries[0])]).result(10)
    spy.calls.clear()

    async def main(release):
        waiters = [wakeups.wrap(_search(searches, batcher, [_request(q)])) for q in queries]
        await asyncio.sleep(0.05)  # the turn ended; the shard was busy
        release.set()
        return await asyncio.wait_for(asyncio.gather(*waiters), 10)

    with held_elsewhere(shard.lock) as release:  # as a long write would
        answers = asyncio.run(main(release))
    assert spy.calls[0][0] == "search_now"  # tried on the loop first ...
    assert {m for m, _, _ in spy.calls[1:]} == {"search"}  # ... then answered by the batcher
    for query, answer in zip(queries, answers, strict=True):
        assert [r.id for r in answer[0]] == _expected(vectors, query)


def test_a_waiter_that_gave_up_before_the_turn_ended_is_skipped(setup):
    shard, spy, batcher, searches, vectors = setup
    query = np.random.default_rng(9).normal(size=DIM).astype(np.float32)
    batcher.submit([_request(query)]).result(10)

    async def main():
        gone = searches.submit([_request(query)])
        kept = searches.submit([_request(query, k=3)])
        assert gone.cancel()
        return await asyncio.wait_for(wakeups.wrap(kept), 10), gone

    kept, gone = asyncio.run(main())
    assert gone.cancelled()
    assert [r.id for r in kept[0]] == _expected(vectors, query, k=3)
