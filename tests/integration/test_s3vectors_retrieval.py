"""The retrieval evaluation through the S3 Vectors adapter over its fake (gnu_manpages: 439
passages, 133 questions, the real all-MiniLM-L6-v2), beside the embedded index on the same
vectors. Figures of both labelled sets: bench/results/retrieval-s3vectors.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbot.evaluation.dataset import DEFAULT_DATASETS, load_dataset
from chatbot.evaluation.retrieval import OUR_VECTOR
from chatbot.evaluation.splits import HELD_OUT, SPLITS
from tests.integration.s3vectors_retrieval import (
    S3_HYBRID,
    S3_KEYWORD,
    S3_VECTOR,
    StoresReport,
    evaluate_s3vectors,
)
from tests.integration.test_retrieval_quality import MODEL_INSTALLED, cache_for

_, MANPAGES = DEFAULT_DATASETS

pytestmark = pytest.mark.skipif(
    not MODEL_INSTALLED, reason="the local embedding model is not installed"
)


@pytest.fixture(scope="module")
def report(eval_vectors_cache: Path) -> StoresReport:
    from chatbot.adapters.local.embeddings import LocalEmbeddings

    dataset = load_dataset(MANPAGES)
    return evaluate_s3vectors(
        dataset, LocalEmbeddings(), cache_for(dataset, eval_vectors_cache), progress=lambda _: None
    )


def test_vector_search_through_the_adapter_ranks_as_the_embedded_index(
    report: StoresReport,
) -> None:
    # Both are exact here: the same request, distance-to-cosine mapping and result shape
    # give the same ranking, question by question (the service's own search is approximate).
    ours, s3 = report.result(OUR_VECTOR), report.result(S3_VECTOR)
    assert s3.queries == 133
    assert s3.ndcg == pytest.approx(ours.ndcg, abs=1e-9)
    for split in SPLITS:
        assert s3.split_ndcg[split] == pytest.approx(ours.split_ndcg[split], abs=1e-9)
    assert s3.ndcg > 0.55  # measured 0.596


def test_keyword_search_through_the_adapter_finds_answers(report: StoresReport) -> None:
    # The fake's BM25 under our key weights (content + 2 x title): measured 0.461.
    assert report.result(S3_KEYWORD).ndcg >= 0.42


def test_the_deployed_hybrid_beats_vector_search_alone_on_the_held_out_questions(
    report: StoresReport,
) -> None:
    # Measured on the held-out split: hybrid 0.644, vector 0.624.
    hybrid = report.result(S3_HYBRID).split_ndcg[HELD_OUT]
    vector = report.result(S3_VECTOR).split_ndcg[HELD_OUT]
    assert hybrid >= vector + 0.01
