"""The embeddings port: text to unit-length vectors, by Bedrock Titan or a local model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


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
