"""Resharding on a real 3-node cluster (``start_resharding`` / ``abort_resharding`` of
``POST /collections/{name}/cluster``): the shard count goes up by one and back down while a
writer upserts new points (and overwrites old ones) and a reader scrolls the whole collection
over and over. No scroll may answer an id twice, nor miss an id acknowledged before it began;
at the end every point is there with its last vector, and a search answers what a brute-force
reference does. An abort in the middle restores the old layout; refusals are Qdrant's.

Copies are held to ``RATE`` points per second, so that the migration is seen while it runs.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import httpx
import numpy as np
import pytest

from node.ring import ring_of
from tests.support.cluster import exact_count, replicas_all_active, start_cluster, wait_until

pytestmark = pytest.mark.slow

DIM = 4
POINTS = 30_000
RATE = 800  # storage.performance.max_transfer_rate: points per second of one copy
NEW_IDS = 1_000_000  # where the writer's new ids begin


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nodes = start_cluster(tmp_path_factory.mktemp("resharding"), 3, extra_env={
        "QDRANT__CLUSTER__RESHARDING_ENABLED": "true",
        "QDRANT__STORAGE__PERFORMANCE__MAX_TRANSFER_RATE": str(RATE)})
    yield nodes
    for node in nodes:
        node.kill()


def _info(node, name: str) -> dict:
    resp = httpx.get(f"{node.url}/collections/{name}/cluster", timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def _running(node, name: str) -> list[dict]:
    """``resharding_operations``: left out while none runs, as Qdrant does."""
    info = _info(node, name)
    assert info.get("resharding_operations", None) != [], info
    return info.get("resharding_operations", [])


def _operate(node, name: str, body: dict) -> httpx.Response:
    return httpx.post(f"{node.url}/collections/{name}/cluster", json=body, timeout=30)


def _shard_ids(node, name: str) -> set[int]:
    info = _info(node, name)
    return {s["shard_id"] for s in info["local_shards"] + info["remote_shards"]}


def _vector(rng: random.Random) -> list[float]:
    return [round(rng.uniform(-1, 1), 4) for _ in range(DIM)]


def _make(node, name: str, points: int, replicas: int = 1) -> dict[int, list[float]]:
    resp = httpx.put(f"{node.url}/collections/{name}", timeout=60, json={
        "vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 3,
        "replication_factor": replicas})
    assert resp.status_code == 200, resp.text
    rng = random.Random(name)
    reference = {i: _vector(rng) for i in range(points)}
    ids = list(reference)
    for start in range(0, points, 2000):
        batch = ids[start:start + 2000]
        resp = httpx.put(f"{node.url}/collections/{name}/points?wait=true", timeout=120,
                         json={"points": [{"id": i, "vector": reference[i]} for i in batch]})
        assert resp.status_code == 200, resp.text
    return reference


def _scroll_all(node, name: str, with_vector: bool = False) -> list:
    """Every point, page by page (ids, or (id, vector) pairs)."""
    out: list = []
    offset = None
    while True:
        body: dict = {"limit": 2000, "with_payload": False, "with_vector": with_vector}
        if offset is not None:
            body["offset"] = offset
        resp = httpx.post(f"{node.url}/collections/{name}/points/scroll", json=body,
                          timeout=60)
        assert resp.status_code == 200, resp.text
        result = resp.json()["result"]
        out.extend((p["id"], p["vector"]) if with_vector else p["id"]
                   for p in result["points"])
        offset = result.get("next_page_offset")
        if offset is None:
            return out


class Load:
    """A writer (wait=true: new points, overwrites, payload updates by id and deletes by
    filter) and a reader (whole scrolls) on one node, checked against the reference of
    acknowledged writes."""

    def __init__(self, node, name: str, reference: dict[int, list[float]],
                 payloads: dict[int, dict]) -> None:
        self.node, self.name, self.reference, self.payloads = node, name, reference, payloads
        self.deleted: set[int] = set()  # ids whose delete was sent
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.scrolls: list[tuple[float, float]] = []  # (start, end) of each checked scroll
        self.writes = 0
        self.next_id = max(max(reference) + 1, NEW_IDS)
        self._threads = [threading.Thread(target=self._write, daemon=True),
                         threading.Thread(target=self._read, daemon=True)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(60)

    def _write(self) -> None:
        rng = random.Random(f"writer-{self.name}-{self.next_id}")
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                if self.writes % 4 == 3:
                    self._partial(http, rng)
                with self.lock:
                    old = rng.sample(sorted(i for i in self.reference if i < NEW_IDS), 5)
                fresh = list(range(self.next_id, self.next_id + 20))
                self.next_id += 20
                batch = {i: _vector(rng) for i in fresh + old}
                resp = http.put(f"{self.node.url}/collections/{self.name}/points?wait=true",
                                json={"points": [{"id": i, "vector": v}
                                                 for i, v in batch.items()]})
                if resp.status_code != 200:
                    self.errors.append(f"upsert: {resp.status_code} {resp.text}")
                    time.sleep(0.2)
                    continue
                with self.lock:
                    self.reference.update(batch)
                    self.payloads.update(dict.fromkeys(batch, {}))
                    self.writes += 1
                time.sleep(0.02)

    def _partial(self, http: httpx.Client, rng: random.Random) -> None:
        """A payload set on old points by id, and two old points deleted by filter."""
        url = f"{self.node.url}/collections/{self.name}/points"
        with self.lock:
            old = rng.sample(sorted(i for i in self.reference if i < NEW_IDS), 7)
        tagged, doomed = old[:5], old[5:]
        tag = {"tag": rng.randrange(1000)}
        resp = http.post(f"{url}/payload?wait=true", json={"payload": tag, "points": tagged})
        if resp.status_code != 200:
            self.errors.append(f"set_payload: {resp.status_code} {resp.text}")
            return
        with self.lock:
            for i in tagged:
                self.payloads[i] = {**self.payloads[i], **tag}
            self.deleted.update(doomed)
        resp = http.post(f"{url}/delete?wait=true",
                         json={"filter": {"must": [{"has_id": doomed}]}})
        if resp.status_code != 200:
            self.errors.append(f"delete: {resp.status_code} {resp.text}")
            return
        with self.lock:
            for i in doomed:
                self.reference.pop(i)
                self.payloads.pop(i)
        self.writes += 1

    def _read(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                acknowledged = set(self.reference)
            started = time.monotonic()
            try:
                ids = _scroll_all(self.node, self.name)
            except (AssertionError, httpx.HTTPError) as exc:
                self.errors.append(f"scroll: {exc}")
                time.sleep(0.2)
                continue
            seen = set(ids)
            if len(seen) != len(ids):
                twice = sorted(i for i, n in Counter(ids).items() if n > 1)[:10]
                self.errors.append(f"scroll answered {len(ids) - len(seen)} ids twice: {twice}")
            with self.lock:  # a delete in flight may have applied
                missed = acknowledged - seen - set(self.deleted)
            if missed:
                self.errors.append(f"scroll missed {len(missed)} acknowledged ids: "
                                   f"{sorted(missed)[:10]}")
            self.scrolls.append((started, time.monotonic()))


def _reshard(node, name: str, body: dict) -> tuple[float, float, list[dict]]:
    """Start a resharding; returns when it was accepted, when it ended and what
    ``resharding_operations`` showed while it ran."""
    resp = _operate(node, name, {"start_resharding": body})
    assert resp.status_code == 200, resp.text
    assert resp.json()["result"] is True
    accepted = time.monotonic()
    shown: list[dict] = []

    def ended() -> bool:
        ops = _running(node, name)
        shown.extend(ops)
        return not ops

    wait_until(ended, 240, "the resharding to end", interval=0.2)
    return accepted, time.monotonic(), shown


def _check_final(nodes, name: str, reference: dict[int, list[float]], payloads: dict,
                 shards: int) -> None:
    for node in nodes:
        wait_until(lambda n=node: not _running(n, name), 30,
                   "every peer to see the resharding end")
        assert len(_shard_ids(node, name)) == shards
        assert _info(node, name)["shard_count"] == shards
    node = nodes[0]
    assert exact_count(node, name) == len(reference)
    stored = dict(_scroll_all(node, name, with_vector=True))
    assert stored.keys() == reference.keys()
    wrong = [i for i, v in reference.items() if not np.allclose(stored[i], v, atol=1e-6)]
    assert not wrong, f"{len(wrong)} points lost an overwrite, e.g. {wrong[:5]}"
    tagged = {i: p for i, p in payloads.items() if p}
    assert tagged, "no payload was set"
    resp = httpx.post(f"{node.url}/collections/{name}/points", timeout=60, json={
        "ids": list(tagged), "with_payload": True})
    got = {p["id"]: p["payload"] for p in resp.json()["result"]}
    assert got == tagged
    ids = np.array(list(reference))
    matrix = np.array([reference[i] for i in ids], dtype=np.float32)
    for seed in range(3):
        query = np.array(_vector(random.Random(seed)), dtype=np.float32)
        scores = matrix @ query
        expected = [int(i) for i in ids[np.argsort(-scores, kind="stable")[:10]]]
        resp = httpx.post(f"{node.url}/collections/{name}/points/query", timeout=30, json={
            "query": query.tolist(), "limit": 10, "params": {"exact": True}})
        assert resp.status_code == 200, resp.text
        got = [p["id"] for p in resp.json()["result"]["points"]]
        assert got == expected, (got, expected)


def _migration_checked(load: Load, accepted: float, ended: float) -> None:
    assert not load.errors, load.errors[:5]
    during = [s for s in load.scrolls if s[0] < ended and s[1] > accepted]
    assert during, "no scroll overlapped the migration"
    assert load.writes > 0
    print(f"migration {ended - accepted:.1f}s: {len(during)} whole scrolls overlapped it, "
          f"{load.writes} upserts of 25 points acknowledged")


@pytest.fixture(scope="module")
def loaded(cluster):
    reference = _make(cluster[0], "grow", POINTS)
    return reference, dict.fromkeys(reference, {})


def test_reshard_up_under_writes_and_reads(cluster, loaded):
    node = cluster[0]
    assert _shard_ids(node, "grow") == {0, 1, 2}
    with Load(node, "grow", *loaded) as load:
        time.sleep(1.0)
        accepted, ended, shown = _reshard(node, "grow", {"direction": "up"})
        time.sleep(1.0)
    _migration_checked(load, accepted, ended)
    assert shown, "resharding_operations never showed the resharding"
    first = shown[0]
    assert (first["direction"], first["shard_id"]) == ("up", 3)
    assert isinstance(first["peer_id"], int)
    assert "shard_key" not in first
    _check_final(cluster, "grow", *loaded, 4)


def test_reshard_down_under_writes_and_reads(cluster, loaded):
    node = cluster[1]  # this time through another peer
    assert _shard_ids(node, "grow") == {0, 1, 2, 3}
    with Load(node, "grow", *loaded) as load:
        time.sleep(1.0)
        accepted, ended, shown = _reshard(node, "grow", {"direction": "down"})
        time.sleep(1.0)
    _migration_checked(load, accepted, ended)
    assert shown and (shown[0]["direction"], shown[0]["shard_id"]) == ("down", 3)
    _check_final(cluster, "grow", *loaded, 3)


def test_two_replicas_per_shard_up_and_down(cluster):
    """With replication factor 2 the new shard gets two replicas, each filled by itself."""
    node = cluster[0]
    reference = _make(node, "twin", 15_000, replicas=2)
    wait_until(lambda: replicas_all_active(node, "twin"), 60, "every replica Active")
    payloads: dict[int, dict] = dict.fromkeys(reference, {})
    for body, shards in (({"direction": "up"}, 4), ({"direction": "down"}, 3)):
        with Load(node, "twin", reference, payloads) as load:
            time.sleep(0.5)
            accepted, ended, _ = _reshard(node, "twin", body)
            time.sleep(0.5)
        _migration_checked(load, accepted, ended)
        _check_final(cluster, "twin", reference, payloads, shards)
        replicas = [s for n in cluster for s in _info(n, "twin")["local_shards"]]
        assert sorted(s["shard_id"] for s in replicas) == \
            sorted(list(range(shards)) * 2), replicas
        assert all(s["state"] == "Active" for s in replicas), replicas
        # both replicas of every shard hold the same points
        by_shard: dict[int, set] = {}
        for s in replicas:
            by_shard.setdefault(s["shard_id"], set()).add(s["points_count"])
        assert all(len(counts) == 1 for counts in by_shard.values()), by_shard


def test_a_second_resharding_is_refused(cluster):
    node = cluster[0]
    _make(node, "twice", 3000)
    resp = _operate(node, "twice", {"start_resharding": {"direction": "down"}})
    assert resp.status_code == 200, resp.text
    second = _operate(node, "twice", {"start_resharding": {"direction": "up"}})
    assert second.status_code == 400, second.text
    assert second.json()["status"]["error"] == "Bad request: another resharding is in progress"
    unknown = _operate(node, "twice", {"start_resharding": {"direction": "up",
                                                            "peer_id": 123456789}})
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["status"]["error"] == "Bad request: Peer 123456789 does not exist"
    wait_until(lambda: not _running(node, "twice"), 120,
               "the resharding to end")
    assert _shard_ids(node, "twice") == {0, 1}
    assert exact_count(node, "twice") == 3000
    none = _operate(node, "twice", {"abort_resharding": {}})
    assert none.status_code == 400, none.text


def test_abort_in_the_middle_restores_the_layout(cluster):
    node = cluster[2]
    reference = _make(node, "abort", POINTS)  # about 9 s of copying at RATE
    payloads: dict[int, dict] = dict.fromkeys(reference, {})
    with Load(node, "abort", reference, payloads) as load:
        resp = _operate(node, "abort", {"start_resharding": {"direction": "up"}})
        assert resp.status_code == 200, resp.text
        accepted = time.monotonic()
        wait_until(lambda: any(op.get("stage") == "migrating" for op in
                               _running(node, "abort")), 30,
                   "the copy to begin")
        for prefer_grpc in (False, True):  # both faces show it, through qdrant-client
            [op] = node.client(prefer_grpc=prefer_grpc).collection_cluster_info(
                "abort").resharding_operations
            assert (op.direction, op.shard_id, op.shard_key) == ("up", 3, None), op
        resp = _operate(node, "abort", {"abort_resharding": {}})
        assert resp.status_code == 200, resp.text
        wait_until(lambda: not _running(node, "abort"), 120,
                   "the abort to end")
        ended = time.monotonic()
        time.sleep(1.0)
    _migration_checked(load, accepted, ended)
    _check_final(cluster, "abort", reference, payloads, 3)
    assert _shard_ids(node, "abort") == {0, 1, 2}


def test_refused_while_resharding_is_disabled(tmp_path):
    [node] = start_cluster(tmp_path, 1)
    try:
        resp = httpx.put(f"{node.url}/collections/off", timeout=60, json={
            "vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 2})
        assert resp.status_code == 200, resp.text
        refused = _operate(node, "off", {"start_resharding": {"direction": "up"}})
        assert refused.status_code == 400, refused.text
        assert refused.json()["status"]["error"] == "Bad request: resharding is disabled"
        assert "resharding_operations" not in _info(node, "off")
        assert _shard_ids(node, "off") == {0, 1}
    finally:
        node.kill()


def test_one_shard_key_is_resharded_and_the_others_stay(cluster):
    """Custom sharding: the shard key named is resharded; points of the same ids under
    another key are neither moved nor answered twice."""
    node = cluster[0]
    url = f"{node.url}/collections/keys"
    resp = httpx.put(url, timeout=60, json={"vectors": {"size": DIM, "distance": "Dot"},
                                            "sharding_method": "custom"})
    assert resp.status_code == 200, resp.text
    for key, shards in (("a", 2), ("b", 1)):
        resp = httpx.put(f"{url}/shards", timeout=60, json={"shard_key": key,
                                                            "shards_number": shards})
        assert resp.status_code == 200, resp.text
    rng = random.Random(5)
    for key, ids in (("a", range(4000)), ("b", range(2000, 3000))):
        resp = httpx.put(f"{url}/points?wait=true", timeout=60, json={
            "shard_key": key, "points": [{"id": i, "vector": _vector(rng)} for i in ids]})
        assert resp.status_code == 200, resp.text
    missing = _operate(node, "keys", {"start_resharding": {"direction": "up"}})
    assert missing.status_code == 400, missing.text
    accepted, ended, shown = _reshard(node, "keys", {"direction": "up", "shard_key": "a"})
    assert shown and shown[0]["shard_key"] == "a"
    info = _info(node, "keys")
    keys = [s.get("shard_key") for s in info["local_shards"] + info["remote_shards"]]
    assert sorted(keys) == ["a", "a", "a", "b"]

    def count(key=None) -> int:
        body: dict = {"exact": True}
        if key is not None:
            body["shard_key"] = key
        return httpx.post(f"{url}/points/count", json=body, timeout=30).json()["result"]["count"]

    assert (count("a"), count("b"), count()) == (4000, 1000, 5000)
    ids = _scroll_all(node, "keys")
    assert len(ids) == 5000 and set(ids) == set(range(4000))
    _make(node, "auto", 100)
    auto = _operate(node, "auto", {"start_resharding": {"direction": "up", "shard_key": "a"}})
    assert auto.status_code == 400, auto.text


def _peer_id(node) -> int:
    return httpx.get(f"{node.url}/cluster", timeout=10).json()["result"]["peer_id"]


def test_losing_the_new_shard_aborts_and_loses_nothing(cluster):
    """The peer of the new shard dies in the middle of the copy: a write that cannot reach
    it marks its replica Dead, which aborts the resharding; once the peer is back, the old
    layout holds every point."""
    reference = _make(cluster[0], "lost", 15_000)
    resp = _operate(cluster[0], "lost", {"start_resharding": {"direction": "up"}})
    assert resp.status_code == 200, resp.text
    [op] = wait_until(lambda: [o for o in _running(cluster[0], "lost")
                               if o["stage"] == "migrating"], 30, "the copy to begin")
    holder = next(n for n in cluster if _peer_id(n) == op["peer_id"])
    live = next(n for n in cluster if n is not holder)
    held = {s["shard_id"] for s in _info(holder, "lost")["local_shards"]}
    time.sleep(1.0)
    holder.kill()
    ring = ring_of((0, 1, 2, 3))
    rng = random.Random(3)
    old_ring = ring_of((0, 1, 2))  # ids whose old shard is up: the write reaches shard 3
    moving = [i for i in range(NEW_IDS, NEW_IDS + 1000)
              if ring.shard(i) == 3 and old_ring.shard(i) not in held][:50]
    maybe = {i: _vector(rng) for i in moving}
    resp = httpx.put(f"{live.url}/collections/lost/points?wait=true", timeout=60,
                     json={"points": [{"id": i, "vector": v} for i, v in maybe.items()]})
    assert resp.status_code != 200 or resp.json()["result"]["status"] == "completed"
    wait_until(lambda: any(o["stage"] == "aborting" for o in _running(live, "lost")), 60,
               "the resharding to be aborted")
    holder.start().wait_ready(90)
    wait_until(lambda: not _running(live, "lost"), 120, "the abort to end")
    wait_until(lambda: replicas_all_active(live, "lost"), 60, "every replica Active")
    assert _shard_ids(live, "lost") == {0, 1, 2}
    stored = dict(_scroll_all(live, "lost", with_vector=True))
    assert reference.keys() <= stored.keys()
    assert stored.keys() - reference.keys() <= maybe.keys()
    assert all(np.allclose(stored[i], v, atol=1e-6) for i, v in reference.items())
    assert exact_count(live, "lost") == len(stored)
