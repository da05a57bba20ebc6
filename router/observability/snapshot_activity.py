"""Snapshot creations as the faces see them, for /metrics: how many run now and how many
finished, per collection (``""`` for a full snapshot). The faces count into ``SNAPSHOTS``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SnapshotActivity:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.created: dict[str, int] = {}

    @contextmanager
    def creating(self, collection: str) -> Iterator[None]:
        with self._lock:
            self.running[collection] = self.running.get(collection, 0) + 1
        try:
            yield
            with self._lock:
                self.created[collection] = self.created.get(collection, 0) + 1
        finally:
            with self._lock:
                self.running[collection] -= 1

    def figures(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self.running), dict(self.created)


SNAPSHOTS = SnapshotActivity()
