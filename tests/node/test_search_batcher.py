"""SearchBatcher: waiters that give up do not stop the worker, nor cost a search."""

from __future__ import annotations

import threading

from node.search_batcher import SearchBatcher


def test_cancelled_waiters_are_skipped_and_the_worker_goes_on():
    release = threading.Event()
    seen: list[list] = []

    def search(requests: list) -> list:
        seen.append(list(requests))
        if requests == ["first"]:
            release.wait(10)
        return [f"answer to {r}" for r in requests]

    batcher = SearchBatcher(search)
    try:
        first = batcher.submit(["first"])
        while not seen:  # the worker has taken "first" and is searching it
            threading.Event().wait(0.001)
        assert not first.cancel()  # in flight: too late to cancel
        given_up = batcher.submit(["given up"])
        kept = batcher.submit(["kept"])
        assert given_up.cancel()  # still queued: cancelling succeeds
        release.set()
        assert first.result(10) == ["answer to first"]
        assert kept.result(10) == ["answer to kept"]
        assert seen == [["first"], ["kept"]]  # the cancelled request was never searched
        assert batcher.submit(["later"]).result(10) == ["answer to later"]
    finally:
        release.set()
        batcher.close()


def test_a_failing_search_fails_only_its_own_request():
    def search(requests: list) -> list:
        if "bad" in requests:
            raise ValueError("bad request")
        return [r.upper() for r in requests]

    batcher = SearchBatcher(search)
    try:
        bad = batcher.submit(["bad"])
        good = batcher.submit(["good"])
        assert good.result(10) == ["GOOD"]
        assert isinstance(bad.exception(10), ValueError)
        assert batcher.submit(["after"]).result(10) == ["AFTER"]
    finally:
        batcher.close()
