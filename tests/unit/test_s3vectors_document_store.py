"""What only the S3 Vectors adapter does: its requests within the service's limits, the score
mapping, retries, the catalogue it lists once (the behaviour every store shares is in
tests/integration/test_document_store_contract.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from chatbot.adapters.aws import s3vectors_index as spec
from chatbot.adapters.aws.s3vectors import (
    S3VectorsDocumentStore,
    VectorStoreUnavailableError,
    cosine_from_distance,
    keyword_score,
    keyword_text,
)
from chatbot.ingest.chunking import Chunk
from chatbot.ingest.pipeline import EmbeddedChunk
from tests.conftest import FakeClock
from tests.integration.ingest_harness import CountingEmbeddings
from tests.integration.s3vectors_fake import BUCKET, INDEX, FakeS3Vectors, analyze


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def fake() -> FakeS3Vectors:
    return FakeS3Vectors(CountingEmbeddings.dimensions)


@pytest.fixture
def embeddings() -> CountingEmbeddings:
    return CountingEmbeddings()


def store_of(
    fake: FakeS3Vectors, embeddings: CountingEmbeddings, **options: Any
) -> S3VectorsDocumentStore:
    return S3VectorsDocumentStore(
        fake.client, bucket=BUCKET, index=INDEX, embeddings=embeddings, clock=FakeClock(), **options
    )


def chunks(embeddings: CountingEmbeddings, count: int, source: str = "a.md") -> list[EmbeddedChunk]:
    made = [
        Chunk(
            id=f"{source}#{n}",
            document_id=source,
            source=source,
            title="Title",
            position=n,
            heading_path=(),
            content=f"chunk number {n}",
        )
        for n in range(count)
    ]
    return [EmbeddedChunk(chunk, embeddings.embed_query(chunk.content)) for chunk in made]


def test_cosine_distance_maps_to_the_cosine_similarity() -> None:
    assert cosine_from_distance(0.0) == 1.0
    assert cosine_from_distance(1.0) == 0.0
    assert cosine_from_distance(2.0) == -1.0
    # RAG_MIN_SCORE 0.43 keeps a hit at distance 0.57 or less.
    assert cosine_from_distance(0.57) == pytest.approx(0.43)


def test_keyword_scores_weigh_a_title_twice_and_map_onto_zero_to_one() -> None:
    assert keyword_score([{"metadataKey": "content", "score": 1.0}]) == 0.5
    assert keyword_score([{"metadataKey": "title", "score": 1.5}]) == 0.75
    both = [{"metadataKey": "content", "score": 1.0}, {"metadataKey": "title", "score": 1.0}]
    assert keyword_score(both) == 0.75
    assert keyword_score([]) == 0.0


def test_keyword_text_drops_stop_words_and_fits_the_service_limit() -> None:
    assert keyword_text("How do I reset my password?") == "reset password"
    long = keyword_text(" ".join(f"word{n}" for n in range(400)))
    assert len(long) <= spec.MAX_QUERY_TEXT_CHARACTERS
    assert not long.endswith(" ")


def test_upserts_go_500_vectors_a_request_with_the_chunks_fields_as_metadata(
    fake: FakeS3Vectors, embeddings: CountingEmbeddings
) -> None:
    store_of(fake, embeddings).upsert(chunks(embeddings, 1201))
    puts = [params for name, params in fake.calls if name == "PutVectors"]
    assert [len(params["vectors"]) for params in puts] == [500, 500, 201]
    first = puts[0]["vectors"][0]
    assert first["key"] == "a.md#0"
    assert first["metadata"] == {
        "source": "a.md",
        "document_id": "a.md",
        "content_hash": chunks(embeddings, 1)[0].chunk.content_hash,
        "embedding_model": embeddings.model_id,
        "content": "chunk number 0",
        "title": "Title",
        "position": 0,
        "ingested_at": "2026-11-24T12:00:00.000000Z",
    }
    assert set(first["metadata"]) == {*spec.FILTERABLE_KEYS, *spec.NON_FILTERABLE_KEYS}


def test_the_index_is_listed_once_page_by_page_then_kept_current(
    embeddings: CountingEmbeddings,
) -> None:
    fake = FakeS3Vectors(CountingEmbeddings.dimensions, list_page_limit=2)
    store_of(fake, embeddings).upsert(chunks(embeddings, 5))
    fake.calls.clear()
    store = store_of(fake, embeddings)
    assert len(store.hashes_for("a.md")) == 5
    lists = [params for name, params in fake.calls if name == "ListVectors"]
    assert [params.get("nextToken") for params in lists] == [None, "2", "4"]
    assert all(params["maxResults"] == spec.MAX_LIST_RESULTS for params in lists)
    store.upsert(chunks(embeddings, 1, source="b.md"))
    assert store.delete(["a.md#0"]) == 1
    assert store.sources() == ["a.md", "b.md"]
    assert fake.operations().count("ListVectors") == 3


def test_deletes_and_vector_reads_stay_within_their_batch_limits(
    fake: FakeS3Vectors, embeddings: CountingEmbeddings
) -> None:
    written = chunks(embeddings, 650)
    store = store_of(fake, embeddings)
    store.upsert(written)
    vectors = store.vectors_for("a.md", {item.chunk.content_hash for item in written[:250]})
    assert len(vectors) == 250
    gets = [params for name, params in fake.calls if name == "GetVectors"]
    assert [len(params["keys"]) for params in gets] == [100, 100, 50]
    assert store.delete_source("a.md") == 650
    deletes = [params for name, params in fake.calls if name == "DeleteVectors"]
    assert [len(params["keys"]) for params in deletes] == [500, 150]
    assert fake.index.vectors == {}


def test_searches_ask_for_this_models_vectors_and_at_most_100_hits(
    fake: FakeS3Vectors, embeddings: CountingEmbeddings
) -> None:
    store = store_of(fake, embeddings)
    store.upsert(chunks(embeddings, 3))
    fake.calls.clear()
    store.search_vector("chunk", limit=150)
    store.search_keyword("chunk number", limit=7)
    vector, keyword = (params for _, params in fake.calls)
    assert vector["topK"] == spec.MAX_TOP_K
    assert vector["filter"] == {"embedding_model": {"$eq": embeddings.model_id}}
    assert vector["returnDistance"] and vector["returnMetadata"]
    assert keyword["topK"] == 7
    assert keyword["queryTexts"] == [
        {"text": "chunk number", "metadataKey": "content"},
        {"text": "chunk number", "metadataKey": "title"},
    ]
    assert keyword["returnScores"] and "queryVector" not in keyword


def test_a_hybrid_search_of_text_without_a_word_asks_only_for_the_vector_ranking(
    fake: FakeS3Vectors, embeddings: CountingEmbeddings
) -> None:
    store = store_of(fake, embeddings)
    store.upsert(chunks(embeddings, 3))
    fake.calls.clear()
    assert len(store.search_hybrid("?!", limit=2)) == 2
    (only,) = fake.calls
    assert "queryVector" in only[1]


def test_throttled_requests_are_retried_with_jittered_backoff(
    fake: FakeS3Vectors, embeddings: CountingEmbeddings
) -> None:
    recorder = Recorder()
    store = store_of(
        fake, embeddings, sleep=recorder.sleep, jitter=lambda low, high: high, base_delay=0.5
    )
    fake.fail_next("PutVectors", "TooManyRequestsException", times=2)
    fake.fail_next("ListVectors", "ServiceUnavailableException")
    store.upsert(chunks(embeddings, 2))
    assert fake.operations() == [
        "ListVectors",
        "ListVectors",
        "PutVectors",
        "PutVectors",
        "PutVectors",
    ]
    assert len(fake.index.vectors) == 2
    assert recorder.sleeps == [0.5, 0.5, 1.0]


def test_a_store_that_stays_throttled_reports_itself_unavailable(
    fake: FakeS3Vectors, embeddings: CountingEmbeddings
) -> None:
    recorder = Recorder()
    store = store_of(fake, embeddings, sleep=recorder.sleep, max_attempts=3)
    fake.fail_next("QueryVectors", "InternalServerException", times=3)
    with pytest.raises(VectorStoreUnavailableError, match="3 times"):
        store.search_vector("anything", limit=3)
    assert len(recorder.sleeps) == 2


def test_errors_that_retrying_cannot_fix_are_raised_at_once(
    fake: FakeS3Vectors, embeddings: CountingEmbeddings
) -> None:
    recorder = Recorder()
    store = store_of(fake, embeddings, sleep=recorder.sleep)
    fake.fail_next("QueryVectors", "AccessDeniedException")
    with pytest.raises(ClientError, match="AccessDenied"):
        store.search_keyword("anything", limit=3)
    assert recorder.sleeps == []


def test_a_source_path_too_long_for_filterable_metadata_is_refused_before_any_request(
    fake: FakeS3Vectors, embeddings: CountingEmbeddings
) -> None:
    store = store_of(fake, embeddings)
    store.sources()
    fake.calls.clear()
    with pytest.raises(ValueError, match="filterable metadata"):
        store.upsert(chunks(embeddings, 1, source="d/" * 1100 + "a.md"))
    assert fake.calls == []


def test_the_fake_refuses_what_botocore_or_the_service_would(fake: FakeS3Vectors) -> None:
    with pytest.raises(ParamValidationError):
        fake.client.query_vectors(vectorBucketName=BUCKET, indexName=INDEX, topK=0)
    with pytest.raises(ParamValidationError):
        fake.client.put_vectors(vectorBucketName=BUCKET, indexName=INDEX, vectors=[])
    query = {"float32": [0.1] * CountingEmbeddings.dimensions}
    with pytest.raises(ClientError, match="topK"):
        fake.client.query_vectors(
            vectorBucketName=BUCKET, indexName=INDEX, topK=101, queryVector=query
        )
    with pytest.raises(ClientError, match="not filterable"):
        fake.client.query_vectors(
            vectorBucketName=BUCKET,
            indexName=INDEX,
            topK=1,
            queryVector=query,
            filter={"content": "x"},
        )
    with pytest.raises(ClientError, match="unsearchable"):
        fake.client.query_vectors(
            vectorBucketName=BUCKET,
            indexName=INDEX,
            topK=1,
            queryTexts=[{"text": "x", "metadataKey": "source"}],
        )


def test_the_fakes_analyzer_only_imitates_an_english_one() -> None:
    assert analyze("The pumps were repaired, pumping") == ["pump", "repair", "pump"]
