"""The retrieval evaluation through the S3 Vectors adapter over its fake, beside the
embedded index on the same vectors (``bench/retrieval_s3vectors.py`` prints it; the
integration tests hold its figures).

Each labelled set is written through ``S3VectorsDocumentStore.upsert`` into the fake
(``s3vectors_fake``: a real boto3 client, every request and response validated by botocore),
then scored with vector, keyword and hybrid search, each query through the adapter's real
requests. What the rows can say: vector search is exact in the fake and approximate in the
service; the keyword ranking is the fake's BM25 (only an imitation of the service's) under our
key weights; the hybrid is our score fusion, the code that runs in AWS.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chatbot.adapters.aws.s3vectors import S3VectorsDocumentStore
from chatbot.adapters.local.documents import SQLiteDocumentIndex
from chatbot.embeddings import Embeddings
from chatbot.evaluation.dataset import RetrievalDataset
from chatbot.evaluation.embedding_cache import embed_cached
from chatbot.evaluation.references import CachedQueries
from chatbot.evaluation.retrieval import (
    OUR_KEYWORD,
    OUR_VECTOR,
    Ranker,
    _chunks,
    embedding_text,
    hybrid_name,
    score_system,
)
from chatbot.evaluation.retrieval_report import CUTOFF, SystemResult
from chatbot.evaluation.splits import HELD_OUT, TUNING
from chatbot.ingest.chunking import Chunk
from chatbot.ingest.pipeline import EmbeddedChunk
from chatbot.rank_fusion import HYBRID_WEIGHTS
from chatbot.records import DocumentChunk
from tests.integration.s3vectors_fake import BUCKET, INDEX, FakeS3Vectors

OUR_HYBRID_AS_DEPLOYED = hybrid_name(HYBRID_WEIGHTS)

S3_VECTOR = "vector: S3 Vectors adapter (fake: exact search)"
S3_KEYWORD = "keyword: S3 Vectors adapter (fake's BM25, our key weights)"
S3_HYBRID = "hybrid: S3 Vectors adapter (score fusion, the weights in AWS)"


class _FixedClock:
    """The ingestion time written into each vector's metadata; the figures do not use it."""

    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True)
class StoresReport:
    dataset: str
    passages: int
    queries: int
    corpus_seconds: float
    query_seconds: float
    upsert_seconds: float
    results: tuple[SystemResult, ...]

    def result(self, system: str) -> SystemResult:
        return next(result for result in self.results if result.system == system)

    def to_markdown(self) -> str:
        lines = [
            f"Dataset `{self.dataset}`: {self.queries} queries, {self.passages} passages; "
            f"corpus vectors in {self.corpus_seconds:.1f} s, queries' in "
            f"{self.query_seconds:.1f} s (0 s: from the cache); the {self.passages} vectors "
            f"upserted through the adapter in {self.upsert_seconds:.1f} s; cut-off {CUTOFF}.",
            "",
            f"| system | nDCG@{CUTOFF} | nDCG@{CUTOFF} tuning | nDCG@{CUTOFF} held-out "
            f"| recall@{CUTOFF} held-out | seconds |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r.system} | {r.ndcg:.3f} | {r.split_ndcg.get(TUNING, 0.0):.3f} | "
            f"{r.split_ndcg.get(HELD_OUT, 0.0):.3f} | {r.split_recall.get(HELD_OUT, 0.0):.3f} "
            f"| {r.seconds:.1f} |"
            for r in self.results
        ]
        return "\n".join(lines) + "\n"


def evaluate_s3vectors(
    dataset: RetrievalDataset,
    embeddings: Embeddings,
    cache: Path | None,
    *,
    progress: Callable[[str], None] = lambda message: sys.stderr.write(f"{message}\n"),
) -> StoresReport:
    """Both stores' three searches on ``dataset``."""
    model = CachedQueries(embeddings)
    started = time.perf_counter()
    texts = [embedding_text(passage) for passage in dataset.passages]
    vectors = embed_cached(texts, model, cache)
    corpus_seconds = time.perf_counter() - started
    started = time.perf_counter()
    questions = [query.text for query in dataset.queries]
    model.remember(questions, embed_cached(questions, model, cache, query=True))
    query_seconds = time.perf_counter() - started

    fake = FakeS3Vectors(model.dimensions)
    store = S3VectorsDocumentStore(
        fake.client, bucket=BUCKET, index=INDEX, embeddings=model, clock=_FixedClock()
    )
    chunks = [
        EmbeddedChunk(
            Chunk(
                id=chunk.id,
                document_id=chunk.document_id,
                source=chunk.source,
                title=chunk.title,
                position=chunk.position,
                heading_path=(chunk.title,) if chunk.title else (),
                content=chunk.content,
            ),
            row,
        )
        for chunk, row in zip(_chunks(dataset), vectors.tolist(), strict=True)
    ]
    started = time.perf_counter()
    store.upsert(chunks)
    upsert_seconds = time.perf_counter() - started
    assert len(fake.index.vectors) == len(dataset.passages)

    def ids(search: Callable[..., list[DocumentChunk]]) -> Ranker:
        def rank(query: str, limit: int) -> list[str]:
            return [chunk.id for chunk in search(query, limit=limit)]

        return rank

    results: list[SystemResult] = []
    with tempfile.TemporaryDirectory(prefix="retrieval-s3vectors-") as directory:
        index = SQLiteDocumentIndex(Path(directory) / "index.sqlite3", model)
        try:
            index.add_chunks(_chunks(dataset))
            index.store_embeddings(
                dict(zip([p.id for p in dataset.passages], vectors.tolist(), strict=True)),
                model_id=model.model_id,
            )
            systems: list[tuple[str, Ranker]] = [
                (OUR_VECTOR, ids(index.search_vector)),
                (S3_VECTOR, ids(store.search_vector)),
                (OUR_KEYWORD, ids(index.search_keyword)),
                (S3_KEYWORD, ids(store.search_keyword)),
                (
                    OUR_HYBRID_AS_DEPLOYED,
                    lambda query, limit: [
                        chunk.id
                        for chunk in index.search_hybrid(query, limit=limit, weights=HYBRID_WEIGHTS)
                    ],
                ),
                (S3_HYBRID, ids(lambda query, limit: store.search_hybrid(query, limit=limit))),
            ]
            for name, rank in systems:
                results.append(score_system(name, rank, dataset))
                progress(f"{dataset.name}: scored {name}")
        finally:
            index.close()
    return StoresReport(
        dataset=dataset.name,
        passages=len(dataset.passages),
        queries=len(dataset.queries),
        corpus_seconds=corpus_seconds,
        query_seconds=query_seconds,
        upsert_seconds=upsert_seconds,
        results=tuple(results),
    )
