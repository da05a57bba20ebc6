"""The access-rule table covers every endpoint: each route of Qdrant's OpenAPI file, each route
the REST app serves, each gRPC method of every service the node registers; and each rule gives
each credential kind the answer Qdrant gives."""

from __future__ import annotations

import json

import pytest
from google.protobuf import descriptor_pool

from node.peer_service import peer_pb2
from router.api.access import FULL, READ_ONLY, Access, Need
from router.api.access_rules import RULES, Operation, Rules
from router.api.grpc.messages import pb  # noqa: F401  (registers Qdrant's services)
from router.api.rest.app import create_app, routes_without_rule
from tests.support.openapi import DEFAULT_SPEC

OPENAPI = DEFAULT_SPEC  # the outline of Qdrant's file shipped with the tests


def _openapi_routes() -> list[tuple[str, str]]:
    spec = json.loads(OPENAPI.read_text())
    return [(m.upper(), p) for p, methods in spec["paths"].items() for m in methods]


def test_every_openapi_route_has_a_rule():
    routes = _openapi_routes()
    assert len(routes) > 60
    missing = [f"{m} {p}" for m, p in routes if not RULES.routes.covers(m, p)]
    assert missing == []


def test_every_served_route_has_a_rule_and_the_app_refuses_to_start_without_one():
    app = create_app(None).app
    assert routes_without_rule(app) == []

    @app.get("/an/unruled/route")
    def unruled() -> None: ...

    assert routes_without_rule(app) == ["GET /an/unruled/route"]


def test_every_grpc_method_has_a_rule():
    pool = descriptor_pool.Default()
    services = [pool.FindServiceByName(n) for n in (
        "qdrant.Collections", "qdrant.Points", "qdrant.Qdrant", "qdrant.Snapshots")]
    services += list(peer_pb2.DESCRIPTOR.services_by_name.values())
    methods = [f"/{s.full_name}/{m.name}" for s in services for m in s.methods]
    assert len(methods) > 50
    assert [m for m in methods if RULES.grpc(m) is None] == []
    assert RULES.grpc("/grpc.health.v1.Health/Check") is Need.OPEN


def test_paths_match_their_rule_and_collection():
    assert RULES.rest("PUT", "/collections/c/points") == (Need.COLLECTION_WRITE, "c")
    assert RULES.rest("POST", "/collections/aliases") == (Need.GLOBAL_MANAGE, None)
    assert RULES.rest("POST", "/collections/x/points/query") == (Need.COLLECTION_READ, "x")
    assert RULES.rest("GET", "/collections/x/shards/3/snapshots/s.snap") == \
        (Need.COLLECTION_READ, "x")
    assert RULES.rest("GET", "/") == (Need.OPEN, None)
    assert RULES.rest("GET", "/nowhere") is None
    assert RULES.rest("PATCH", "/collections/x/points") is None


def test_a_face_extends_the_table_with_prefix_rules_and_duplicates_are_refused():
    rules = Rules(())
    rules.add(Operation("a dashboard", Need.OPEN, rest=("GET /dashboard", "GET /dashboard/*")))
    assert rules.rest("GET", "/dashboard/assets/app.js") == (Need.OPEN, None)
    assert rules.rest("GET", "/dashboard") == (Need.OPEN, None)
    assert rules.routes.covers("GET", "/dashboard/{path:path}")  # a FastAPI route below it
    assert not rules.routes.covers("GET", "/dashboards")
    with pytest.raises(ValueError):
        rules.add(Operation("again", Need.LIST, rest=("GET /dashboard",)))


CREDENTIALS = {
    "full key": FULL,
    "read-only key": READ_ONLY,
    "jwt m": Access("m"),
    "jwt r": Access("r"),
    "jwt rw on c": Access(None, {"c": "rw"}),
    "jwt r on c": Access(None, {"c": "r"}),
    "jwt rw on other": Access(None, {"other": "rw"}),
}

#: need → credential kinds it admits (on the collection "c")
ADMITS = {
    Need.OPEN: set(CREDENTIALS),
    Need.LIST: set(CREDENTIALS),
    Need.GLOBAL_READ: {"full key", "read-only key", "jwt m", "jwt r"},
    Need.GLOBAL_MANAGE: {"full key", "jwt m"},
    Need.COLLECTION_READ: {"full key", "read-only key", "jwt m", "jwt r", "jwt rw on c",
                           "jwt r on c"},
    Need.COLLECTION_WRITE: {"full key", "jwt m", "jwt rw on c"},
    Need.INTERNAL: {"full key"},
}


@pytest.mark.parametrize("need", list(Need), ids=lambda n: n.value)
def test_each_credential_kind_against_each_need(need):
    admitted = {kind for kind, access in CREDENTIALS.items() if access.refusal(need, "c") is None}
    assert admitted == ADMITS[need]


def test_refusals_say_what_qdrant_says():
    def said(access, need):
        refusal = access.refusal(need, "c")
        return refusal.status, refusal.message

    assert said(READ_ONLY, Need.COLLECTION_WRITE) == \
        (403, "Forbidden: Global manage access is required")
    assert said(Access(None, {"c": "r"}), Need.GLOBAL_MANAGE) == \
        (403, "Forbidden: Global access is required")
    assert said(Access(None, {"other": "rw"}), Need.COLLECTION_READ) == \
        (403, "Forbidden: Access to collection c is required")
    assert said(Access(None, {"c": "r"}), Need.COLLECTION_WRITE) == \
        (403, "Forbidden: Write access to collection c is required")
    assert said(Access("m"), Need.INTERNAL) == (401, "Internal API requires the read-write API key")


def test_the_other_collections_a_request_reads_are_found_at_any_depth():
    from qdrant_client import grpc as g

    from router.api.access_references import in_json, in_message

    body = {"prefetch": [{"prefetch": {"lookup_from": {"collection": "deep"}}}],
            "with_lookup": "grouped", "searches": [{"lookup_from": {"collection": "batch"}}],
            "filter": {"must": [{"key": "lookup_from", "match": {"value": "not a lookup"}}]}}
    assert sorted(in_json(body)) == ["batch", "deep", "grouped"]
    message = g.QueryPointGroups(
        collection_name="mine", with_lookup=g.WithLookup(collection="grouped"),
        prefetch=[g.PrefetchQuery(prefetch=[g.PrefetchQuery(
            lookup_from=g.LookupLocation(collection_name="deep"))])])
    assert sorted(in_message(message)) == ["deep", "grouped"]
    assert list(in_message(g.QueryPoints(collection_name="mine"))) == []
