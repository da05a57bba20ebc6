"""Consensus of a single node: the metadata log applied at once and kept in one JSON dump.

It offers the interface the Raft-backed consensus will offer (``propose`` returns the result of
applying the operation once it is committed), so a single node is a one-node cluster to the code
above it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from consensus.state import MetadataState, OpResult

STATE_FILE = "metadata.json"


class LocalConsensus:
    def __init__(self, storage_path: Path, peer_id: int = 0) -> None:
        self.path = storage_path / STATE_FILE
        self.peer_id = peer_id
        self._lock = threading.RLock()
        self._listeners: list[Callable[[dict, OpResult], None]] = []
        if self.path.exists():
            self.state = MetadataState.from_dict(json.loads(self.path.read_text()))
        else:
            self.state = MetadataState()

    def subscribe(self, listener: Callable[[dict, OpResult], None]) -> None:
        """listener(op, result) runs after every applied operation, in log order."""
        self._listeners.append(listener)

    def is_synced(self) -> bool:
        return True

    def live_peers(self) -> list[int]:
        return [self.peer_id]

    def propose(self, op: dict) -> OpResult:
        with self._lock:
            result = self.state.apply(op)
            self._persist()
            for listener in self._listeners:
                listener(op, result)
            return result

    def _persist(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump(self.state.to_dict(), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
