"""OpenSearch Serverless adapter of document search and storage: k-NN, BM25, and hybrid.

Scores match the embedded index (``chatbot.adapters.local.documents``), so callers and the RAG
threshold see one scale per kind of search:

vector
    the cosine similarity. With ``space_type: innerproduct`` on faiss, OpenSearch reports
    ``dot + 1`` for a non-negative dot product and ``1 / (1 - dot)`` for a negative one (the
    k-NN plugin's ``SpaceType.INNER_PRODUCT.scoreTranslation`` of faiss's raw ``-dot``);
    ``cosine_from_score`` undoes that (the vectors are unit length, so the dot is the cosine).
keyword
    BM25's ``s`` as ``s / (1 + s)``: in (0, 1), the same order, as the embedded index does.
hybrid
    score fusion (``chatbot.rank_fusion.fuse_hybrid``), computed here: an OpenSearch
    Serverless collection has no hybrid search pipeline (``normalization-processor`` or RRF
    processor) by default, so the two rankings are fetched and fused client-side, the same
    fusion as the embedded index's.
    ``min_score`` is a cosine threshold applied to the k-NN hits before fusion; a keyword hit
    survives it only if the k-NN candidates (the top ``FUSION_WINDOW``) include it above the
    threshold: the cosine of a chunk outside them is not known without another query. Both
    rankings come back from one ``_msearch`` request.

Writes. Vector search collections assign their own document ids (AWS documents VECTORSEARCH
collections as using server-generated ids: a custom ``_id`` is not preserved), and
``_delete_by_query`` is not among the operations OpenSearch Serverless supports (it could not be
re-checked offline when this was written; the approach below works on any collection either
way). So every change finds the documents' ids with a search on ``chunk_id`` or ``source``
(both ``keyword``) and bulk-deletes them by id; an upsert deletes a chunk's old documents and
indexes the new one in the same bulk request. A collection makes writes visible to search
after about a second (no ``refresh``), so a delete straight after a write may miss it. Each
document names the model of its vector (``embedding_model``), so an ingestion with another
model (or width) embeds every chunk again instead of keeping vectors of the wrong kind.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from typing import Any, Final, Protocol
from urllib.parse import urlparse

import boto3
from opensearchpy import OpenSearch, RequestsAWSV4SignerAuth, RequestsHttpConnection

from chatbot.clock import Clock
from chatbot.embeddings import Embeddings
from chatbot.errors import ChatbotError
from chatbot.keyword_terms import query_terms
from chatbot.rank_fusion import FUSION_WINDOW, HYBRID_WEIGHTS, fuse_hybrid
from chatbot.records import DocumentChunk, iso
from chatbot.search_index import EMBEDDING_FIELD

# A title match counts twice a content match, as in the embedded index.
KEYWORD_FIELDS: Final = ("content", "title^2")
# Hits per page when listing a source's chunks; terms per query when looking ids up.
PAGE_SIZE: Final = 500
# Documents per bulk request: a 1024-dimension vector is about 20 kB of JSON, so ~2 MB.
BULK_SIZE: Final = 100
_WORD: Final = re.compile(r"[^\W_]")


class IndexRequestError(ChatbotError):
    """OpenSearch refused part of a multi-part request (a bulk operation, a multi-search)."""


class DocumentsApi(Protocol):
    """The part of opensearch-py's ``OpenSearch`` client this adapter calls."""

    def search(self, *, body: Any = None, index: Any = None) -> Any: ...

    def msearch(self, *, body: Any, index: Any = None) -> Any: ...

    def bulk(self, *, body: Any, index: Any = None) -> Any: ...


class ChunkFields(Protocol):
    """What an ingested chunk carries (``ChunkToIndex`` of the embedded index fits)."""

    @property
    def id(self) -> str: ...
    @property
    def document_id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def content(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def content_hash(self) -> str: ...


def opensearch_score(cosine: float) -> float:
    """The ``_score`` OpenSearch reports for a faiss innerproduct hit of this cosine."""
    return cosine + 1.0 if cosine >= 0 else 1.0 / (1.0 - cosine)


def cosine_from_score(score: float) -> float:
    """The cosine of a faiss innerproduct hit's ``_score``: ``opensearch_score`` inverted."""
    if score <= 0:
        raise ValueError(f"an innerproduct score is positive, not {score}")
    return score - 1.0 if score >= 1 else 1.0 - 1.0 / score


def knn_body(vector: Sequence[float], k: int) -> dict[str, Any]:
    return {
        "size": k,
        "query": {"knn": {EMBEDDING_FIELD: {"vector": list(vector), "k": k}}},
        "_source": _without_vector(),
    }


def keyword_body(query: str, size: int) -> dict[str, Any]:
    """BM25 over content and the boosted title, for the query's terms without stop words
    (``chatbot.keyword_terms``, as the embedded index queries)."""
    terms = " ".join(query_terms(query)) or query
    return {
        "size": size,
        "query": {"multi_match": {"query": terms, "fields": list(KEYWORD_FIELDS)}},
        "_source": _without_vector(),
    }


def _without_vector() -> dict[str, Any]:
    # The vector is large and never needed back. A fresh dict per body: nothing shared
    # between requests can be changed by one of them.
    return {"excludes": [EMBEDDING_FIELD]}


def ids_body(
    field: str,
    values: Sequence[str],
    *,
    size: int,
    after: list[Any] | None,
    fields: Sequence[str] = ("chunk_id", "content_hash"),
) -> dict[str, Any]:
    """A page of ``fields`` (``chunk_id``, ``content_hash``) of the documents whose ``field`` is
    a value.

    Sorted by chunk id, then time of writing: with ``search_after``, a page boundary only
    skips a document that ties on both, which two writes of one chunk never do in practice.
    """
    body: dict[str, Any] = {
        "size": size,
        "query": {"terms": {field: list(values)}},
        "_source": list(fields),
        "sort": [{"chunk_id": "asc"}, {"ingested_at": "asc"}],
    }
    if after is not None:
        body["search_after"] = after
    return body


def vectors_body(
    source: str,
    model_id: str,
    content_hashes: Sequence[str],
    *,
    size: int,
    after: list[Any] | None,
) -> dict[str, Any]:
    """A page of (``content_hash``, vector) of ``source``'s documents with these hashes whose
    vectors are of ``model_id``; paged as ``ids_body``."""
    body: dict[str, Any] = {
        "size": size,
        "query": {
            "bool": {
                "filter": [
                    {"term": {"source": source}},
                    {"term": {"embedding_model": model_id}},
                    {"terms": {"content_hash": list(content_hashes)}},
                ]
            }
        },
        "_source": ["content_hash", EMBEDDING_FIELD],
        "sort": [{"chunk_id": "asc"}, {"ingested_at": "asc"}],
    }
    if after is not None:
        body["search_after"] = after
    return body


def sources_body(size: int, after: dict[str, Any] | None) -> dict[str, Any]:
    """A page of the distinct ``source`` values, in order (a composite terms aggregation)."""
    composite: dict[str, Any] = {
        "size": size,
        "sources": [{"source": {"terms": {"field": "source", "order": "asc"}}}],
    }
    if after is not None:
        composite["after"] = after
    return {"size": 0, "aggs": {"sources": {"composite": composite}}}


class OpenSearchDocumentIndex:
    """Document chunks in an OpenSearch Serverless index made by ``chatbot.search_index``."""

    def __init__(
        self,
        client: DocumentsApi,
        index_name: str,
        embeddings: Embeddings,
        *,
        min_score: float | None = None,
        clock: Clock,
    ) -> None:
        self._client = client
        self._index = index_name
        self._embeddings = embeddings
        self._min_score = min_score
        self._clock = clock

    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        """The port: hybrid, with the configured cosine threshold."""
        return self.search_hybrid(query, limit=limit, min_score=self._min_score)

    def search_vector(
        self, query: str, *, limit: int, min_score: float | None = None
    ) -> list[DocumentChunk]:
        _check_limit(limit)
        return self._vector_ranking(query, limit, min_score)

    def search_keyword(self, query: str, *, limit: int) -> list[DocumentChunk]:
        _check_limit(limit)
        return self._keyword_ranking(query, limit)

    def search_hybrid(
        self, query: str, *, limit: int, min_score: float | None = None
    ) -> list[DocumentChunk]:
        _check_limit(limit)
        window = max(limit, FUSION_WINDOW)
        bodies = [knn_body(self._embeddings.embed_query(query), window)]
        if _WORD.search(query):
            bodies.append(keyword_body(query, window))
        # Both rankings in one round trip (_msearch): a hybrid query costs one request's latency.
        knn_hits, *keyword_hits = self._msearch(bodies)
        semantic = _vector_chunks(knn_hits, min_score)
        keyword = _keyword_chunks(keyword_hits[0]) if keyword_hits else []
        if min_score is not None:
            vouched = {chunk.id for chunk in semantic}
            keyword = [chunk for chunk in keyword if chunk.id in vouched]
        # The weights the retrieval evaluation chose (rank_fusion.HYBRID_WEIGHTS), as locally.
        return fuse_hybrid(semantic, keyword, limit=limit, weights=HYBRID_WEIGHTS)

    def upsert_chunks(
        self,
        chunks: Sequence[ChunkFields],
        vectors: Sequence[Sequence[float]] | None = None,
        *,
        embedding_model: str | None = None,
    ) -> int:
        """Write chunks (embedded here unless ``vectors`` are given, one per chunk), replacing
        any earlier document of the same chunk id; return how many were written.

        ``embedding_model`` names the model of ``vectors`` (default: this index's embeddings).
        """
        if embedding_model is None:
            embedding_model = self._embeddings.model_id
        if vectors is None:
            vectors = self._embeddings.embed_documents([chunk.content for chunk in chunks])
        if len(vectors) != len(chunks):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        ingested_at = iso(self._clock.now())
        for start in range(0, len(chunks), BULK_SIZE):
            batch = chunks[start : start + BULK_SIZE]
            stale = self._document_ids("chunk_id", [chunk.id for chunk in batch])
            actions: list[dict[str, Any]] = [{"delete": {"_id": _id}} for _id in stale]
            for chunk, vector in zip(batch, vectors[start : start + BULK_SIZE], strict=True):
                # No _id: a vector search collection would not keep it (module docstring).
                actions.append({"index": {}})
                actions.append(_document(chunk, vector, ingested_at, embedding_model))
            self._bulk(actions)
        return len(chunks)

    def delete_chunks(self, ids: Sequence[str]) -> int:
        """Remove the documents of these chunk ids; return how many went."""
        return self._delete(self._document_ids("chunk_id", ids))

    def delete_source(self, source: str) -> int:
        """Remove every document of ``source``; return how many went."""
        return self._delete(self._document_ids("source", [source]))

    def hashes_for(self, source: str) -> dict[str, str]:
        """Chunk id -> content hash of every chunk of ``source``, to skip unchanged ones."""
        return {
            hit["_source"]["chunk_id"]: hit["_source"]["content_hash"]
            for hit in self._hits_of("source", [source])
        }

    def embedded_hashes_for(self, source: str, model_id: str) -> dict[str, str | None]:
        """Chunk id -> content hash of every chunk of ``source``; None for a chunk whose vector
        is not of ``model_id`` (written before the field existed, or by another model)."""
        fields = ("chunk_id", "content_hash", "embedding_model")
        return {
            hit["_source"]["chunk_id"]: (
                hit["_source"]["content_hash"]
                if hit["_source"].get("embedding_model") == model_id
                else None
            )
            for hit in self._hits_of("source", [source], fields=fields)
        }

    def vectors_for(
        self, source: str, content_hashes: Collection[str], model_id: str
    ) -> dict[str, list[float]]:
        """Content hash -> stored vector of ``model_id``, for ``source``'s chunks with those
        hashes (so a chunk that only moved within its document is not embedded again)."""
        hashes = sorted(content_hashes)
        vectors: dict[str, list[float]] = {}
        for start in range(0, len(hashes), PAGE_SIZE):
            batch = hashes[start : start + PAGE_SIZE]
            after: list[Any] | None = None
            while True:
                # Pages of BULK_SIZE: each hit carries its vector (~20 kB of JSON at 1024).
                body = vectors_body(source, model_id, batch, size=BULK_SIZE, after=after)
                hits = self._search(body)
                for hit in hits:
                    document = hit["_source"]
                    vector = document.get(EMBEDDING_FIELD)
                    if vector:
                        vectors[document["content_hash"]] = [float(x) for x in vector]
                if len(hits) < BULK_SIZE:
                    break
                after = hits[-1]["sort"]
        return vectors

    def sources(self) -> list[str]:
        """Every source with documents, sorted."""
        found: list[str] = []
        after: dict[str, Any] | None = None
        while True:
            response = self._client.search(index=self._index, body=sources_body(PAGE_SIZE, after))
            result = response["aggregations"]["sources"]
            found.extend(bucket["key"]["source"] for bucket in result["buckets"])
            after = result.get("after_key")
            if after is None or len(result["buckets"]) < PAGE_SIZE:
                return found

    def _vector_ranking(self, query: str, k: int, min_score: float | None) -> list[DocumentChunk]:
        vector = self._embeddings.embed_query(query)
        return _vector_chunks(self._search(knn_body(vector, k)), min_score)

    def _keyword_ranking(self, query: str, size: int) -> list[DocumentChunk]:
        # The embedded index finds nothing for text without a word: neither do we.
        if not _WORD.search(query):
            return []
        return _keyword_chunks(self._search(keyword_body(query, size)))

    def _search(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        response = self._client.search(index=self._index, body=body)
        hits: list[dict[str, Any]] = response["hits"]["hits"]
        return hits

    def _msearch(self, bodies: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """The hits of each body, in order; one request for all of them."""
        lines: list[dict[str, Any]] = []
        for body in bodies:
            # An empty header: every search goes to the index named in the URL.
            lines.extend(({}, body))
        responses = self._client.msearch(index=self._index, body=lines)["responses"]
        failed = [str(r.get("error")) for r in responses if "error" in r]
        if failed:
            raise IndexRequestError(f"search of {self._index!r} failed: {'; '.join(failed)}")
        return [response["hits"]["hits"] for response in responses]

    def _hits_of(
        self,
        field: str,
        values: Sequence[str],
        *,
        fields: Sequence[str] = ("chunk_id", "content_hash"),
    ) -> Iterator[dict[str, Any]]:
        """Every document whose ``field`` is one of ``values``, page by page."""
        for start in range(0, len(values), PAGE_SIZE):
            batch = values[start : start + PAGE_SIZE]
            after: list[Any] | None = None
            while True:
                hits = self._search(
                    ids_body(field, batch, size=PAGE_SIZE, after=after, fields=fields)
                )
                yield from hits
                if len(hits) < PAGE_SIZE:
                    break
                after = hits[-1]["sort"]

    def _document_ids(self, field: str, values: Sequence[str]) -> list[str]:
        return [hit["_id"] for hit in self._hits_of(field, values)]

    def _delete(self, document_ids: Sequence[str]) -> int:
        for start in range(0, len(document_ids), BULK_SIZE):
            batch = document_ids[start : start + BULK_SIZE]
            self._bulk([{"delete": {"_id": _id}} for _id in batch])
        return len(document_ids)

    def _bulk(self, actions: list[dict[str, Any]]) -> None:
        if not actions:
            return
        response = self._client.bulk(index=self._index, body=actions)
        if not response.get("errors"):
            return
        failures = [
            f"{kind} {result.get('_id')}: {result.get('status')} {result.get('error')}"
            for item in response.get("items", [])
            for kind, result in item.items()
            # Deleting what is already gone (a concurrent delete) is the outcome we wanted.
            if result.get("status", 200) >= 300
            and not (kind == "delete" and result["status"] == 404)
        ]
        if failures:
            raise IndexRequestError(
                f"bulk write to {self._index!r} failed: {'; '.join(failures[:5])}"
            )


def opensearch_client(endpoint: str, region: str) -> OpenSearch:
    """An opensearch-py client of a collection endpoint, signing with SigV4 for ``aoss``."""
    parsed = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
    if not parsed.hostname:
        raise ValueError(f"not an OpenSearch endpoint: {endpoint!r}")
    # The refreshable credentials, not frozen keys: the signer freezes them per request,
    # so a long-lived client (a warm Lambda) never signs with expired keys.
    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise ValueError("no AWS credentials to sign OpenSearch requests with")
    return OpenSearch(
        hosts=[{"host": parsed.hostname, "port": parsed.port or 443}],
        http_auth=RequestsAWSV4SignerAuth(credentials, region, "aoss"),
        use_ssl=True,
        verify_certs=True,
        connection_class=RequestsHttpConnection,
        timeout=30,
    )


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def _bm25_score(score: float) -> float:
    relevance = max(score, 0.0)
    return relevance / (1.0 + relevance)


def _vector_chunks(hits: list[dict[str, Any]], min_score: float | None) -> list[DocumentChunk]:
    chunks = [_chunk(hit, cosine_from_score(float(hit["_score"]))) for hit in hits]
    if min_score is None:
        return chunks
    return [chunk for chunk in chunks if chunk.score >= min_score]


def _keyword_chunks(hits: list[dict[str, Any]]) -> list[DocumentChunk]:
    return [_chunk(hit, _bm25_score(float(hit["_score"]))) for hit in hits]


def _chunk(hit: dict[str, Any], score: float) -> DocumentChunk:
    source = hit["_source"]
    return DocumentChunk(
        id=source["chunk_id"], content=source["content"], source=source["source"], score=score
    )


def _document(
    chunk: ChunkFields, vector: Sequence[float], ingested_at: str, embedding_model: str
) -> dict[str, Any]:
    return {
        "chunk_id": chunk.id,
        "document_id": chunk.document_id,
        "source": chunk.source,
        "title": chunk.title,
        "position": chunk.position,
        "content": chunk.content,
        "content_hash": chunk.content_hash,
        EMBEDDING_FIELD: list(vector),
        "embedding_model": embedding_model,
        "ingested_at": ingested_at,
    }
