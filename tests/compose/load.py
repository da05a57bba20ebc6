"""A write load with a ledger, and the convergence checks that read it back on every node.

Each write is a batch of new points (ids never reused), upserted with ``wait=true`` through the
nodes in turn. Its answer files the batch under one of three outcomes, as a client must read it:

* acknowledged: 200;
* unknown: the answer says the write may have been applied (Qdrant's wording: "Consistency of
  this update is not guaranteed", or a timeout, 408), or no answer came at all;
* failed: any other error, which says that the write was not applied.

Every acknowledged point must be readable on every node once the cluster has converged.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import numpy as np

DIM = 8
#: what an answer says when a write's outcome is not known (router/collection/replica_set.py)
UNKNOWN_MARKERS = ("not guaranteed", "Timeout error")


def points(ids: list[int]) -> list[dict]:
    rng = np.random.default_rng(ids[0])
    vectors = rng.random((len(ids), DIM), dtype=np.float32)
    return [{"id": i, "vector": v.tolist(), "payload": {"n": i}}
            for i, v in zip(ids, vectors, strict=True)]


def classify(status: int | None, text: str) -> str:
    if status == 200:
        return "acked"
    if status is None or status == 408 or any(m in text for m in UNKNOWN_MARKERS):
        return "unknown"
    return "failed"


@dataclass
class WriteLoad:
    """Batches of new points written through ``urls`` in turn by one thread, until stopped."""

    urls: list[str]
    collection: str
    first_id: int
    batch: int = 20
    pause: float = 0.02
    acked: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ids = itertools.count(self.first_id)

    def __enter__(self) -> WriteLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    @property
    def batches(self) -> int:
        return (len(self.acked) + len(self.unknown) + len(self.failed)) // self.batch

    def wait_batches(self, n: int, timeout: float = 60) -> None:
        """Until ``n`` more batches have answered (of any outcome)."""
        target = self.batches + n
        deadline = time.monotonic() + timeout
        while self.batches < target:
            assert time.monotonic() < deadline, f"the load stalled: {self.summary()}"
            time.sleep(0.05)

    def summary(self) -> str:
        return (f"{len(self.acked)} acknowledged, {len(self.unknown)} unknown outcome, "
                f"{len(self.failed)} failed points in {self.batches} batches; errors "
                f"{dict(self.errors)}")

    def _run(self) -> None:
        with httpx.Client(timeout=60) as http:
            for turn in itertools.count():
                if self._stop.is_set():
                    return
                ids = [next(self._ids) for _ in range(self.batch)]
                url = self.urls[turn % len(self.urls)]
                try:
                    resp = http.put(f"{url}/collections/{self.collection}/points",
                                    params={"wait": "true"}, json={"points": points(ids)})
                    status, text = resp.status_code, resp.text
                except httpx.HTTPError as exc:
                    status, text = None, f"{type(exc).__name__}"
                outcome = classify(status, text)
                getattr(self, outcome).extend(ids)
                if outcome != "acked":
                    self.errors[(status, text[:160])] += 1
                time.sleep(self.pause)


def replicas_settled(url: str, collection: str) -> bool:
    """No transfer running and every replica Active, as the node at ``url`` sees it."""
    info = httpx.get(f"{url}/collections/{collection}/cluster", timeout=10).json()["result"]
    shards = info["local_shards"] + info["remote_shards"]
    return not info["shard_transfers"] and all(s["state"] == "Active" for s in shards)


def local_counts(url: str, collection: str) -> dict[int, int]:
    info = httpx.get(f"{url}/collections/{collection}/cluster", timeout=10).json()["result"]
    return {s["shard_id"]: s["points_count"] for s in info["local_shards"]}


def scroll_ids(url: str, collection: str) -> list[int]:
    ids: list[int] = []
    offset = None
    while True:
        body = {"limit": 5000, "with_payload": False, "with_vector": False, "offset": offset}
        page = httpx.post(f"{url}/collections/{collection}/points/scroll", json=body,
                          timeout=30).json()["result"]
        ids.extend(p["id"] for p in page["points"])
        offset = page["next_page_offset"]
        if offset is None:
            return ids


def converged(urls: list[str], collection: str) -> tuple[bool, str]:
    """Every replica Active, each shard's copies the same size, the same scroll everywhere."""
    if not all(replicas_settled(u, collection) for u in urls):
        return False, "replicas not all Active"
    copies: dict[int, set[int]] = {}
    for url in urls:
        for shard, count in local_counts(url, collection).items():
            copies.setdefault(shard, set()).add(count)
    if any(len(c) != 1 for c in copies.values()):
        return False, f"shard copies differ: {copies}"
    scrolls = [scroll_ids(u, collection) for u in urls]
    if any(s != scrolls[0] for s in scrolls):
        return False, "scrolls differ"
    total = sum(next(iter(c)) for c in copies.values())
    if total != len(scrolls[0]):
        return False, f"shard counts sum to {total}, scroll has {len(scrolls[0])}"
    return True, f"{total} points"


def wait_converged(urls: list[str], collection: str, timeout: float = 180) -> float:
    """Seconds until :func:`converged` holds."""
    start = time.monotonic()
    why = ""
    while time.monotonic() - start < timeout:
        try:
            ok, why = converged(urls, collection)
        except (httpx.HTTPError, KeyError) as exc:
            ok, why = False, f"{type(exc).__name__}: {exc}"
        if ok:
            return time.monotonic() - start
        time.sleep(0.5)
    raise AssertionError(f"not converged after {timeout} s: {why}")


def missing_acked(url: str, collection: str, acked: list[int]) -> list[int]:
    """The acknowledged ids that the node at ``url`` cannot retrieve."""
    found: set[int] = set()
    for i in range(0, len(acked), 2000):
        chunk = acked[i:i + 2000]
        resp = httpx.post(f"{url}/collections/{collection}/points", timeout=30,
                          json={"ids": chunk, "with_payload": False, "with_vector": False})
        resp.raise_for_status()
        found.update(p["id"] for p in resp.json()["result"])
    return sorted(set(acked) - found)
