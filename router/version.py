"""What this service says it is: Qdrant's title, and the Qdrant version whose API it speaks.

The REST root, the gRPC health check, telemetry and peer metadata all report these, so a client
that checks the server version (qdrant-client warns on a mismatch) sees Qdrant 1.19.
"""

import functools
import subprocess
from pathlib import Path

TITLE = "qdrant - vector search engine"
VERSION = "1.19.0"


@functools.cache
def commit() -> str | None:
    """The git commit of the Tessera source this node runs (where Qdrant gives its own build's
    commit), or None when it does not run from a git checkout (an installed wheel)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and len(text) == 40 else None
