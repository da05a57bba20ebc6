"""The distance matrix API (POST …/points/search/matrix/pairs and …/offsets).

`sample` points are drawn at random among those the filter allows (and that have vector
`using`); for each of them the `limit` nearest other sampled points are found, scored exactly in
the collection's distance. Pairs come sampled point by sampled point (in id order), nearest first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from node.errors import FormatError
from node.ids import PointId, id_sort_key
from router.collection.collection import Collection
from router.operations.fields import filter_, obj, uint
from router.query import engine as query_engine
from router.query.scoring import as_raw, distance_of, higher_is_better, score_records
from router.query.stages import Stage


@dataclass
class MatrixRequest:
    filter: dict | None
    sample: int
    limit: int
    using: str


@dataclass
class Matrix:
    ids: list[PointId]
    rows: list[int]
    cols: list[int]
    scores: list[float]


def parse_matrix(body: dict) -> MatrixRequest:
    body = obj(body, "SearchMatrixRequest")
    using = body.get("using")
    if using is not None and not isinstance(using, str):
        raise FormatError("invalid type for `using`")
    return MatrixRequest(
        filter=filter_(body.get("filter")),
        sample=uint(body.get("sample"), "sample", 10, minimum=2),
        limit=uint(body.get("limit"), "limit", 3, minimum=1),
        using=using or "",
    )


def compute(collection: Collection, req: MatrixRequest) -> Matrix:
    distance_of(collection, req.using)  # an unknown vector name is an error
    if collection.strict is not None:
        collection.strict.check_read(req.filter, req.sample, collection.payload_schema)
    stage = Stage(kind=None, using=req.using, filter=req.filter)
    ctx = query_engine.Context(collection)
    candidates = query_engine.scan(ctx, stage, [])
    picked = random.sample(candidates, min(req.sample, len(candidates)))
    picked.sort(key=lambda r: id_sort_key(r.id))
    ids = [r.id for r in picked]
    rows: list[int] = []
    cols: list[int] = []
    scores: list[float] = []
    if len(picked) < 2:
        return Matrix(ids, rows, cols, scores)
    higher = higher_is_better(collection, req.using)
    for i, record in enumerate(picked):
        raw = as_raw(record.vectors[req.using])
        row = score_records(collection, req.using, raw, picked).astype(np.float32)
        order = [
            j
            for j in sorted(range(len(picked)), key=lambda j: ((-row[j] if higher else row[j]), j))
            if j != i
        ]
        for j in order[: req.limit]:
            rows.append(i)
            cols.append(j)
            scores.append(np.float32(row[j]))
    return Matrix(ids, rows, cols, scores)


def pairs_json(m: Matrix) -> dict:
    return {
        "pairs": [
            {"a": m.ids[i], "b": m.ids[j], "score": s}
            for i, j, s in zip(m.rows, m.cols, m.scores, strict=True)
        ]
    }


def offsets_json(m: Matrix) -> dict:
    return {"offsets_row": m.rows, "offsets_col": m.cols, "scores": m.scores, "ids": m.ids}
