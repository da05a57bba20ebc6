"""gRPC upserts of unnamed dense vectors are read from the vectors' wire bytes
(``from_grpc.vectors.dense_matrix``); the matrix must equal the floats the client sent, and
anything that is not a plain dense vector of one length takes the general path."""

from __future__ import annotations

import numpy as np
from qdrant_client import grpc as qg

from router.api.grpc.from_grpc.point_ops import upsert_points
from router.api.grpc.from_grpc.vectors import dense_matrix


def _point(i: int, data: list[float]) -> qg.PointStruct:
    return qg.PointStruct(id=qg.PointId(num=i), payload={"n": qg.Value(integer_value=i)},
                          vectors=qg.Vectors(vector=qg.Vector(dense=qg.DenseVector(data=data))))


def test_matrix_equals_the_sent_floats():
    rows = np.random.default_rng(1).standard_normal((50, 384)).astype(np.float32)
    rows[0, 0] = np.float32(1e-38)  # a subnormal-adjacent value survives byte for byte
    points = [_point(i, row.tolist()) for i, row in enumerate(rows)]
    np.testing.assert_array_equal(dense_matrix(points), rows)
    body = upsert_points(qg.UpsertPoints(collection_name="c", points=points))
    assert body["batch"]["ids"] == list(range(50))
    assert body["batch"]["payloads"][3] == {"n": 3}


def test_other_shapes_take_the_general_path():
    assert dense_matrix([_point(0, [1.0, 2.0]), _point(1, [1.0, 2.0, 3.0])]) is None
    assert dense_matrix([_point(0, [])]) is None
    named = qg.PointStruct(id=qg.PointId(num=2), vectors=qg.Vectors(
        vectors=qg.NamedVectors(vectors={"a": qg.Vector(dense=qg.DenseVector(data=[1.0]))})))
    assert dense_matrix([_point(0, [1.0]), named]) is None
    body = upsert_points(qg.UpsertPoints(collection_name="c", points=[_point(0, [1.0]), named]))
    assert body["points"][1]["vector"] == {"a": [1.0]}
