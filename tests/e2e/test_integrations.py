"""What builds on qdrant-client, unchanged, against a real node over REST and over gRPC:
LangChain (``langchain-qdrant``), LlamaIndex (``llama-index-vector-stores-qdrant``) and Haystack
(``qdrant-haystack``). Each one creates its collection, writes documents with embeddings and
metadata, searches with and without a metadata filter, and deletes; the answers are checked
against a brute-force cosine ranking of the same embeddings.

Embeddings are made here (a seeded vector per text), so no model and no network is needed.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import numpy as np
import pytest

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no call home from a test
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")

DIM = 8
TEXTS = [f"document number {i} about {topic}" for i, topic in
         enumerate(["cats", "dogs", "fish", "birds", "cats", "dogs", "fish", "birds", "cats"])]
TOPICS = [text.rsplit(" ", 1)[1] for text in TEXTS]


def embed(text: str) -> list[float]:
    """A fixed pseudo-random unit vector per text (the same text, the same vector)."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8]))
    vector = rng.standard_normal(DIM).astype(np.float32)
    return (vector / np.linalg.norm(vector)).tolist()


def expected_order(query: list[float], topic: str | None = None) -> list[int]:
    """Indexes of TEXTS by cosine similarity to ``query``, best first."""
    matrix = np.array([embed(t) for t in TEXTS], dtype=np.float32)
    scores = matrix @ np.asarray(query, dtype=np.float32)
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    return [i for i in order if topic is None or TOPICS[i] == topic]


@pytest.fixture
def urls(node, transport):
    return {"url": node.url, "grpc_port": node.grpc_port, "prefer_grpc": transport == "grpc"}


def test_langchain_vector_store(node, transport, urls, make_name):
    import langchain_qdrant
    from langchain_core.embeddings import Embeddings
    from qdrant_client import models

    class Seeded(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [embed(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return embed(text)

    name = make_name("lc")
    ids = [str(uuid.uuid4()) for _ in TEXTS]
    store = langchain_qdrant.QdrantVectorStore.from_texts(
        TEXTS, Seeded(), metadatas=[{"topic": t, "n": i} for i, t in enumerate(TOPICS)],
        ids=ids, collection_name=name, **urls)
    query = TEXTS[3]
    found = store.similarity_search_with_score(query, k=3)
    assert [doc.page_content for doc, _ in found] == [TEXTS[i] for i in expected_order(
        embed(query))[:3]]
    assert found[0][1] == pytest.approx(1.0, abs=1e-5)
    only_cats = models.Filter(must=[models.FieldCondition(
        key="metadata.topic", match=models.MatchValue(value="cats"))])
    found = store.similarity_search(query, k=5, filter=only_cats)
    assert [doc.page_content for doc in found] == [TEXTS[i] for i in expected_order(
        embed(query), "cats")]
    assert {doc.metadata["topic"] for doc in found} == {"cats"}
    store.delete(ids=[ids[3]])
    found = store.similarity_search(query, k=1)
    assert found[0].page_content != TEXTS[3]
    assert node.http.post(f"/collections/{name}/points/count", json={"exact": True}).json()[
        "result"]["count"] == len(TEXTS) - 1


def test_llama_index_vector_store(node, transport, urls, make_name):
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores import MetadataFilter, MetadataFilters, VectorStoreQuery
    from llama_index.vector_stores import qdrant as vector_stores
    from qdrant_client import QdrantClient

    name = make_name("li")
    client = QdrantClient(**urls)
    try:
        store = vector_stores.QdrantVectorStore(collection_name=name, client=client)
        nodes = [TextNode(text=t, id_=str(uuid.uuid4()), embedding=embed(t),
                          metadata={"topic": topic}) for t, topic in zip(TEXTS, TOPICS,
                                                                           strict=True)]
        assert store.add(nodes) == [n.id_ for n in nodes]
        query = embed(TEXTS[2])
        result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=3))
        assert result.ids == [nodes[i].id_ for i in expected_order(query)[:3]]
        assert result.similarities[0] == pytest.approx(1.0, abs=1e-5)
        fish = MetadataFilters(filters=[MetadataFilter(key="topic", value="fish")])
        result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=5,
                                              filters=fish))
        assert result.ids == [nodes[i].id_ for i in expected_order(query, "fish")]
        assert [n.get_content() for n in result.nodes] == [TEXTS[i] for i in expected_order(
            query, "fish")]
        store.delete_nodes([nodes[2].id_])
        result = store.query(VectorStoreQuery(query_embedding=query, similarity_top_k=1))
        assert result.ids != [nodes[2].id_]
    finally:
        client.close()


def test_haystack_document_store(node, transport, urls, make_name):
    from haystack import Document
    from haystack_integrations.components.retrievers.qdrant import QdrantEmbeddingRetriever
    from haystack_integrations.document_stores import qdrant as qdrant_haystack

    name = make_name("hs")
    store = qdrant_haystack.QdrantDocumentStore(
        url=urls["url"], grpc_port=urls["grpc_port"], prefer_grpc=urls["prefer_grpc"],
        index=name, embedding_dim=DIM, similarity="cosine", recreate_index=True)
    docs = [Document(content=t, embedding=embed(t), meta={"topic": topic})
            for t, topic in zip(TEXTS, TOPICS, strict=True)]
    assert store.write_documents(docs) == len(docs)
    assert store.count_documents() == len(docs)
    retriever = QdrantEmbeddingRetriever(document_store=store, top_k=3)
    query = embed(TEXTS[1])
    found = retriever.run(query_embedding=query)["documents"]
    assert [d.content for d in found] == [TEXTS[i] for i in expected_order(query)[:3]]
    dogs = {"field": "meta.topic", "operator": "==", "value": "dogs"}
    found = retriever.run(query_embedding=query, filters=dogs, top_k=5)["documents"]
    assert [d.content for d in found] == [TEXTS[i] for i in expected_order(query, "dogs")]
    assert sorted(d.content for d in store.filter_documents(filters=dogs)) == sorted(
        TEXTS[i] for i in range(len(TEXTS)) if TOPICS[i] == "dogs")
    store.delete_documents([docs[1].id])
    assert store.count_documents() == len(docs) - 1
