"""Kill points: kill -9 a node at many random instants under wait=true write load, and check
after every restart that nothing acknowledged was lost.

One node, one collection (2 shards, a small indexing threshold so that optimizations, flushes
and WAL truncations run all the time and kills land in them too). Each cycle starts the node on
the same storage, runs writers for a random 0.05-1.5 s, then SIGKILLs it mid-flight:

  upsert    new ids with payload {"v": 0}                  (acknowledged: must exist)
  overwrite an acknowledged id with payload {"v": n}        (acknowledged: "v" >= n)
  delete    an acknowledged id                              (acknowledged: must be gone)

Writes in flight at the kill may or may not have been applied; ids they touched are checked
only against what was acknowledged before. After each restart the ids touched in the cycle are
read back; every --full-every cycles (and at the end) every id ever written is checked.

    python bench/killpoints.py [--kills 1000] [--writers 2] [--full-every 50]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.node import Node  # noqa: E402

COLLECTION = "kills"
BATCH = 20


class Model:
    """What the node acknowledged, shared by the writers (under one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next_id = 1
        self.live: dict[int, int] = {}  # id -> payload version acknowledged last
        self.deleted: set[int] = set()
        self.in_doubt: set[int] = set()  # touched by a write that got no answer
        self.acked_writes = 0

    def new_ids(self, n: int) -> list[int]:
        with self.lock:
            ids = list(range(self.next_id, self.next_id + n))
            self.next_id += n
            return ids

    def pick_live(self, rng: random.Random, n: int, mine: set[int]) -> list[int]:
        """Acknowledged live ids among ``mine``: each writer changes only the points it made,
        so two writes of one point never race and the order they were acknowledged in is the
        order they were applied in."""
        with self.lock:
            pool = sorted(i for i in mine if i in self.live and i not in self.in_doubt)
        return rng.sample(pool, min(n, len(pool)))


class Writer(threading.Thread):
    def __init__(self, url: str, model: Model, seed: int, touched: set[int],
                 mine: set[int]) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=url, timeout=10.0)
        self.model, self.rng, self.touched = model, random.Random(seed), touched
        self.mine: set[int] = mine
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            kind = self.rng.choices(("upsert", "overwrite", "delete"), (5, 3, 2))[0]
            ids = self.model.new_ids(BATCH) if kind == "upsert" else \
                self.model.pick_live(self.rng, BATCH // 2, self.mine)
            if not ids:
                continue
            version = self.rng.randrange(1, 1 << 30)
            self.touched.update(ids)
            if kind == "upsert":
                self.mine.update(ids)
            try:
                if kind == "delete":
                    resp = self.http.post(f"/collections/{COLLECTION}/points/delete",
                                          params={"wait": "true"}, json={"points": ids})
                else:
                    v = 0 if kind == "upsert" else version
                    points = [{"id": i, "vector": [self.rng.random() for _ in range(8)],
                               "payload": {"v": v}} for i in ids]
                    resp = self.http.put(f"/collections/{COLLECTION}/points",
                                         params={"wait": "true"}, json={"points": points})
                resp.raise_for_status()
            except httpx.HTTPError:  # the kill: this write's outcome is unknown
                with self.model.lock:
                    self.model.in_doubt.update(ids)
                return
            with self.model.lock:
                self.model.acked_writes += 1
                for i in ids:
                    if kind == "delete":
                        self.model.live.pop(i, None)
                        self.model.deleted.add(i)
                    else:
                        self.model.live[i] = 0 if kind == "upsert" else version


def check(http: httpx.Client, model: Model, ids: set[int]) -> list[str]:
    """Differences between the node and what it acknowledged, for ``ids``."""
    problems = []
    ids = sorted(ids)
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        resp = http.post(f"/collections/{COLLECTION}/points",
                         json={"ids": chunk, "with_payload": True, "with_vector": False})
        resp.raise_for_status()
        found = {p["id"]: p["payload"]["v"] for p in resp.json()["result"]}
        for i in chunk:
            if i in model.in_doubt:
                continue
            if i in model.live:
                if i not in found:
                    problems.append(f"id {i}: acknowledged, missing")
                elif found[i] != model.live[i]:
                    problems.append(f"id {i}: payload v={found[i]}, acknowledged {model.live[i]}")
            elif i in model.deleted and i in found:
                problems.append(f"id {i}: deletion acknowledged, still there")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=1000)
    p.add_argument("--writers", type=int, default=2)
    p.add_argument("--full-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=29)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    model = Model()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="killpoints-") as tmp:
        node = Node(Path(tmp) / "node")
        node.start().wait_ready(60)
        node.http.put(f"/collections/{COLLECTION}", json={
            "vectors": {"size": 8, "distance": "Cosine"}, "shard_number": 2,
            "optimizers_config": {"indexing_threshold": 2000, "flush_interval_sec": 1},
        }).raise_for_status()
        problems: list[str] = []
        owned: list[set[int]] = [set() for _ in range(args.writers)]  # ids per writer slot
        for cycle in range(1, args.kills + 1):
            touched: set[int] = set()
            writers = [Writer(node.url, model, rng.randrange(1 << 30), touched, owned[k])
                       for k in range(args.writers)]
            for w in writers:
                w.start()
            time.sleep(rng.uniform(0.05, 1.5))
            node.kill()
            for w in writers:
                w.stop.set()
                w.join(15)
            node.start().wait_ready(60)
            full = cycle % args.full_every == 0 or cycle == args.kills
            everything = set(model.live) | model.deleted
            problems += check(node.http, model, everything if full else touched)
            # writes in doubt were either applied or not: learn which, so later checks are exact
            with model.lock:
                doubt, model.in_doubt = model.in_doubt, set()
            if doubt:
                resp = node.http.post(f"/collections/{COLLECTION}/points", json={
                    "ids": sorted(doubt), "with_payload": True, "with_vector": False})
                found = {q["id"]: q["payload"]["v"] for q in resp.json()["result"]}
                for i in doubt:
                    if i in found:
                        model.live[i] = found[i]
                        model.deleted.discard(i)
                    else:
                        model.live.pop(i, None)
                        model.deleted.add(i)
            if full or problems:
                print(f"kill {cycle}/{args.kills}: {model.acked_writes} writes acknowledged, "
                      f"{len(model.live)} points live, {len(model.deleted)} deleted, "
                      f"{len(problems)} problems, {time.monotonic() - started:.0f} s",
                      flush=True)
            if problems:
                for line in problems[:20]:
                    print("  " + line)
                break
        node.stop()
    verdict = "OK" if not problems else "LOST WRITES"
    print(f"{verdict}: {cycle} kills, {model.acked_writes} acknowledged writes, "
          f"{len(model.live)} points checked live, {len(model.deleted)} checked deleted, "
          f"{len(problems)} problems, {time.monotonic() - started:.0f} s")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
