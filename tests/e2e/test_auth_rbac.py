"""Read-only key and JWT RBAC on a real node: every route of Qdrant's OpenAPI file and every
gRPC method, called with each kind of credential, is refused exactly when its rule says so
(and with Qdrant's status and words); qdrant-client works over REST and gRPC with each."""

from __future__ import annotations

import json
import time

import grpc
import httpx
import jwt
import pytest
from google.protobuf import descriptor_pool
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from router.api.access import FULL, READ_ONLY, Access
from router.api.access_rules import RULES
from tests.support.openapi import DEFAULT_SPEC

KEY = "the-read-write-key-of-this-node-0123456789"
READ_KEY = "the-read-only-key-of-this-node-0123456789"
OPENAPI = DEFAULT_SPEC  # the outline of Qdrant's file shipped with the tests
PARAMS = {"collection_name": "c", "id": "1", "shard_id": "0", "snapshot_name": "x.snapshot",
          "peer_id": "999", "field_name": "f", "vector_name": "v"}

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")


def token(access, **claims) -> str:
    claims.setdefault("exp", int(time.time()) + 3600)
    return jwt.encode({"access": access, **claims}, KEY, algorithm="HS256")


#: credential kind → (what the node is sent, the access the rule table should see)
CREDENTIALS = {
    "read-only key": (READ_KEY, READ_ONLY),
    "jwt r": (token("r"), Access("r")),
    "jwt r on c": (token([{"collection": "c", "access": "r"}]), Access(None, {"c": "r"})),
    "jwt rw on c": (token([{"collection": "c", "access": "rw"}]), Access(None, {"c": "rw"})),
    "jwt rw on other": (token([{"collection": "other", "access": "rw"}]),
                        Access(None, {"other": "rw"})),
    "jwt m": (token("m"), Access("m")),
    "full key": (KEY, FULL),
}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    from tests.support.node import Node

    node = Node(tmp_path_factory.mktemp("rbac"), env={
        "QDRANT__SERVICE__API_KEY": KEY, "QDRANT__SERVICE__READ_ONLY_API_KEY": READ_KEY,
        "QDRANT__SERVICE__JWT_RBAC": "true"})
    node.start().wait_ready(60)
    made = httpx.put(f"{node.url}/collections/c", headers={"api-key": KEY}, timeout=30,
                     json={"vectors": {"size": 2, "distance": "Dot"}})
    assert made.status_code == 200, made.text
    yield node
    node.stop()


def _openapi_routes() -> list[tuple[str, str]]:
    spec = json.loads(OPENAPI.read_text())
    return [(m.upper(), p) for p, ms in spec["paths"].items() for m in ms]


def test_every_openapi_route_with_every_credential(secured):
    """Least access first: a route the full key may call (a delete, say) comes last."""
    checked = refused = 0
    with httpx.Client(base_url=secured.url, timeout=60) as http:
        for kind, (credential, access) in CREDENTIALS.items():
            for method, template in _openapi_routes():
                path = template.format(**PARAMS)
                need, collection = RULES.rest(method, path)
                expected = access.refusal(need, collection)
                body = {} if method in ("POST", "PUT", "PATCH") else None
                answer = http.request(method, path, json=body, headers={"api-key": credential})
                what = f"{kind}: {method} {path} -> {answer.status_code} {answer.text[:200]}"
                if expected is None:
                    assert answer.status_code != 401, what
                    assert not (answer.status_code == 403 and "access" in answer.text), what
                else:
                    refused += 1
                    assert answer.status_code == expected.status, what
                    assert answer.json()["status"]["error"] == expected.message, what
                checked += 1
    assert checked == len(CREDENTIALS) * len(_openapi_routes())
    assert refused > 100


def _grpc_methods() -> list[tuple[str, object]]:
    from qdrant_client import grpc as _  # noqa: F401  (registers Qdrant's services)

    pool = descriptor_pool.Default()
    methods = []
    for service in ("qdrant.Collections", "qdrant.Points", "qdrant.Snapshots", "qdrant.Qdrant"):
        for method in pool.FindServiceByName(service).methods:
            methods.append((f"/{service}/{method.name}", method.input_type))
    return methods


def _request(input_type) -> bytes:
    from google.protobuf import message_factory

    message = message_factory.GetMessageClass(input_type)()
    if "collection_name" in input_type.fields_by_name:
        message.collection_name = "c"
    return message.SerializeToString()


def test_every_grpc_method_with_every_credential(secured):
    refused = 0
    with grpc.insecure_channel(f"{secured.host}:{secured.grpc_port}") as channel:
        for kind, (credential, access) in CREDENTIALS.items():
            for path, input_type in _grpc_methods():
                need = RULES.grpc(path)
                expected = access.refusal(need, "c")
                call = channel.unary_unary(path)  # raw bytes both ways
                what = f"{kind}: {path}"
                try:
                    call(_request(input_type), timeout=60, metadata=(("api-key", credential),))
                    code, details = grpc.StatusCode.OK, ""
                except grpc.RpcError as exc:
                    code, details = exc.code(), exc.details()
                if expected is None:
                    assert code not in (grpc.StatusCode.UNAUTHENTICATED,
                                        grpc.StatusCode.PERMISSION_DENIED), (what, details)
                else:
                    refused += 1
                    assert (code.value[0], details) == (expected.grpc_code, expected.message), \
                        (what, code, details)
    assert refused > 80


@pytest.mark.parametrize("prefer_grpc", [False, True], ids=["rest", "grpc"])
def test_qdrant_client_with_a_read_only_key_and_per_collection_tokens(secured, prefer_grpc):
    admin = secured.client(prefer_grpc=prefer_grpc, api_key=KEY)
    name = f"q{int(prefer_grpc)}"
    if not admin.collection_exists(name):
        admin.create_collection(name, vectors_config=models.VectorParams(
            size=2, distance=models.Distance.DOT))
    admin.upsert(name, [models.PointStruct(id=1, vector=[1.0, 0.0])], wait=True)

    reader = secured.client(prefer_grpc=prefer_grpc, api_key=READ_KEY,
                            check_compatibility=False)
    assert [p.id for p in reader.query_points(name, query=[1.0, 0.0]).points] == [1]
    _refused(prefer_grpc, lambda: reader.upsert(name, [models.PointStruct(id=2, vector=[0, 1])]),
             "Forbidden: Global manage access is required")
    _refused(prefer_grpc, lambda: reader.delete_collection(name),
             "Forbidden: Global manage access is required")

    scoped = secured.client(prefer_grpc=prefer_grpc, check_compatibility=False,
                            api_key=token([{"collection": name, "access": "rw"}], subject="ci"))
    assert [c.name for c in scoped.get_collections().collections] == [name]
    scoped.upsert(name, [models.PointStruct(id=3, vector=[0.0, 1.0])], wait=True)
    assert scoped.count(name).count == 2
    _refused(prefer_grpc, lambda: scoped.count("c"),
             "Forbidden: Access to collection c is required")
    _refused(prefer_grpc, lambda: scoped.create_collection(
        "new", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)),
        "Forbidden: Global access is required")


def _refused(prefer_grpc: bool, call, message: str) -> None:
    if prefer_grpc:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert (info.value.code(), info.value.details()) == \
            (grpc.StatusCode.PERMISSION_DENIED, message)
    else:
        with pytest.raises(UnexpectedResponse) as info:
            call()
        assert info.value.status_code == 403
        assert json.loads(info.value.content)["status"]["error"] == message


@pytest.mark.parametrize("prefer_grpc", [False, True], ids=["rest", "grpc"])
def test_a_per_collection_token_cannot_read_another_collection_through_a_lookup(secured,
                                                                                prefer_grpc):
    admin = secured.client(prefer_grpc=prefer_grpc, api_key=KEY)
    for name in ("mine", "theirs"):
        if not admin.collection_exists(name):
            admin.create_collection(name, vectors_config=models.VectorParams(
                size=2, distance=models.Distance.DOT))
        admin.upsert(name, [models.PointStruct(id=1, vector=[1.0, 0.0],
                                                payload={"owner": name})], wait=True)
    reader = secured.client(prefer_grpc=prefer_grpc, check_compatibility=False,
                            api_key=token([{"collection": "mine", "access": "r"}]))
    own = models.LookupLocation(collection="mine")
    assert [p.id for p in reader.query_points("mine", query=1, lookup_from=own).points] == [1]
    other = models.LookupLocation(collection="theirs")
    refused = "Forbidden: Access to collection theirs is required"
    _refused(prefer_grpc, lambda: reader.query_points("mine", query=1, lookup_from=other),
             refused)
    _refused(prefer_grpc, lambda: reader.query_points(
        "mine", prefetch=[models.Prefetch(query=1, lookup_from=other)], query=[1.0, 0.0]),
        refused)
    _refused(prefer_grpc, lambda: reader.query_points_groups(
        "mine", query=[1.0, 0.0], group_by="owner", with_lookup="theirs"), refused)


def test_the_admin_cli_with_a_read_only_key_and_a_token(secured):
    from tests.support.cli import cli

    httpx.put(f"{secured.url}/collections/cli", headers={"api-key": KEY}, timeout=30,
              json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
    listed = cli(secured, "--api-key", token([{"collection": "cli", "access": "r"}]),
                 "-o", "json", "collection", "list")
    assert [c["name"] for c in json.loads(listed.stdout)] == ["cli"]
    refused = cli(secured, "--api-key", READ_KEY, "collection", "delete", "cli", "--yes",
                  code=None)
    assert refused.returncode != 0
    assert "Global manage access is required" in refused.stdout + refused.stderr


def test_bad_tokens_and_value_exists_over_the_wire(secured):
    url = secured.url
    admin = {"api-key": KEY}
    httpx.put(f"{url}/collections/users", headers=admin, timeout=30,
              json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
    httpx.put(f"{url}/collections/users/points?wait=true", headers=admin, timeout=30, json={
        "points": [{"id": 1, "vector": [1.0, 0.0], "payload": {"user": "ann"}}]}
    ).raise_for_status()

    def get(credential: str) -> httpx.Response:
        return httpx.get(f"{url}/collections", headers={"Authorization": f"Bearer {credential}"},
                         timeout=10)

    forged = jwt.encode({"access": "m", "exp": int(time.time()) + 60}, "not-the-key-" * 4,
                        algorithm="HS256")
    assert (get(forged).status_code, get(forged).text) == (403, "InvalidSignature")
    expired = token("r", exp=int(time.time()) - 300)
    assert (get(expired).status_code, get(expired).text) == (403, "ExpiredSignature")
    assert (get("garbage").status_code, get("garbage").text) == (401, "Invalid API key or JWT")

    ann = token("r", value_exists={"collection": "users",
                                   "matches": [{"key": "user", "value": "ann"}]})
    bob = token("r", value_exists={"collection": "users",
                                   "matches": [{"key": "user", "value": "bob"}]})
    assert get(ann).status_code == 200
    assert (get(bob).status_code, get(bob).text) == (401, "Invalid JWT, stateful validation failed")
    httpx.post(f"{url}/collections/users/points/delete?wait=true", headers=admin, timeout=30,
               json={"points": [1]}).raise_for_status()
    deadline = time.time() + 15  # re-checked within VALUE_EXISTS_RECHECK_SEC
    while get(ann).status_code == 200 and time.time() < deadline:
        time.sleep(0.5)
    assert get(ann).status_code == 401
