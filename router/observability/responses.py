"""Counts and durations of the answers each face gave, per endpoint: what ``/metrics`` and the
``requests`` section of ``/telemetry`` report.

Recording sits on the hot path (every query and upsert), so it is a dict look-up and a few
float operations, no lock: each face records from its own event loop thread only (the REST
face from uvicorn's loop, the gRPC face from its server loop), so every `Responses` has one
writer. Readers (a scrape) may see one request half-counted, which a monitor does not notice.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from datetime import datetime, timezone

#: Upper bounds (seconds) of the duration histogram's buckets, as Qdrant's exporter uses them.
BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)

_WALL0 = time.time()
_PERF0 = time.perf_counter()


class Stats:
    """One endpoint's (and, for REST, one status code's) answers."""

    __slots__ = ("count", "fails", "total", "low", "high", "last", "buckets")

    def __init__(self) -> None:
        self.count = 0
        self.fails = 0
        self.total = 0.0
        self.low = float("inf")
        self.high = 0.0
        self.last = 0.0  # perf_counter() of the last answer
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one: over the largest bound

    def last_responded(self) -> str:
        moment = datetime.fromtimestamp(_WALL0 + (self.last - _PERF0), tz=timezone.utc)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @classmethod
    def merged(cls, group: list[Stats]) -> Stats:
        """One endpoint's figures over several keys (e.g. over collections)."""
        if len(group) == 1:
            return group[0]
        out = cls()
        for stats in group:
            out.count += stats.count
            out.fails += stats.fails
            out.total += stats.total
            out.low = min(out.low, stats.low)
            out.high = max(out.high, stats.high)
            out.last = max(out.last, stats.last)
            out.buckets = [a + b for a, b in zip(out.buckets, stats.buckets, strict=True)]
        return out

    def telemetry(self) -> dict:
        """Qdrant's OperationDurationStatistics."""
        count = self.count
        return {
            "count": count,
            "fail_count": self.fails,
            "avg_duration_micros": self.total / count * 1e6 if count else 0.0,
            "min_duration_micros": self.low * 1e6 if count else 0.0,
            "max_duration_micros": self.high * 1e6,
            "total_duration_micros": int(self.total * 1e6),
            "last_responded": self.last_responded(),
        }


class Responses:
    """The answers of one face, by key: REST ``(method, endpoint, status, collection)``, gRPC
    ``(endpoint, status code, collection)``; ``collection`` is "" where a request names none
    (or named one that does not exist, so the labels stay bounded)."""

    def __init__(self) -> None:
        self.stats: dict[tuple, Stats] = {}

    def record(self, key: tuple, started: float, failed: bool = False) -> None:
        """One answer, from ``started`` (a ``time.perf_counter()``) until now."""
        now = time.perf_counter()
        stats = self.stats.get(key)
        if stats is None:
            stats = self.stats[key] = Stats()
        elapsed = now - started
        stats.count += 1
        stats.total += elapsed
        if elapsed < stats.low:
            stats.low = elapsed
        if elapsed > stats.high:
            stats.high = elapsed
        stats.last = now
        stats.buckets[bisect_left(BUCKETS, elapsed)] += 1
        if failed:
            stats.fails += 1

    def items(self) -> list[tuple[tuple, Stats]]:
        return list(self.stats.items())

    def grouped(self, per_collection: bool = False) -> list[tuple[tuple, Stats]]:
        """The figures by key without the collection (merged over collections), or by key
        with it (only the keys that name one), in key order."""
        groups: dict[tuple, list[Stats]] = {}
        for key, stats in self.items():
            if per_collection and not key[-1]:
                continue
            groups.setdefault(key if per_collection else key[:-1], []).append(stats)
        rows = [(key, Stats.merged(group)) for key, group in groups.items()]
        return sorted(rows, key=lambda row: tuple(map(str, row[0])))

    def clear(self) -> None:
        self.stats.clear()


#: The REST face's answers (router.api.rest.front records them).
REST = Responses()
#: The gRPC face's answers (router.api.grpc.front records them).
GRPC = Responses()
