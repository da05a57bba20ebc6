"""search_plan.score_records gives every point the score a search on the same vector gives it:
dense (each distance), sparse (plain and idf), multivector MaxSim; NaN where a search would not
return the point."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from node.shard import LocalShard
from node.shard_config import ShardConfig
from node.vector_input import prepare_named
from router.collection.search_plan import Query, build_requests, score_records


@pytest.mark.parametrize("distance", ["Cosine", "Dot", "Euclid", "Manhattan"])
def test_scores_equal_search_scores(tmp_path, distance):
    config = ShardConfig.from_collection({"params": {
        "vectors": {
            "d": {"size": 4, "distance": distance},
            "m": {"size": 3, "distance": distance, "multivector_config": {"comparator": "max_sim"}},
        },
        "sparse_vectors": {"s": {}, "i": {"modifier": "idf"}},
    }})
    shard = LocalShard(tmp_path / "s", config)
    rng = np.random.default_rng(0)
    vectors = []
    for pid in range(60):
        v = {"d": prepare_named(config, "d", rng.normal(size=4).tolist()),
             "m": prepare_named(config, "m", rng.normal(size=(1 + pid % 3, 3)).tolist())}
        for name in ("s", "i"):
            idx = rng.choice(20, size=3, replace=False).tolist()
            sparse = {"indices": idx, "values": rng.normal(size=3).tolist()}
            v[name] = prepare_named(config, name, sparse)
        vectors.append(v)
    shard.apply(
        1, {"type": "upsert", "ids": list(range(60)), "vectors": vectors, "payloads": [None] * 60}
    )
    replica = SimpleNamespace(sparse_stats=shard.sparse_stats)
    collection = SimpleNamespace(
        shard_config=config, shards=[SimpleNamespace(read=lambda call: call(replica))],
    )
    queries = {
        "d": rng.normal(size=4).tolist(),
        "m": rng.normal(size=(2, 3)).tolist(),
        "s": {"indices": [1, 5, 9], "values": [1.0, -0.5, 2.0]},
        "i": {"indices": [1, 5, 9], "values": [1.0, -0.5, 2.0]},
    }
    for using, raw in queries.items():
        request = build_requests(collection, [Query(using=using, vector=raw, limit=100)])[0]
        found = {r.id: float(r.score) for r in shard.search([request])[0]}
        records = shard.retrieve(list(range(60)), False, [using])
        scores = score_records(collection, using, raw, records)
        for record, score in zip(records, scores, strict=True):
            if record.id in found:
                assert float(score) == pytest.approx(found[record.id], rel=1e-5, abs=1e-6), using
            else:  # sparse: no shared dimension
                assert np.isnan(score), (using, record.id)
    # records without the vector: NaN
    assert np.isnan(score_records(collection, "d", queries["d"], [SimpleNamespace(vectors={})]))[0]
