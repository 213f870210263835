"""The document search the RAG path and the search tool use, on the configured backend."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from chatbot.clock import Clock
from chatbot.config import Environment, Settings
from chatbot.documents import DocumentSearch
from chatbot.embeddings import Embeddings, embeddings_from_settings
from chatbot.ports import Reranker
from chatbot.records import DocumentChunk

SearchMode = Literal["vector", "keyword", "hybrid"]


class _SearchesThreeWays(Protocol):
    def search_vector(
        self, query: str, *, limit: int, min_score: float | None = None
    ) -> list[DocumentChunk]: ...

    def search_keyword(self, query: str, *, limit: int) -> list[DocumentChunk]: ...

    def search_hybrid(
        self, query: str, *, limit: int, min_score: float | None = None
    ) -> list[DocumentChunk]: ...


class ModeSearch:
    """One index searched one way, with the relevance threshold applied to cosine scores."""

    def __init__(self, index: _SearchesThreeWays, mode: SearchMode, min_score: float) -> None:
        self._index = index
        self._mode = mode
        self._min_score = min_score

    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        if self._mode == "vector":
            return self._index.search_vector(query, limit=limit, min_score=self._min_score)
        if self._mode == "hybrid":
            return self._index.search_hybrid(query, limit=limit, min_score=self._min_score)
        return self._index.search_keyword(query, limit=limit)


class NoReranking:
    """The reranker port that keeps the search's order (locally, and in AWS when
    ``RAG_RERANK_MODEL`` is empty)."""

    def rerank(
        self, query: str, chunks: Sequence[DocumentChunk], *, limit: int
    ) -> list[DocumentChunk]:
        return list(chunks[:limit])


class RerankedSearch:
    """A search that fetches ``candidates`` chunks and lets the reranker pick the best
    ``limit`` of them. The relevance threshold is the search's, applied before reranking:
    with no chunk above it there is nothing to rerank, and the answer stays "not in the
    documents"."""

    def __init__(self, search: DocumentSearch, reranker: Reranker, *, candidates: int) -> None:
        if candidates < 1:
            raise ValueError(f"candidates must be at least 1, not {candidates}")
        self._search = search
        self._reranker = reranker
        self._candidates = candidates

    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        found = self._search.search(query, limit=max(limit, self._candidates))
        if not found:
            return []
        return self._reranker.rerank(query, found, limit=limit)


class _BuiltOnFirstUse:
    """Defers opening the index (and the embedding model) to the first search, so a cold
    start that answers no document question never pays for them."""

    def __init__(self, build: Callable[[], DocumentSearch]) -> None:
        self._build = build
        self._search: DocumentSearch | None = None
        self._lock = threading.Lock()

    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        with self._lock:
            if self._search is None:
                self._search = self._build()
        return self._search.search(query, limit=limit)


def document_search(settings: Settings, clock: Clock) -> DocumentSearch:
    """The configured AWS store (OpenSearch Serverless or S3 Vectors) with Titan in AWS; the
    embedded index with the local model else."""
    return _BuiltOnFirstUse(lambda: _open(settings, clock))


def _open(settings: Settings, clock: Clock) -> DocumentSearch:
    embeddings = embeddings_from_settings(settings)
    mode: SearchMode = settings.rag_search_mode
    if settings.chatbot_env is Environment.AWS:
        remote = _aws_store(settings, clock, embeddings)
        search: DocumentSearch = ModeSearch(remote, mode, settings.rag_min_score)
        if settings.rag_rerank_model:
            from chatbot.adapters.aws.reranker import (
                BedrockReranker,
                bedrock_agent_runtime_client,
                model_arn,
            )

            region = settings.bedrock_region or settings.aws_region
            reranker = BedrockReranker(
                bedrock_agent_runtime_client(region), model_arn(settings.rag_rerank_model, region)
            )
            search = RerankedSearch(search, reranker, candidates=settings.rag_rerank_candidates)
        return search
    from chatbot.adapters.local.documents import SQLiteDocumentIndex
    from chatbot.adapters.local.private_files import private_directory

    private_directory(settings.state_dir)
    local = SQLiteDocumentIndex(settings.documents_path, embeddings)
    return ModeSearch(local, mode, settings.rag_min_score)


def _aws_store(settings: Settings, clock: Clock, embeddings: Embeddings) -> _SearchesThreeWays:
    """The store VECTOR_STORE names: an S3 Vectors index, or the OpenSearch collection."""
    if settings.vector_store == "s3vectors":
        from chatbot.adapters.aws.s3vectors import S3VectorsDocumentStore, s3vectors_client

        if not settings.s3vectors_bucket:
            raise ValueError("S3VECTORS_BUCKET must name the vector bucket in AWS")
        return S3VectorsDocumentStore(
            s3vectors_client(settings.s3vectors_region or settings.aws_region),
            bucket=settings.s3vectors_bucket,
            index=settings.s3vectors_index,
            embeddings=embeddings,
            clock=clock,
        )
    from chatbot.adapters.aws.opensearch import OpenSearchDocumentIndex, opensearch_client

    if not settings.opensearch_endpoint:
        raise ValueError("OPENSEARCH_ENDPOINT must name the collection in AWS")
    region = settings.opensearch_region or settings.aws_region
    return OpenSearchDocumentIndex(
        opensearch_client(settings.opensearch_endpoint, region),
        settings.opensearch_index,
        embeddings,
        clock=clock,
    )
