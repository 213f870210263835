"""A deterministic, counting stand-in for the embedding model, for the ingestion tests."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence


class CountingEmbeddings:
    """Deterministic unit vectors from a digest of the text; counts texts and calls."""

    dimensions = 8

    def __init__(self, model_id: str = "fake-embeddings-v1") -> None:
        self.model_id = model_id
        self.texts: list[str] = []
        self.calls = 0

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        self.texts.extend(texts)
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        raw = [byte - 127.5 for byte in digest[: self.dimensions]]
        norm = math.sqrt(sum(value * value for value in raw))
        return [value / norm for value in raw]
