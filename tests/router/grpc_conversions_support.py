"""Shared by the ``test_grpc_conversions_*`` files: the wire and REST-JSON helpers, the
shard config of a test collection, and the filter conditions and payload index schemas
several families of requests are tested with."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import RestToGrpc, grpc_payload_schema_to_field_type
from qdrant_client.http import models as m

from node.shard_config import ShardConfig


def wire(msg):
    """The message as the other side of the wire sees it."""
    return type(msg).FromString(msg.SerializeToString())


def rest_json(model) -> dict:
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def as_f32(value):
    """Floats compared as the float32 they are on the wire (vectors, float fields). A plain
    nearest query's vector arrives as a float32 array (from_grpc.vectors.query_floats)."""
    if isinstance(value, np.ndarray):
        assert value.dtype == np.float32 and value.ndim == 1
        return [float(v) for v in value]
    if isinstance(value, dict):
        return {k: as_f32(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_f32(v) for v in value]
    if isinstance(value, float):
        return float(np.float32(value))
    return value


def same_typed(a, b) -> bool:
    """Equal, and of the same JSON kinds all the way down (1 is not 1.0 is not True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_typed(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_typed(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# -- the shard config of a test collection -----------------------------------------------------
def _config(vectors: dict, sparse: tuple = ()) -> ShardConfig:
    params = {"vectors": vectors, "shard_number": 1}
    if sparse:
        params["sparse_vectors"] = {name: {} for name in sparse}
    return ShardConfig.from_collection({"params": params})


# -- filters -----------------------------------------------------------------------------------
def fc(**kw) -> m.FieldCondition:
    return m.FieldCondition(key="k.path[].x", **kw)


T0 = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
T1 = dt.datetime(2024, 6, 1, 0, 0, 0, 123456, tzinfo=dt.timezone.utc)


CONDITIONS = {
    "match_keyword": fc(match=m.MatchValue(value="red")),
    "match_int": fc(match=m.MatchValue(value=-42)),
    "match_big_int": fc(match=m.MatchValue(value=2**62)),
    "match_bool": fc(match=m.MatchValue(value=True)),
    "match_text": fc(match=m.MatchText(text="hello world")),
    "match_text_any": fc(match=m.MatchTextAny(text_any="a b")),
    "match_phrase": fc(match=m.MatchPhrase(phrase="exact words")),
    "match_prefix": fc(match=m.MatchPrefix(prefix="pre")),
    "match_substring": fc(match=m.MatchSubstring(substring="sub")),
    "match_any_keywords": fc(match=m.MatchAny(any=["a", "b"])),
    "match_any_ints": fc(match=m.MatchAny(any=[1, 2, 3])),
    "match_except_keywords": fc(match=m.MatchExcept(**{"except": ["x"]})),
    "match_except_ints": fc(match=m.MatchExcept(**{"except": [4, 5]})),
    "range": fc(range=m.Range(gt=1.5, lte=10.0)),
    "range_all": fc(range=m.Range(lt=1.0, gt=-1.0, gte=-2.0, lte=2.0)),
    "datetime_range": fc(range=m.DatetimeRange(gte=T0, lt=T1)),
    "geo_bounding_box": fc(
        geo_bounding_box=m.GeoBoundingBox(
            top_left=m.GeoPoint(lon=13.4, lat=52.5), bottom_right=m.GeoPoint(lon=13.5, lat=52.4)
        )
    ),
    "geo_radius": fc(geo_radius=m.GeoRadius(center=m.GeoPoint(lon=1.0, lat=2.0), radius=1000.5)),
    "geo_polygon": fc(
        geo_polygon=m.GeoPolygon(
            exterior=m.GeoLineString(
                points=[
                    m.GeoPoint(lon=0, lat=0),
                    m.GeoPoint(lon=1, lat=0),
                    m.GeoPoint(lon=1, lat=1),
                    m.GeoPoint(lon=0, lat=0),
                ]
            ),
            interiors=[
                m.GeoLineString(
                    points=[
                        m.GeoPoint(lon=0.2, lat=0.2),
                        m.GeoPoint(lon=0.3, lat=0.2),
                        m.GeoPoint(lon=0.3, lat=0.3),
                        m.GeoPoint(lon=0.2, lat=0.2),
                    ]
                )
            ],
        )
    ),
    "values_count": fc(values_count=m.ValuesCount(gte=1, lt=5)),
    "field_is_empty": fc(is_empty=True),
    "field_is_null": fc(is_null=False),
    "is_empty": m.IsEmptyCondition(is_empty=m.PayloadField(key="tags")),
    "is_null": m.IsNullCondition(is_null=m.PayloadField(key="maybe")),
    "has_id": m.HasIdCondition(has_id=[1, 2**64 - 1, str(uuid.UUID(int=3))]),
    "has_vector": m.HasVectorCondition(has_vector="image"),
    "nested": m.NestedCondition(
        nested=m.Nested(
            key="items",
            filter=m.Filter(must=[m.FieldCondition(key="n", match=m.MatchValue(value=1))]),
        )
    ),
    "filter": m.Filter(
        should=[m.HasIdCondition(has_id=[1])],
        must_not=[m.IsNullCondition(is_null=m.PayloadField(key="z"))],
    ),
    "slice": m.SliceCondition(slice=m.Slice(total=4, index=1)),
}


# -- payload indexes ---------------------------------------------------------------------------
INDEX_SCHEMAS = {
    "keyword": m.PayloadSchemaType.KEYWORD,
    "integer": m.PayloadSchemaType.INTEGER,
    "float": m.PayloadSchemaType.FLOAT,
    "geo": m.PayloadSchemaType.GEO,
    "text": m.PayloadSchemaType.TEXT,
    "bool": m.PayloadSchemaType.BOOL,
    "datetime": m.PayloadSchemaType.DATETIME,
    "uuid": m.PayloadSchemaType.UUID,
    "keyword_params": m.KeywordIndexParams(
        type="keyword", is_tenant=True, prefix=True, memory=m.Memory.COLD, nested="a"
    ),
    "keyword_no_params": m.KeywordIndexParams(type="keyword"),
    "integer_params": m.IntegerIndexParams(
        type="integer", lookup=False, range=True, is_principal=True, on_disk=True
    ),
    "float_params": m.FloatIndexParams(type="float", is_principal=True, enable_hnsw=False),
    "geo_params": m.GeoIndexParams(type="geo", memory=m.Memory.CACHED),
    "text_params": m.TextIndexParams(
        type="text",
        tokenizer=m.TokenizerType.PREFIX,
        lowercase=False,
        min_token_len=2,
        max_token_len=10,
        stopwords=m.Language.ENGLISH,
        stemmer=m.SnowballParams(type=m.Snowball.SNOWBALL, language=m.SnowballLanguage.ENGLISH),
        phrase_matching=True,
        ascii_folding=True,
        scoring=m.TextScoringParams(type=m.TextScoringType.BM25),
    ),
    "text_stopword_set": m.TextIndexParams(
        type="text",
        tokenizer=m.TokenizerType.WORD,
        stopwords=m.StopwordsSet(languages=[m.Language.ENGLISH, m.Language.GERMAN], custom=["x"]),
        stemmer=m.DisabledStemmerParams(type=m.NoStemmer.NONE),
    ),
    "text_custom_stopwords": m.TextIndexParams(
        type="text", tokenizer=m.TokenizerType.WHITESPACE, stopwords=m.StopwordsSet(custom=["a"])
    ),
    "bool_params": m.BoolIndexParams(type="bool", on_disk=False),
    "datetime_params": m.DatetimeIndexParams(type="datetime", is_principal=True),
    "uuid_params": m.UuidIndexParams(type="uuid", is_tenant=True, on_disk=True),
}


_FIELD_TYPE_OF_PARAMS = {
    "keyword_index_params": pb.FieldType.FieldTypeKeyword,
    "integer_index_params": pb.FieldType.FieldTypeInteger,
    "float_index_params": pb.FieldType.FieldTypeFloat,
    "geo_index_params": pb.FieldType.FieldTypeGeo,
    "text_index_params": pb.FieldType.FieldTypeText,
    "bool_index_params": pb.FieldType.FieldTypeBool,
    "datetime_index_params": pb.FieldType.FieldTypeDatetime,
    "uuid_index_params": pb.FieldType.FieldTypeUuid,
}


def _create_index_request(schema, wait=None) -> pb.CreateFieldIndexCollection:
    """What qdrant-client sends for create_payload_index(field_schema=schema) over gRPC."""
    req = pb.CreateFieldIndexCollection(collection_name="c", field_name="f", wait=wait)
    if isinstance(schema, m.PayloadSchemaType):
        req.field_type = grpc_payload_schema_to_field_type(
            RestToGrpc.convert_payload_schema_type(schema)
        )
    else:
        params = RestToGrpc.convert_payload_schema_params(schema)
        req.field_index_params.CopyFrom(params)
        req.field_type = _FIELD_TYPE_OF_PARAMS[params.WhichOneof("index_params")]
    return wire(req)
