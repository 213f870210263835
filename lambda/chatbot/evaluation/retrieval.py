"""Retrieval evaluation: our vector, keyword and hybrid search beside reference systems.

Every system ranks the same corpus for the same queries; each is scored by nDCG@10 and
recall@10 (``chatbot.evaluation.metrics``). The references are independent of our index
code: BM25 from ``bm25s`` for keyword search, and an exact cosine search (one NumPy matrix
product over the very vectors our index stores) for vector search, so a gap between ours
and its reference is ours to explain.

    python -m chatbot.evaluation.retrieval [--data DIR] [--limit-queries N] [--output FILE]
        [--hybrid-weights 1:1,1:0.5,...]

``--hybrid-weights`` adds one hybrid row per (vector:keyword) pair of RRF weights, k fixed at
``chatbot.rank_fusion.RRF_K``; the default is the index's own weighting alone.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import bm25s  # type: ignore[import-untyped]  # ships no type information
import numpy as np
import numpy.typing as npt

from chatbot.adapters.local.documents import ChunkToIndex, SQLiteDocumentIndex
from chatbot.adapters.local.embeddings import LocalEmbeddings
from chatbot.clock import SystemClock
from chatbot.embeddings import Embeddings
from chatbot.errors import ModelUnavailableError
from chatbot.evaluation.dataset import (
    DEFAULT_DATASET,
    DatasetError,
    Passage,
    RetrievalDataset,
    load_dataset,
)
from chatbot.evaluation.metrics import mean, ndcg_at_k, recall_at_k
from chatbot.evaluation.results_log import append_section
from chatbot.rank_fusion import HYBRID_WEIGHTS
from chatbot.records import DocumentChunk

CUTOFF: Final = 10
# Texts per call to the embedding model: large enough to batch well, small enough that
# progress shows while a few thousand passages are embedded.
_EMBEDDING_BATCH: Final = 256

# A ranking function: query text and depth to passage ids, best first.
Ranker = Callable[[str, int], list[str]]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SystemResult:
    system: str
    ndcg: float
    recall: float
    queries: int
    seconds: float


@dataclass(frozen=True)
class RetrievalReport:
    dataset: str
    passages: int
    queries: int
    embedding_model: str | None
    embedding_seconds: float
    query_embedding_seconds: float
    results: tuple[SystemResult, ...]

    def result(self, system: str) -> SystemResult:
        return next(result for result in self.results if result.system == system)

    def to_markdown(self) -> str:
        model = (
            f"embeddings {self.embedding_model} (corpus embedded in "
            f"{self.embedding_seconds:.1f} s, queries in {self.query_embedding_seconds:.1f} s, "
            "before the searches are timed)"
            if self.embedding_model
            else "no embeddings (keyword search only)"
        )
        lines = [
            f"Dataset `{self.dataset}`: {self.queries} queries, {self.passages} passages; "
            f"{model}; cut-off {CUTOFF}.",
            "",
            f"| system | nDCG@{CUTOFF} | recall@{CUTOFF} | queries | seconds |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r.system} | {r.ndcg:.3f} | {r.recall:.3f} | {r.queries} | {r.seconds:.1f} |"
            for r in self.results
        ]
        return "\n".join(lines) + "\n"


# Systems' names, as the report shows them.
OUR_VECTOR: Final = "vector: ours (SQLiteDocumentIndex.search_vector)"
REFERENCE_VECTOR: Final = "vector: reference (exact cosine, NumPy)"
OUR_KEYWORD: Final = "keyword: ours (SQLite FTS5 bm25)"
REFERENCE_KEYWORD: Final = f"keyword: reference (bm25s {bm25s.__version__} BM25)"
OUR_HYBRID: Final = "hybrid: ours (RRF of vector and keyword)"

# (vector, keyword) RRF weights.
HybridWeights = tuple[float, float]


def hybrid_name(weights: HybridWeights) -> str:
    """The report's name of a hybrid run: plain ``OUR_HYBRID`` for equal weights."""
    vector, keyword = weights
    if vector == keyword:
        return OUR_HYBRID
    return f"hybrid: ours (weighted RRF, vector {vector:g} : keyword {keyword:g})"


def parse_hybrid_weights(text: str) -> list[HybridWeights]:
    """``"1:1,1:0.5"`` -> [(1.0, 1.0), (1.0, 0.5)]; ``ValueError`` on anything else."""
    pairs: list[HybridWeights] = []
    for item in text.split(","):
        vector, colon, keyword = item.strip().partition(":")
        if not colon:
            raise ValueError(f"expected VECTOR:KEYWORD, not {item.strip()!r}")
        try:
            pair = (float(vector), float(keyword))
        except ValueError:
            raise ValueError(f"expected VECTOR:KEYWORD numbers, not {item.strip()!r}") from None
        if not all(math.isfinite(w) and w >= 0 for w in pair) or pair == (0.0, 0.0):
            raise ValueError(f"weights must be finite, at least 0 and not both 0: {item!r}")
        pairs.append(pair)
    return pairs


def embedding_text(passage: Passage) -> str:
    """What is embedded, as the ingestion does it: the heading path, a blank line, the text.

    The path is the page title only: a section heading would be the FAQ's question itself.
    """
    return f"{passage.title}\n\n{passage.text}" if passage.title else passage.text


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


def score_system(name: str, rank: Ranker, dataset: RetrievalDataset) -> SystemResult:
    """Run every query through ``rank`` and average its metrics at the cut-off."""
    ndcgs: list[float] = []
    recalls: list[float] = []
    started = time.perf_counter()
    for query in dataset.queries:
        ranking = rank(query.text, CUTOFF)
        relevance = dataset.qrels.get(query.id, {})
        ndcgs.append(ndcg_at_k(ranking, relevance, CUTOFF))
        recalls.append(recall_at_k(ranking, relevance, CUTOFF))
    seconds = time.perf_counter() - started
    return SystemResult(name, mean(ndcgs), mean(recalls), len(dataset.queries), seconds)


def _chunks(dataset: RetrievalDataset) -> list[ChunkToIndex]:
    return [
        ChunkToIndex(
            id=passage.id,
            document_id=passage.source.partition("#")[0],
            source=passage.source,
            position=position,
            content=passage.text,
            title=passage.title,
        )
        for position, passage in enumerate(dataset.passages)
    ]


def _embed_corpus(
    dataset: RetrievalDataset, embeddings: Embeddings, progress: Progress
) -> npt.NDArray[np.float32]:
    texts = [embedding_text(passage) for passage in dataset.passages]
    vectors: list[list[float]] = []
    for start in range(0, len(texts), _EMBEDDING_BATCH):
        vectors += embeddings.embed_documents(texts[start : start + _EMBEDDING_BATCH])
        progress(f"embedded {len(vectors)}/{len(texts)} passages")
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), embeddings.dimensions)


def evaluate(
    dataset: RetrievalDataset,
    embeddings: Embeddings | None,
    *,
    progress: Progress = lambda _: None,
    hybrid_weights: Sequence[HybridWeights] = (HYBRID_WEIGHTS,),
) -> RetrievalReport:
    """Index ``dataset`` into a fresh SQLite index in a temporary directory, run every system.

    Without ``embeddings`` only keyword search and its reference run. One hybrid row per
    ``hybrid_weights`` pair.
    """
    model = RememberedQueries(embeddings) if embeddings is not None else None
    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as directory:
        index = SQLiteDocumentIndex(Path(directory) / "index.sqlite3", model)
        try:
            index.add_chunks(_chunks(dataset))
            results: list[SystemResult] = []
            embedding_seconds = query_embedding_seconds = 0.0
            if model is not None:
                started = time.perf_counter()
                vectors = _embed_corpus(dataset, model, progress)
                embedding_seconds = time.perf_counter() - started
                started = time.perf_counter()
                for query in dataset.queries:
                    model.embed_query(query.text)
                query_embedding_seconds = time.perf_counter() - started
                ids = [passage.id for passage in dataset.passages]
                index.store_embeddings(
                    dict(zip(ids, vectors.tolist(), strict=True)), model_id=model.model_id
                )
                reference = ExactCosineReference(ids, vectors, model)
                results += _run(
                    dataset,
                    progress,
                    [
                        (OUR_VECTOR, _ids_of(index.search_vector)),
                        (REFERENCE_VECTOR, reference.rank),
                    ],
                )
            bm25 = Bm25Reference(dataset.passages)
            results += _run(
                dataset,
                progress,
                [
                    (OUR_KEYWORD, _ids_of(index.search_keyword)),
                    (REFERENCE_KEYWORD, bm25.rank),
                ],
            )
            if model is not None:
                results += _run(
                    dataset,
                    progress,
                    [
                        (hybrid_name(weights), _hybrid_ranker(index, weights))
                        for weights in hybrid_weights
                    ],
                )
        finally:
            index.close()
    return RetrievalReport(
        dataset=dataset.name,
        passages=len(dataset.passages),
        queries=len(dataset.queries),
        embedding_model=embeddings.model_id if embeddings is not None else None,
        embedding_seconds=embedding_seconds,
        query_embedding_seconds=query_embedding_seconds,
        results=tuple(results),
    )


def _ids_of(search: Callable[..., list[DocumentChunk]]) -> Ranker:
    """A ranker from one of the index's searches (``search(query, limit=...)``)."""

    def rank(query: str, limit: int) -> list[str]:
        return [chunk.id for chunk in search(query, limit=limit)]

    return rank


def _hybrid_ranker(index: SQLiteDocumentIndex, weights: HybridWeights) -> Ranker:
    def rank(query: str, limit: int) -> list[str]:
        return [chunk.id for chunk in index.search_hybrid(query, limit=limit, weights=weights)]

    return rank


def _run(
    dataset: RetrievalDataset, progress: Progress, systems: list[tuple[str, Ranker]]
) -> list[SystemResult]:
    results = []
    for name, rank in systems:
        results.append(score_system(name, rank, dataset))
        progress(f"scored {name}")
    return results


def append_result(report: RetrievalReport, output: Path, *, when: datetime) -> None:
    """Append the report to a Markdown log, headed by the date and the machine."""
    append_section(
        output,
        report.to_markdown(),
        title="Retrieval evaluation",
        command="chatbot eval retrieval",
        when=when,
    )


def main(
    argv: Sequence[str] | None = None,
    *,
    embeddings: Callable[[], Embeddings] | None = None,
) -> int:
    """The command line. ``embeddings`` makes the model; by default the local all-MiniLM-L6-v2,
    whatever the environment, so the figures are of the model that runs offline."""
    parser = argparse.ArgumentParser(
        prog="chatbot eval retrieval", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATASET, help="dataset directory")
    parser.add_argument("--limit-queries", type=int, metavar="N", help="only the first N queries")
    parser.add_argument("--output", type=Path, help="append the table to this Markdown file")
    parser.add_argument(
        "--keyword-only", action="store_true", help="no embeddings: keyword search only"
    )
    parser.add_argument(
        "--hybrid-weights",
        type=_weights_argument,
        default=[HYBRID_WEIGHTS],
        metavar="V:K,...",
        help="RRF weights of the vector and keyword rankings, one hybrid row per pair "
        f"(default {HYBRID_WEIGHTS[0]:g}:{HYBRID_WEIGHTS[1]:g})",
    )
    options = parser.parse_args(argv)
    try:
        dataset = load_dataset(options.data)
    except (OSError, DatasetError) as error:
        sys.stderr.write(f"cannot read the dataset: {error}\n")
        return 2
    if options.limit_queries is not None:
        dataset = dataset.first_queries(options.limit_queries)

    def progress(message: str) -> None:
        sys.stderr.write(f"{message}\n")

    try:
        model = None if options.keyword_only else (embeddings or LocalEmbeddings)()
        report = evaluate(dataset, model, progress=progress, hybrid_weights=options.hybrid_weights)
    except ModelUnavailableError as error:
        sys.stderr.write(f"{error} (or run with --keyword-only)\n")
        return 2
    sys.stdout.write(report.to_markdown())
    if options.output is not None:
        append_result(report, options.output, when=SystemClock().now())
    return 0


def _weights_argument(text: str) -> list[HybridWeights]:
    try:
        return parse_hybrid_weights(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


if __name__ == "__main__":
    sys.exit(main())
