"""fsync of a directory: what makes a file created, renamed or removed in it survive a crash
(the WAL's files, a snapshot renamed into place, a shard directory swapped in)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
