"""The reference systems our searches are compared with, and the query-vector memory the
systems that embed a question share."""

from __future__ import annotations

from collections.abc import Sequence

import bm25s  # type: ignore[import-untyped]  # ships no type information
import numpy as np
import numpy.typing as npt

from chatbot.embeddings import Embeddings
from chatbot.evaluation.dataset import Passage


class Bm25Reference:
    """BM25 as ``bm25s`` computes it (Lucene's variant, k1 1.5, b 0.75, English stop words),
    over the same title and text our FTS5 index holds."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        self._ids = [passage.id for passage in passages]
        corpus = [f"{passage.title}\n{passage.text}" for passage in passages]
        self._retriever = bm25s.BM25()
        self._retriever.index(self._tokenize(corpus), show_progress=False)

    def rank(self, query: str, limit: int) -> list[str]:
        tokens = self._tokenize([query])
        if not tokens[0]:
            return []
        depth = min(limit, len(self._ids))
        found, scores = self._retriever.retrieve(tokens, k=depth, show_progress=False)
        # bm25s fills the ranking up with score-0 passages; FTS5 returns only matches.
        return [self._ids[int(i)] for i, s in zip(found[0], scores[0], strict=True) if s > 0]

    @staticmethod
    def _tokenize(texts: list[str]) -> list[list[str]]:
        tokens: list[list[str]] = bm25s.tokenize(
            texts, stopwords="en", return_ids=False, show_progress=False
        )
        return tokens


class ExactCosineReference:
    """Every passage scored by the cosine of its vector and the query's: the exact answer
    that any vector search over these vectors should return."""

    def __init__(
        self, ids: Sequence[str], vectors: npt.NDArray[np.float32], embeddings: Embeddings
    ) -> None:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # Normalised here rather than trusted to be unit length: the reference assumes nothing.
        self._matrix = vectors / np.where(norms == 0, 1, norms)
        self._ids = list(ids)
        self._embeddings = embeddings

    def rank(self, query: str, limit: int) -> list[str]:
        vector = np.asarray(self._embeddings.embed_query(query), dtype=np.float32)
        vector /= max(float(np.linalg.norm(vector)), 1e-12)
        cosines = self._matrix @ vector
        best = np.argsort(-cosines, kind="stable")[:limit]
        return [self._ids[int(i)] for i in best]


class RememberedQueries:
    """An embedding model whose query vectors are computed once: the three systems that
    embed a query then time their searches, not the same model call three times."""

    def __init__(self, embeddings: Embeddings) -> None:
        self._embeddings = embeddings
        self._queries: dict[str, list[float]] = {}

    @property
    def dimensions(self) -> int:
        return self._embeddings.dimensions

    @property
    def model_id(self) -> str:
        return self._embeddings.model_id

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embeddings.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        if text not in self._queries:
            self._queries[text] = self._embeddings.embed_query(text)
        return self._queries[text]


class CachedQueries(RememberedQueries):
    """Remembered queries, filled up front from the vector cache."""

    def remember(self, texts: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        for text, vector in zip(texts, vectors.tolist(), strict=True):
            self._queries.setdefault(text, vector)
