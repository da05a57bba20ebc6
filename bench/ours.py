"""Tessera, measured from the outside: a real node process (or a running one at --url), loaded
through qdrant-client, queried over REST by the lean load generator and through qdrant-client.

Every step that the server may not support yet (payload index, filters, gRPC) is tried, and on
failure skipped with a note instead of stopping the run.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from data import Dataset
from h2load import AsyncGrpcQueryTarget
from loadgen import AsyncHttpQueryTarget, CallTarget, GrpcQueryTarget, HttpQueryTarget

REPO_ROOT = Path(__file__).resolve().parents[1]
COLLECTION = "bench"
FILTER_FIELDS = {"10": "f10", "01": "f01"}


def log(msg: str) -> None:
    print(f"[ours] {msg}", flush=True)


def rss_bytes(pid: int) -> int | None:
    """VmRSS of a process, in bytes (None if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def pid_listening_on(port: int) -> int | None:
    """The pid of a local process with a listening TCP socket on ``port`` (best effort)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    local, state, inode = cols[1], cols[3], cols[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            continue
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = str(fd.readlink())
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def filter_json(key: str) -> dict:
    return {"must": [{"key": FILTER_FIELDS[key], "match": {"value": "y"}}]}


def query_bodies(ds: Dataset, ef: int, filter_key: str | None, k: int = 10) -> list[bytes]:
    """Pre-encoded POST /points/query bodies, one per query vector."""
    out = []
    flt = filter_json(filter_key) if filter_key else None
    for vec in ds.queries:
        body: dict[str, Any] = {"query": vec, "limit": k, "params": {"hnsw_ef": ef}}
        if flt is not None:
            body["filter"] = flt
        out.append(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))
    return out


class Ours:
    """Owns the node (when it started it) and the measurements taken through it."""

    def __init__(
        self, url: str | None, pid: int | None, keep_dir: bool = False, grpc_port: int | None = None
    ) -> None:
        self.node = None
        self.tmp: tempfile.TemporaryDirectory | None = None
        self.url = url
        self.pid = pid
        self.grpc_port = grpc_port
        self.keep_dir = keep_dir
        self.notes: list[str] = []
        self.setup: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.url:
            if self.pid is None:
                port = httpx.URL(self.url).port or 80
                self.pid = pid_listening_on(port)
            log(f"using running node at {self.url} (pid {self.pid or 'unknown'})")
            return
        sys.path.insert(0, str(REPO_ROOT))
        from tests.support.node import Node  # the project's own process helper

        self.tmp = tempfile.TemporaryDirectory(prefix="tessera-bench-")
        self.node = Node(Path(self.tmp.name) / "node")
        t0 = time.perf_counter()
        self.node.start().wait_ready(timeout=60)
        self.url = self.node.url
        self.pid = self.node.proc.pid
        self.grpc_port = self.node.grpc_port
        log(
            f"node up at {self.url} (pid {self.pid}, grpc port {self.grpc_port}) "
            f"in {time.perf_counter() - t0:.1f} s; storage {self.node.storage_path}"
        )

    def stop(self) -> None:
        if self.node is None and self.url and not self.keep_dir:
            try:  # a node we did not start: leave it as we found it
                with httpx.Client(base_url=self.url, timeout=60) as http:
                    http.delete(f"/collections/{COLLECTION}")
            except httpx.HTTPError:
                pass
        if self.node is not None:
            self.node.close_clients()
            self.node.stop()
            log(f"node stopped; log at {self.node.log_path}" if self.keep_dir else "node stopped")
        if self.tmp is not None and not self.keep_dir:
            self.tmp.cleanup()

    def log_tail(self, n: int = 3000) -> str:
        return self.node.log_text(n) if self.node is not None else ""

    def rss(self) -> int | None:
        return rss_bytes(self.pid) if self.pid else None

    def client(self, grpc: bool = False):
        from qdrant_client import QdrantClient

        kw: dict[str, Any] = {"timeout": 120}
        if grpc:
            kw.update(prefer_grpc=True, grpc_port=self.grpc_port or 6334)
        return QdrantClient(url=self.url, **kw)

    # ------------------------------------------------------------------ loading

    def create(self, name: str, dim: int, m: int, ef_construct: int, client=None) -> None:
        from qdrant_client import models

        client = client or self.client()
        if client.collection_exists(name):
            client.delete_collection(name)
        client.create_collection(
            name,
            vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
            hnsw_config=models.HnswConfigDiff(m=m, ef_construct=ef_construct),
        )

    def payload_indexes(self, name: str) -> dict[str, str]:
        """PUT /collections/{name}/index for each filter field; what each answered."""
        out = {}
        with httpx.Client(base_url=self.url, timeout=120) as http:
            for field in FILTER_FIELDS.values():
                try:
                    resp = http.put(
                        f"/collections/{name}/index",
                        params={"wait": "true"},
                        json={"field_name": field, "field_schema": "keyword"},
                    )
                    if resp.status_code == 200:
                        out[field] = "ok"
                    else:
                        out[field] = f"HTTP {resp.status_code}: {resp.text[:160]}"
                except httpx.HTTPError as exc:
                    out[field] = f"{type(exc).__name__}: {exc}"
        return out

    def upload(
        self,
        name: str,
        ds: Dataset,
        payloads: list[dict],
        parallel: int,
        batch: int,
        grpc: bool = False,
    ) -> float:
        client = self.client(grpc=grpc)
        t0 = time.perf_counter()
        client.upload_collection(
            name,
            vectors=ds.base,
            payload=payloads,
            ids=range(ds.n),
            batch_size=batch,
            parallel=parallel,
            wait=True,
        )
        elapsed = time.perf_counter() - t0
        client.close()
        return elapsed

    def wait_green(self, name: str, n: int, timeout: float) -> tuple[float | None, dict]:
        """Seconds until status is green with every point counted (None on timeout)."""
        t0 = time.perf_counter()
        info: dict = {}
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while time.perf_counter() - t0 < timeout:
                try:
                    resp = http.get(f"/collections/{name}")
                    if resp.status_code == 200:
                        info = resp.json()["result"]
                        if info.get("status") == "green" and info.get("points_count") == n:
                            return time.perf_counter() - t0, info
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        return None, info

    def load(
        self,
        ds: Dataset,
        payloads: list[dict],
        m: int,
        ef_construct: int,
        parallel: int,
        batch: int,
        green_timeout: float,
    ) -> bool:
        """Create, index, upload and wait for green; fills ``self.setup``. False if unusable."""
        rss_empty = self.rss()
        self.setup["rss_empty"] = rss_empty
        if self.node is None and rss_empty:
            self.notes.append(
                "node at --url: the 'empty' RSS is the node's before this run's "
                "collection was created (other collections count in it)"
            )
        self.create(COLLECTION, ds.dim, m, ef_construct)
        idx = self.payload_indexes(COLLECTION)
        self.setup["payload_index"] = idx
        for field, answer in idx.items():
            if answer != "ok":
                self.notes.append(f"payload index on `{field}` not created: {answer}")
                log(f"payload index on {field}: {answer}")
        log(f"uploading {ds.n} points (REST, parallel={parallel}, batch={batch}) ...")
        t_up = self.upload(COLLECTION, ds, payloads, parallel, batch)
        log(f"upload: {t_up:.1f} s = {ds.n / t_up:,.0f} points/s; waiting for green ...")
        t_green, info = self.wait_green(COLLECTION, ds.n, green_timeout)
        self.setup.update(
            upload_s=t_up,
            upload_pps=ds.n / t_up,
            green_after_upload_s=t_green,
            upload_to_green_s=None if t_green is None else t_up + t_green,
            info=info,
        )
        if t_green is None:
            self.notes.append(
                f"collection not green after {green_timeout:.0f} s (status {info.get('status')}, "
                f"indexed {info.get('indexed_vectors_count')} of {info.get('points_count')})"
            )
            log(self.notes[-1])
        else:
            log(
                f"green {t_green:.1f} s after the upload (total {t_up + t_green:.1f} s); "
                f"indexed_vectors_count={info.get('indexed_vectors_count')}"
            )
        time.sleep(0.5)
        rss_loaded = self.rss()
        self.setup["rss_loaded"] = rss_loaded
        if rss_empty and rss_loaded:
            self.setup["rss_per_point"] = (rss_loaded - rss_empty) / ds.n
            log(
                f"RSS empty {rss_empty / 2**20:.0f} MiB, loaded {rss_loaded / 2**20:.0f} MiB: "
                f"{self.setup['rss_per_point']:.0f} bytes/point"
            )
        else:
            self.notes.append("server RSS not measured (no local pid)")
        return True

    # ------------------------------------------------------------------ grpc

    def grpc_available(self) -> tuple[bool, str]:
        port = self.grpc_port or 6334
        host = httpx.URL(self.url).host
        self.grpc_port = port
        if not port_open(host, port):
            return False, f"nothing listens on gRPC port {port}"
        try:
            client = self.client(grpc=True)
            client.get_collections()
            client.close()
        except Exception as exc:  # noqa: BLE001
            return False, f"gRPC call failed: {type(exc).__name__}: {str(exc)[:200]}"
        return True, "ok"

    def grpc_upload(
        self,
        ds: Dataset,
        payloads: list[dict],
        m: int,
        ef_construct: int,
        parallel: int,
        batch: int,
        green_timeout: float,
    ) -> dict:
        name = COLLECTION + "_grpc"
        client = self.client(grpc=True)
        try:
            self.create(name, ds.dim, m, ef_construct, client=client)
            t_up = self.upload(name, ds, payloads, parallel, batch, grpc=True)
            t_green, _ = self.wait_green(name, ds.n, green_timeout)
            client.delete_collection(name)
        finally:
            client.close()
        return {"upload_s": t_up, "upload_pps": ds.n / t_up, "green_after_upload_s": t_green}

    # ------------------------------------------------------------------ query targets

    def rest_target(
        self, ds: Dataset, ef: int, filter_key: str | None, loadgen: str = "asyncio"
    ) -> HttpQueryTarget:
        label = f"rest ef={ef} filter={filter_key}"
        kind = AsyncHttpQueryTarget if loadgen == "asyncio" else HttpQueryTarget
        return kind(
            self.url,
            f"/collections/{COLLECTION}/points/query",
            query_bodies(ds, ef, filter_key),
            name=label,
        )

    def grpc_target(
        self, ds: Dataset, ef: int, filter_key: str | None, loadgen: str = "asyncio"
    ) -> GrpcQueryTarget:
        """``Points/Query`` over gRPC with pre-serialized requests (the gRPC twin of the REST
        load generator): raw HTTP/2 from one asyncio loop, or grpcio with a thread per
        client (``loadgen="threads"``)."""
        from qdrant_client import grpc as pb

        flt = None
        if filter_key:
            flt = pb.Filter(
                must=[
                    pb.Condition(
                        field=pb.FieldCondition(
                            key=FILTER_FIELDS[filter_key], match=pb.Match(keyword="y")
                        )
                    )
                ]
            )
        bodies = []
        for vec in ds.queries:
            request = pb.QueryPoints(
                collection_name=COLLECTION,
                query=pb.Query(nearest=pb.VectorInput(dense=pb.DenseVector(data=vec.tolist()))),
                limit=10,
                params=pb.SearchParams(hnsw_ef=ef),
            )
            if flt is not None:
                request.filter.CopyFrom(flt)
            bodies.append(request.SerializeToString())

        def decode(raw: bytes) -> list[int]:
            return [p.id.num for p in pb.QueryResponse.FromString(raw).result]

        kind = AsyncGrpcQueryTarget if loadgen == "asyncio" else GrpcQueryTarget
        return kind(
            f"{httpx.URL(self.url).host}:{self.grpc_port or 6334}",
            "/qdrant.Points/Query",
            bodies,
            decode,
            name=f"grpc ef={ef} filter={filter_key}",
        )

    def client_target(
        self, ds: Dataset, ef: int, filter_key: str | None, grpc: bool = False
    ) -> CallTarget:
        """qdrant-client ``query_points``: one client object per load-generator thread."""
        from qdrant_client import models

        flt = None
        if filter_key:
            flt = models.Filter(
                must=[
                    models.FieldCondition(
                        key=FILTER_FIELDS[filter_key], match=models.MatchValue(value="y")
                    )
                ]
            )
        params = models.SearchParams(hnsw_ef=ef)
        queries = ds.queries

        def make(_client: int) -> Callable[[int], list]:
            client = self.client(grpc=grpc)

            def do(q: int) -> list:
                res = client.query_points(
                    COLLECTION, query=queries[q], limit=10, search_params=params, query_filter=flt
                )
                return [p.id for p in res.points]

            do.close = client.close  # type: ignore[attr-defined]
            return do

        return CallTarget(len(queries), make, "qdrant-client " + ("grpc" if grpc else "rest"))


def np_ids(arr: np.ndarray) -> list[int]:
    return [int(x) for x in arr if x >= 0]
