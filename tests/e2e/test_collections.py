"""Collections: create, get info, list, exists, update (PATCH), delete; configs echoed exactly."""

from __future__ import annotations

import grpc
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.support import api
from tests.support.api import collection_info, create_collection, error, ok

DISTANCES = ["Cosine", "Dot", "Euclid", "Manhattan"]


def config_of(http, name) -> dict:
    return collection_info(http, name)["config"]


def patch_ok(http, name, body):
    """PATCH /collections/{name} with ``body``; the answer's ``result``."""
    return ok(http.patch(f"/collections/{name}", json=body))


# ---------------------------------------------------------------------------- info shape


def test_info_shape_for_new_collection(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 4, "distance": "Cosine"}})
    info = collection_info(http, collection_name)

    for key in ("status", "optimizer_status", "segments_count", "config", "payload_schema"):
        assert key in info, f"CollectionInfo lacks {key!r}: {info}"
    assert info["status"] == "green"
    assert info["optimizer_status"] == "ok"
    assert isinstance(info["segments_count"], int) and info["segments_count"] >= 0
    assert info["points_count"] == 0
    assert info["indexed_vectors_count"] == 0
    assert info["payload_schema"] == {}

    config = info["config"]
    for key in ("params", "hnsw_config", "optimizer_config", "wal_config", "quantization_config"):
        assert key in config, f"config lacks {key!r}: {config}"
    assert config["quantization_config"] is None  # present and null when unset
    assert "metadata" not in config  # never set -> omitted
    strict = config.get("strict_mode_config")
    assert strict is None or isinstance(strict, dict)

    params = config["params"]
    assert params["vectors"] == {"size": 4, "distance": "Cosine"}  # exactly as given
    assert params["shard_number"] == 1
    assert params["replication_factor"] == 1
    assert params["write_consistency_factor"] == 1
    assert isinstance(params["on_disk_payload"], bool)
    assert "sharding_method" not in params
    assert "sparse_vectors" not in params

    hnsw = config["hnsw_config"]
    for key in ("m", "ef_construct", "full_scan_threshold"):
        assert isinstance(hnsw[key], int), hnsw
    assert hnsw["m"] == 16 and hnsw["ef_construct"] == 100 and hnsw["full_scan_threshold"] == 10000

    opt = config["optimizer_config"]
    for key in ("default_segment_number", "flush_interval_sec"):
        assert isinstance(opt[key], int), opt
    assert opt["deleted_threshold"] == pytest.approx(0.2)
    assert opt["vacuum_min_vector_number"] == 1000

    wal = config["wal_config"]
    assert isinstance(wal["wal_capacity_mb"], int) and isinstance(wal["wal_segments_ahead"], int)


def test_info_via_client(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT)
    )
    info = client.get_collection(collection_name)
    assert info.status == models.CollectionStatus.GREEN
    assert info.optimizer_status == models.OptimizersStatusOneOf.OK
    assert info.points_count == 0
    assert info.config.params.vectors == models.VectorParams(size=4, distance=models.Distance.DOT)
    assert info.config.quantization_config is None


def test_points_count_follows_upserts(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 2, "distance": "Dot"}})
    api.upsert(http, collection_name, [{"id": i, "vector": [i, 1]} for i in range(7)])
    info = collection_info(http, collection_name)
    assert info["points_count"] == 7
    assert isinstance(info["indexed_vectors_count"], int)
    assert info["segments_count"] >= 1


# ---------------------------------------------------------------------------- create variants


@pytest.mark.parametrize("distance", DISTANCES)
def test_create_each_distance(http, collection_name, distance):
    create_collection(http, collection_name, {"vectors": {"size": 3, "distance": distance}})
    assert config_of(http, collection_name)["params"]["vectors"] == {
        "size": 3, "distance": distance
    }


def test_create_named_vectors_echoed_exactly(http, collection_name):
    vectors = {
        "image": {"size": 4, "distance": "Dot"},
        "text": {"size": 8, "distance": "Cosine", "on_disk": True},
        "small": {"size": 2, "distance": "Euclid", "on_disk": False, "datatype": "float16"},
        "tuned": {"size": 3, "distance": "Manhattan", "hnsw_config": {"m": 8, "ef_construct": 50}},
    }
    create_collection(http, collection_name, {"vectors": vectors})
    assert config_of(http, collection_name)["params"]["vectors"] == vectors


@pytest.mark.parametrize("datatype", ["float32", "float16", "uint8", "turbo4"])
def test_create_datatype(http, collection_name, datatype):
    vectors = {"size": 4, "distance": "Euclid", "datatype": datatype}
    create_collection(http, collection_name, {"vectors": vectors})
    assert config_of(http, collection_name)["params"]["vectors"] == vectors
    # Values exactly representable in every datatype come back unchanged.
    vector = [0, 1, 2, 255] if datatype == "uint8" else [0.5, 1, 2, 3]
    api.upsert(http, collection_name, [{"id": 1, "vector": vector}])
    (rec,) = api.retrieve(http, collection_name, [1])
    assert rec["vector"] == (
        [0.0, 1.0, 2.0, 255.0] if datatype == "uint8" else [0.5, 1.0, 2.0, 3.0]
    )


def test_turbo_quantization_and_memory_placement(http, client, collection_name):
    """Qdrant 1.19's TurboQuantization and Memory placement: accepted, echoed, searched
    (turbo is served as scalar int8 here); unknown values refused as Qdrant refuses them."""
    from qdrant_client import models

    create_collection(http, collection_name, {
        "vectors": {"size": 4, "distance": "Dot", "memory": "pinned", "datatype": "turbo4"},
        "quantization_config": {"turbo": {"bits": "bits2", "memory": "cached"}}})
    params = config_of(http, collection_name)
    assert params["params"]["vectors"]["memory"] == "pinned"
    assert params["quantization_config"] == {"turbo": {"bits": "bits2", "memory": "cached"}}
    api.upsert(http, collection_name, [{"id": i, "vector": [1.0, float(i), 0.0, 0.5]}
                                       for i in range(20)])
    hits = client.query_points(collection_name, query=[0.0, 1.0, 0.0, 0.0], limit=3)
    assert [p.id for p in hits.points] == [19, 18, 17]
    other = f"{collection_name}_client"  # the same through qdrant-client (REST or gRPC)
    client.create_collection(other, vectors_config=models.VectorParams(
        size=4, distance=models.Distance.DOT, datatype=models.Datatype.TURBO8,
        memory=models.Memory.COLD), quantization_config=models.TurboQuantization(
            turbo=models.TurboQuantQuantizationConfig(bits=models.TurboQuantBitSize.BITS4)))
    params = config_of(http, other)
    assert params["params"]["vectors"]["datatype"] == "turbo8"
    assert params["params"]["vectors"]["memory"] == "cold"
    assert params["quantization_config"] == {"turbo": {"bits": "bits4"}}
    client.delete_collection(other)
    for body, text in (
        ({"vectors": {"size": 4, "distance": "Dot", "memory": "warm"}}, "unknown variant `warm`"),
        ({"vectors": {"size": 4, "distance": "Dot"},
          "quantization_config": {"turbo": {"bits": "bits3"}}}, "unknown variant `bits3`"),
    ):
        resp = http.put(f"/collections/{collection_name}_bad", json=body)
        error(resp, 400, contains=text)


@pytest.mark.parametrize("on_disk", [True, False])
def test_create_on_disk_echoed(http, collection_name, on_disk):
    vectors = {"size": 4, "distance": "Dot", "on_disk": on_disk}
    create_collection(http, collection_name, {"vectors": vectors, "on_disk_payload": on_disk})
    params = config_of(http, collection_name)["params"]
    assert params["vectors"] == vectors
    assert params["on_disk_payload"] is on_disk


def test_create_sparse_vectors_config_stored(http, collection_name):
    sparse = {"keywords": {}, "splade": {"index": {"on_disk": False}}}
    create_collection(
        http, collection_name, {"vectors": {"size": 4, "distance": "Dot"}, "sparse_vectors": sparse}
    )
    assert config_of(http, collection_name)["params"]["sparse_vectors"] == sparse


def test_create_only_sparse_vectors(http, collection_name):
    create_collection(http, collection_name, {"sparse_vectors": {"text": {}}})
    params = config_of(http, collection_name)["params"]
    assert params["vectors"] == {}
    assert params["sparse_vectors"] == {"text": {}}


def test_create_sharding_and_replication_params(http, collection_name):
    create_collection(
        http,
        collection_name,
        {
            "vectors": {"size": 4, "distance": "Dot"},
            "shard_number": 3,
            "replication_factor": 1,
            "write_consistency_factor": 1,
        },
    )
    params = config_of(http, collection_name)["params"]
    assert params["shard_number"] == 3
    assert params["replication_factor"] == 1
    assert params["write_consistency_factor"] == 1


def test_create_with_metadata(http, collection_name):
    metadata = {"owner": "tests", "n": 1, "nested": {"list": [1, "two", None]}}
    create_collection(http, collection_name,
                      {"vectors": {"size": 4, "distance": "Dot"}, "metadata": metadata})
    assert config_of(http, collection_name)["metadata"] == metadata


def test_patch_metadata_merges_and_null_deletes_a_key(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 4, "distance": "Dot"},
                                              "metadata": {"a": 1, "b": 2, "c": 3}})
    ok(http.patch(f"/collections/{collection_name}",
                  json={"metadata": {"a": None, "b": 20, "d": 4}}))
    assert config_of(http, collection_name)["metadata"] == {"b": 20, "c": 3, "d": 4}


def test_create_with_hnsw_optimizers_wal(http, collection_name):
    create_collection(
        http,
        collection_name,
        {
            "vectors": {"size": 4, "distance": "Dot"},
            "hnsw_config": {"m": 32, "ef_construct": 64, "full_scan_threshold": 500},
            "optimizers_config": {"indexing_threshold": 1234, "default_segment_number": 2,
                                  "deleted_threshold": 0.3, "flush_interval_sec": 7},
            "wal_config": {"wal_capacity_mb": 16, "wal_segments_ahead": 1},
        },
    )
    config = config_of(http, collection_name)
    assert config["hnsw_config"]["m"] == 32
    assert config["hnsw_config"]["ef_construct"] == 64
    assert config["hnsw_config"]["full_scan_threshold"] == 500
    opt = config["optimizer_config"]
    assert opt["indexing_threshold"] == 1234
    assert opt["default_segment_number"] == 2
    assert opt["deleted_threshold"] == pytest.approx(0.3)
    assert opt["flush_interval_sec"] == 7
    assert config["wal_config"]["wal_capacity_mb"] == 16
    assert config["wal_config"]["wal_segments_ahead"] == 1


def test_create_with_quantization_alias_accepted(http, collection_name):
    create_collection(
        http,
        collection_name,
        {"vectors": {"size": 4, "distance": "Dot"}, "quantization": {"scalar": {"type": "int8"}}},
    )
    assert config_of(http, collection_name)["quantization_config"] == {"scalar": {"type": "int8"}}


def test_create_with_quantization_config_echoed(http, collection_name):
    quant = {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}
    create_collection(http, collection_name,
                      {"vectors": {"size": 4, "distance": "Dot"}, "quantization_config": quant})
    assert config_of(http, collection_name)["quantization_config"] == quant


def test_create_accepts_null_optional_fields(http, collection_name):
    create_collection(
        http,
        collection_name,
        {
            "vectors": {"size": 4, "distance": "Dot"},
            "shard_number": None,
            "sharding_method": None,
            "hnsw_config": None,
            "wal_config": None,
            "optimizers_config": None,
            "quantization_config": None,
            "metadata": None,
        },
    )
    config = config_of(http, collection_name)
    assert config["params"]["shard_number"] == 1
    assert config["quantization_config"] is None


def test_create_via_client_with_everything(client, http, collection_name):
    assert client.create_collection(
        collection_name,
        vectors_config={"a": models.VectorParams(size=4, distance=models.Distance.EUCLID)},
        sparse_vectors_config={"s": models.SparseVectorParams()},
        shard_number=2,
        replication_factor=1,
        write_consistency_factor=1,
        hnsw_config=models.HnswConfigDiff(m=20),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=777),
        wal_config=models.WalConfigDiff(wal_capacity_mb=8),
        metadata={"k": "v"},
    )
    info = client.get_collection(collection_name)
    assert info.config.params.vectors["a"].size == 4
    assert info.config.params.vectors["a"].distance == models.Distance.EUCLID
    assert info.config.params.shard_number == 2
    assert "s" in info.config.params.sparse_vectors
    assert info.config.hnsw_config.m == 20
    assert info.config.optimizer_config.indexing_threshold == 777
    assert info.config.wal_config.wal_capacity_mb == 8
    assert info.config.metadata == {"k": "v"}
    # and the raw echo of the vector params has no extra keys
    assert config_of(http, collection_name)["params"]["vectors"] == {
        "a": {"size": 4, "distance": "Euclid"}
    }


# ---------------------------------------------------------------------------- list / exists


def test_list_and_exists(http, client, make_name):
    a, b = make_name(), make_name()
    for name in (a, b):
        create_collection(http, name, {"vectors": {"size": 2, "distance": "Dot"}})
    result = ok(http.get("/collections"))
    assert set(result) == {"collections"}
    names = [c["name"] for c in result["collections"]]
    assert a in names and b in names
    for c in result["collections"]:
        assert set(c) == {"name"}, c

    assert ok(http.get(f"/collections/{a}/exists")) == {"exists": True}
    missing = make_name("missing")
    assert ok(http.get(f"/collections/{missing}/exists")) == {"exists": False}
    assert client.collection_exists(a) is True
    assert client.collection_exists(missing) is False
    assert {a, b} <= {c.name for c in client.get_collections().collections}


# ---------------------------------------------------------------------------- delete


def test_delete_collection(http, client, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 2, "distance": "Dot"}})
    api.upsert(http, collection_name, [{"id": 1, "vector": [1, 2]}])
    assert ok(http.delete(f"/collections/{collection_name}")) is True
    assert ok(http.get(f"/collections/{collection_name}/exists")) == {"exists": False}
    names = [c["name"] for c in ok(http.get("/collections"))["collections"]]
    assert collection_name not in names
    # Deleting again: 200 with result false.
    assert ok(http.delete(f"/collections/{collection_name}")) is False
    assert client.delete_collection(collection_name) is False
    # A re-created collection with the same name starts empty.
    create_collection(http, collection_name, {"vectors": {"size": 2, "distance": "Dot"}})
    assert api.count(http, collection_name) == 0


# ---------------------------------------------------------------------------- errors


def test_create_twice_is_409(http, client, transport, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 2, "distance": "Dot"}})
    resp = http.put(f"/collections/{collection_name}",
                    json={"vectors": {"size": 3, "distance": "Dot"}})
    error(resp, 409, contains=[collection_name, "already exists"])
    # each transport reports the conflict its own way: HTTP 409, gRPC ALREADY_EXISTS
    expected = grpc.RpcError if transport == "grpc" else UnexpectedResponse
    with pytest.raises(expected) as exc:
        client.create_collection(
            collection_name,
            vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT),
        )
    if transport == "grpc":
        assert exc.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "already exists" in exc.value.details()
    else:
        assert exc.value.status_code == 409
    # The original config is untouched.
    assert config_of(http, collection_name)["params"]["vectors"] == {"size": 2, "distance": "Dot"}


def test_get_missing_collection_is_404(http, make_name):
    name = make_name("missing")
    error(http.get(f"/collections/{name}"), 404,
          message=f"Not found: Collection `{name}` doesn't exist!")


def test_patch_missing_collection_is_404(http, make_name):
    name = make_name("missing")
    resp = http.patch(f"/collections/{name}",
                      json={"optimizers_config": {"indexing_threshold": 100}})
    error(resp, 404, message=f"Not found: Collection `{name}` doesn't exist!")


# ---------------------------------------------------------------------------- update (PATCH)


def test_patch_optimizers_hnsw_params(http, collection_name):
    create_collection(
        http,
        collection_name,
        {"vectors": {"size": 4, "distance": "Dot"}, "hnsw_config": {"m": 12},
         "on_disk_payload": True},
    )
    before = config_of(http, collection_name)

    assert patch_ok(http, collection_name,
                    {"optimizers_config": {"indexing_threshold": 4321}}) is True
    assert patch_ok(http, collection_name, {"hnsw_config": {"ef_construct": 123}}) is True
    assert patch_ok(http, collection_name, {"params": {"on_disk_payload": False}}) is True

    after = config_of(http, collection_name)
    assert after["optimizer_config"]["indexing_threshold"] == 4321
    assert after["hnsw_config"]["ef_construct"] == 123
    assert after["hnsw_config"]["m"] == 12  # untouched fields keep their values
    assert after["params"]["on_disk_payload"] is False
    # nothing else moved
    for key in ("deleted_threshold", "vacuum_min_vector_number", "default_segment_number",
                "flush_interval_sec"):
        assert after["optimizer_config"][key] == before["optimizer_config"][key]
    full_scan_threshold = before["hnsw_config"]["full_scan_threshold"]
    assert after["hnsw_config"]["full_scan_threshold"] == full_scan_threshold
    assert after["params"]["vectors"] == before["params"]["vectors"]
    assert after["wal_config"] == before["wal_config"]


def test_patch_per_vector_settings_unnamed(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 4, "distance": "Cosine"}})
    body = {"vectors": {"": {"hnsw_config": {"m": 8}, "on_disk": True}}}
    assert ok(http.patch(f"/collections/{collection_name}", json=body)) is True
    assert config_of(http, collection_name)["params"]["vectors"] == {
        "size": 4, "distance": "Cosine", "hnsw_config": {"m": 8}, "on_disk": True,
    }


def test_patch_per_vector_settings_named(http, client, collection_name):
    create_collection(
        http,
        collection_name,
        {"vectors": {"a": {"size": 4, "distance": "Dot"},
                     "b": {"size": 2, "distance": "Euclid", "hnsw_config": {"m": 4}}}},
    )
    client.update_collection(
        collection_name,
        vectors_config={"b": models.VectorParamsDiff(
            hnsw_config=models.HnswConfigDiff(ef_construct=40), on_disk=True)},
    )
    vectors = config_of(http, collection_name)["params"]["vectors"]
    assert vectors["a"] == {"size": 4, "distance": "Dot"}
    assert vectors["b"] == {"size": 2, "distance": "Euclid",
                            "hnsw_config": {"m": 4, "ef_construct": 40}, "on_disk": True}


def test_patch_unknown_vector_name_is_400(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"a": {"size": 4, "distance": "Dot"}}})
    resp = http.patch(f"/collections/{collection_name}",
                      json={"vectors": {"zzz": {"on_disk": True}}})
    error(resp, 400, prefix="Wrong input: ")
    assert config_of(http, collection_name)["params"]["vectors"] == {
        "a": {"size": 4, "distance": "Dot"}
    }


def test_patch_metadata_merges(http, client, collection_name):
    create_collection(
        http, collection_name,
        {"vectors": {"size": 2, "distance": "Dot"}, "metadata": {"a": 1, "b": {"x": 1}}},
    )
    assert patch_ok(http, collection_name, {"metadata": {"b": {"y": 2}, "c": "new"}}) is True
    assert config_of(http, collection_name)["metadata"] == {"a": 1, "b": {"y": 2}, "c": "new"}
    client.update_collection(collection_name, metadata={"a": 5})
    assert client.get_collection(collection_name).config.metadata == {
        "a": 5, "b": {"y": 2}, "c": "new"
    }


def test_patch_metadata_on_collection_without_metadata(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 2, "distance": "Dot"}})
    assert patch_ok(http, collection_name, {"metadata": {"k": [1, 2]}}) is True
    assert config_of(http, collection_name)["metadata"] == {"k": [1, 2]}


def test_patch_via_client(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT)
    )
    assert client.update_collection(
        collection_name,
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=2000),
        hnsw_config=models.HnswConfigDiff(m=24),
        collection_params=models.CollectionParamsDiff(on_disk_payload=False),
    )
    config = client.get_collection(collection_name).config
    assert config.optimizer_config.indexing_threshold == 2000
    assert config.hnsw_config.m == 24
    assert config.params.on_disk_payload is False


def test_patch_keeps_points(http, collection_name):
    create_collection(http, collection_name, {"vectors": {"size": 2, "distance": "Dot"}})
    api.upsert(http, collection_name,
               [{"id": i, "vector": [i, 0.5], "payload": {"i": i}} for i in range(10)])
    patch_ok(http, collection_name,
             {"hnsw_config": {"m": 4}, "optimizers_config": {"indexing_threshold": 10}})
    assert api.count(http, collection_name) == 10
    recs = api.retrieve(http, collection_name, [3])
    assert recs[0]["payload"] == {"i": 3}
