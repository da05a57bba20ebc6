"""Local BM25 inference: documents {"text", "model": "qdrant/bm25"} in upserts and queries.

The reference is computed here from the documented formula: word tokens (runs of letters and
digits), lowercased, English stop words dropped, Snowball (English) stems, token id
|murmur3_32 as i32|; a document weighs each distinct token tf·(k+1)/(tf + k·(1−b+b·len/avg_len))
(k 1.2, b 0.75, avg_len 256), a query 1.0 per distinct token; the collection's idf modifier
ln((N − df + 0.5)/(df + 0.5) + 1) multiplies the query weights.

Through qdrant-client on both transports (with ``cloud_inference=True`` so that the client
sends the documents to the server instead of embedding them itself) and raw HTTP.
"""

from __future__ import annotations

import math
import re
import uuid

import numpy as np
import pytest
import snowballstemmer
from qdrant_client import models

from node.bm25 import murmur3_32
from node.stopwords import words_for
from tests.support import api
from tests.support.api import create_collection, error

DOCS = [
    "Recipe for baking chocolate chip cookies",
    "The best chocolate cake you will ever bake",
    "Cookies and milk: a classic pairing for children",
    "How to grow tomatoes in your garden",
    "Gardening tips for growing tomatoes, peppers and cucumbers",
    "Baking bread at home with sourdough starter",
    "The history of chocolate, from the Aztecs to modern confectioners",
    "Running shoes reviewed: the best shoes for marathon runners",
    "Marathon training plan for beginners running their first race",
    "A beginner's guide to baking cookies and cakes",
    "Milk, eggs and flour are the basics of most cakes",
    "Python programming for data scientists",
    "Data science with Python: pandas, numpy and plotting",
    "Growing peppers indoors under LED lights",
    "Chocolate chip cookies cookies cookies!!! The ultimate cookie recipe",
]
QUERIES = ["chocolate cookies", "growing tomatoes", "baking bread and cakes", "running a marathon",
           "python data", "the best recipe for cookies"]

K, B, AVG = 1.2, 0.75, 256.0
_stem = snowballstemmer.stemmer("english")


def ref_tokens(text: str) -> list[str]:
    words = [w.lower() for w in re.findall(r"[^\W_]+", text)]
    return [_stem.stemWord(w) for w in words if w not in words_for("english")]


def ref_id(token: str) -> int:
    h = murmur3_32(token.encode())
    return abs(h - (1 << 32) if h >= 1 << 31 else h)


def ref_doc(text: str, avg_len: float = AVG) -> dict[int, float]:
    tokens = ref_tokens(text)
    out = {}
    for token in set(tokens):
        tf = tokens.count(token)
        weight = tf * (K + 1) / (tf + K * (1 - B + B * len(tokens) / avg_len))
        out[ref_id(token)] = float(np.float32(weight))
    return out


def ref_query(text: str) -> dict[int, float]:
    return {ref_id(t): 1.0 for t in ref_tokens(text)}


def ref_rank(docs: dict[int, dict[int, float]], query: dict[int, float], idf: bool = True):
    n = len(docs)
    weights = {}
    for dim, w in query.items():
        df = sum(1 for d in docs.values() if dim in d)
        factor = np.float32(math.log((n - df + 0.5) / (df + 0.5) + 1)) if idf else np.float32(1)
        weights[dim] = np.float32(w) * factor
    out = []
    for pid, doc in docs.items():
        shared = [dim for dim in doc if dim in weights]
        if shared:
            score = sum(np.float32(weights[d]) * np.float32(doc[d]) for d in sorted(shared))
            out.append((pid, float(score)))
    out.sort(key=lambda p: (-p[1], p[0]))
    return out


def assert_same(got, expected, k):
    expected = expected[:k]
    assert [p for p, _ in got] == [p for p, _ in expected] or all(
        math.isclose(a[1], b[1], rel_tol=1e-5)
        for a, b in zip(got, expected, strict=False)), (got, expected)
    assert len(got) == len(expected)
    for (_, gs), (_, es) in zip(got, expected, strict=True):
        assert math.isclose(gs, es, rel_tol=1e-5, abs_tol=1e-6), (got, expected)


@pytest.fixture
def bm25_client(node, transport):
    return node.client(prefer_grpc=(transport == "grpc"), cloud_inference=True)


@pytest.fixture(scope="module")
def corpus(node):
    name = f"bm25_{uuid.uuid4().hex[:8]}"
    http = node.http
    create_collection(http, name, {"sparse_vectors": {"text": {"modifier": "idf"}, "raw": {}}})
    points = [
        {"id": i + 1, "vector": {
            "text": {"text": doc, "model": "qdrant/bm25"},
            "raw": {"text": doc, "model": "Qdrant/bm25"},
        }, "payload": {"doc": doc}}
        for i, doc in enumerate(DOCS)
    ]
    api.upsert(http, name, points)
    try:
        yield name
    finally:
        http.delete(f"/collections/{name}")


def test_tokens_follow_the_documented_pipeline():
    assert ref_tokens("The Best chocolate-chip Cookies, baked!") == [
        "best", "chocol", "chip", "cooki", "bake"
    ]


def test_stored_document_vectors_equal_reference(http, corpus):
    records = api.retrieve(http, corpus, list(range(1, len(DOCS) + 1)), with_vector=True)
    for record in records:
        expected = ref_doc(DOCS[record["id"] - 1])
        got = record["vector"]["text"]
        assert got["indices"] == sorted(expected)
        assert np.allclose(got["values"], [expected[i] for i in sorted(expected)], rtol=1e-6)


def test_query_by_document_equals_reference_http(http, corpus):
    docs = {i + 1: ref_doc(d) for i, d in enumerate(DOCS)}
    for text in QUERIES:
        points = api.query(http, corpus, {
            "query": {"text": text, "model": "qdrant/bm25"}, "using": "text", "limit": 5})
        assert_same([(p["id"], p["score"]) for p in points], ref_rank(docs, ref_query(text)), 5)
        # without the idf modifier: plain dot product of query (1.0 per token) and document
        points = api.query(http, corpus, {
            "query": {"nearest": {"text": text, "model": "qdrant/bm25"}},
            "using": "raw", "limit": 5})
        assert_same([(p["id"], p["score"]) for p in points],
                    ref_rank(docs, ref_query(text), idf=False), 5)


def test_query_by_document_equals_reference_client(bm25_client, corpus):
    docs = {i + 1: ref_doc(d) for i, d in enumerate(DOCS)}
    for text in QUERIES:
        res = bm25_client.query_points(
            corpus, query=models.Document(text=text, model="qdrant/bm25"), using="text", limit=4)
        assert_same([(p.id, p.score) for p in res.points], ref_rank(docs, ref_query(text)), 4)


def test_upsert_documents_through_client(bm25_client, collection_name, transport):
    bm25_client.create_collection(
        collection_name, vectors_config={},
        sparse_vectors_config={"s": models.SparseVectorParams(modifier=models.Modifier.IDF)})
    bm25_client.upsert(collection_name, points=[
        models.PointStruct(id=i + 1, vector={"s": models.Document(text=d, model="qdrant/bm25",
                                                                   options={"avg_len": 5.0})})
        for i, d in enumerate(DOCS[:8])
    ])
    docs = {i + 1: ref_doc(d, avg_len=5.0) for i, d in enumerate(DOCS[:8])}
    stored = bm25_client.retrieve(collection_name, [1], with_vectors=True)[0].vector["s"]
    assert stored.indices == sorted(docs[1])
    assert np.allclose(stored.values, [docs[1][i] for i in sorted(docs[1])], rtol=1e-6)
    res = bm25_client.query_points(
        collection_name, query=models.Document(text="chocolate cookies", model="qdrant/bm25"),
        using="s", limit=3)
    assert_same([(p.id, p.score) for p in res.points],
                ref_rank(docs, ref_query("chocolate cookies")), 3)


def test_unknown_model_and_dense_target_refused(http, corpus, collection_name):
    resp = http.post(f"/collections/{corpus}/points/query", json={
        "query": {"text": "x", "model": "sentence-transformers/all-minilm-l6-v2"}, "using": "text"})
    error(resp, 400, contains="not available")
    create_collection(http, collection_name, {"vectors": {"size": 4, "distance": "Cosine"}})
    resp = http.put(f"/collections/{collection_name}/points", params={"wait": "true"}, json={
        "points": [{"id": 1, "vector": {"text": "hello", "model": "qdrant/bm25"}}]})
    assert resp.status_code == 400


def test_non_english_language_drops_its_own_stopwords(bm25_client, collection_name, transport):
    """`language: french`: French stop words go (as in Qdrant, the language picks the list when
    no `stopwords` is given), English ones stay, the French stemmer stems the rest."""
    french = snowballstemmer.stemmer("french")
    options = {"language": "french"}
    bm25_client.create_collection(
        collection_name, vectors_config={},
        sparse_vectors_config={"s": models.SparseVectorParams()})
    texts = {1: "Le chat et les chiens du voisin", 2: "the chat"}
    bm25_client.upsert(collection_name, points=[
        models.PointStruct(id=pid, vector={"s": models.Document(
            text=text, model="qdrant/bm25", options=options)})
        for pid, text in texts.items()
    ])
    expected = {1: ["chat", "chiens", "voisin"], 2: ["the", "chat"]}
    for pid, words in expected.items():
        stored = bm25_client.retrieve(collection_name, [pid], with_vectors=True)[0].vector["s"]
        assert stored.indices == sorted({ref_id(french.stemWord(w)) for w in words}), pid
    # a query of French stop words only is an empty vector: nothing matches
    res = bm25_client.query_points(collection_name, query=models.Document(
        text="le et les du", model="qdrant/bm25", options=options), using="s", limit=5)
    assert res.points == []
    res = bm25_client.query_points(collection_name, query=models.Document(
        text="les chats", model="qdrant/bm25", options=options), using="s", limit=5)
    assert sorted(p.id for p in res.points) == [1, 2]  # the shorter document first
    assert res.points[0].id == 2
