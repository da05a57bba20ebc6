"""Telemetry and operations endpoints: /telemetry with its requests section, /cluster/telemetry,
/issues (an unindexed filtered key, gone once indexed), a collection's /optimizations and
collection info's warnings and update queue, each validated by qdrant-client's own models."""

from __future__ import annotations

from qdrant_client import models
from qdrant_client.http import models as rest_models

from tests.support import api

QUERY_KEY = "POST /collections/{name}/points/query"


def _collection(client, name: str, points: int = 3) -> None:
    client.create_collection(name, vectors_config=models.VectorParams(
        size=2, distance=models.Distance.DOT))
    client.upsert(name, [models.PointStruct(id=i, vector=[1.0, float(i)],
                                            payload={"colour": "red" if i % 2 else "blue"})
                         for i in range(points)], wait=True)


def test_telemetry_requests_section_validates(http, rclient, gclient, collection_name):
    _collection(rclient, collection_name)
    rclient.query_points(collection_name, query=[1.0, 0.0])
    gclient.query_points(collection_name, query=[1.0, 0.0])
    for level in (0, 1, 2, 10):
        result = api.ok(http.get(f"/telemetry?details_level={level}"))
        rest_models.TelemetryData.model_validate(result)
        rest = result["requests"]["rest"]["responses"]
        stats = rest[QUERY_KEY]["200"]
        assert stats["count"] >= 1 and stats["fail_count"] == 0
        assert 0 < stats["min_duration_micros"] <= stats["avg_duration_micros"] \
            <= stats["max_duration_micros"]
        assert stats["last_responded"].endswith("Z")
        assert result["requests"]["grpc"]["responses"]["/qdrant.Points/Query"]["0"]["count"] >= 1
    ids = [c["id"] for c in result["collections"]["collections"]]
    assert collection_name in ids
    mine = next(c for c in result["collections"]["collections"] if c["id"] == collection_name)
    assert mine["shards"][0]["local"]["num_points"] == 3
    split = api.ok(http.get("/telemetry?per_collection=true"))
    rest_models.TelemetryData.model_validate(split)
    mine = split["requests"]["rest"]["per_collection_responses"][collection_name]
    assert mine[QUERY_KEY]["200"]["count"] == 1
    grpc_mine = split["requests"]["grpc"]["per_collection_responses"][collection_name]
    assert grpc_mine["/qdrant.Points/Query"]["0"]["count"] == 1
    hidden = api.ok(http.get("/telemetry?details_level=1&anonymize=true"))
    assert collection_name not in [c["id"] for c in hidden["collections"]["collections"]]


def test_cluster_telemetry_shape(http, rclient, collection_name):
    _collection(rclient, collection_name)
    result = api.ok(http.get("/cluster/telemetry?details_level=2"))
    parsed = rest_models.DistributedTelemetryData.model_validate(result)
    shards = parsed.collections[collection_name].shards
    assert shards and shards[0].replicas[0].state == rest_models.ReplicaState.ACTIVE
    assert shards[0].replicas[0].num_points == 3


def test_issues_report_an_unindexed_filter_until_it_is_indexed(http, rclient, collection_name):
    _collection(rclient, collection_name)
    issue_id = f"UNINDEXED_FIELD/{collection_name}/colour"

    def ids() -> list[str]:
        return [i["id"] for i in api.ok(http.get("/issues"))["issues"]]

    assert issue_id not in ids()
    colour = models.Filter(must=[models.FieldCondition(
        key="colour", match=models.MatchValue(value="red"))])
    rclient.query_points(collection_name, query=[1.0, 0.0], query_filter=colour)
    report = api.ok(http.get("/issues"))["issues"]
    issue = next(i for i in report if i["id"] == issue_id)
    assert "colour" in issue["description"]
    action = issue["solution"]["immediate"]["action"]
    assert action["uri"] == f"/collections/{collection_name}/index"
    assert action["body"] == {"field_name": "colour", "field_schema": "keyword"}
    rclient.create_payload_index(collection_name, "colour", models.PayloadSchemaType.KEYWORD,
                                 wait=True)
    assert issue_id not in ids()

    rclient.count(collection_name, count_filter=models.Filter(must=[models.FieldCondition(
        key="size", range=models.Range(gte=1))]))
    assert f"UNINDEXED_FIELD/{collection_name}/size" in ids()
    assert api.ok(http.delete("/issues")) is True
    assert f"UNINDEXED_FIELD/{collection_name}/size" not in ids()


def test_optimizations_and_collection_info_fields(http, rclient, collection_name):
    _collection(rclient, collection_name)
    result = api.ok(http.get(
        f"/collections/{collection_name}/optimizations?with=queued,completed,idle_segments"))
    parsed = rest_models.OptimizationsResponse.model_validate(result)
    assert parsed.running == [] and parsed.queued == [] and parsed.completed == []
    assert sum(s.points_count for s in parsed.idle_segments) == 3
    assert parsed.summary.idle_segments == 1
    plain = api.ok(http.get(f"/collections/{collection_name}/optimizations"))
    assert set(plain) == {"summary", "running"}
    missing = http.get("/collections/no_such_collection/optimizations")
    assert missing.status_code == 404
    info = rclient.get_collection(collection_name)
    assert info.warnings == []
    assert info.update_queue is not None and info.update_queue.length == 0
