"""The embeddings port: text to unit-length vectors, by Bedrock Titan or a local model."""

from __future__ import annotations

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


def embeddings_from_settings(settings: Settings) -> Embeddings:
    """Titan in AWS, the local model everywhere else."""
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
        batch_size=settings.embedding_batch_size, threads=settings.embedding_threads
    )
