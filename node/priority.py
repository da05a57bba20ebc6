"""Background work below the requests' CPU priority.

A graph build (FAISS's OpenMP threads on every core) or a snapshot (reading, hashing and
writing every file) can use all of a small machine's cores; searches and writes that arrive
meanwhile should get a core at once. Linux priorities are per thread, and threads inherit them
when they start (so do the OpenMP threads FAISS starts from a niced thread). An unprivileged
process cannot raise a thread's priority back, so only threads that do nothing but background
work are niced: the optimizer's, and a thread started for each such job.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

#: How much lower background work runs than requests (a nice increment).
NICE_INCREMENT = 10
#: Seconds after a request during which the node counts as serving (``pace``).
BUSY_WINDOW = 1.0

_last_request = 0.0

T = TypeVar("T")


def lower_this_thread() -> None:
    """This thread, and the threads it starts from now on, run at a lower priority."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid,
                       min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICE_INCREMENT))
    except (AttributeError, OSError) as exc:  # not Linux: it stays as it is
        log.debug("priority unchanged: %s", exc)


def run_in_background(job: Callable[..., T], *args) -> T:
    """``job(*args)`` in a thread of its own at the lower priority; its result, or its error,
    is this call's."""
    outcome: list = []

    def run() -> None:
        lower_this_thread()
        try:
            outcome.append((True, job(*args)))
        except BaseException as exc:  # handed to the caller
            outcome.append((False, exc))

    worker = threading.Thread(target=run, name=f"background-{getattr(job, '__name__', 'job')}",
                              daemon=True)
    worker.start()
    worker.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def note_request() -> None:
    """A request arrived (the fronts call this): background I/O paces itself for a while."""
    global _last_request
    _last_request = time.monotonic()


def pace(nbytes: int, rate: int, since: float) -> None:
    """After ``nbytes`` of background I/O begun at ``since`` (monotonic): while the node serves
    requests that came after it began, wait so that it runs at ``rate`` bytes per second at
    most (0: no limit). An idle node is not held back, nor by the request that began the job.

    Why: a lower CPU priority does not cover the kernel's own work for the I/O (page cache
    copies, writeback), which runs at the requests' priority. On this 2-core box a collection
    snapshot written at full speed took search p99 to 2.1-2.3x its idle value; at 30 MB/s,
    1.4x (bench/snapshot.py, bench/RESULTS.md run 36).
    """
    last = _last_request
    if rate > 0 and last > since and time.monotonic() - last < BUSY_WINDOW:
        time.sleep(nbytes / rate)
