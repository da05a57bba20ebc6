"""Qdrant's generated gRPC messages and service classes (``qdrant_client.grpc``), loaded without
the rest of qdrant-client.

``import qdrant_client.grpc`` first runs the package's ``__init__``, which builds the whole
REST and gRPC *client* (pydantic models, httpx, async client): about 0.9 s of a node's 1.9 s
start, paid on every restart before a replica can recover. The generated modules only import
each other and protobuf, so they are loaded under a bare package shell that is removed again:
a later ``import qdrant_client`` in the same process runs the real package and finds these
same modules already loaded (reach them as ``from qdrant_client import grpc``, which finds the
loaded module; the attribute ``qdrant_client.grpc`` of the real package is not set).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def _load_generated() -> types.ModuleType:
    if "qdrant_client" in sys.modules:
        return importlib.import_module("qdrant_client.grpc")
    spec = importlib.util.find_spec("qdrant_client")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("qdrant-client is not installed")
    shell = types.ModuleType("qdrant_client")
    shell.__path__ = list(spec.submodule_search_locations)
    sys.modules["qdrant_client"] = shell
    try:
        return importlib.import_module("qdrant_client.grpc")
    finally:
        if sys.modules.get("qdrant_client") is shell:
            del sys.modules["qdrant_client"]


pb = _load_generated()
