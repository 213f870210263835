"""The embeddings port: text to unit-length vectors, by Bedrock Titan or a local model."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from chatbot.config import Environment, Settings


class Embeddings(Protocol):
    """Vectors are unit length, so a dot product is the cosine similarity."""

    @property
    def dimensions(self) -> int: ...

    @property
    def model_id(self) -> str:
        """Names the model; an index built with one model is not searched with another."""
        ...

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (batched as the backend prefers)."""
        ...

    def embed_query(self, text: str) -> list[float]: ...


class QueryCache:
    """Embeddings that remember the vectors of recent queries.

    One question is embedded twice on its way through the engine: once by the router and once
    by the document search. With the local model that is ~17 ms of CPU each; with Titan, a
    billed request each. Documents are not cached: ingestion embeds each chunk once anyway.
    """

    def __init__(self, inner: Embeddings, size: int = 256) -> None:
        self._inner = inner
        self._size = size
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def inner(self) -> Embeddings:
        return self._inner

    @property
    def dimensions(self) -> int:
        return self._inner.dimensions

    @property
    def model_id(self) -> str:
        return self._inner.model_id

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
                return list(vector)
        vector = self._inner.embed_query(text)
        with self._lock:
            self._vectors[text] = vector
            while len(self._vectors) > self._size:
                self._vectors.popitem(last=False)
        return list(vector)


# One per configuration and process, so that every user (router, document search) shares its
# query cache.
_shared: dict[tuple[object, ...], QueryCache] = {}
_sharing = threading.Lock()


def embeddings_from_settings(settings: Settings) -> Embeddings:
    """Titan in AWS, the local model everywhere else; one shared instance per configuration."""
    key = (
        settings.chatbot_env,
        settings.bedrock_region or settings.aws_region,
        settings.bedrock_embedding_model,
        settings.embedding_dimensions,
        settings.embedding_concurrency,
        settings.embedding_batch_size,
        settings.embedding_threads,
        settings.embedding_batch_window_ms,
    )
    with _sharing:
        if key not in _shared:
            _shared[key] = QueryCache(_build(settings))
        return _shared[key]


def _build(settings: Settings) -> Embeddings:
    # Adapters are imported here so a process loads only the one it uses: boto3 in Lambda, and
    # the local adapter (which itself defers torch) on one machine.
    if settings.chatbot_env is Environment.AWS:
        from chatbot.adapters.aws.embeddings import TitanEmbeddings

        return TitanEmbeddings(
            region=settings.bedrock_region or settings.aws_region,
            model_id=settings.bedrock_embedding_model,
            dimensions=settings.embedding_dimensions,
            concurrency=settings.embedding_concurrency,
        )
    from chatbot.adapters.local.embeddings import LocalEmbeddings

    return LocalEmbeddings(
        batch_size=settings.embedding_batch_size,
        threads=settings.embedding_threads,
        query_window_seconds=settings.embedding_batch_window_ms / 1000,
    )
