"""Collection, shard and full snapshots on one node: create / list / download / delete, recovery
from a file location, a URL (a test HTTP server on loopback) and an upload, through raw HTTP and
qdrant-client on both transports; the round trip on 20,000 points with named, sparse and
multivector vectors and payload indexes; a snapshot under concurrent writes; and bad input (every
refusal in Qdrant's error shape, nothing stored changed, no staging left behind)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import tarfile
import threading
import time

import grpc
import httpx
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.support import api
from tests.support.api import create_collection, error
from tests.support.node import free_port

N_BIG = 20_000


def make_points(ids, seed: int = 0, tag: str = "v") -> list[dict]:
    rng = np.random.default_rng(seed)
    points = []
    for i in ids:
        dense = rng.normal(size=8).round(4).tolist()
        multi = rng.normal(size=(2, 4)).round(4).tolist()
        points.append({
            "id": i,
            "vector": {"d": dense, "m": multi,
                       "s": {"indices": [i % 50, 50 + i % 7], "values": [1.0, 0.5]}},
            "payload": {"k": f"k{i % 10}", "n": i, "tag": tag},
        })
    return points


COLLECTION_BODY = {
    "vectors": {
        "d": {"size": 8, "distance": "Cosine"},
        "m": {"size": 4, "distance": "Dot",
              "multivector_config": {"comparator": "max_sim"}},
    },
    "sparse_vectors": {"s": {}},
}


def fill(http, name: str, ids, seed: int = 0, tag: str = "v", indexes: bool = True) -> None:
    create_collection(http, name, COLLECTION_BODY)
    if indexes:
        for field, schema in (("k", "keyword"), ("n", "integer")):
            api.ok(http.put(f"/collections/{name}/index?wait=true",
                            json={"field_name": field, "field_schema": schema}))
    ids = list(ids)
    for lo in range(0, len(ids), 2000):
        api.upsert(http, name, make_points(ids[lo:lo + 2000], seed + lo, tag))


def everything(http, name: str) -> list[dict]:
    return sorted(api.scroll_all(http, name, page=2000, with_vector=True), key=lambda p: p["id"])


def searches(http, name: str) -> list:
    rng = np.random.default_rng(7)
    found = []
    for _ in range(5):
        q = rng.normal(size=8).tolist()
        found.append(api.query(http, name, {"query": q, "using": "d", "limit": 10,
                                            "filter": {"must": [{"key": "k",
                                                                 "match": {"value": "k3"}}]}}))
        found.append(api.query(http, name, {"query": {"indices": [3, 52], "values": [1, 1]},
                                            "using": "s", "limit": 5}))
        found.append(api.query(http, name, {"query": rng.normal(size=(2, 4)).tolist(),
                                            "using": "m", "limit": 5}))
    return [[(p["id"], round(p["score"], 4)) for p in hits] for hits in found]


def index_facts(http, name: str) -> tuple:
    schema = api.collection_info(http, name)["payload_schema"]
    between = api.count(http, name, {"must": [{"key": "n", "range": {"gte": 100, "lt": 350}}]})
    keyed = api.count(http, name, {"must": [{"key": "k", "match": {"value": "k4"}}]})
    return ({k: v["data_type"] for k, v in schema.items()}, between, keyed)


def snapshot_of(http, name: str) -> dict:
    snap = api.ok(http.post(f"/collections/{name}/snapshots"))
    assert snap["name"].endswith(".snapshot") and snap["size"] > 0
    return snap


def download(http, path: str) -> bytes:
    resp = http.get(path)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/octet-stream"
    return resp.content


def staging_is_empty(node) -> bool:
    staging = node.storage_path / "snapshots_temp" / "tessera-snapshots"
    return not any(staging.iterdir())


class FileServer:
    """A loopback HTTP server that serves one body at /snapshot (optionally asking an api-key)."""

    def __init__(self, body: bytes, api_key: str | None = None) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.seen_keys.append(self.headers.get("api-key"))
                if api_key is not None and self.headers.get("api-key") != api_key:
                    self.send_response(403)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.seen_keys: list = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/snapshot"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the round trip ------------------------------------------------------------------------------
@pytest.mark.slow
def test_round_trip_20k_points_file_url_and_upload(http, node, collection_name):
    name = collection_name
    fill(http, name, range(N_BIG))
    before = (everything(http, name), searches(http, name), index_facts(http, name))
    assert len(before[0]) == N_BIG
    snap = snapshot_of(http, name)
    data = download(http, f"/collections/{name}/snapshots/{snap['name']}")
    assert hashlib.sha256(data).hexdigest() == snap["checksum"]
    assert len(data) == snap["size"]
    listed = api.ok(http.get(f"/collections/{name}/snapshots"))
    assert snap in listed

    sample = sorted(np.random.default_rng(1).choice(N_BIG, 500, replace=False).tolist())
    by_id = {p["id"]: p for p in before[0]}

    def recovered_equals_before(whole: bool = False) -> None:
        """Every point with its vectors (once: 20,000 points of JSON take a while), else every
        id and payload and the vectors of a sample; searches and payload indexes always."""
        if whole:
            assert everything(http, name) == before[0]
        else:
            payloads = api.scroll_all(http, name, page=5000)
            assert sorted(payloads, key=lambda p: p["id"]) == \
                [{"id": p["id"], "payload": p["payload"]} for p in before[0]]
            got = api.retrieve(http, name, sample)
            assert sorted(got, key=lambda p: p["id"]) == [by_id[i] for i in sample]
        assert searches(http, name) == before[1]
        assert index_facts(http, name) == before[2]

    # from a file:// location, after the collection was dropped (the snapshot files stay)
    assert api.ok(http.delete(f"/collections/{name}")) is True
    location = f"file://{node.snapshots_path / name / snap['name']}"
    assert api.ok(http.put(f"/collections/{name}/snapshots/recover",
                           json={"location": location, "checksum": snap["checksum"]})) is True
    recovered_equals_before(whole=True)
    # from a URL, over a collection changed since (the snapshot wins)
    api.upsert(http, name, make_points([N_BIG + 1], 99))
    server = FileServer(data, api_key="s3cret")
    try:
        assert api.ok(http.put(f"/collections/{name}/snapshots/recover", json={
            "location": server.url, "priority": "snapshot", "api_key": "s3cret"})) is True
    finally:
        server.close()
    assert server.seen_keys == ["s3cret"]
    recovered_equals_before()
    # from an upload
    api.ok(http.delete(f"/collections/{name}"))
    resp = http.post(f"/collections/{name}/snapshots/upload?priority=snapshot&checksum="
                     f"{snap['checksum']}", files={"snapshot": ("x.snapshot", data)})
    assert api.ok(resp) is True
    recovered_equals_before()
    assert staging_is_empty(node)


def test_recover_replaces_config_and_keeps_aliases(http, make_name):
    """A snapshot of a collection with other vector params replaces its config, as Qdrant's
    recovery does; aliases of the collection stay."""
    source, target = make_name("src"), make_name("dst")
    fill(http, source, range(50), indexes=False)
    create_collection(http, target, {"vectors": {"size": 3, "distance": "Dot"}})
    api.upsert(http, target, [{"id": 1, "vector": [1, 2, 3]}])
    alias = make_name("alias")
    api.ok(http.post("/collections/aliases", json={"actions": [
        {"create_alias": {"collection_name": target, "alias_name": alias}}]}))
    snap = snapshot_of(http, source)
    data = download(http, f"/collections/{source}/snapshots/{snap['name']}")
    assert api.ok(http.post(f"/collections/{target}/snapshots/upload",
                            files={"snapshot": ("s.snapshot", data)})) is True
    info = api.collection_info(http, target)
    assert set(info["config"]["params"]["vectors"]) == {"d", "m"}
    assert everything(http, target) == everything(http, source)
    assert api.count(http, alias) == 50


# -- concurrent writes ---------------------------------------------------------------------------
def test_snapshot_under_concurrent_writes_holds_every_acknowledged_batch(http, node, make_name):
    name, copy = make_name("busy"), make_name("copy")
    fill(http, name, range(1000), indexes=False)
    acknowledged: list[tuple[float, list[int]]] = []
    stop = threading.Event()
    failures: list = []

    def writer() -> None:
        with httpx.Client(base_url=node.url, timeout=60) as client:
            next_id = 10_000
            while not stop.is_set():
                ids = list(range(next_id, next_id + 50))
                next_id += 50
                resp = client.put(f"/collections/{name}/points?wait=true",
                                  json={"points": make_points(ids, next_id)})
                if resp.status_code != 200:
                    failures.append(resp.text)
                    return
                acknowledged.append((time.monotonic(), ids))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        snap = snapshot_of(http, name)
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join()
    assert not failures
    before = [ids for at, ids in acknowledged if at < started]
    assert before, "the writer acknowledged nothing before the snapshot"
    location = f"file://{node.snapshots_path / name / snap['name']}"
    api.ok(http.put(f"/collections/{copy}/snapshots/recover", json={"location": location}))
    present = {p["id"] for p in api.scroll_all(http, copy, page=5000, with_payload=False)}
    for ids in before:
        assert set(ids) <= present
    for _, ids in acknowledged:  # a batch is in whole or not at all
        assert set(ids) <= present or not set(ids) & present


# -- the API through qdrant-client, both transports ----------------------------------------------
def test_client_snapshot_calls(client, transport, http, node, collection_name):
    missing = (grpc.RpcError, UnexpectedResponse)
    with pytest.raises(missing) as refused:
        client.create_snapshot("no_such_collection")
    if transport == "grpc":
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    else:
        assert refused.value.status_code == 404
    with pytest.raises(missing):
        client.delete_full_snapshot("nope.snapshot")
    fill(http, collection_name, range(30), indexes=False)
    snap = client.create_snapshot(collection_name)
    assert snap is not None and snap.checksum and snap.size > 0
    assert [s.name for s in client.list_snapshots(collection_name)] == [snap.name]
    assert client.delete_snapshot(collection_name, snap.name) is True
    assert client.list_snapshots(collection_name) == []
    snap = client.create_snapshot(collection_name)
    api.upsert(http, collection_name, make_points([500], 5))
    location = f"file://{node.snapshots_path / collection_name / snap.name}"
    assert client.recover_snapshot(collection_name, location, checksum=snap.checksum,
                                   priority=models.SnapshotPriority.SNAPSHOT) is True
    assert client.count(collection_name).count == 30
    shard = client.create_shard_snapshot(collection_name, 0)
    assert [s.name for s in client.list_shard_snapshots(collection_name, 0)] == [shard.name]
    shard_file = node.snapshots_path / collection_name / "shards" / "0" / shard.name
    assert client.recover_shard_snapshot(collection_name, 0, f"file://{shard_file}") is True
    assert client.count(collection_name).count == 30
    assert client.delete_shard_snapshot(collection_name, 0, shard.name) is True
    full = client.create_full_snapshot()
    assert full.name in [s.name for s in client.list_full_snapshots()]
    assert client.delete_full_snapshot(full.name) is True
    assert full.name not in [s.name for s in client.list_full_snapshots()]


def test_shard_snapshot_stream_and_upload(http, node, collection_name):
    fill(http, collection_name, range(200), indexes=False)
    before = everything(http, collection_name)
    streamed = download(http, f"/collections/{collection_name}/shards/0/snapshot")
    api.upsert(http, collection_name, make_points(range(200, 260), 3))
    resp = http.post(f"/collections/{collection_name}/shards/0/snapshots/upload",
                     files={"snapshot": ("shard.snapshot", streamed)})
    assert api.ok(resp) is True
    assert everything(http, collection_name) == before
    # a shard snapshot is not a collection snapshot, and the other way round
    error(http.post(f"/collections/{collection_name}/snapshots/upload",
                    files={"snapshot": ("shard.snapshot", streamed)}), 400,
          contains="not a collection snapshot")
    assert staging_is_empty(node)


def test_wait_false_answers_accepted(http, collection_name):
    fill(http, collection_name, range(10), indexes=False)
    resp = http.post(f"/collections/{collection_name}/snapshots?wait=false")
    assert resp.status_code == 202 and resp.json()["status"] == "accepted"
    listed = api.wait_until(lambda: api.ok(http.get(f"/collections/{collection_name}/snapshots")),
                            timeout=10)
    data = download(http, f"/collections/{collection_name}/snapshots/{listed[0]['name']}")
    resp = http.delete(f"/collections/{collection_name}/snapshots/{listed[0]['name']}?wait=false")
    assert resp.status_code == 202
    api.wait_until(lambda: not api.ok(http.get(f"/collections/{collection_name}/snapshots")),
                   timeout=10)
    api.upsert(http, collection_name, make_points(range(10, 30)))
    resp = http.post(f"/collections/{collection_name}/snapshots/upload?wait=false",
                     files={"snapshot": ("s.snapshot", data)})
    assert resp.status_code == 202
    api.wait_until(lambda: api.count(http, collection_name) == 10, timeout=10)


# -- bad input -----------------------------------------------------------------------------------
def _archive(header: dict, files: dict[str, bytes], manifest: dict | None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        members = [("tessera-snapshot.json", json.dumps(header).encode()), *files.items()]
        if manifest is not None:
            members.append(("manifest.json", json.dumps(manifest).encode()))
        for member, body in members:
            info = tarfile.TarInfo(member)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


def test_bad_input_is_refused_and_nothing_changes(http, node, collection_name):
    name = collection_name
    fill(http, name, range(100), indexes=False)
    before = everything(http, name)
    snap = snapshot_of(http, name)
    data = download(http, f"/collections/{name}/snapshots/{snap['name']}")

    def upload(body: bytes, query: str = ""):
        return http.post(f"/collections/{name}/snapshots/upload{query}",
                         files={"snapshot": ("bad.snapshot", body)})

    error(http.post("/collections/no_such_collection/snapshots"), 404,
          contains="no_such_collection")
    error(http.get("/collections/no_such_collection/snapshots"), 404)
    error(http.get(f"/collections/{name}/snapshots/nope.snapshot"), 404,
          message="Not found: Snapshot nope.snapshot not found")
    error(http.delete(f"/collections/{name}/snapshots/nope.snapshot"), 404)
    error(http.get(f"/collections/{name}/snapshots/..snapshot"), 400, prefix="Bad request: ")
    error(http.get("/snapshots/a..b.snapshot"), 400, contains="plain file name")
    error(http.put(f"/collections/{name}/snapshots/recover",
                   json={"location": "file:///etc/passwd"}), 403, contains="outside")
    error(http.put(f"/collections/{name}/snapshots/recover",
                   json={"location": f"file://{node.snapshots_path}/../storage/metadata.json"}),
          403)
    error(http.put(f"/collections/{name}/snapshots/recover",
                   json={"location": f"file://{node.snapshots_path}/missing.snapshot"}), 404)
    error(http.put(f"/collections/{name}/snapshots/recover",
                   json={"location": f"http://127.0.0.1:{free_port()}/x.snapshot"}), 400,
          contains="Failed to download")
    error(http.put(f"/collections/{name}/snapshots/recover",
                   json={"location": "ftp://example/x"}), 400, contains="Unsupported")
    error(http.put(f"/collections/{name}/snapshots/recover", json={}), 400)
    error(upload(data, "?checksum=abc"), 422, contains="checksum")
    error(upload(data, "?priority=sometimes"), 400, contains="priority")
    error(upload(data, "?checksum=" + "0" * 64), 400, contains="checksum mismatch")
    error(upload(b"this is not a snapshot"), 400, contains="Invalid snapshot")
    error(upload(data[: len(data) // 2]), 400, contains="Invalid snapshot")
    corrupt = bytearray(data)
    corrupt[len(data) // 3] ^= 0xFF  # inside a member: its checksum no longer matches
    error(upload(bytes(corrupt)), 400, contains="Invalid snapshot")
    newer = _archive({"format": "tessera-snapshot", "version": 99, "kind": "collection"}, {},
                     {"files": {}})
    error(upload(newer), 400, contains="version 99")
    traversal = _archive({"format": "tessera-snapshot", "version": 1, "kind": "collection"},
                         {"../../evil": b"x"}, {"files": {}, "kind": "collection"})
    error(upload(traversal), 400, contains="unsafe member name")
    no_manifest = _archive({"format": "tessera-snapshot", "version": 1, "kind": "collection"},
                           {"shards/0/state.pkl": b"x"}, None)
    error(upload(no_manifest), 400, contains="no manifest")
    error(http.post(f"/collections/{name}/snapshots/upload", content=b"{}",
                    headers={"content-type": "application/json"}), 400,
          contains="multipart/form-data")
    assert everything(http, name) == before
    assert staging_is_empty(node)
    assert not (node.workdir / "evil").exists()
    assert [s["name"] for s in api.ok(http.get(f"/collections/{name}/snapshots"))] == \
        [snap["name"]]


def test_snapshots_made_at_once_get_names_of_their_own(http, node, collection_name):
    """Several snapshots in the same second (the fuzz stage found two racing for one name)."""
    fill(http, collection_name, range(200), indexes=False)
    results: list = []

    def make() -> None:
        with httpx.Client(base_url=node.url, timeout=60) as client:
            results.append(client.post(f"/collections/{collection_name}/snapshots"))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = [api.ok(resp)["name"] for resp in results]
    assert len(set(made)) == 4
    listed = {s["name"] for s in api.ok(http.get(f"/collections/{collection_name}/snapshots"))}
    assert listed == set(made)
    assert not any((node.snapshots_path / collection_name).glob(".*.partial"))


def test_recovery_beside_other_metadata_operations_keeps_its_data(http, node, make_name):
    """Reconciliation removes collection directories the metadata does not know: the one a
    recovery fills before its metadata operation is applied must not be one of them."""
    source = make_name("src")
    fill(http, source, range(300), indexes=False)
    snap = snapshot_of(http, source)
    location = f"file://{node.snapshots_path / source / snap['name']}"
    stop = threading.Event()
    churn = make_name("churn")

    def other_operations() -> None:
        with httpx.Client(base_url=node.url, timeout=60) as client:
            while not stop.is_set():
                client.put(f"/collections/{churn}", json={"vectors": {"size": 2,
                                                                       "distance": "Dot"}})
                client.delete(f"/collections/{churn}")

    thread = threading.Thread(target=other_operations)
    thread.start()
    try:
        targets = [make_name("dst") for _ in range(5)]
        for target in targets:
            api.ok(http.put(f"/collections/{target}/snapshots/recover",
                            json={"location": location}))
    finally:
        stop.set()
        thread.join()
    for target in targets:
        assert api.count(http, target) == 300


def test_an_upload_may_be_larger_than_the_request_size_limit(fresh_node):
    """service.max_request_size_mb bounds JSON bodies; a snapshot upload is streamed to a file
    and is not bounded by it (as with Qdrant)."""
    node = fresh_node(QDRANT__SERVICE__MAX_REQUEST_SIZE_MB="1")
    create_collection(node.http, "big", {"vectors": {"size": 256, "distance": "Dot"}})
    rng = np.random.default_rng(3)
    for lo in range(0, 2000, 100):  # 2,000 x 256 floats: 2 MB of rows, in small requests
        api.upsert(node.http, "big", [{"id": i, "vector": rng.normal(size=256).tolist()}
                                      for i in range(lo, lo + 100)])
    snap = snapshot_of(node.http, "big")
    assert snap["size"] > 1024 * 1024
    data = download(node.http, f"/collections/big/snapshots/{snap['name']}")
    resp = node.http.post("/collections/copy/snapshots/upload",
                          files={"snapshot": ("big.snapshot", data)})
    assert api.ok(resp) is True
    assert api.count(node.http, "copy") == 2000
