"""Amazon S3 Vectors adapter of document search and storage: vector, keyword and hybrid.

The index is defined in ``chatbot.adapters.aws.s3vectors_index``. Scores match the embedded
index and OpenSearch, so callers and the RAG threshold see one scale per kind of search:

vector
    the cosine similarity, ``1 - distance``: for a ``cosine`` index S3 Vectors reports the
    cosine distance, ``1 - cos``, in [0, 2]. ``min_score`` (a cosine) keeps a hit when its
    distance is at most ``1 - min_score``. Only vectors of this store's embedding model are
    searched (a metadata filter on ``embedding_model``).
keyword
    ``QueryVectors`` with ``queryTexts`` on the ``content`` and ``title`` keys: the service
    ranks by BM25 (its analyzer, its statistics; the fake in the tests only imitates it). Each
    hit's per-key BM25 scores (``returnScores``) are combined as the other stores weigh them,
    ``r = content + 2 x title``, and reported as ``r / (1 + r)``, best first.
hybrid
    score fusion (``chatbot.rank_fusion.fuse_hybrid``, the weights the retrieval evaluation
    chose) of the vector and keyword rankings above, fetched by two concurrent requests and
    fused here, as the OpenSearch adapter does. The service's own hybrid mode (both a vector
    and texts in one request) ranks by reciprocal rank fusion, which did worse than score
    fusion in ``chatbot eval retrieval`` (bench/results/retrieval-eval.md), and reports an RRF
    score no cosine threshold can apply to, so it is not used. ``min_score`` applies to the
    cosines before fusion: a keyword hit survives it only if the vector ranking vouches for it.

Limits (the service's, see ``s3vectors_index``): a query returns at most 100 hits, so a
search's ``limit`` (and the fusion window) is capped there; writes go 500 vectors a request,
reads 100. Every request is retried on throttling and transient failures with the backoff
the other AWS adapters use (``chatbot.retries``), botocore's own retries off.

Ingestion asks for a source's chunks, which S3 Vectors cannot filter without a query: the
store lists the index once (``ListVectors``, 1,000 a page) on the first such question and
keeps that catalogue current through its own writes. Writes by another process after the
listing are not seen by this store object (one ``chatbot ingest`` run at a time).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from botocore.exceptions import ClientError

from chatbot.adapters.aws import s3vectors_index as spec
from chatbot.clock import Clock
from chatbot.embeddings import Embeddings
from chatbot.errors import ChatbotError
from chatbot.keyword_terms import TERM, query_terms
from chatbot.rank_fusion import FUSION_WINDOW, HYBRID_WEIGHTS, fuse_hybrid
from chatbot.records import DocumentChunk, iso
from chatbot.retries import TRANSIENT_ERROR_CODES, backoff_ceiling

if TYPE_CHECKING:
    # A type only: the engine imports this module, and need not load the ingestion.
    from chatbot.ingest.pipeline import EmbeddedChunk

# S3 Vectors also answers a request it could not finish in time with this code.
RETRIED_ERROR_CODES: Final = TRANSIENT_ERROR_CODES | {"RequestTimeoutException"}


class VectorStoreUnavailableError(ChatbotError):
    """S3 Vectors kept failing with a transient error until the retries ran out."""


class S3VectorsApi(Protocol):
    """The s3vectors calls this adapter makes (boto3's client satisfies it)."""

    def put_vectors(self, **request: Any) -> Mapping[str, Any]: ...
    def delete_vectors(self, **request: Any) -> Mapping[str, Any]: ...
    def get_vectors(self, **request: Any) -> Mapping[str, Any]: ...
    def list_vectors(self, **request: Any) -> Mapping[str, Any]: ...
    def query_vectors(self, **request: Any) -> Mapping[str, Any]: ...


def s3vectors_client(region: str | None = None) -> S3VectorsApi:
    """A boto3 s3vectors client with botocore's retries off (the adapter retries)."""
    import boto3

    from chatbot.adapters.aws.embeddings import single_attempt_config

    config = single_attempt_config(read_timeout=30, max_pool_connections=8)
    return cast(S3VectorsApi, boto3.client("s3vectors", region_name=region, config=config))


def cosine_from_distance(distance: float) -> float:
    """The cosine similarity of a hit's cosine distance (``1 - cos``)."""
    return 1.0 - distance


def keyword_score(bm25_scores: Sequence[Mapping[str, Any]]) -> float:
    """The keyword score of a hit: its weighted BM25 ``r`` as ``r / (1 + r)``."""
    relevance = sum(
        spec.TEXT_SEARCH_WEIGHTS.get(str(item["metadataKey"]), 0.0) * float(item["score"])
        for item in bm25_scores
    )
    relevance = max(relevance, 0.0)
    return relevance / (1.0 + relevance)


def keyword_text(query: str) -> str:
    """The text a keyword query sends: the query's terms without stop words
    (``chatbot.keyword_terms``, as the other stores), within the service's 1,024 characters."""
    text = " ".join(query_terms(query)) or query
    if len(text) <= spec.MAX_QUERY_TEXT_CHARACTERS:
        return text
    return text[: spec.MAX_QUERY_TEXT_CHARACTERS].rsplit(" ", 1)[0]


@dataclass(frozen=True)
class _Entry:
    source: str
    content_hash: str
    embedding_model: str


class S3VectorsDocumentStore:
    """Document chunks in one S3 Vectors index: the ingestion's ``DocumentStore`` and the
    search port (``search``, with the three kinds of search behind it)."""

    def __init__(
        self,
        client: S3VectorsApi,
        *,
        bucket: str,
        index: str,
        embeddings: Embeddings,
        clock: Clock,
        min_score: float | None = None,
        max_attempts: int = 5,
        base_delay: float = 0.25,
        max_delay: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self._client = client
        self._where = {"vectorBucketName": bucket, "indexName": index}
        self._embeddings = embeddings
        self._model_id = embeddings.model_id
        self._clock = clock
        self._min_score = min_score
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._jitter = jitter
        self._catalogue: dict[str, _Entry] | None = None

    # --- search -------------------------------------------------------------------------

    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        """The port: hybrid, with the configured cosine threshold."""
        return self.search_hybrid(query, limit=limit, min_score=self._min_score)

    def search_vector(
        self, query: str, *, limit: int, min_score: float | None = None
    ) -> list[DocumentChunk]:
        _check_limit(limit)
        return self._vector_ranking(self._embeddings.embed_query(query), limit, min_score)

    def search_keyword(self, query: str, *, limit: int) -> list[DocumentChunk]:
        _check_limit(limit)
        return self._keyword_ranking(query, limit)

    def search_hybrid(
        self, query: str, *, limit: int, min_score: float | None = None
    ) -> list[DocumentChunk]:
        _check_limit(limit)
        window = max(limit, FUSION_WINDOW)
        vector = self._embeddings.embed_query(query)
        if TERM.search(query):
            # Both rankings at once: a hybrid search costs one request's latency, not two.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3vectors") as pool:
                keyword_future = pool.submit(self._keyword_ranking, query, window)
                semantic = self._vector_ranking(vector, window, min_score)
                keyword = keyword_future.result()
        else:
            semantic, keyword = self._vector_ranking(vector, window, min_score), []
        if min_score is not None:
            vouched = {chunk.id for chunk in semantic}
            keyword = [chunk for chunk in keyword if chunk.id in vouched]
        return fuse_hybrid(semantic, keyword, limit=limit, weights=HYBRID_WEIGHTS)

    def _vector_ranking(
        self, vector: Sequence[float], limit: int, min_score: float | None
    ) -> list[DocumentChunk]:
        response = self._call(
            "query_vectors",
            {
                **self._where,
                "topK": min(limit, spec.MAX_TOP_K),
                "queryVector": {"float32": [float(x) for x in vector]},
                "filter": {"embedding_model": {"$eq": self._model_id}},
                "returnMetadata": True,
                "returnDistance": True,
            },
        )
        chunks = [
            _chunk(hit, cosine_from_distance(float(hit["distance"]))) for hit in response["vectors"]
        ]
        if min_score is None:
            return chunks
        return [chunk for chunk in chunks if chunk.score >= min_score]

    def _keyword_ranking(self, query: str, limit: int) -> list[DocumentChunk]:
        # The embedded index finds nothing for text without a word: neither do we.
        if not TERM.search(query):
            return []
        text = keyword_text(query)
        response = self._call(
            "query_vectors",
            {
                **self._where,
                "topK": min(limit, spec.MAX_TOP_K),
                "queryTexts": [
                    {"text": text, "metadataKey": key} for key in spec.TEXT_SEARCH_WEIGHTS
                ],
                "returnMetadata": True,
                "returnScores": True,
            },
        )
        scored = [
            _chunk(hit, keyword_score(hit.get("scores", {}).get("bm25Scores", [])))
            for hit in response["vectors"]
        ]
        # Our weighting of the keys may reorder the service's ranking; a stable sort keeps its
        # order among equal scores.
        return sorted(scored, key=lambda chunk: -chunk.score)

    # --- the ingestion's DocumentStore ----------------------------------------------------

    def hashes_for(self, source: str) -> dict[str, str | None]:
        return {
            key: (entry.content_hash if entry.embedding_model == self._model_id else None)
            for key, entry in self._entries().items()
            if entry.source == source
        }

    def vectors_for(self, source: str, content_hashes: Collection[str]) -> dict[str, list[float]]:
        wanted = set(content_hashes)
        keys = sorted(
            key
            for key, entry in self._entries().items()
            if entry.source == source
            and entry.content_hash in wanted
            and entry.embedding_model == self._model_id
        )
        vectors: dict[str, list[float]] = {}
        for batch in _batches(keys, spec.MAX_GET_VECTORS):
            response = self._call(
                "get_vectors",
                {**self._where, "keys": batch, "returnData": True, "returnMetadata": True},
            )
            for found in response["vectors"]:
                metadata = found.get("metadata") or {}
                data = (found.get("data") or {}).get("float32")
                if data and metadata.get("embedding_model") == self._model_id:
                    vectors[str(metadata["content_hash"])] = [float(x) for x in data]
        return vectors

    def upsert(self, chunks: Sequence[EmbeddedChunk]) -> None:
        if not chunks:
            return
        ingested_at = iso(self._clock.now())
        entries = self._entries()
        for batch in _batches(list(chunks), spec.MAX_PUT_VECTORS):
            vectors = [self._vector_of(item, ingested_at) for item in batch]
            # PutVectors replaces a vector of the same key: no delete first.
            self._call("put_vectors", {**self._where, "vectors": vectors})
            for item in batch:
                entries[item.chunk.id] = _Entry(
                    item.chunk.source, item.chunk.content_hash, self._model_id
                )

    def delete(self, chunk_ids: Collection[str]) -> int:
        """Remove chunks by id; the count is of those the index held."""
        if not chunk_ids:
            return 0
        entries = self._entries()
        present = sorted(key for key in chunk_ids if key in entries)
        for batch in _batches(present, spec.MAX_DELETE_VECTORS):
            self._call("delete_vectors", {**self._where, "keys": batch})
            for key in batch:
                entries.pop(key, None)
        return len(present)

    def delete_source(self, source: str) -> int:
        return self.delete([key for key, e in self._entries().items() if e.source == source])

    def sources(self) -> list[str]:
        return sorted({entry.source for entry in self._entries().values()})

    def _vector_of(self, item: EmbeddedChunk, ingested_at: str) -> dict[str, Any]:
        chunk = item.chunk
        vector = [float(x) for x in item.vector]
        if len(vector) != self._embeddings.dimensions:
            raise ValueError(
                f"chunk {chunk.id} has {len(vector)} dimensions, the index "
                f"{self._embeddings.dimensions}"
            )
        filterable = {
            "source": chunk.source,
            "document_id": chunk.document_id,
            "content_hash": chunk.content_hash,
            "embedding_model": self._model_id,
        }
        metadata = {
            **filterable,
            "content": chunk.content,
            "title": chunk.title,
            "position": chunk.position,
            "ingested_at": ingested_at,
        }
        # Checked here, so an over-long source path names itself instead of failing a batch.
        if _size(filterable) > spec.MAX_FILTERABLE_METADATA_BYTES:
            raise ValueError(
                f"{chunk.source}: filterable metadata over "
                f"{spec.MAX_FILTERABLE_METADATA_BYTES} bytes (the source path is too long)"
            )
        if _size(metadata) > spec.MAX_METADATA_BYTES:
            raise ValueError(f"{chunk.source}: chunk {chunk.position} over the metadata limit")
        return {"key": chunk.id, "data": {"float32": vector}, "metadata": metadata}

    def _entries(self) -> dict[str, _Entry]:
        if self._catalogue is None:
            self._catalogue = {
                str(found["key"]): _Entry(
                    str(metadata.get("source", "")),
                    str(metadata.get("content_hash", "")),
                    str(metadata.get("embedding_model", "")),
                )
                for found in self._listed()
                for metadata in [found.get("metadata") or {}]
            }
        return self._catalogue

    def _listed(self) -> Iterator[Mapping[str, Any]]:
        request: dict[str, Any] = {
            **self._where,
            "maxResults": spec.MAX_LIST_RESULTS,
            "returnMetadata": True,
        }
        while True:
            response = self._call("list_vectors", request)
            yield from response["vectors"]
            token = response.get("nextToken")
            if not token:
                return
            request = {**request, "nextToken": token}

    # --- requests -------------------------------------------------------------------------

    def _call(self, operation: str, request: dict[str, Any]) -> Mapping[str, Any]:
        method = getattr(self._client, operation)
        for attempt in range(1, self._max_attempts + 1):
            try:
                return cast(Mapping[str, Any], method(**request))
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                # Anything but a transient failure (access, validation) will not get better.
                if code not in RETRIED_ERROR_CODES:
                    raise
                if attempt == self._max_attempts:
                    raise VectorStoreUnavailableError(
                        f"S3 Vectors {operation} failed {attempt} times; last error {code}"
                    ) from error
                # Full jitter: ingestion workers throttled together do not retry together.
                ceiling = backoff_ceiling(attempt, self._base_delay, self._max_delay)
                self._sleep(self._jitter(0.0, ceiling))
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def _batches(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _size(metadata: Mapping[str, Any]) -> int:
    # The service's own accounting is not published to the byte; JSON's UTF-8 size is close
    # and errs on the large side (quotes and separators count).
    return len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())


def _chunk(hit: Mapping[str, Any], score: float) -> DocumentChunk:
    metadata = hit.get("metadata") or {}
    return DocumentChunk(
        id=str(hit["key"]),
        content=str(metadata.get("content", "")),
        source=str(metadata.get("source", "")),
        score=score,
    )
