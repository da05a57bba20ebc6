"""The peer service on the gRPC front's event loop: a search of a replica held here is awaited
on the loop (no worker thread waits for it), and answers exactly what the blocking service
answers; everything else, and a replica not known yet, is still served blocking off the loop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

import numpy as np

from node import errors, wire
from node.peer_service import (
    PEER_SERVICE,
    LoopPeerService,
    PeerService,
    add_peer_service,
    peer_pb2,
)
from node.shard_search import PointRecord, SearchRequest
from router.api.grpc.front import unary_handlers

HITS = [[PointRecord(i, 1, None, None, 1.0 - i / 100) for i in range(10)]]


class Replica:
    """A replica that records which thread asked, and answers ``HITS`` (or raises ``fail``)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.threads: list[str] = []

    def search_future(self, requests) -> Future:
        self.threads.append(threading.current_thread().name)
        future: Future = Future()
        done = threading.Thread(target=self._answer, args=(future,), name="batcher")
        done.start()
        return future

    def _answer(self, future: Future) -> None:
        if self.fail is not None:
            future.set_exception(self.fail)
        else:
            future.set_result(HITS)

    def search(self, requests):
        self.threads.append(threading.current_thread().name)
        return self.search_future(requests).result()

    def count(self, filter_) -> int:
        self.threads.append(threading.current_thread().name)
        return 3


def _request(method: str, *args) -> object:
    return peer_pb2.ShardCall(collection="uuid", shard_id=0, method=method,
                              args=wire.dumps(args))


def _search_call() -> object:
    req = SearchRequest("", np.ones((1, 4), np.float32), 10, hnsw_ef=64)
    return _request("search", [req])


def _serve(service: PeerService, request) -> object:
    async def call():
        threading.current_thread().name = "loop"
        if isinstance(service, LoopPeerService):
            return await service.Call(request, None)
        return service.Call(request, None)

    name = threading.current_thread().name
    try:
        return asyncio.run(call())
    finally:
        threading.current_thread().name = name


def _service(replica, known: bool = True) -> tuple[LoopPeerService, list]:
    blocking_lookups: list[str] = []

    def lookup(uuid: str, shard_id: int):
        blocking_lookups.append(threading.current_thread().name)
        return replica

    service = LoopPeerService(lookup, {}, lambda *_: replica if known else None)
    return service, blocking_lookups


def test_a_search_is_awaited_on_the_loop_and_answers_as_the_blocking_service():
    replica = Replica()
    service, blocking = _service(replica)
    reply = _serve(service, _search_call())
    assert replica.threads == ["loop"] and blocking == []
    expected = PeerService(lambda *_: Replica(), {}).Call(_search_call(), None)
    assert reply.result == expected.result and not reply.error_kind
    assert wire.loads(reply.result) == HITS


def test_a_replica_not_known_yet_is_looked_up_and_searched_off_the_loop():
    replica = Replica()
    service, blocking = _service(replica, known=False)
    reply = _serve(service, _search_call())
    assert wire.loads(reply.result) == HITS
    assert blocking and "loop" not in blocking and "loop" not in replica.threads


def test_other_calls_run_off_the_loop():
    replica = Replica()
    service, blocking = _service(replica)
    reply = _serve(service, _request("count", None))
    assert wire.loads(reply.result) == 3
    assert replica.threads and "loop" not in replica.threads + blocking


def test_a_failed_search_is_the_error_reply_the_blocking_service_gives():
    for fail, kind in ((errors.BadRequest("bad vector"), "BadRequest"),
                       (RuntimeError("boom"), "ServiceError")):
        reply = _serve(_service(Replica(fail))[0], _search_call())
        expected = PeerService(lambda *_, f=fail: Replica(f), {}).Call(_search_call(), None)
        assert (reply.error_kind, reply.error) == (expected.error_kind, expected.error)
        assert reply.error_kind == kind and not reply.result


def test_the_front_awaits_it_as_a_coroutine():
    service = LoopPeerService(lambda *_: None, {}, lambda *_: None)
    direct, _ = unary_handlers([(PEER_SERVICE, lambda server: add_peer_service(server, service))])
    assert direct[f"/{PEER_SERVICE}/Call"].is_coroutine
