"""The OpenSearch adapter: its request bodies (exact, and fitting the mapping), scores, writes."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from chatbot.adapters.aws.opensearch import (
    FUSION_WINDOW,
    PAGE_SIZE,
    IndexRequestError,
    OpenSearchDocumentIndex,
    cosine_from_score,
    ids_body,
    keyword_body,
    knn_body,
    opensearch_client,
    opensearch_score,
)
from chatbot.rank_fusion import HYBRID_WEIGHTS, RRF_K, reciprocal_rank_fusion
from chatbot.records import DocumentChunk
from chatbot.search_index import index_body
from tests.conftest import FakeClock

DIMENSIONS = 1024
MAPPING: dict[str, Any] = index_body(DIMENSIONS)["mappings"]["properties"]
INDEX = "documents"
QUERY_VECTOR = [1 / math.sqrt(DIMENSIONS)] * DIMENSIONS
SORTABLE = {"keyword", "integer", "date"}


def field_type(name: str) -> str:
    assert name in MAPPING, f"{name} is not in the index mapping"
    kind: str = MAPPING[name]["type"]
    return kind


def check_against_mapping(body: dict[str, Any]) -> None:
    """Every field the body names exists, with a type that supports how it is used."""
    query = body["query"]
    ((kind, clause),) = query.items()
    if kind == "knn":
        ((name, spec),) = clause.items()
        assert field_type(name) == "knn_vector"
        assert len(spec["vector"]) == MAPPING[name]["dimension"]
        assert spec["k"] >= 1
    elif kind == "multi_match":
        for name in clause["fields"]:
            assert field_type(name.split("^")[0]) == "text", name
    elif kind in ("term", "terms"):
        ((name, _),) = clause.items()
        assert field_type(name) == "keyword", name
    else:
        raise AssertionError(f"unexpected query {kind}")
    source = body.get("_source", {})
    for name in source if isinstance(source, list) else source.get("excludes", []):
        field_type(name)
    for order in body.get("sort", []):
        ((name, _),) = order.items()
        assert field_type(name) in SORTABLE, name


def check_document(document: dict[str, Any]) -> None:
    assert set(document) == set(MAPPING)
    assert len(document["embedding"]) == DIMENSIONS
    for name, value in document.items():
        expected = {"text": str, "keyword": str, "date": str, "integer": int}.get(field_type(name))
        if expected is not None:
            assert isinstance(value, expected), name


class FakeEmbeddings:
    dimensions = DIMENSIONS
    model_id = "amazon.titan-embed-text-v2:0"

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [QUERY_VECTOR for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return QUERY_VECTOR


class FakeClient:
    """Records every call; answers searches with canned hit lists, in order (a multi-search
    takes one list per search in it)."""

    def __init__(self, *pages: list[dict[str, Any]], bulk_response: Any = None) -> None:
        self.pages = deque(pages)
        self.searches: list[dict[str, Any]] = []
        self.msearches: list[list[dict[str, Any]]] = []
        self.bulks: list[list[dict[str, Any]]] = []
        self.msearch_error: Any = None
        self.bulk_response = bulk_response or {"errors": False, "items": []}

    def search(self, *, body: Any = None, index: Any = None) -> Any:
        assert index == INDEX
        self.searches.append(body)
        return {"hits": {"hits": self.pages.popleft() if self.pages else []}}

    def msearch(self, *, body: Any, index: Any = None) -> Any:
        assert index == INDEX
        self.msearches.append(body)
        if self.msearch_error is not None:
            return {"responses": [{"error": self.msearch_error, "status": 400}]}
        return {"responses": [self.search(body=b, index=index) for b in body[1::2]]}

    def bulk(self, *, body: Any, index: Any = None) -> Any:
        assert index == INDEX
        self.bulks.append(body)
        return self.bulk_response


def hit(chunk_id: str, score: float, **extra: Any) -> dict[str, Any]:
    return {
        "_id": f"os-{chunk_id}",
        "_score": score,
        "_source": {"chunk_id": chunk_id, "content": f"text of {chunk_id}", "source": "a.md"},
        **extra,
    }


def adapter(client: FakeClient, **options: Any) -> OpenSearchDocumentIndex:
    options.setdefault("clock", FakeClock())
    return OpenSearchDocumentIndex(client, INDEX, FakeEmbeddings(), **options)


@dataclass(frozen=True)
class Chunk:
    id: str
    document_id: str
    source: str
    position: int
    content: str
    title: str = ""
    content_hash: str = "hash"


# Request bodies


def test_the_knn_body_is_exactly_the_documented_query() -> None:
    assert knn_body([0.6, 0.8], 5) == {
        "size": 5,
        "query": {"knn": {"embedding": {"vector": [0.6, 0.8], "k": 5}}},
        "_source": {"excludes": ["embedding"]},
    }


def test_the_keyword_body_is_bm25_over_content_and_title_boosted() -> None:
    assert keyword_body("refund policy", 7) == {
        "size": 7,
        "query": {"multi_match": {"query": "refund policy", "fields": ["content", "title^2"]}},
        "_source": {"excludes": ["embedding"]},
    }


def test_the_keyword_body_leaves_question_words_out_as_the_embedded_index_does() -> None:
    body = keyword_body("How do I get a refund?", 7)
    assert body["query"]["multi_match"]["query"] == "get refund"
    # A question of stop words alone is searched as it is.
    assert keyword_body("what is it", 7)["query"]["multi_match"]["query"] == "what is it"


def test_the_ids_body_pages_by_chunk_id_with_search_after() -> None:
    assert ids_body("source", ["a.md"], size=10, after=["c1", 5]) == {
        "size": 10,
        "query": {"terms": {"source": ["a.md"]}},
        "_source": ["chunk_id", "content_hash"],
        "sort": [{"chunk_id": "asc"}, {"ingested_at": "asc"}],
        "search_after": ["c1", 5],
    }


def test_every_request_body_fits_the_deployed_mapping() -> None:
    check_against_mapping(knn_body(QUERY_VECTOR, 10))
    check_against_mapping(keyword_body("anything", 10))
    check_against_mapping(ids_body("source", ["a.md"], size=10, after=None))
    check_against_mapping(ids_body("chunk_id", ["c1", "c2"], size=10, after=None))


def test_the_mapping_check_rejects_a_mismatched_query() -> None:
    with pytest.raises(AssertionError):
        check_against_mapping(knn_body([1.0, 0.0], 10))  # wrong dimension
    with pytest.raises(AssertionError):
        check_against_mapping({"query": {"multi_match": {"query": "x", "fields": ["source"]}}})
    with pytest.raises(AssertionError):
        check_against_mapping({"query": {"terms": {"content": ["x"]}}})


def test_searches_send_those_bodies_to_the_index() -> None:
    client = FakeClient()
    index = adapter(client)
    index.search_vector("q", limit=3)
    index.search_keyword("refunds", limit=4)
    index.search_hybrid("refunds", limit=2)
    assert client.msearches == [
        [{}, knn_body(QUERY_VECTOR, FUSION_WINDOW), {}, keyword_body("refunds", FUSION_WINDOW)]
    ]
    assert client.searches == [
        knn_body(QUERY_VECTOR, 3),
        keyword_body("refunds", 4),
        knn_body(QUERY_VECTOR, FUSION_WINDOW),
        keyword_body("refunds", FUSION_WINDOW),
    ]
    for body in client.searches:
        check_against_mapping(body)


def test_hybrid_of_text_without_a_word_asks_only_for_the_knn_ranking() -> None:
    client = FakeClient([hit("a", 1.5)])
    assert [c.id for c in adapter(client).search_hybrid("?!", limit=3)] == ["a"]
    assert client.msearches == [[{}, knn_body(QUERY_VECTOR, FUSION_WINDOW)]]


def test_a_failed_search_in_a_hybrid_query_raises() -> None:
    client = FakeClient()
    client.msearch_error = {"type": "search_phase_execution_exception"}
    with pytest.raises(IndexRequestError, match="search_phase_execution_exception"):
        adapter(client).search_hybrid("refunds", limit=3)


def test_text_without_a_word_sends_no_keyword_query() -> None:
    client = FakeClient()
    assert adapter(client).search_keyword("?!", limit=3) == []
    assert client.searches == []


# Scores


@pytest.mark.parametrize(
    ("cosine", "score"), [(1.0, 2.0), (0.5, 1.5), (0.0, 1.0), (-0.5, 1 / 1.5), (-1.0, 0.5)]
)
def test_innerproduct_scores_translate_both_ways(cosine: float, score: float) -> None:
    assert opensearch_score(cosine) == pytest.approx(score)
    assert cosine_from_score(score) == pytest.approx(cosine)


def test_the_translation_round_trips_and_keeps_order() -> None:
    cosines = [c / 100 for c in range(-100, 101)]
    scores = [opensearch_score(c) for c in cosines]
    assert scores == sorted(scores)
    assert [cosine_from_score(s) for s in scores] == pytest.approx(cosines)
    with pytest.raises(ValueError, match="positive"):
        cosine_from_score(0.0)


def test_vector_hits_become_chunks_scored_by_cosine_and_thresholded() -> None:
    hits = [hit("c1", 1.9), hit("c2", 1.5), hit("c3", 0.8)]
    found = adapter(FakeClient(hits)).search_vector("q", limit=3)
    assert all(type(c) is DocumentChunk for c in found)
    assert [(c.id, c.content, c.source) for c in found] == [
        ("c1", "text of c1", "a.md"),
        ("c2", "text of c2", "a.md"),
        ("c3", "text of c3", "a.md"),
    ]
    assert [c.score for c in found] == pytest.approx([0.9, 0.5, -0.25])
    thresholded = adapter(FakeClient(hits)).search_vector("q", limit=3, min_score=0.5)
    assert [c.id for c in thresholded] == ["c1", "c2"]


def test_keyword_hits_score_like_the_embedded_index() -> None:
    found = adapter(FakeClient([hit("c1", 3.0), hit("c2", 1.0)])).search_keyword("q", limit=2)
    assert [(c.id, c.score) for c in found] == [("c1", 0.75), ("c2", 0.5)]


# Fusion


def test_rrf_ranks_canned_rankings() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d"]])
    assert [item for item, _ in fused] == ["c", "a", "b", "d"]
    assert dict(fused)["c"] == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert dict(fused)["a"] == pytest.approx(1 / (RRF_K + 1))


def test_hybrid_fuses_the_knn_and_bm25_rankings() -> None:
    knn = [hit("a", 1.9), hit("b", 1.8), hit("c", 1.7)]
    bm25 = [hit("c", 9.0), hit("d", 4.0)]
    found = adapter(FakeClient(knn, bm25)).search_hybrid("q", limit=3)
    # Fused as the local index fuses them: each ranking's scores scaled to [0, 1] (cosines
    # 0.9, 0.8, 0.7 -> 1, 0.5, 0; BM25 9, 4 -> 1, 0), weighted and added.
    vector, keyword = HYBRID_WEIGHTS
    assert [c.id for c in found] == ["a", "b", "c"]  # 0.7, 0.35, 0.3
    scores = {c.id: c.score for c in found}
    assert scores["a"] == pytest.approx(vector)
    assert scores["b"] == pytest.approx(vector * 0.5)
    assert scores["c"] == pytest.approx(keyword)


def test_hybrid_min_score_applies_to_the_cosine_before_fusion() -> None:
    knn = [hit("a", 1.9), hit("b", 1.2), hit("c", 0.9)]  # cosines 0.9, 0.2, about -0.11
    bm25 = [hit("c", 9.0), hit("d", 4.0), hit("b", 1.0)]
    found = adapter(FakeClient(knn, bm25)).search_hybrid("q", limit=10, min_score=0.1)
    # c fell below the threshold, d was never a k-NN candidate: only a and b remain.
    assert sorted(c.id for c in found) == ["a", "b"]


def test_the_port_search_is_hybrid_with_the_configured_threshold() -> None:
    knn = [hit("a", 1.9), hit("b", 1.05)]
    bm25 = [hit("b", 2.0)]
    found = adapter(FakeClient(knn, bm25), min_score=0.5).search("q", limit=5)
    assert [c.id for c in found] == ["a"]


# Writes


def test_upsert_replaces_old_documents_and_indexes_without_ids() -> None:
    moment = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    client = FakeClient([hit("c1", 1.0, sort=["c1", 1])])
    chunks = [Chunk("c1", "d", "a.md", 0, "one"), Chunk("c2", "d", "a.md", 1, "two")]
    assert adapter(client, clock=FakeClock(moment)).upsert_chunks(chunks) == 2
    assert client.searches == [ids_body("chunk_id", ["c1", "c2"], size=PAGE_SIZE, after=None)]
    (actions,) = client.bulks
    assert actions[0] == {"delete": {"_id": "os-c1"}}
    assert actions[1::2] == [{"index": {}}, {"index": {}}]
    documents = actions[2::2]
    assert [d["chunk_id"] for d in documents] == ["c1", "c2"]
    assert documents[0]["ingested_at"] == "2026-11-24T12:00:00.000000Z"
    for document in documents:
        check_document(document)


def test_upsert_refuses_a_vector_count_that_does_not_match() -> None:
    with pytest.raises(ValueError, match="vectors"):
        adapter(FakeClient()).upsert_chunks([Chunk("c1", "d", "a.md", 0, "one")], [])


def test_delete_source_finds_ids_page_by_page_then_bulk_deletes() -> None:
    first = [hit(f"c{n:04}", 1.0, sort=[f"c{n:04}", n]) for n in range(PAGE_SIZE)]
    second = [hit("c9999", 1.0, sort=["c9999", 1])]
    client = FakeClient(first, second)
    assert adapter(client).delete_source("a.md") == PAGE_SIZE + 1
    assert client.searches == [
        ids_body("source", ["a.md"], size=PAGE_SIZE, after=None),
        ids_body("source", ["a.md"], size=PAGE_SIZE, after=[f"c{PAGE_SIZE - 1:04}", PAGE_SIZE - 1]),
    ]
    deleted = [action["delete"]["_id"] for batch in client.bulks for action in batch]
    assert deleted == [h["_id"] for h in first + second]


def test_delete_chunks_looks_up_by_chunk_id() -> None:
    client = FakeClient([hit("c1", 1.0, sort=["c1", 1])])
    assert adapter(client).delete_chunks(["c1", "gone"]) == 1
    assert client.searches == [ids_body("chunk_id", ["c1", "gone"], size=PAGE_SIZE, after=None)]
    assert client.bulks == [[{"delete": {"_id": "os-c1"}}]]


def test_hashes_for_maps_chunk_ids_to_content_hashes() -> None:
    page = [
        {"_id": "x", "_source": {"chunk_id": "c1", "content_hash": "h1"}, "sort": ["c1", 1]},
        {"_id": "y", "_source": {"chunk_id": "c2", "content_hash": "h2"}, "sort": ["c2", 1]},
    ]
    assert adapter(FakeClient(page)).hashes_for("a.md") == {"c1": "h1", "c2": "h2"}


def test_a_failed_bulk_operation_raises_but_deleting_the_already_gone_does_not() -> None:
    gone = {"errors": True, "items": [{"delete": {"_id": "x", "status": 404}}]}
    client = FakeClient([hit("c1", 1.0, sort=["c1", 1])], bulk_response=gone)
    assert adapter(client).delete_chunks(["c1"]) == 1
    refused = {
        "errors": True,
        "items": [{"index": {"_id": "y", "status": 400, "error": {"type": "mapper_parsing"}}}],
    }
    with pytest.raises(IndexRequestError, match="mapper_parsing"):
        adapter(FakeClient(bulk_response=refused)).upsert_chunks(
            [Chunk("c1", "d", "a.md", 0, "one")]
        )


# Client


@pytest.mark.usefixtures("fake_aws_credentials")
def test_the_client_signs_for_aoss_and_verifies_tls() -> None:
    client = opensearch_client("https://abc123.eu-west-1.aoss.amazonaws.com", "eu-west-1")
    (connection,) = client.transport.connection_pool.connections
    assert connection.host == "https://abc123.eu-west-1.aoss.amazonaws.com:443"
    # requests holds True or the CA bundle's path: either way certificates are verified.
    assert connection.session.verify not in (False, None, "")
    assert connection.session.auth.service == "aoss"
    assert connection.session.auth.signer.region == "eu-west-1"
