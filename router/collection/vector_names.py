"""A named vector added to or deleted from a live collection (Qdrant 1.19's
``PUT / DELETE /collections/{name}/vectors/{vector_name}``): the collection config before and
after, as pure functions. The shards follow the new config (``LocalShard.update_config``): a
new dense or multivector name starts empty for every existing point, a deleted one's storage
goes away.

The body (``VectorNameConfig``) is ``{"dense": DenseVectorConfig}`` or ``{"sparse":
SparseVectorConfig}``: only what defines the vector space (size, distance, multivector, datatype;
a sparse modifier and datatype). A collection with one unnamed vector keeps it under the name
``""`` beside the new one, as Qdrant names it internally.
"""

from __future__ import annotations

import copy
from typing import Any

from node.errors import FormatError, WrongInput
from router.collection.config import DATATYPES, raise_if_invalid, vector_params
from router.collection.limits import DEFAULT, Limits

_DENSE_FIELDS = {"size", "distance", "multivector_config", "datatype"}
_MODIFIERS = ("none", "idf")


def _names(params: dict) -> tuple[dict, dict]:
    vectors = params.get("vectors") or {}
    if "size" in vectors or "distance" in vectors:  # one unnamed vector
        vectors = {"": vectors}
    return dict(vectors), dict(params.get("sparse_vectors") or {})


def _put_vectors(params: dict, vectors: dict, sparse: dict) -> None:
    if list(vectors) == [""]:
        params["vectors"] = vectors[""]
    else:
        params["vectors"] = vectors
    if sparse:
        params["sparse_vectors"] = sparse
    else:
        params.pop("sparse_vectors", None)


def _dense(raw: Any, limits: Limits) -> dict:
    if not isinstance(raw, dict):
        raise FormatError("invalid type for `dense`: expected DenseVectorConfig")
    unknown = set(raw) - _DENSE_FIELDS
    if unknown:
        raise FormatError(f"unknown field `{sorted(unknown)[0]}`, expected one of "
                          + ", ".join(f"`{f}`" for f in sorted(_DENSE_FIELDS)))
    errors: list[str] = []
    params = vector_params({k: v for k, v in raw.items() if v is not None}, "dense", errors,
                            limits)
    raise_if_invalid(errors)
    return params


def _sparse(raw: Any) -> dict:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise FormatError("invalid type for `sparse`: expected SparseVectorConfig")
    out: dict = {}
    modifier = raw.get("modifier")
    if modifier is not None:
        if modifier not in _MODIFIERS:
            raise FormatError(f"unknown variant `{modifier}`, expected `none` or `idf`")
        out["modifier"] = modifier
    datatype = raw.get("datatype")
    if datatype is not None:
        if datatype not in DATATYPES:
            raise FormatError(f"unknown variant `{datatype}`, expected one of "
                              + ", ".join(f"`{d}`" for d in DATATYPES))
        out["index"] = {"datatype": datatype}
    return out


def with_vector_name(config: dict, name: str, body: Any, limits: Limits = DEFAULT) -> dict:
    """``config`` with the vector ``name`` that ``body`` describes added."""
    if not isinstance(body, dict) or len(body) != 1 or next(iter(body)) not in ("dense",
                                                                                "sparse"):
        raise FormatError("data did not match any variant of untagged enum VectorNameConfig")
    out = copy.deepcopy(config)
    params = out["params"]
    vectors, sparse = _names(params)
    if name in vectors or name in sparse:
        raise WrongInput(f"Vector with name `{name}` already exists")
    if "dense" in body:
        vectors[name] = _dense(body["dense"], limits)
    else:
        if name == "":
            raise WrongInput("A sparse vector needs a name")
        sparse[name] = _sparse(body["sparse"])
    _put_vectors(params, vectors, sparse)
    return out


def without_vector_name(config: dict, name: str) -> dict:
    """``config`` without the vector ``name``."""
    out = copy.deepcopy(config)
    params = out["params"]
    vectors, sparse = _names(params)
    if name in vectors:
        del vectors[name]
    elif name in sparse:
        del sparse[name]
    else:
        raise WrongInput(f"Not existing vector name error: {name}")
    _put_vectors(params, vectors, sparse)
    return out

