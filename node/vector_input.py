"""Vectors as clients send them → the arrays a shard stores, validated against the config.

Dense vectors are checked for name and dimension and converted to the storage datatype (unit
length for Cosine); multivectors likewise, row by row. Sparse vectors are checked and stored
sorted by index; a document {"text", "model": "qdrant/bm25"} for a sparse name is embedded
locally (node.bm25: as a document for upserts, as a query for queries). Errors carry Qdrant's
texts, and are raised before anything is written.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from node import bm25
from node import distance as dist
from node.errors import FormatError, ValidationFailed, WrongInput
from node.shard_config import DenseParams, ShardConfig


def dense_array(raw: Any) -> np.ndarray:
    try:
        array = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError):
        raise FormatError("invalid type: expected a vector of numbers") from None
    if array.ndim != 1:
        raise FormatError("invalid type: expected a vector of numbers")
    return array


def _inference_into_dense(name: str, raw: Any) -> None:
    if bm25.is_inference_object(raw):
        bm25.model_for(raw)  # an unknown model: say so first
        raise WrongInput(
            f"Conversion between sparse and regular vectors failed: model `{raw.get('model')}` "
            f"produces sparse vectors, `{name}` is a dense vector"
        )


def prepare_multi(name: str, params: DenseParams, raw: Any) -> np.ndarray:
    """A matrix (list of vectors) for a multivector name → (n, dim) in the storage datatype."""
    _inference_into_dense(name, raw)
    if isinstance(raw, dict):
        raise WrongInput(f"Conversion between sparse and multi vectors failed for `{name}`")
    try:
        matrix = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError):
        raise FormatError("invalid type: expected a multi-vector (a list of vectors)") from None
    if matrix.ndim == 1:
        if len(matrix) == 0:
            raise ValidationFailed("[multi-vector must not be empty]")
        matrix = matrix[np.newaxis, :]  # one dense vector: a multivector of one, as Qdrant has
    if matrix.ndim != 2:
        raise FormatError("invalid type: expected a multi-vector (a list of vectors)")
    if len(matrix) == 0:
        raise ValidationFailed("[multi-vector must not be empty]")
    if matrix.shape[1] != params.size:
        raise WrongInput(
            f"Vector dimension error: expected dim: {params.size}, got {matrix.shape[1]}"
        )
    if not np.all(np.isfinite(matrix)):
        raise WrongInput("Vector contains NaN or infinite values")
    if params.storage_dtype == "uint8":
        return np.clip(matrix, 0, 255).astype(np.uint8)
    matrix = dist.prepare(params.distance, matrix)
    if params.storage_dtype == "float16":
        return matrix.astype(np.float16)
    return matrix


def _flat_float32(params: DenseParams, raw: list | np.ndarray) -> np.ndarray | None:
    """The common case in a few array operations: a flat list of numbers of the right length
    for a float32 vector, prepared exactly as `dist.prepare` would. None for anything else; the
    careful path then says precisely what is wrong."""
    try:
        array = np.array(raw, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    if array.shape != (params.size,):
        return None
    square = np.add.reduce(array * array)  # NaN or inf if any element is (or on overflow)
    if not math.isfinite(square):
        return None
    if params.distance == dist.COSINE and square > 0:
        array /= np.sqrt(square)  # the same float32 operations as dist.prepare
    return array


def prepare_dense(name: str, params: DenseParams, raw: Any) -> np.ndarray:
    # a list, or an array a query vector was decoded into (gRPC)
    kind = type(raw)
    if (kind is list or kind is np.ndarray) and not params.multivector \
            and params.storage_dtype == "float32":
        array = _flat_float32(params, raw)
        if array is not None:
            return array
    if kind is np.ndarray:
        raw = raw.tolist()  # the careful path, with its precise errors, takes lists
    if params.multivector:
        return prepare_multi(name, params, raw)
    _inference_into_dense(name, raw)
    if isinstance(raw, dict) and "indices" in raw:
        raise WrongInput(f"Conversion between sparse and regular vectors failed for `{name}`")
    array = raw if isinstance(raw, np.ndarray) else dense_array_or_multi(name, raw)
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


def dense_array_or_multi(name: str, raw: Any) -> np.ndarray:
    try:
        array = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError):
        raise FormatError("invalid type: expected a vector of numbers") from None
    if array.ndim == 2:
        raise WrongInput(f"Conversion between multi and regular vectors failed for `{name}`")
    if array.ndim != 1:
        raise FormatError("invalid type: expected a vector of numbers")
    return array


def prepare_sparse(raw: Any, query: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A sparse vector, or a document for the local BM25 model (embedded as a document for
    upserts, as a query for queries) → (indices uint32 sorted, values float32)."""
    if isinstance(raw, tuple) and len(raw) == 2:  # already in stored form
        return np.asarray(raw[0], np.uint32), np.asarray(raw[1], np.float32)
    if bm25.is_inference_object(raw):
        return bm25.embed(raw, query)
    if isinstance(raw, list):
        raise WrongInput("Conversion between sparse and regular vectors failed")
    if not isinstance(raw, dict) or "indices" not in raw or "values" not in raw:
        raise FormatError("invalid sparse vector: expected `indices` and `values`")
    try:
        indices = np.asarray(raw["indices"], dtype=np.int64)
        values = np.asarray(raw["values"], dtype=np.float32)
    except (TypeError, ValueError):
        raise FormatError(
            "invalid sparse vector: indices must be integers, values numbers"
        ) from None
    if indices.ndim != 1 or values.ndim != 1:
        raise FormatError("invalid sparse vector: indices and values must be sequences")
    if len(indices) and (indices.min() < 0 or indices.max() >= 2**32):
        raise FormatError("invalid sparse vector: indices must be unsigned 32-bit integers")
    errors = []
    if len(indices) != len(values):
        errors.append("values: must be the same length as indices")
    if len(np.unique(indices)) != len(indices):
        errors.append("indices: must be unique")
    if errors:
        raise ValidationFailed("[" + ", ".join(errors) + "]")
    if not np.all(np.isfinite(values)):
        raise WrongInput("Vector contains NaN or infinite values")
    order = np.argsort(indices, kind="stable")
    return indices[order].astype(np.uint32), values[order]


def prepare_named(config: ShardConfig, name: str, raw: Any, query: bool = False):
    """One vector of `name` as given (dense list, matrix, sparse {indices, values}, or a
    document {text, model} for a sparse name) → its stored form. `query`: a document is
    embedded as a query rather than as a document."""
    params = config.vectors.get(name)
    if params is not None:
        return prepare_dense(name, params, raw)
    if name in config.sparse_vectors:
        return prepare_sparse(raw, query)
    raise WrongInput(f"Not existing vector name error: {name}")


def prepare_column(config: ShardConfig, name: str, raws: list) -> list:
    """Many vectors of one name at once (a batch upsert): one conversion and one normalization
    for the whole matrix when it is well formed, else one by one for the precise error."""
    params = config.vectors.get(name)
    if params is not None and len(raws) and not params.multivector:
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
        if bm25.is_document(raw):  # a document for the unnamed vector
            return {"": prepare_named(config, "", raw)}
        return {name: prepare_named(config, name, value) for name, value in raw.items()}
    if isinstance(raw, (list, np.ndarray)):
        return {"": prepare_named(config, "", raw)}
    raise FormatError("invalid type: expected a vector or a map of named vectors")
