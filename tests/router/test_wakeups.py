"""router.collection.wakeups: results of worker threads reach the event loop in one turn per
burst."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

import pytest

from router.collection import wakeups


def test_a_burst_of_results_wakes_the_loop_once_and_each_waiter_gets_its_own():
    async def main() -> tuple[list, int]:
        loop = asyncio.get_running_loop()
        calls = []
        real = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = lambda *a, **kw: calls.append(a) or real(*a, **kw)
        futures = [Future() for _ in range(50)]
        waiters = [wakeups.wrap(f) for f in futures]
        worker = threading.Thread(
            target=lambda: [f.set_result(i * i) for i, f in enumerate(futures)]
        )
        worker.start()
        worker.join()  # all finished while the loop was busy (blocked here)
        return await asyncio.gather(*waiters), len(calls)

    results, wakeups_used = asyncio.run(main())
    assert results == [i * i for i in range(50)]
    assert wakeups_used == 1


def test_errors_and_cancellation_pass_through_both_ways():
    async def main() -> None:
        failing, cancelled, abandoned = Future(), Future(), Future()
        failing_waiter = wakeups.wrap(failing)
        cancelled_waiter = wakeups.wrap(cancelled)
        abandoned_waiter = wakeups.wrap(abandoned)
        failing.set_exception(ValueError("no"))
        cancelled.cancel()
        with pytest.raises(ValueError, match="no"):
            await failing_waiter
        with pytest.raises(asyncio.CancelledError):
            await cancelled_waiter
        abandoned_waiter.cancel()  # the task gave up: work not started yet is cancelled
        await asyncio.sleep(0)
        assert abandoned.cancelled()
        later = Future()
        waiter = wakeups.wrap(later)
        threading.Thread(target=lambda: later.set_result("after")).start()
        assert await asyncio.wait_for(waiter, 5) == "after"  # still delivering

    asyncio.run(main())


def test_a_finished_loop_is_not_kept_alive():
    import gc
    import weakref

    async def main() -> None:
        future: Future = Future()
        waiter = wakeups.wrap(future)
        future.set_result(1)
        assert await waiter == 1

    loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None


def test_a_result_finished_on_the_loop_itself_does_not_wake_it():
    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        calls = []
        real = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = lambda *a, **kw: calls.append(a) or real(*a, **kw)
        future: Future = Future()
        waiter = wakeups.wrap(future)
        loop.call_soon(future.set_result, 7)  # answered by the loop's own thread
        return await asyncio.wait_for(waiter, 10), len(calls)

    assert asyncio.run(main()) == (7, 0)
