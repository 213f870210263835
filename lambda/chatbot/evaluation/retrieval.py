"""Retrieval evaluation: our vector, keyword and hybrid search beside reference systems.

Every system ranks the same corpus for the same queries; each is scored by nDCG@10 and
recall@10 (``chatbot.evaluation.metrics``). The references are independent of our index
code: BM25 from ``bm25s`` for keyword search, and an exact cosine search (one NumPy matrix
product over the very vectors our index stores) for vector search, so a gap between ours
and its reference is ours to explain.

    python -m chatbot.evaluation.retrieval [--data DIR ...] [--limit-queries N]
        [--output FILE] [--hybrid-weights 1:1,1:0.5,...] [--keyword-only] [--no-cache]

Every labelled set is evaluated (``--data``, repeatable; default python_faq and
gnu_manpages), each scored on all its questions and on its tuning and held-out splits
(``chatbot.evaluation.splits``). ``--hybrid-weights`` gives one hybrid row per
(vector:keyword) pair of score-fusion weights (``chatbot.rank_fusion.fuse_hybrid``); the pair of
the best tuning nDCG is reported on the held-out split. With embeddings, the refusal table
follows (``chatbot.evaluation.refusal``): RAG_MIN_SCORE chosen on the tuning split, the
answer and refusal rates on both. Corpus and question vectors are kept between runs
(``chatbot.evaluation.embedding_cache``).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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
from chatbot.evaluation import refusal
from chatbot.evaluation.dataset import (
    DEFAULT_DATASETS,
    DatasetError,
    Passage,
    RetrievalDataset,
    load_dataset,
)
from chatbot.evaluation.embedding_cache import default_cache_directory, embed_cached
from chatbot.evaluation.metrics import mean, ndcg_at_k, recall_at_k
from chatbot.evaluation.references import (
    Bm25Reference,
    CachedQueries,
    ExactCosineReference,
    RememberedQueries,
)
from chatbot.evaluation.results_log import append_section
from chatbot.evaluation.retrieval_report import CUTOFF, RetrievalReport, SystemResult
from chatbot.evaluation.splits import SPLITS, in_split
from chatbot.rank_fusion import HYBRID_WEIGHTS
from chatbot.records import DocumentChunk

__all__ = [
    "CUTOFF",
    "Bm25Reference",
    "ExactCosineReference",
    "RememberedQueries",
    "RetrievalReport",
    "SystemResult",
]

# Chunks the RAG path gives the model (RAG_TOP_K's default): the refusal table's "grounded".
RAG_TOP_K: Final = 5
# The weightings ``--hybrid-weights`` tries unless told otherwise: the tuning split picks.
DEFAULT_SWEEP: Final = "0.9:0.1,0.8:0.2,0.7:0.3,0.6:0.4,0.5:0.5"

# A ranking function: query text and depth to passage ids, best first.
Ranker = Callable[[str, int], list[str]]
Progress = Callable[[str], None]


# Systems' names, as the report shows them.
OUR_VECTOR: Final = "vector: ours (SQLiteDocumentIndex.search_vector)"
REFERENCE_VECTOR: Final = "vector: reference (exact cosine, NumPy)"
OUR_KEYWORD: Final = "keyword: ours (SQLite FTS5 bm25)"
REFERENCE_KEYWORD: Final = f"keyword: reference (bm25s {bm25s.__version__} BM25)"
OUR_HYBRID: Final = "hybrid: ours (score fusion of vector and keyword, equal weights)"

# (vector, keyword) fusion weights.
HybridWeights = tuple[float, float]


def hybrid_name(weights: HybridWeights) -> str:
    """The report's name of a hybrid run: plain ``OUR_HYBRID`` for equal weights."""
    vector, keyword = weights
    if vector == keyword:
        return OUR_HYBRID
    return f"hybrid: ours (score fusion, vector {vector:g} : keyword {keyword:g})"


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


def score_system(name: str, rank: Ranker, dataset: RetrievalDataset) -> SystemResult:
    """Run every query through ``rank`` and average its metrics at the cut-off, over all
    the queries and over each split's."""
    ndcgs: list[tuple[str, float]] = []
    recalls: list[tuple[str, float]] = []
    started = time.perf_counter()
    for query in dataset.queries:
        ranking = rank(query.text, CUTOFF)
        relevance = dataset.qrels.get(query.id, {})
        ndcgs.append((query.id, ndcg_at_k(ranking, relevance, CUTOFF)))
        recalls.append((query.id, recall_at_k(ranking, relevance, CUTOFF)))
    seconds = time.perf_counter() - started
    return SystemResult(
        name,
        mean(in_split(ndcgs, None)),
        mean(in_split(recalls, None)),
        len(dataset.queries),
        seconds,
        split_ndcg={split: mean(in_split(ndcgs, split)) for split in SPLITS},
        split_recall={split: mean(in_split(recalls, split)) for split in SPLITS},
    )


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


def _refusal_samples(
    dataset: RetrievalDataset,
    vectors: npt.NDArray[np.float32],
    query_vectors: npt.NDArray[np.float32],
    unanswerable_vectors: npt.NDArray[np.float32],
) -> list[refusal.Sample]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    matrix = (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
    row_of = {passage.id: row for row, passage in enumerate(dataset.passages)}
    relevant = [
        [row_of[p] for p, grade in dataset.qrels.get(q.id, {}).items() if grade > 0]
        for q in dataset.queries
    ]
    found = refusal.samples(
        dataset.name,
        matrix,
        [q.id for q in dataset.queries],
        query_vectors,
        relevant,
        top_k=RAG_TOP_K,
    )
    if dataset.unanswerable:
        found += refusal.samples(
            dataset.name,
            matrix,
            [q.id for q in dataset.unanswerable],
            unanswerable_vectors,
            None,
            top_k=RAG_TOP_K,
        )
    return found


def evaluate(
    dataset: RetrievalDataset,
    embeddings: Embeddings | None,
    *,
    progress: Progress = lambda _: None,
    hybrid_weights: Sequence[HybridWeights] = (HYBRID_WEIGHTS,),
    cache_directory: Path | None = None,
) -> RetrievalReport:
    """Index ``dataset`` into a fresh SQLite index in a temporary directory, run every system.

    Without ``embeddings`` only keyword search and its reference run. One hybrid row per
    ``hybrid_weights`` pair. Vectors are read from, and saved to, ``cache_directory``.
    """
    model = CachedQueries(embeddings) if embeddings is not None else None
    samples: list[refusal.Sample] = []
    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as directory:
        index = SQLiteDocumentIndex(Path(directory) / "index.sqlite3", model)
        try:
            index.add_chunks(_chunks(dataset))
            results: list[SystemResult] = []
            embedding_seconds = query_embedding_seconds = 0.0
            if model is not None:
                started = time.perf_counter()
                texts = [embedding_text(passage) for passage in dataset.passages]
                vectors = embed_cached(texts, model, cache_directory, progress=progress)
                embedding_seconds = time.perf_counter() - started
                started = time.perf_counter()
                questions = [query.text for query in dataset.queries]
                query_vectors = embed_cached(
                    questions, model, cache_directory, query=True, progress=progress
                )
                model.remember(questions, query_vectors)
                unanswerable_vectors = embed_cached(
                    [query.text for query in dataset.unanswerable],
                    model,
                    cache_directory,
                    query=True,
                    progress=progress,
                )
                query_embedding_seconds = time.perf_counter() - started
                samples = _refusal_samples(dataset, vectors, query_vectors, unanswerable_vectors)
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
        refusal_samples=tuple(samples),
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


def markdown(reports: Sequence[RetrievalReport], *, current_min_score: float) -> str:
    """Every corpus's table, then the refusal table over all of them (with embeddings)."""
    parts = [report.to_markdown() for report in reports]
    samples = [sample for report in reports for sample in report.refusal_samples]
    if any(not sample.answerable for sample in samples):
        parts.append(refusal.to_markdown(samples, current_min_score))
    return "\n".join(parts)


def append_result(report: RetrievalReport | str, output: Path, *, when: datetime) -> None:
    """Append the report (or ``markdown``'s text) to a Markdown log, headed by the date and
    the machine."""
    append_section(
        output,
        report if isinstance(report, str) else report.to_markdown(),
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
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        help="dataset directory (repeatable; default: every labelled set)",
    )
    parser.add_argument(
        "--limit-queries", type=int, metavar="N", help="only the first N queries of each kind"
    )
    parser.add_argument("--output", type=Path, help="append the tables to this Markdown file")
    parser.add_argument(
        "--keyword-only", action="store_true", help="no embeddings: keyword search only"
    )
    parser.add_argument(
        "--hybrid-weights",
        type=_weights_argument,
        default=parse_hybrid_weights(DEFAULT_SWEEP),
        metavar="V:K,...",
        help="fusion weights of the vector and keyword rankings, one hybrid row per pair "
        f"(default {DEFAULT_SWEEP})",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=default_cache_directory(),
        help="where corpus and question vectors are kept between runs",
    )
    parser.add_argument("--no-cache", action="store_true", help="embed everything afresh")
    options = parser.parse_args(argv)
    datasets: list[RetrievalDataset] = []
    for directory in options.data or DEFAULT_DATASETS:
        try:
            dataset = load_dataset(directory)
        except (OSError, DatasetError) as error:
            sys.stderr.write(f"cannot read the dataset {directory}: {error}\n")
            return 2
        if options.limit_queries is not None:
            dataset = dataset.first_queries(options.limit_queries)
        datasets.append(dataset)

    def progress(message: str) -> None:
        sys.stderr.write(f"{message}\n")

    try:
        model = None if options.keyword_only else (embeddings or LocalEmbeddings)()
        reports = [
            evaluate(
                dataset,
                model,
                progress=progress,
                hybrid_weights=options.hybrid_weights,
                cache_directory=None if options.no_cache else options.cache_dir,
            )
            for dataset in datasets
        ]
    except ModelUnavailableError as error:
        sys.stderr.write(f"{error} (or run with --keyword-only)\n")
        return 2
    text = markdown(reports, current_min_score=_default_min_score())
    sys.stdout.write(text)
    if options.output is not None:
        append_result(text, options.output, when=SystemClock().now())
    return 0


def _default_min_score() -> float:
    """RAG_MIN_SCORE's default, as the settings declare it."""
    from chatbot.config import Settings

    default = Settings.model_fields["rag_min_score"].default
    return float(default)


def _weights_argument(text: str) -> list[HybridWeights]:
    try:
        return parse_hybrid_weights(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


if __name__ == "__main__":
    sys.exit(main())
