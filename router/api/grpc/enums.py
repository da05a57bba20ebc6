"""The enum tables both directions of the gRPC conversions share: for each protobuf enum, the
name a REST body gives each number (``from_grpc`` reads requests with ``ENUM_NAMES``, ``to_grpc``
writes responses with its reverse, ``ENUM_NUMBERS``)."""

from __future__ import annotations

# -- enum names: protobuf enum full name → {number: REST name} ------------------------------------
# (ENUM_NUMBERS below reverses them for the responses)
ENUM_NAMES: dict[str, dict[int, str]] = {
    "qdrant.Distance": {1: "Cosine", 2: "Euclid", 3: "Dot", 4: "Manhattan"},
    "qdrant.Datatype": {
        1: "float32",
        2: "uint8",
        3: "float16",
        4: "turbo4",
        5: "turbo8",
        6: "turbo16",
    },
    "qdrant.Memory": {1: "cold", 2: "cached", 3: "pinned"},
    "qdrant.Modifier": {0: "none", 1: "idf"},
    "qdrant.MultiVectorComparator": {0: "max_sim"},
    "qdrant.ShardingMethod": {0: "auto", 1: "custom"},
    "qdrant.QuantizationType": {1: "int8"},
    "qdrant.CompressionRatio": {0: "x4", 1: "x8", 2: "x16", 3: "x32", 4: "x64"},
    "qdrant.BinaryQuantizationEncoding": {0: "one_bit", 1: "two_bits", 2: "one_and_half_bits"},
    "qdrant.BinaryQuantizationQueryEncoding.Setting": {
        0: "default",
        1: "binary",
        2: "scalar4bits",
        3: "scalar8bits",
    },
    "qdrant.TurboQuantBitSize": {0: "bits1", 1: "bits1_5", 2: "bits2", 3: "bits4", 4: "bits8"},
    "qdrant.MaxOptimizationThreads.Setting": {0: "auto"},
    "qdrant.UpdateMode": {0: "upsert", 1: "insert_only", 2: "update_only"},
    "qdrant.Direction": {0: "asc", 1: "desc"},
    "qdrant.RecommendStrategy": {0: "average_vector", 1: "best_score", 2: "sum_scores"},
    "qdrant.Fusion": {0: "rrf", 1: "dbsf"},
    "qdrant.Sample": {0: "random"},
    "qdrant.ReadConsistencyType": {0: "all", 1: "majority", 2: "quorum"},
    "qdrant.WriteOrderingType": {0: "weak", 1: "medium", 2: "strong"},
    "qdrant.CollectionStatus": {1: "green", 2: "yellow", 3: "red", 4: "grey"},
    "qdrant.PayloadSchemaType": {
        1: "keyword",
        2: "integer",
        3: "float",
        4: "geo",
        5: "text",
        6: "bool",
        7: "datetime",
        8: "uuid",
    },
    "qdrant.FieldType": {
        0: "keyword",
        1: "integer",
        2: "float",
        3: "geo",
        4: "text",
        5: "bool",
        6: "datetime",
        7: "uuid",
    },
    "qdrant.TokenizerType": {1: "prefix", 2: "whitespace", 3: "word", 4: "multilingual", 5: "code"},
    "qdrant.TextScoringType": {0: "bm25"},
    "qdrant.ReplicaState": {
        0: "Active",
        1: "Dead",
        2: "Partial",
        3: "Initializing",
        4: "Listener",
        5: "PartialSnapshot",
        6: "Recovery",
        7: "Resharding",
        8: "ReshardingScaleDown",
        9: "ActiveRead",
        10: "ManualRecovery",
    },
    "qdrant.ShardTransferMethod": {
        0: "stream_records",
        1: "snapshot",
        2: "wal_delta",
        3: "resharding_stream_records",
    },
}

# REST name → protobuf number, per enum
ENUM_NUMBERS: dict[str, dict[str, int]] = {
    enum: {name: number for number, name in names.items()} for enum, names in ENUM_NAMES.items()
}
