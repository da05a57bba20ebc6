"""Snapshots recovered before a node serves: ``--snapshot PATH:COLLECTION`` (repeatable) and
``--storage-snapshot PATH``, with ``--force-snapshot`` to replace collections that exist.

As with Qdrant's flags, a collection that exists is kept unless forced, so a node restarted with
the same flags does not recover the same snapshot again over newer writes. A file that cannot be
recovered stops the start (the operator asked for data the node would not have).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("tessera")


@dataclass(frozen=True)
class StartupSnapshots:
    collections: list[tuple[str, str]] = field(default_factory=list)  # (path, collection)
    storage: str | None = None
    force: bool = False

    def __bool__(self) -> bool:
        return bool(self.collections or self.storage)

    def apply(self, recovery) -> None:
        """Recover them with ``recovery`` (``router.cluster.snapshot_recovery``)."""
        toc = recovery.toc
        if self.storage:
            names = recovery.restore_full(Path(self.storage), force=self.force)
            log.info("recovered %d collection(s) from full snapshot %s: %s", len(names),
                     self.storage, ", ".join(names) or "-")
        for path, name in self.collections:
            if toc.exists(name) and not self.force:
                log.warning("collection %s exists: not recovered from %s (--force-snapshot "
                            "replaces it)", name, path)
                continue
            recovery.recover_collection_file(name, Path(path))
            log.info("recovered collection %s from %s", name, path)
