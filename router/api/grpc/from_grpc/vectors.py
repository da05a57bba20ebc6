"""Vectors: a point's vectors (dense, sparse, multi-dense, inference objects and the deprecated
flat form) and a query's vector inputs."""

from __future__ import annotations

from typing import Any

import numpy as np

from node.errors import BadRequest
from router.api.grpc.from_grpc.values import payload, point_id, value
from router.api.grpc.messages import pb


# -- vectors -----------------------------------------------------------------------------------
def floats(values) -> list:
    """A repeated float field → list of python floats (through numpy: ~5× faster than list())."""
    return np.array(values, dtype=np.float32).tolist()


def dense_matrix(points) -> np.ndarray | None:
    """The unnamed dense vectors of a batch of PointStructs as one float32 matrix, or None when
    a point has anything else (named, sparse, multi, inference) or the lengths differ.

    A DenseVector holds only its packed ``data`` field, so its wire form is a tag, a length
    and the floats as little-endian bytes: serializing each (in C) and viewing the bytes as a
    matrix costs ~1.5 µs a point of 384 floats, where a list of Python floats per point and a
    matrix made of those lists cost ~15 µs (most of a gRPC upsert's conversion)."""
    parts = []
    for point in points:
        holder = point.vectors
        if holder.WhichOneof("vectors_options") != "vector" \
                or holder.vector.WhichOneof("vector") != "dense":
            return None
        parts.append(holder.vector.dense.SerializeToString())
    if not parts:
        return None
    size = len(parts[0])
    header = _packed_header(parts[0])
    if header is None or any(len(part) != size for part in parts):
        return None
    blob = np.frombuffer(b"".join(parts), np.uint8).reshape(len(parts), size)
    if len(parts) > 1 and not (blob[:, :header] == blob[0, :header]).all():
        return None
    return np.ascontiguousarray(blob[:, header:]).view("<f4").astype(np.float32, copy=False)


def _packed_header(wire: bytes) -> int | None:
    """Length of a serialized DenseVector's header (field 1, wire type 2, varint length) when
    the floats fill the rest, else None."""
    if not wire or wire[0] != 0x0A:
        return None
    length, shift, pos = 0, 0, 1
    while pos < len(wire) and shift < 35:
        byte = wire[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return pos if length and length % 4 == 0 and pos + length == len(wire) else None
        shift += 7
    return None


def query_floats(values) -> np.ndarray:
    """A plain nearest query's dense vector as float32 straight away: `Query.vector` takes an
    array (router.collection.search_plan), which spares a list of python floats per query."""
    return np.array(values, dtype=np.float32)


def _dense(d: pb.DenseVector) -> list:
    return floats(d.data)


def _sparse(s: pb.SparseVector) -> dict:
    return {"indices": list(s.indices), "values": floats(s.values)}


def _multi(m: pb.MultiDenseVector) -> list:
    return [floats(d.data) for d in m.vectors]


def document(d: pb.Document) -> dict:
    out: dict = {"text": d.text, "model": d.model}
    if len(d.options):
        out["options"] = payload(d.options)
    return out


def image(i: pb.Image) -> dict:
    out: dict = {"image": value(i.image), "model": i.model}
    if len(i.options):
        out["options"] = payload(i.options)
    return out


def inference_object(o: pb.InferenceObject) -> dict:
    out: dict = {"object": value(o.object), "model": o.model}
    if len(o.options):
        out["options"] = payload(o.options)
    return out


def vector(v: pb.Vector | pb.VectorOutput) -> Any:
    """Vector → a dense list, a sparse {indices, values}, a multi-vector (list of lists) or an
    inference object. The deprecated flat form (``data`` with ``indices`` or ``vectors_count``) is
    read when no oneof variant is set."""
    kind = v.WhichOneof("vector")
    if kind == "dense":
        return _dense(v.dense)
    if kind == "sparse":
        return _sparse(v.sparse)
    if kind == "multi_dense":
        return _multi(v.multi_dense)
    if kind == "document":
        return document(v.document)
    if kind == "image":
        return image(v.image)
    if kind == "object":
        return inference_object(v.object)
    # deprecated flat form
    data = floats(v.data)
    if v.HasField("indices"):
        return {"indices": list(v.indices.data), "values": data}
    if v.HasField("vectors_count"):
        count = v.vectors_count
        if count == 0 or not data:
            raise BadRequest(
                "Unable to convert to multi-dense vector: "
                f"empty multi-vector data with vectors count: {count}"
            )
        if len(data) % count:
            raise BadRequest(
                "Unable to convert to multi-dense vector: data length is not divisible by "
                f"vectors count. Data length: {len(data)}, vectors count: {count}"
            )
        dim = len(data) // count
        return [data[i : i + dim] for i in range(0, len(data), dim)]
    return data


def vectors(v: pb.Vectors | pb.VectorsOutput) -> Any:
    """Vectors → REST ``vector`` of a point: one unnamed vector or {name: vector}."""
    kind = v.WhichOneof("vectors_options")
    if kind == "vector":
        return vector(v.vector)
    if kind == "vectors":
        return {name: vector(item) for name, item in v.vectors.vectors.items()}
    raise BadRequest("No Vector Provided")


def vector_input(v: pb.VectorInput) -> Any:
    """VectorInput (queries) → a point id, a vector or an inference object."""
    kind = v.WhichOneof("variant")
    if kind == "id":
        return point_id(v.id)
    if kind == "dense":
        return _dense(v.dense)
    if kind == "sparse":
        return _sparse(v.sparse)
    if kind == "multi_dense":
        return _multi(v.multi_dense)
    if kind == "document":
        return document(v.document)
    if kind == "image":
        return image(v.image)
    if kind == "object":
        return inference_object(v.object)
    raise BadRequest("Malformed VectorInput: no variant is set")
