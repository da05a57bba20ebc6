"""Quantized copies of a dense vector's rows (Qdrant's quantization_config), through FAISS codecs.

* scalar int8: the shard's HNSW graph itself holds the 8-bit codes (FAISS ``IndexHNSWSQ``, see
  ``DenseParams.graph_code_bits``): no flat copy is kept here, and searches walk the graph by the
  codes, as Qdrant walks its graph by quantized vectors.
* binary: one bit per dimension (value > 0), scored by Hamming distance in numpy (as ±1
  vectors: dim − 2·hamming is their dot product).
* product: FAISS ``IndexPQ`` with 8-bit codes; `compression` x4…x64 sets the sub-vector count
  (x4: one byte per float, x8 one per two floats, …); scored by asymmetric distance tables in
  numpy so that any mask applies.

A quantized index (binary, product) covers the prefix [0, size) of the shard's rows, like a
graph; the optimizer builds it (and extends it as rows arrive). Searches preselect
`limit × oversampling` candidates with it and rescore them with the original vectors (unless
`rescore: false`); `ignore: true` or `exact: true` search the original vectors only.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

from node import distance as dist
from node.vector_index import SearchHits

_PQ_TRAIN_SAMPLE = 5_000
_PQ_MIN_ROWS = 256
_COMPRESSION = {"x4": 1, "x8": 2, "x16": 4, "x32": 8, "x64": 16}  # dimensions per code byte
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def kind_of(config: dict | None) -> str | None:
    """"scalar" | "binary" | "product" for a quantization config, None when there is none.
    Qdrant's ``turbo`` (1 to 4 bits a value) is served as scalar int8 here: finer, not
    coarser, than what it asks for."""
    if not isinstance(config, dict):
        return None
    for kind in ("scalar", "binary", "product"):
        if isinstance(config.get(kind), dict):
            return kind
    if isinstance(config.get("turbo"), dict):
        return "scalar"
    return None


def supported(config: dict | None, distance: str, rows: int) -> bool:
    """Whether a flat quantized index of this kind is built (scalar codes live in the graph)."""
    kind = kind_of(config)
    if kind in (None, "scalar") or distance == dist.MANHATTAN:  # FAISS scores L2 and IP
        return False
    if kind == "product" and rows < _PQ_MIN_ROWS:
        return False
    return rows > 0


@dataclass
class Quantized:
    kind: str
    distance: str
    dim: int
    config: dict
    index: object = None  # product: the trained FAISS IndexPQ
    codes: np.ndarray | None = None  # binary: (n, dim/8) packed bits; product: (n, M) codes
    size: int = 0

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def build(cls, config: dict, distance: str, rows: np.ndarray) -> Quantized:
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        kind = kind_of(config)
        dim = rows.shape[1]
        q = cls(kind, distance, dim, config)
        rng = np.random.default_rng(0)
        if kind == "product":
            per_byte = _COMPRESSION.get(config["product"].get("compression"), 4)
            m = max(1, dim // per_byte)
            while dim % m:
                m -= 1
            metric = faiss.METRIC_L2 if distance == dist.EUCLID else faiss.METRIC_INNER_PRODUCT
            index = faiss.IndexPQ(dim, m, 8, metric)
            index.pq.cp.niter = 10
            sample = rows if len(rows) <= _PQ_TRAIN_SAMPLE else rows[
                np.sort(rng.choice(len(rows), _PQ_TRAIN_SAMPLE, replace=False))]
            index.train(sample)
            q.index = index
            q.codes = np.zeros((0, m), dtype=np.uint8)
        else:
            q.codes = np.zeros((0, (dim + 7) // 8), dtype=np.uint8)
        q.extend(rows)
        return q

    def extend(self, rows: np.ndarray) -> None:
        """Quantize more rows (appended after the ones already covered)."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if len(rows) == 0:
            return
        if self.kind == "product":
            self.codes = np.vstack([self.codes, self.index.pq.compute_codes(rows)])
        else:
            self.codes = np.vstack([self.codes, np.packbits(rows > 0, axis=1)])
        self.size += len(rows)

    def copy(self) -> Quantized:
        out = Quantized(self.kind, self.distance, self.dim, self.config, size=self.size)
        out.index = self.index  # a trained PQ is only read
        out.codes = self.codes.copy()
        return out

    def memory_bytes(self) -> int:
        """Bytes of the quantized vectors and their codebooks."""
        if self.kind == "product":
            return int(self.codes.nbytes) + int(self.index.pq.centroids.size()) * 4
        return int(self.codes.nbytes)

    # -- search ------------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, mask: np.ndarray) -> list[SearchHits]:
        """Best k among allowed rows of [0, size) by the quantized score (approximate, in the
        distance's scale and direction)."""
        window = np.ascontiguousarray(mask[: self.size])
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        higher = dist.higher_is_better(self.distance)
        allowed = np.flatnonzero(window)
        out = []
        for query in queries:
            scores = self._all_scores(query)[allowed]
            best = dist.top_k(scores, min(k, len(allowed)), higher)
            out.append(SearchHits(allowed[best], scores[best].astype(np.float32)))
        return out

    def _all_scores(self, query: np.ndarray) -> np.ndarray:
        if self.kind == "binary":
            qbits = np.packbits(query > 0)
            hamming = _POPCOUNT[np.bitwise_xor(self.codes, qbits)].sum(axis=1, dtype=np.int64)
            sign_dot = (self.dim - 2 * hamming).astype(np.float32)
            if self.distance == dist.EUCLID:  # |a−b|² of ±1 vectors = 4·hamming
                return np.sqrt(4.0 * hamming).astype(np.float32)
            return sign_dot / np.float32(self.dim) if self.distance == dist.COSINE else sign_dot
        pq = self.index.pq
        table = np.empty((pq.M, pq.ksub), dtype=np.float32)
        q = query.reshape(1, -1)
        if self.distance == dist.EUCLID:
            pq.compute_distance_table(faiss.swig_ptr(q), faiss.swig_ptr(table))
        else:
            pq.compute_inner_prod_table(faiss.swig_ptr(q), faiss.swig_ptr(table))
        scores = table[np.arange(pq.M), self.codes].sum(axis=1, dtype=np.float32)
        if self.distance == dist.EUCLID:
            return np.sqrt(np.maximum(scores, 0))
        return scores


class GraphCodes:
    """The 8-bit codes a compact HNSW graph holds (scalar quantization), scanned flat: what a
    request that asks for quantized scores (``rescore: false``) gets where the plan scores
    every allowed point instead of walking the graph."""

    def __init__(self, graph) -> None:
        self.codes = faiss.downcast_index(graph.index.storage)  # an IndexScalarQuantizer
        self.distance = graph.distance
        self.size = graph.size

    def search(self, queries: np.ndarray, k: int, mask: np.ndarray) -> list[SearchHits]:
        """Best k among allowed rows of [0, size) by the codes' (approximate) scores."""
        window = np.ascontiguousarray(mask[: self.size])
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, self.size)
        if window.all():
            scores, labels = self.codes.search(queries, k)
        else:
            bits = np.packbits(window, bitorder="little")
            selector = faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(bits))
            scores, labels = self.codes.search(
                queries, k, params=faiss.SearchParameters(sel=selector)
            )
            del bits  # kept alive until here: the selector points into it
        if self.distance == dist.EUCLID:
            scores = np.sqrt(np.maximum(scores, 0))
        out = []
        for row_scores, row_labels in zip(scores, labels, strict=True):
            keep = row_labels >= 0
            out.append(SearchHits(row_labels[keep].astype(np.int64), row_scores[keep]))
        return out


def search_params(raw: dict | None) -> tuple[bool, bool, float]:
    """QuantizationSearchParams → (ignore, rescore, oversampling); rescoring is on by default."""
    raw = raw or {}
    ignore = bool(raw.get("ignore") or False)
    rescore = raw.get("rescore")
    oversampling = raw.get("oversampling")
    return ignore, True if rescore is None else bool(rescore), float(oversampling or 1.0)
