"""Qdrant's ``timeout`` of a read, for both faces: the answer, or a Timeout error (REST 408,
gRPC DEADLINE_EXCEEDED) once the time has passed.

The work itself is not interrupted (a search in a worker thread or in FAISS cannot be): it
runs to its end, bounded by the memory budget (router/query/budget.py), and its answer is
dropped. The caller gets its answer in time either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from node.errors import Timeout

T = TypeVar("T")


async def within(timeout: float | None, operation: str, work: Awaitable[T]) -> T:
    if timeout is None:
        return await work
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout)
    except asyncio.TimeoutError:
        task.add_done_callback(_drop_outcome)
        raise Timeout(f"Operation '{operation}' timed out after {timeout:g} seconds") from None


def _drop_outcome(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a late failure is not logged as never retrieved
