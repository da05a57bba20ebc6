"""Vectors as clients send them → the arrays a shard stores, validated against the config.

Dense vectors are checked for name and dimension and converted to the storage datatype (unit
length for Cosine). Sparse vectors are checked and stored sorted by index. Errors carry Qdrant's
texts, and are raised before anything is written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from node import distance as dist
from node.errors import FormatError, WrongInput
from node.shard_config import DenseParams, ShardConfig


def dense_array(raw: Any) -> np.ndarray:
    try:
        array = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError):
        raise FormatError("invalid type: expected a vector of numbers") from None
    if array.ndim != 1:
        raise FormatError("invalid type: expected a vector of numbers")
    return array


def prepare_dense(name: str, params: DenseParams, raw: Any) -> np.ndarray:
    array = raw if isinstance(raw, np.ndarray) else dense_array(raw)
    if array.ndim != 1:
        raise FormatError("invalid type: expected a vector of numbers")
    if len(array) != params.size:
        raise WrongInput(f"Vector dimension error: expected dim: {params.size}, got {len(array)}")
    if not np.all(np.isfinite(array)):
        raise WrongInput("Vector contains NaN or infinite values")
    if params.storage_dtype == "uint8":
        return np.clip(array, 0, 255).astype(np.uint8)
    array = dist.prepare(params.distance, array)
    if params.storage_dtype == "float16":
        return array.astype(np.float16)
    return array


def prepare_sparse(raw: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(raw, dict) or "indices" not in raw or "values" not in raw:
        raise FormatError("invalid sparse vector: expected `indices` and `values`")
    try:
        indices = np.asarray(raw["indices"], dtype=np.int64)
        values = np.asarray(raw["values"], dtype=np.float32)
    except (TypeError, ValueError):
        raise FormatError("invalid sparse vector: indices must be integers, values numbers") from None
    if indices.ndim != 1 or values.ndim != 1 or len(indices) != len(values):
        raise WrongInput("Sparse vector indices and values must have the same length")
    if len(indices) and (indices.min() < 0 or indices.max() >= 2**32):
        raise FormatError("invalid sparse vector: indices must be unsigned 32-bit integers")
    if len(np.unique(indices)) != len(indices):
        raise WrongInput("Sparse vector indices must be unique")
    order = np.argsort(indices, kind="stable")
    return indices[order].astype(np.uint32), values[order]


def prepare_named(config: ShardConfig, name: str, raw: Any):
    params = config.vectors.get(name)
    if params is not None:
        return prepare_dense(name, params, raw)
    if name in config.sparse_vectors:
        return prepare_sparse(raw)
    raise WrongInput(f"Not existing vector name error: {name}")


def prepare_column(config: ShardConfig, name: str, raws: list) -> list:
    """Many vectors of one name at once (a batch upsert): one conversion and one normalization
    for the whole matrix when it is well formed, else one by one for the precise error."""
    params = config.vectors.get(name)
    if params is not None and raws:
        try:
            matrix = np.asarray(raws, dtype=np.float32)
        except (TypeError, ValueError):
            matrix = None
        if (
            matrix is not None
            and matrix.ndim == 2
            and matrix.shape[1] == params.size
            and np.isfinite(matrix).all()
        ):
            if params.storage_dtype == "uint8":
                prepared = np.clip(matrix, 0, 255).astype(np.uint8)
            else:
                prepared = dist.prepare(params.distance, matrix)
                if params.storage_dtype == "float16":
                    prepared = prepared.astype(np.float16)
            return list(prepared)
    return [prepare_named(config, name, raw) for raw in raws]


def prepare_point_vectors(config: ShardConfig, raw: Any) -> dict:
    """The `vector` field of one point → {name: stored form}."""
    if raw is None:
        raise FormatError("missing field `vector`")
    if isinstance(raw, dict):
        if "indices" in raw and "values" in raw and not isinstance(raw.get("indices"), dict):
            raise WrongInput("Not existing vector name error: ")  # a bare sparse vector
        return {name: prepare_named(config, name, value) for name, value in raw.items()}
    if isinstance(raw, (list, np.ndarray)):
        return {"": prepare_named(config, "", raw)}
    raise FormatError("invalid type: expected a vector or a map of named vectors")
