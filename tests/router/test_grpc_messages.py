"""Qdrant's generated gRPC modules load without qdrant-client's client (a second of every
node start), and the real package still imports afterwards in the same process."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from router.api.grpc.messages import pb
assert "qdrant_client.qdrant_client" not in sys.modules, "the client was imported"
assert "qdrant_client" not in sys.modules, "the package shell was left behind"
assert hasattr(pb, "QueryPoints") and hasattr(pb, "PointsServicer")
from qdrant_client import QdrantClient, grpc
assert grpc is pb and QdrantClient.__name__ == "QdrantClient"
print("ok")
"""


def test_generated_modules_load_alone_and_the_client_still_imports():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
