"""The gRPC conversions of collections: create and update bodies, the collection info read
back through qdrant-client, alias actions, and payload indexes (the create request, and the
payload schema in the collection info)."""

from __future__ import annotations

import pytest
from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import GrpcToRest, RestToGrpc
from qdrant_client.http import models as m

from node.errors import BadRequest, FormatError
from router.api.grpc.from_grpc import collection_ops as from_collection_ops
from router.api.grpc.to_grpc import configs as to_configs
from router.collection import config as collection_config
from router.operations.updates import field_index as _field_index
from tests.router.grpc_conversions_support import (
    INDEX_SCHEMAS,
    _create_index_request,
    as_f32,
    rest_json,
    same_typed,
    wire,
)


# -- collections -------------------------------------------------------------------------------
def _create_request(body: m.CreateCollection) -> pb.CreateCollection:
    """The CreateCollection qdrant-client sends for create_collection(**fields of body)."""
    kw = dict(collection_name="c")
    if body.vectors is not None:
        kw["vectors_config"] = RestToGrpc.convert_vectors_config(body.vectors)
    if body.sparse_vectors is not None:
        kw["sparse_vectors_config"] = RestToGrpc.convert_sparse_vector_config(body.sparse_vectors)
    if body.hnsw_config is not None:
        kw["hnsw_config"] = RestToGrpc.convert_hnsw_config_diff(body.hnsw_config)
    if body.optimizers_config is not None:
        kw["optimizers_config"] = RestToGrpc.convert_optimizers_config_diff(body.optimizers_config)
    if body.wal_config is not None:
        kw["wal_config"] = RestToGrpc.convert_wal_config_diff(body.wal_config)
    if body.quantization_config is not None:
        kw["quantization_config"] = RestToGrpc.convert_quantization_config(body.quantization_config)
    if body.strict_mode_config is not None:
        kw["strict_mode_config"] = RestToGrpc.convert_strict_mode_config(body.strict_mode_config)
    if body.metadata is not None:
        kw["metadata"] = RestToGrpc.convert_payload(body.metadata)
    if body.sharding_method is not None:
        kw["sharding_method"] = RestToGrpc.convert_sharding_method(body.sharding_method)
    for key in (
        "shard_number",
        "replication_factor",
        "write_consistency_factor",
        "on_disk_payload",
    ):
        if getattr(body, key) is not None:
            kw[key] = getattr(body, key)
    return pb.CreateCollection(**kw)


CREATE_BODIES = {
    "single": m.CreateCollection(vectors=m.VectorParams(size=4, distance=m.Distance.COSINE)),
    "named": m.CreateCollection(
        vectors={
            "a": m.VectorParams(
                size=2,
                distance=m.Distance.DOT,
                datatype=m.Datatype.FLOAT16,
                on_disk=True,
                hnsw_config=m.HnswConfigDiff(m=8),
            ),
            "b": m.VectorParams(
                size=3,
                distance=m.Distance.EUCLID,
                multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
                quantization_config=m.BinaryQuantization(
                    binary=m.BinaryQuantizationConfig(always_ram=True)
                ),
            ),
        }
    ),
    "everything": m.CreateCollection(
        vectors={"v": m.VectorParams(size=2, distance=m.Distance.MANHATTAN)},
        sparse_vectors={
            "s": m.SparseVectorParams(
                modifier=m.Modifier.IDF, index=m.SparseIndexParams(full_scan_threshold=100)
            ),
            "t": m.SparseVectorParams(),
        },
        shard_number=2,
        replication_factor=1,
        write_consistency_factor=1,
        on_disk_payload=False,
        sharding_method=m.ShardingMethod.AUTO,
        hnsw_config=m.HnswConfigDiff(m=32, ef_construct=200, full_scan_threshold=5000, payload_m=4),
        optimizers_config=m.OptimizersConfigDiff(
            deleted_threshold=0.3,
            indexing_threshold=0,
            max_optimization_threads=2,
            flush_interval_sec=10,
        ),
        wal_config=m.WalConfigDiff(wal_capacity_mb=64, wal_segments_ahead=1),
        quantization_config=m.ScalarQuantization(
            scalar=m.ScalarQuantizationConfig(
                type=m.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        ),
        strict_mode_config=m.StrictModeConfig(
            enabled=True,
            max_query_limit=100,
            multivector_config={"v": m.StrictModeMultivector(max_vectors=5)},
        ),
        metadata={"owner": "me", "n": 1, "nested": {"x": [1, 2.5]}},
    ),
    "product_quantization": m.CreateCollection(
        vectors=m.VectorParams(size=8, distance=m.Distance.DOT),
        quantization_config=m.ProductQuantization(
            product=m.ProductQuantizationConfig(compression=m.CompressionRatio.X16)
        ),
    ),
}


@pytest.mark.parametrize("name", list(CREATE_BODIES))
def test_create_collection_arrives_as_rest_json(name):
    body = CREATE_BODIES[name]
    got_name, got = from_collection_ops.create_collection(wire(_create_request(body)))
    assert got_name == "c"
    assert got == rest_json(body)


@pytest.mark.parametrize("name", list(CREATE_BODIES))
def test_collection_config_round_trip_through_the_client(name):
    """What GET /collections/{name} answers over REST is what the client reads over gRPC."""
    config = collection_config.parse_create(rest_json(CREATE_BODIES[name]))
    info = {
        "status": "green",
        "optimizer_status": "ok",
        "indexed_vectors_count": 3,
        "points_count": 10,
        "segments_count": 2,
        "config": config,
        "payload_schema": {},
    }
    over_grpc = GrpcToRest.convert_collection_info(wire(to_configs.collection_info(info)))
    over_rest = m.CollectionInfo.model_validate(info)
    assert as_f32(rest_json(over_grpc)) == as_f32(rest_json(over_rest))


def test_optimizer_error_status_and_payload_schema():
    config = collection_config.parse_create({"vectors": {"size": 1, "distance": "Dot"}})
    info = {
        "status": "yellow",
        "optimizer_status": {"error": "disk full"},
        "segments_count": 1,
        "points_count": 0,
        "indexed_vectors_count": 0,
        "config": config,
        "payload_schema": {
            "city": {
                "data_type": "keyword",
                "points": 3,
                "params": {"type": "keyword", "is_tenant": True},
            }
        },
    }
    over_grpc = GrpcToRest.convert_collection_info(wire(to_configs.collection_info(info)))
    assert rest_json(over_grpc) == rest_json(m.CollectionInfo.model_validate(info))


def test_update_collection_body():
    req = RestToGrpc.convert_update_collection(
        m.UpdateCollection(
            vectors={
                "a": m.VectorParamsDiff(hnsw_config=m.HnswConfigDiff(ef_construct=50), on_disk=True)
            },
            optimizers_config=m.OptimizersConfigDiff(indexing_threshold=100),
            params=m.CollectionParamsDiff(replication_factor=2),
            hnsw_config=m.HnswConfigDiff(m=4),
            quantization_config=m.Disabled.DISABLED,
            sparse_vectors={"s": m.SparseVectorParams(modifier=m.Modifier.NONE)},
            strict_mode_config=m.StrictModeConfig(enabled=False),
            metadata={"k": "v"},
        ),
        "c",
    )
    name, body = from_collection_ops.update_collection(wire(req))
    assert name == "c"
    assert body == {
        "vectors": {"a": {"hnsw_config": {"ef_construct": 50}, "on_disk": True}},
        "optimizers_config": {"indexing_threshold": 100},
        "params": {"replication_factor": 2},
        "hnsw_config": {"m": 4},
        "quantization_config": "Disabled",
        "sparse_vectors": {"s": {"modifier": "none"}},
        "strict_mode_config": {"enabled": False},
        "metadata": {"k": "v"},
    }


def test_update_of_the_unnamed_vector_is_keyed_by_empty_name():
    diff = {"": m.VectorParamsDiff(hnsw_config=m.HnswConfigDiff(m=0))}
    req = RestToGrpc.convert_update_collection(m.UpdateCollection(vectors=diff), "c")
    assert req.vectors_config.WhichOneof("config") == "params"
    _, body = from_collection_ops.update_collection(wire(req))
    assert body == {"vectors": {"": {"hnsw_config": {"m": 0}}}}
    # and the shared PATCH logic applies it to the unnamed vector
    config = collection_config.parse_create({"vectors": {"size": 2, "distance": "Dot"}})
    updated = collection_config.apply_update(config, body)
    assert updated["params"]["vectors"]["hnsw_config"] == {"m": 0}


def test_alias_actions():
    req = pb.ChangeAliases(
        actions=[
            RestToGrpc.convert_alias_operations(
                m.CreateAliasOperation(
                    create_alias=m.CreateAlias(collection_name="c", alias_name="a")
                )
            ),
            RestToGrpc.convert_alias_operations(
                m.RenameAliasOperation(
                    rename_alias=m.RenameAlias(old_alias_name="a", new_alias_name="b")
                )
            ),
            RestToGrpc.convert_alias_operations(
                m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name="b"))
            ),
        ]
    )
    assert from_collection_ops.alias_actions(wire(req)) == [
        {"kind": "create", "collection_name": "c", "alias_name": "a"},
        {"kind": "rename", "old_alias_name": "a", "new_alias_name": "b"},
        {"kind": "delete", "alias_name": "b"},
    ]
    with pytest.raises(BadRequest):
        from_collection_ops.alias_actions(pb.ChangeAliases(actions=[pb.AliasOperations()]))


# -- payload indexes ---------------------------------------------------------------------------
def _schema_json(schema):
    return schema.value if isinstance(schema, m.PayloadSchemaType) else rest_json(schema)


@pytest.mark.parametrize("name", list(INDEX_SCHEMAS))
def test_create_field_index_arrives_as_the_rest_body(name):
    schema = INDEX_SCHEMAS[name]
    collection, body = from_collection_ops.create_field_index(_create_index_request(schema))
    assert collection == "c"
    assert same_typed(body, {"field_name": "f", "field_schema": _schema_json(schema)})
    # and the shared parse remembers whether the schema came as an object, as for REST (stop
    # words by language included: a language alone arrives as its name, as REST gives it)
    field, parsed = _field_index(body)
    assert field == "f"
    assert parsed.pop("_given_as_object", False) is (not isinstance(schema, m.PayloadSchemaType))
    expected = _schema_json(schema)
    assert parsed == ({"type": expected} if isinstance(expected, str) else expected)


def test_create_field_index_combinations_rest_cannot_say():
    keyword = pb.PayloadIndexParams(keyword_index_params=pb.KeywordIndexParams(is_tenant=True))
    with pytest.raises(BadRequest, match=r"field_type \(Integer\) and field_index_params"):
        from_collection_ops.create_field_index(
            pb.CreateFieldIndexCollection(
                field_name="f", field_type=pb.FieldType.FieldTypeInteger, field_index_params=keyword
            )
        )
    with pytest.raises(BadRequest, match="field type is missing"):
        from_collection_ops.create_field_index(
            pb.CreateFieldIndexCollection(field_name="f", field_index_params=keyword)
        )
    with pytest.raises(BadRequest, match="cannot convert field_type"):
        from_collection_ops.create_field_index(
            pb.CreateFieldIndexCollection(field_name="f", field_type=99)
        )
    # params with no variant set: just the type
    _, body = from_collection_ops.create_field_index(
        pb.CreateFieldIndexCollection(
            field_name="f",
            field_type=pb.FieldType.FieldTypeBool,
            field_index_params=pb.PayloadIndexParams(),
        )
    )
    assert body == {"field_name": "f", "field_schema": "bool"}


def test_create_field_index_errors_are_the_rest_errors():
    _, body = from_collection_ops.create_field_index(pb.CreateFieldIndexCollection(field_name="f"))
    assert body == {"field_name": "f"}
    with pytest.raises(BadRequest, match="Can't auto-detect field type for `f`"):
        _field_index(body)
    _, body = from_collection_ops.create_field_index(
        pb.CreateFieldIndexCollection(field_type=pb.FieldType.FieldTypeKeyword)
    )
    with pytest.raises(FormatError, match="missing field `field_name`"):
        _field_index(body)


def test_delete_field_index():
    req = pb.DeleteFieldIndexCollection(collection_name="c", field_name="a.b", wait=True)
    assert from_collection_ops.delete_field_index(wire(req)) == ("c", "a.b")


def _index_info(schemas: dict) -> dict:
    config = collection_config.parse_create({"vectors": {"size": 1, "distance": "Dot"}})
    return {
        "status": "green",
        "optimizer_status": "ok",
        "segments_count": 1,
        "points_count": 3,
        "indexed_vectors_count": 0,
        "config": config,
        "payload_schema": schemas,
    }


def test_payload_schema_of_every_kind_reads_back_as_over_rest():
    schemas = {}
    for i, (name, schema) in enumerate(INDEX_SCHEMAS.items()):
        expected = _schema_json(schema)
        if isinstance(expected, str):
            schemas[name] = {"data_type": expected, "points": i}
        else:
            schemas[name] = {"data_type": expected["type"], "params": expected, "points": i}
    info = _index_info(schemas)
    msg = wire(to_configs.collection_info(info))
    assert msg.payload_schema["keyword"].data_type == pb.PayloadSchemaType.Keyword
    assert not msg.payload_schema["keyword"].HasField("params")
    assert msg.payload_schema["uuid_params"].params.HasField("uuid_index_params")
    over_grpc = rest_json(GrpcToRest.convert_collection_info(msg))
    # protobuf cannot tell an empty repeated field from a missing one: the client reads back
    # `languages: []` for a stopwords set with custom words only
    stopwords = over_grpc["payload_schema"]["text_custom_stopwords"]["params"]["stopwords"]
    assert stopwords.pop("languages") == []
    assert over_grpc == rest_json(m.CollectionInfo.model_validate(info))


def test_payload_schema_flags_protobuf_cannot_say():
    info = _index_info(
        {
            "k": {
                "data_type": "keyword",
                "params": {"type": "keyword", "prefix": False},
                "points": 1,
            },
            "t": {"data_type": "text", "params": {"type": "text", "scoring": True}, "points": 2},
            "u": {"data_type": "text", "params": {"type": "text", "scoring": False}, "points": 0},
        }
    )
    schema = wire(to_configs.collection_info(info)).payload_schema
    assert not schema["k"].params.keyword_index_params.HasField("prefix")
    assert schema["t"].params.text_index_params.scoring.type == pb.TextScoringType.Bm25
    assert not schema["u"].params.text_index_params.HasField("scoring")
    assert schema["t"].points == 2 and schema["u"].HasField("points")
