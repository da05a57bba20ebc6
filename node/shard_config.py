"""What a shard needs to know of its collection's config, read from the Qdrant-shaped dict.

The collection config is stored (in consensus) exactly as Qdrant shows it; this module derives
the typed view the storage works with: vector names and their size/distance/datatype, the HNSW
parameters per vector, and the optimizer settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node import distance as dist
from node.quantization import kind_of as quantization_kind

DEFAULT_HNSW = {
    "m": 16,
    "ef_construct": 100,
    "full_scan_threshold": 10000,
    "max_indexing_threads": 0,
    "on_disk": False,
}

DEFAULT_OPTIMIZERS = {
    "deleted_threshold": 0.2,
    "vacuum_min_vector_number": 1000,
    "default_segment_number": 0,
    "max_segment_size": None,
    "memmap_threshold": None,
    "indexing_threshold": 10000,
    "flush_interval_sec": 5,
    "max_optimization_threads": None,
}

#: Qdrant's turbo4 / turbo8 / turbo16 vector storage (4 to 16 bits a value) is kept as
#: float16 here: approximate as Qdrant's is, and never coarser
_STORAGE_DTYPE = {"float32": "float32", "float16": "float16", "uint8": "uint8",
                  "turbo4": "float16", "turbo8": "float16", "turbo16": "float16"}


@dataclass(frozen=True)
class DenseParams:
    size: int
    distance: str
    datatype: str = "float32"
    on_disk: bool = False
    hnsw_config: dict | None = None
    multivector: bool = False  # multivector_config {comparator: max_sim}: a matrix per point
    quantization: dict | None = None  # the vector's own quantization_config, else the collection's

    @property
    def storage_dtype(self) -> str:
        return _STORAGE_DTYPE.get(self.datatype, "float32")

    @property
    def graph_code_bits(self) -> int:
        """Bits a dimension in the HNSW graph: 32 (a float32 copy, shared with the store), or
        codes, and what the graph finds is rescored from the stored rows: 8 when the vectors are
        scalar-quantized (Qdrant walks the graph by the quantized vectors, and the codes are
        those quantized vectors), 6 when they are on disk (a copy in RAM would undo that; the
        codes only steer the walk). Manhattan keeps float32: FAISS's codes cannot score it."""
        if self.distance == dist.MANHATTAN:
            return 32
        if self.scalar_quantized:
            return 8
        return 6 if self.on_disk else 32

    @property
    def scalar_quantized(self) -> bool:
        return quantization_kind(self.quantization) == "scalar"


@dataclass(frozen=True)
class SparseParams:
    modifier: str = "none"  # "none" | "idf"
    datatype: str = "float32"  # of the inverted index's weights: float32 | float16 | uint8
    full_scan_threshold: int | None = None
    on_disk: bool = False

    @property
    def idf(self) -> bool:
        return self.modifier == "idf"


@dataclass
class ShardConfig:
    vectors: dict[str, DenseParams]
    hnsw: dict = field(default_factory=lambda: dict(DEFAULT_HNSW))
    optimizers: dict = field(default_factory=lambda: dict(DEFAULT_OPTIMIZERS))
    sparse_vectors: dict = field(default_factory=dict)  # name -> SparseParams
    payload_schema: dict = field(default_factory=dict)  # indexed key -> field schema

    @property
    def flat_names(self) -> list[str]:
        """Dense vector names with one vector per point (stored in rows, HNSW-indexed)."""
        return [name for name, p in self.vectors.items() if not p.multivector]

    @property
    def multi_names(self) -> list[str]:
        return [name for name, p in self.vectors.items() if p.multivector]

    def hnsw_for(self, name: str) -> dict:
        own = self.vectors[name].hnsw_config or {}
        return {**self.hnsw, **{k: v for k, v in own.items() if v is not None}}

    @classmethod
    def from_collection(cls, config: dict, payload_schema: dict | None = None) -> ShardConfig:
        params = config["params"]
        vectors_cfg = params.get("vectors") or {}
        if "size" in vectors_cfg and "distance" in vectors_cfg:
            vectors_cfg = {"": vectors_cfg}
        vectors = {
            name: DenseParams(
                size=int(v["size"]),
                distance=v["distance"],
                datatype=v.get("datatype") or "float32",
                on_disk=bool(v.get("on_disk") or False),
                hnsw_config=v.get("hnsw_config"),
                multivector=bool(v.get("multivector_config")),
                quantization=v.get("quantization_config") or config.get("quantization_config"),
            )
            for name, v in vectors_cfg.items()
        }
        hnsw = {**DEFAULT_HNSW, **{k: v for k, v in (config.get("hnsw_config") or {}).items()
                                    if v is not None}}
        optimizers = {**DEFAULT_OPTIMIZERS, **(config.get("optimizer_config") or {})}
        sparse = {}
        for name, sp in (params.get("sparse_vectors") or {}).items():
            sp = sp or {}
            index = sp.get("index") or {}
            sparse[name] = SparseParams(
                modifier=sp.get("modifier") or "none",
                datatype=index.get("datatype") or "float32",
                full_scan_threshold=index.get("full_scan_threshold"),
                on_disk=bool(index.get("on_disk") or False),
            )
        return cls(
            vectors=vectors,
            hnsw=hnsw,
            optimizers=optimizers,
            sparse_vectors=sparse,
            payload_schema=dict(payload_schema or {}),
        )
