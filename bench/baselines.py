"""In-process baselines on the same data and the same HNSW parameters: raw FAISS
``IndexHNSWFlat`` and Qdrant's own engine through ``qdrant-edge-py``."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from data import Dataset
from loadgen import CallTarget


def log(msg: str) -> None:
    print(f"[baseline] {msg}", flush=True)


# ------------------------------------------------------------------------------------ FAISS


class Faiss:
    name = "faiss"

    def __init__(self, ds: Dataset, m: int, ef_construct: int) -> None:
        import faiss

        self.faiss = faiss
        self.ds = ds
        self.threads = faiss.omp_get_max_threads()
        t0 = time.perf_counter()
        index = faiss.IndexHNSWFlat(ds.dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construct
        index.add(ds.base)  # normalised vectors: inner product == cosine
        self.build_s = time.perf_counter() - t0
        self.index = index
        # One query per call from a thread pool: keep OpenMP from oversubscribing the cores.
        faiss.omp_set_num_threads(1)
        self._bitmaps: dict[str, Any] = {}
        log(
            f"FAISS IndexHNSWFlat M={m} efC={ef_construct}: built in {self.build_s:.1f} s "
            f"({self.threads} OpenMP threads)"
        )

    def close(self) -> None:
        self.faiss.omp_set_num_threads(self.threads)

    def batch(self, ef: int, repeats: int = 3) -> tuple[float, np.ndarray]:
        """All queries in one ``search`` call on every OpenMP thread: (best QPS, labels)."""
        self.faiss.omp_set_num_threads(self.threads)
        try:
            params = self.faiss.SearchParametersHNSW(efSearch=ef)
            best = 0.0
            for _ in range(repeats):
                t0 = time.perf_counter()
                _, labels = self.index.search(self.ds.queries, 10, params=params)
                best = max(best, len(self.ds.queries) / (time.perf_counter() - t0))
            return best, labels
        finally:
            self.faiss.omp_set_num_threads(1)

    def _params(self, ef: int, filter_key: str | None):
        faiss = self.faiss
        if filter_key is None:
            return faiss.SearchParametersHNSW(efSearch=ef)
        if filter_key not in self._bitmaps:
            bits = np.packbits(self.ds.allowed_mask(filter_key), bitorder="little")
            selector = faiss.IDSelectorBitmap(self.ds.n, faiss.swig_ptr(bits))
            self._bitmaps[filter_key] = (bits, selector)  # bits must outlive the selector
        return faiss.SearchParametersHNSW(efSearch=ef, sel=self._bitmaps[filter_key][1])

    def target(self, ef: int, filter_key: str | None) -> CallTarget:
        index = self.index
        queries = self.ds.queries
        params = self._params(ef, filter_key)

        def make(_client: int) -> Callable[[int], Any]:
            def do(q: int) -> np.ndarray:
                _, labels = index.search(queries[q : q + 1], 10, params=params)
                return labels[0]

            return do

        return CallTarget(
            len(queries),
            make,
            f"faiss ef={ef} filter={filter_key}",
            ids=lambda a: [int(x) for x in a if x >= 0],
        )


# ------------------------------------------------------------------------------ qdrant-edge


def edge_available() -> tuple[bool, str]:
    try:
        from importlib.metadata import version

        import qdrant_edge  # noqa: F401

        return True, version("qdrant-edge-py")
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}"


class Edge:
    name = "edge"

    def __init__(
        self, ds: Dataset, payloads: list[dict], m: int, ef_construct: int, batch: int = 1000
    ) -> None:
        import qdrant_edge as qe

        self.qe = qe
        self.ds = ds
        self.tmp = tempfile.TemporaryDirectory(prefix="qdrant-edge-bench-")
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=ds.dim, distance=qe.Distance.Cosine),
            # full_scan_threshold as Qdrant's default (10,000 KB)
            hnsw_config=qe.HnswIndexConfig(
                m=m, ef_construct=ef_construct, full_scan_threshold=10_000
            ),
        )
        t0 = time.perf_counter()
        shard = qe.EdgeShard.create(self.tmp.name, config)
        for field in ("f10", "f01"):
            shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
        for start in range(0, ds.n, batch):
            stop = min(start + batch, ds.n)
            points = [qe.Point(i, ds.base[i].tolist(), payloads[i]) for i in range(start, stop)]
            shard.update(qe.UpdateOperation.upsert_points(points))
        self.upsert_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        shard.optimize()
        self.optimize_s = time.perf_counter() - t1
        self.total_s = time.perf_counter() - t0
        info = shard.info()
        self.info = {
            "points": info.points_count,
            "indexed": info.indexed_vectors_count,
            "segments": info.segments_count,
        }
        self.shard = shard
        log(
            f"qdrant-edge: upsert {self.upsert_s:.1f} s, optimize {self.optimize_s:.1f} s, "
            f"total {self.total_s:.1f} s; {self.info}"
        )

    def close(self) -> None:
        try:
            self.shard.close()
        finally:
            self.tmp.cleanup()

    def target(self, ef: int, filter_key: str | None) -> CallTarget:
        qe = self.qe
        flt = None
        if filter_key:
            field = {"10": "f10", "01": "f01"}[filter_key]
            flt = qe.Filter(must=[qe.FieldCondition(key=field, match=qe.MatchValue("y"))])
        params = qe.SearchParams(hnsw_ef=ef)
        requests = [
            qe.QueryRequest(
                limit=10,
                query=qe.Query.Nearest(vec.tolist()),
                filter=flt,
                params=params,
                with_payload=False,
                with_vector=False,
            )
            for vec in self.ds.queries
        ]
        shard = self.shard

        def make(_client: int) -> Callable[[int], Any]:
            def do(q: int) -> list:
                return [p.id for p in shard.query(requests[q])]

            return do

        return CallTarget(len(requests), make, f"edge ef={ef} filter={filter_key}")
