"""Named vectors added to and deleted from a live collection (Qdrant 1.19's
PUT / DELETE /collections/{name}/vectors/{vector_name}), through qdrant-client over REST and
gRPC: existing points keep their other vectors and payloads, gain the new vector when it is
written, and survive a restart of the node."""

from __future__ import annotations

from qdrant_client import models

from tests.support.api import error


def _seed(client, name: str) -> None:
    client.create_collection(name, vectors_config={
        "a": models.VectorParams(size=2, distance=models.Distance.DOT)})
    client.upsert(name, [models.PointStruct(id=i, vector={"a": [1.0, float(i)]},
                                            payload={"i": i}) for i in range(1, 4)])


def test_add_write_search_and_delete_named_vectors(client, collection_name, http):
    _seed(client, collection_name)
    result = client.create_vector_name(collection_name, "b", models.DenseVectorNameConfig(
        dense=models.DenseVectorConfig(size=3, distance=models.Distance.EUCLID)))
    assert result.status == models.UpdateStatus.COMPLETED
    client.create_vector_name(collection_name, "sp", models.SparseVectorNameConfig(
        sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)))
    info = client.get_collection(collection_name).config.params
    assert set(info.vectors) == {"a", "b"} and info.vectors["b"].size == 3
    assert set(info.sparse_vectors) == {"sp"}
    assert info.sparse_vectors["sp"].modifier == models.Modifier.IDF

    # old points: no "b" yet; writing it to one leaves the others alone
    (p1,) = client.retrieve(collection_name, [1], with_vectors=True)
    assert p1.vector == {"a": [1.0, 1.0]} and p1.payload == {"i": 1}
    client.update_vectors(collection_name, [models.PointVectors(id=2, vector={"b": [0, 0, 1]})])
    client.upsert(collection_name, [models.PointStruct(id=9, vector={
        "a": [0.0, 1.0], "b": [5.0, 5.0, 5.0],
        "sp": models.SparseVector(indices=[3], values=[1.0])})])
    hits = client.query_points(collection_name, query=[0.0, 0.0, 1.0], using="b", limit=5)
    assert [p.id for p in hits.points] == [2, 9]  # only the points that have "b"
    sparse = client.query_points(collection_name, using="sp", limit=5,
                                 query=models.SparseVector(indices=[3], values=[1.0]))
    assert [p.id for p in sparse.points] == [9]
    assert client.count(collection_name).count == 4

    client.delete_vector_name(collection_name, "b")
    info = client.get_collection(collection_name).config.params
    assert set(info.vectors) == {"a"}
    got = {p.id: p.vector for p in client.retrieve(collection_name, [2, 9], with_vectors=True)}
    assert got[2] == {"a": [1.0, 2.0]}
    assert set(got[9]) == {"a", "sp"}
    hits = client.query_points(collection_name, query=[1.0, 0.0], using="a", limit=10)
    assert sorted(p.id for p in hits.points) == [1, 2, 3, 9]


def test_refusals(http, client, collection_name):
    _seed(client, collection_name)
    path = f"/collections/{collection_name}/vectors"
    error(http.put(f"{path}/a", json={"dense": {"size": 2, "distance": "Dot"}}), 400,
          contains="already exists")
    error(http.put(f"{path}/c", json={"dense": {"size": 0, "distance": "Dot"}}), 422)
    error(http.put(f"{path}/c", json={"dense": {"size": 2, "distance": "Far"}}), 400,
          contains="unknown variant `Far`")
    error(http.put(f"{path}/c", json={"size": 2, "distance": "Dot"}), 400,
          contains="VectorNameConfig")
    error(http.delete(f"{path}/nope"), 400, contains="Not existing vector name error: nope")
    error(http.put(f"/collections/missing_{collection_name}/vectors/c",
                   json={"dense": {"size": 2, "distance": "Dot"}}), 404)
    assert client.count(collection_name).count == 3


def test_an_added_vector_survives_a_restart(tmp_path):
    from tests.support.node import Node

    node = Node(tmp_path / "node").start()
    try:
        node.wait_ready(60)
        client = node.client()
        _seed(client, "kept")
        client.create_vector_name("kept", "b", models.DenseVectorNameConfig(
            dense=models.DenseVectorConfig(size=3, distance=models.Distance.DOT)))
        client.update_vectors("kept", [models.PointVectors(id=3, vector={"b": [1, 2, 3]})])
        node.kill()
        node.start().wait_ready(60)
        client = node.client()
        got = {p.id: p.vector for p in client.retrieve("kept", [1, 3], with_vectors=True)}
        assert got == {1: {"a": [1.0, 1.0]}, 3: {"a": [1.0, 3.0], "b": [1.0, 2.0, 3.0]}}
    finally:
        node.kill()
