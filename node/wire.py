"""The encoding of shard operations and results between nodes: pickle, restricted.

Shard operations are plain Python values with numpy arrays inside, and results are
``PointRecord`` lists, so pickle carries them without a schema of their own. Only the classes a
shard call can contain may be rebuilt on the receiving side; anything else is refused, so a
message cannot make a node run code.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

_ALLOWED = {
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("builtins", "slice"), ("builtins", "bytearray"),
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("node.shard_search", "PointRecord"), ("node.shard_search", "SearchRequest"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed on the peer wire")
        return super().find_class(module, name)


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()
