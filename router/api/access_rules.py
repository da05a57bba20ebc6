"""The one table of access rules: every operation of every face, and the access it needs.

Each row is one operation, named once, with its REST routes and its gRPC methods side by side,
so the two faces cannot disagree. A face looks a request up here (`RULES.rest`, `RULES.grpc`)
before it is served; an endpoint without a row is refused (the REST app also refuses to start
with a route that has none, and tests/router/test_access_rules.py walks Qdrant's OpenAPI file
and every gRPC method). A new face (a dashboard, ...) adds its rows with `add`.

Route templates are written as Qdrant's OpenAPI file writes them; ``{collection_name}`` (or
FastAPI's ``{name}``) is the collection the need applies to; a template ending in ``/*``
matches every path below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.api.access import Need
from router.api.route_table import RouteTable

OPEN = Need.OPEN
LIST = Need.LIST
G_READ = Need.GLOBAL_READ
G_MANAGE = Need.GLOBAL_MANAGE
READ = Need.COLLECTION_READ
WRITE = Need.COLLECTION_WRITE
INTERNAL = Need.INTERNAL

C = "/collections/{collection_name}"
P = f"{C}/points"
SHARD = f"{C}/shards/{{shard_id}}"


@dataclass(frozen=True)
class Operation:
    name: str
    need: Need
    rest: tuple[str, ...] = ()  # "METHOD /template"
    grpc: tuple[str, ...] = ()  # "package.Service/Method"


def _op(name: str, need: Need, *rest: str, grpc: tuple[str, ...] | str = ()) -> Operation:
    return Operation(name, need, rest, (grpc,) if isinstance(grpc, str) else grpc)


OPERATIONS: tuple[Operation, ...] = (
    # service
    _op("version banner", OPEN, "GET /"),
    _op("health probes", OPEN, "GET /healthz", "GET /livez", "GET /readyz",
        grpc=("qdrant.Qdrant/HealthCheck", "grpc.health.v1.Health/Check",
              "grpc.health.v1.Health/Watch")),
    _op("server reflection", LIST,
        grpc=("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
              "grpc.reflection.v1.ServerReflection/ServerReflectionInfo")),
    # Qdrant's web UI is served open (it asks for the key itself, and calls the API with it)
    _op("web dashboard", OPEN, "GET /dashboard", "GET /dashboard/*"),
    _op("API docs", LIST, "GET /docs", "GET /docs/oauth2-redirect", "GET /redoc",
        "GET /openapi.json", "GET /docs/assets/*"),
    _op("telemetry", G_READ, "GET /telemetry", "GET /cluster/telemetry"),
    _op("metrics", G_READ, "GET /metrics"),
    _op("issues", G_READ, "GET /issues"),
    _op("clear issues", G_MANAGE, "DELETE /issues"),
    _op("quotas", G_READ, "GET /quotas"),
    _op("set quotas", G_MANAGE, "PUT /quotas"),
    # cluster
    _op("cluster status", G_READ, "GET /cluster", "GET /cluster/rebalance",
        "GET /cluster/metadata/keys", "GET /cluster/metadata/keys/{key}"),
    _op("cluster changes", G_MANAGE, "POST /cluster/recover", "DELETE /cluster/peer/{peer_id}",
        "POST /cluster/peer/{peer_id}/drain", "DELETE /cluster/peer/{peer_id}/drain",
        "PUT /cluster/metadata/keys/{key}", "DELETE /cluster/metadata/keys/{key}"),
    _op("collection cluster info", READ, f"GET {C}/cluster",
        grpc="qdrant.Collections/CollectionClusterInfo"),
    _op("collection cluster changes", G_MANAGE, f"POST {C}/cluster",
        grpc="qdrant.Collections/UpdateCollectionClusterSetup"),
    _op("shard keys", READ, f"GET {C}/shards", grpc="qdrant.Collections/ListShardKeys"),
    _op("shard key changes", G_MANAGE, f"PUT {C}/shards", f"POST {C}/shards/delete",
        grpc=("qdrant.Collections/CreateShardKey", "qdrant.Collections/DeleteShardKey")),
    # collections and aliases
    _op("list collections", LIST, "GET /collections", grpc="qdrant.Collections/List"),
    _op("collection info", READ, f"GET {C}", f"GET {C}/exists", f"GET {C}/optimizations",
        grpc=("qdrant.Collections/Get", "qdrant.Collections/CollectionExists")),
    _op("collection changes", G_MANAGE, f"PUT {C}", f"PATCH {C}", f"DELETE {C}",
        f"PUT {C}/vectors/{{vector_name}}", f"DELETE {C}/vectors/{{vector_name}}",
        grpc=("qdrant.Collections/Create", "qdrant.Collections/Update",
              "qdrant.Collections/Delete", "qdrant.Points/CreateVectorName",
              "qdrant.Points/DeleteVectorName")),
    _op("alias changes", G_MANAGE, "POST /collections/aliases",
        grpc="qdrant.Collections/UpdateAliases"),
    _op("list aliases", LIST, "GET /aliases", grpc="qdrant.Collections/ListAliases"),
    _op("collection aliases", READ, f"GET {C}/aliases",
        grpc="qdrant.Collections/ListCollectionAliases"),
    _op("payload indexes", WRITE, f"PUT {C}/index", f"DELETE {C}/index/{{field_name}}",
        grpc=("qdrant.Points/CreateFieldIndex", "qdrant.Points/DeleteFieldIndex")),
    # points
    _op("point reads", READ, f"GET {P}/{{id}}", f"POST {P}", f"POST {P}/scroll",
        f"POST {P}/count", f"POST {C}/facet",
        grpc=("qdrant.Points/Get", "qdrant.Points/Scroll", "qdrant.Points/Count",
              "qdrant.Points/Facet")),
    _op("searches", READ, f"POST {P}/query", f"POST {P}/query/batch", f"POST {P}/query/groups",
        f"POST {P}/search", f"POST {P}/search/batch", f"POST {P}/search/groups",
        f"POST {P}/search/matrix/pairs", f"POST {P}/search/matrix/offsets",
        f"POST {P}/recommend", f"POST {P}/recommend/batch", f"POST {P}/recommend/groups",
        f"POST {P}/discover", f"POST {P}/discover/batch",
        grpc=tuple(f"qdrant.Points/{m}" for m in (
            "Query", "QueryBatch", "QueryGroups", "Search", "SearchBatch", "SearchGroups",
            "SearchMatrixPairs", "SearchMatrixOffsets", "Recommend", "RecommendBatch",
            "RecommendGroups", "Discover", "DiscoverBatch"))),
    _op("point writes", WRITE, f"PUT {P}", f"POST {P}/delete", f"PUT {P}/vectors",
        f"POST {P}/vectors/delete", f"POST {P}/payload", f"PUT {P}/payload",
        f"POST {P}/payload/delete", f"POST {P}/payload/clear", f"POST {P}/batch",
        grpc=tuple(f"qdrant.Points/{m}" for m in (
            "Upsert", "Delete", "UpdateVectors", "DeleteVectors", "SetPayload",
            "OverwritePayload", "DeletePayload", "ClearPayload", "UpdateBatch"))),
    # snapshots
    _op("snapshot reads", READ, f"GET {C}/snapshots", f"GET {C}/snapshots/{{snapshot_name}}",
        f"GET {SHARD}/snapshots", f"GET {SHARD}/snapshots/{{snapshot_name}}",
        f"GET {SHARD}/snapshot", grpc="qdrant.Snapshots/List"),
    _op("snapshot writes", WRITE, f"POST {C}/snapshots",
        f"DELETE {C}/snapshots/{{snapshot_name}}", f"POST {SHARD}/snapshots",
        f"DELETE {SHARD}/snapshots/{{snapshot_name}}",
        grpc=("qdrant.Snapshots/Create", "qdrant.Snapshots/Delete")),
    _op("snapshot recovery", G_MANAGE, f"PUT {C}/snapshots/recover",
        f"POST {C}/snapshots/upload", f"PUT {SHARD}/snapshots/recover",
        f"POST {SHARD}/snapshots/upload"),
    _op("full snapshot reads", G_READ, "GET /snapshots", "GET /snapshots/{snapshot_name}",
        grpc="qdrant.Snapshots/ListFull"),
    _op("full snapshot writes", G_MANAGE, "POST /snapshots", "DELETE /snapshots/{snapshot_name}",
        grpc=("qdrant.Snapshots/CreateFull", "qdrant.Snapshots/DeleteFull")),
    # the peers' own services (on the public gRPC port in cluster mode)
    _op("peer services", INTERNAL,
        grpc=("tessera.peer.PeerShards/Call", "tessera.peer.PeerSnapshots/ShardSnapshot")),
)


class Rules:
    """The table, indexed for the faces: `rest` matches a method and path, `grpc` a method."""

    def __init__(self, operations: tuple[Operation, ...]) -> None:
        self.operations: list[Operation] = []
        self.routes = RouteTable()
        self.methods: dict[str, Need] = {}
        for operation in operations:
            self.add(operation)

    def add(self, operation: Operation) -> None:
        """One more row; a route or method that already has a rule is a mistake."""
        for route in operation.rest:
            method, _, template = route.partition(" ")
            self.routes.add(method, template, operation.need)
        for name in operation.grpc:
            path = "/" + name
            if path in self.methods:
                raise ValueError(f"two rules for the gRPC method {name}")
            self.methods[path] = operation.need
        self.operations.append(operation)

    def rest(self, method: str, path: str) -> tuple[Need, str | None] | None:
        """(need, collection named by the path) for a request, None when no rule covers it."""
        return self.routes.match(method, path)

    def grpc(self, path: str) -> Need | None:
        """The need of a gRPC method given as ``/package.Service/Method``."""
        return self.methods.get(path)


RULES = Rules(OPERATIONS)
