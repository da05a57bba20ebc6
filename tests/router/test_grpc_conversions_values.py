"""The gRPC conversions on their own, without a server, one file per message family
(``test_grpc_conversions_*``); this one: payload values, ids and vectors.

Two oracles: our own reverse conversion (python → protobuf → bytes → python must be the identity),
and qdrant-client's: what the client puts on the wire for a REST model must become exactly that
model's REST JSON on our side, and what we answer must read back as the REST answer would.
"""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import (
    GrpcToRest,
    RestToGrpc,
    json_to_value,
    value_to_json,
)
from qdrant_client.http import models as m

from node.errors import BadRequest
from node.shard_search import PointRecord
from router.api.grpc.from_grpc import point_ops as from_point_ops
from router.api.grpc.from_grpc import values as from_values
from router.api.grpc.from_grpc import vectors as from_vectors
from router.api.grpc.to_grpc import records as to_records
from router.api.grpc.to_grpc import values as to_values
from router.collection.collection import UpdateResult
from tests.router.grpc_conversions_support import _config, rest_json, same_typed, wire

# -- payload values ----------------------------------------------------------------------------
PAYLOADS = [
    {"s": "text", "empty": "", "unicode": "żółw 🐢"},
    {"i": 1, "zero": 0, "neg": -5, "big": 2**53 + 1, "max": 2**63 - 1, "min": -(2**63)},
    {"f": 1.5, "whole_float": 2.0, "tiny": 1e-300, "neg": -0.25},
    {"t": True, "f": False, "n": None},
    {"nested": {"a": {"b": {"c": [1, 2.5, "x", None, True, {"d": []}]}}}, "empty_obj": {}},
    {"arr": [[1, 2], [3, [4, {"k": 9007199254740993}]]], "empty_arr": []},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_round_trip_keeps_kinds(payload):
    sent = pb.PointStruct(payload=to_values.payload(payload))
    back = from_values.payload(wire(sent).payload)
    assert same_typed(back, payload)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_interoperates_with_qdrant_client(payload):
    # the client's encoding read by us, our encoding read by the client
    from_client = {k: json_to_value(v) for k, v in payload.items()}
    assert same_typed(from_values.payload(from_client), payload)
    assert same_typed({k: value_to_json(v) for k, v in to_values.payload(payload).items()}, payload)


def test_integers_are_integer_values_and_floats_double_values():
    assert to_values.value(3).WhichOneof("kind") == "integer_value"
    assert to_values.value(3.0).WhichOneof("kind") == "double_value"
    assert to_values.value(True).WhichOneof("kind") == "bool_value"
    assert to_values.value(None).WhichOneof("kind") == "null_value"
    assert from_values.value(pb.Value(integer_value=2**62)) == 2**62
    assert type(from_values.value(pb.Value(double_value=2.0))) is float


def test_unsigned_above_int64_becomes_a_double_as_json_number():
    v = to_values.value(2**64 - 1)
    assert v.WhichOneof("kind") == "double_value"
    assert math.isclose(v.double_value, 2.0**64)


def test_struct_and_value_with_nothing_set():
    assert from_values.value(pb.Value()) is None
    struct = to_values.struct({"a": [1, {"b": None}]})
    assert from_values.payload(wire(struct).fields) == {"a": [1, {"b": None}]}


# -- ids ---------------------------------------------------------------------------------------
# a fixed uuid: the test ids must be the same in every xdist worker's collection
@pytest.mark.parametrize("pid", [0, 1, 2**53 + 1, 2**64 - 1, str(uuid.UUID(int=2**127 + 99))])
def test_point_id_round_trip(pid):
    msg = wire(to_values.point_id(pid))
    assert from_values.point_id(msg) == pid
    assert GrpcToRest.convert_point_id(msg) == pid
    assert from_values.point_id(RestToGrpc.convert_extended_point_id(pid)) == pid


def test_empty_point_id_is_bad_request():
    with pytest.raises(BadRequest):
        from_values.point_id(pb.PointId())


# -- vectors: input ----------------------------------------------------------------------------
VECTOR_STRUCTS = [
    [0.5, -1.0, 2.25],
    [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
    {"image": [0.25, 0.5], "text": [1.0]},
    {"sparse": m.SparseVector(indices=[7, 1, 100], values=[0.5, 1.5, -2.0])},
    {
        "multi": [[1.0, 0.0], [0.0, 1.0]],
        "dense": [3.0],
        "sp": m.SparseVector(indices=[], values=[]),
    },
    {},
]


def _rest_vector_json(struct):
    if isinstance(struct, dict):
        return {k: rest_json(v) if isinstance(v, m.SparseVector) else v for k, v in struct.items()}
    return struct


@pytest.mark.parametrize("struct", VECTOR_STRUCTS, ids=range(len(VECTOR_STRUCTS)))
def test_vectors_from_the_client_arrive_as_rest_json(struct):
    sent = wire(
        pb.PointStruct(id=pb.PointId(num=1), vectors=RestToGrpc.convert_vector_struct(struct))
    )
    point = from_point_ops.point_struct(sent)
    assert point == {"id": 1, "vector": _rest_vector_json(struct), "payload": {}}


def test_document_image_and_object_vectors():
    vec = pb.Vector(
        document=pb.Document(text="hello", model="bm25", options={"lang": json_to_value("en")})
    )
    assert from_vectors.vector(vec) == {"text": "hello", "model": "bm25", "options": {"lang": "en"}}
    img = pb.Vector(image=pb.Image(image=json_to_value("http://x/y.png"), model="clip"))
    assert from_vectors.vector(img) == {"image": "http://x/y.png", "model": "clip"}
    obj = pb.Vector(object=pb.InferenceObject(object=json_to_value({"a": 1}), model="m"))
    assert from_vectors.vector(obj) == {"object": {"a": 1}, "model": "m"}


def test_deprecated_flat_vector_forms():
    assert from_vectors.vector(pb.Vector(data=[1.0, 2.0])) == [1.0, 2.0]
    sparse = pb.Vector(data=[0.5, 1.5], indices=pb.SparseIndices(data=[3, 9]))
    assert from_vectors.vector(sparse) == {"indices": [3, 9], "values": [0.5, 1.5]}
    multi = pb.Vector(data=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vectors_count=3)
    assert from_vectors.vector(multi) == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    # the oneof wins over the deprecated fields
    assert from_vectors.vector(pb.Vector(data=[9.0], dense=pb.DenseVector(data=[1.0]))) == [1.0]
    with pytest.raises(BadRequest, match="not divisible"):
        from_vectors.vector(pb.Vector(data=[1.0, 2.0, 3.0], vectors_count=2))
    with pytest.raises(BadRequest, match="Unable to convert to multi-dense"):
        from_vectors.vector(pb.Vector(data=[], vectors_count=0))


def test_point_without_vectors_and_empty_vectors():
    assert from_point_ops.point_struct(pb.PointStruct(id=pb.PointId(uuid="x"))) == {
        "id": "x",
        "payload": {},
    }
    with pytest.raises(BadRequest, match="No Vector Provided"):
        from_vectors.vectors(pb.Vectors())


VECTOR_INPUTS = [
    7,
    str(uuid.UUID(int=5)),
    [1.0, 2.0],
    [[1.0], [2.0]],
    m.SparseVector(indices=[1], values=[0.5]),
    m.Document(text="t", model="mod"),
]


@pytest.mark.parametrize("vi", VECTOR_INPUTS, ids=range(len(VECTOR_INPUTS)))
def test_vector_input_from_the_client(vi):
    got = from_vectors.vector_input(wire(RestToGrpc.convert_vector_input(vi)))
    assert got == (rest_json(vi) if hasattr(vi, "model_dump") else vi)


# -- vectors: output ---------------------------------------------------------------------------
def _assert_no_deprecated_fields(vectors_output: pb.VectorsOutput):
    outputs = (
        [vectors_output.vector]
        if vectors_output.WhichOneof("vectors_options") == "vector"
        else list(vectors_output.vectors.vectors.values())
    )
    for out in outputs:
        assert out.WhichOneof("vector") is not None
        assert (
            len(out.data) == 0 and not out.HasField("indices") and not out.HasField("vectors_count")
        )


def test_single_unnamed_vector_output():
    config = _config({"size": 3, "distance": "Dot"})
    record = PointRecord(
        5, 2, payload={"a": 1}, vectors={"": np.array([1, 2, 3], dtype=np.float16)}
    )
    msg = wire(to_records.retrieved_point(config, record))
    _assert_no_deprecated_fields(msg.vectors)
    rec = GrpcToRest.convert_retrieved_point(msg)
    assert rec.id == 5 and rec.payload == {"a": 1} and rec.vector == [1.0, 2.0, 3.0]
    # and our own reading of what we wrote gives the same vector
    assert from_vectors.vectors(msg.vectors) == [1.0, 2.0, 3.0]


def test_named_dense_sparse_and_multi_vector_output():
    config = _config(
        {"a": {"size": 2, "distance": "Dot"}, "b": {"size": 2, "distance": "Dot"}}, ("s",)
    )
    vectors = {
        "a": np.array([0.5, 0.25], dtype=np.float32),
        "b": np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32),
        "s": (np.array([2, 9], dtype=np.uint32), np.array([0.5, 1.5], dtype=np.float32)),
    }
    record = PointRecord(str(uuid.UUID(int=1)), 4, payload=None, vectors=vectors, score=0.75)
    msg = wire(pb.ScoredPoint(**to_records.scored_point(config, record)))
    _assert_no_deprecated_fields(msg.vectors)
    scored = GrpcToRest.convert_scored_point(msg)
    assert scored.id == str(uuid.UUID(int=1)) and scored.version == 4 and scored.score == 0.75
    assert scored.payload is None
    assert scored.vector == {
        "a": [0.5, 0.25],
        "b": [[1.0, 2.0], [3.0, 4.0]],
        "s": m.SparseVector(indices=[2, 9], values=[0.5, 1.5]),
    }
    assert from_vectors.vectors(msg.vectors) == {
        "a": [0.5, 0.25],
        "b": [[1.0, 2.0], [3.0, 4.0]],
        "s": {"indices": [2, 9], "values": [0.5, 1.5]},
    }


def test_record_without_vectors_has_no_vectors_field():
    config = _config({"size": 2, "distance": "Dot"})
    msg = wire(to_records.retrieved_point(config, PointRecord(1, 1, payload={}, vectors=None)))
    assert not msg.HasField("vectors")
    assert GrpcToRest.convert_retrieved_point(msg).vector is None


def test_update_result_statuses():
    done = GrpcToRest.convert_update_result(
        wire(to_records.update_result(UpdateResult(7, "completed")))
    )
    assert done == m.UpdateResult(operation_id=7, status=m.UpdateStatus.COMPLETED)
    ack = GrpcToRest.convert_update_result(
        wire(to_records.update_result(UpdateResult(8, "acknowledged")))
    )
    assert ack.status == m.UpdateStatus.ACKNOWLEDGED and ack.operation_id == 8
