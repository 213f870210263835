"""The evaluation's fixed question splits, its refusal rates and threshold choice, and its
vector cache."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from chatbot.evaluation import refusal
from chatbot.evaluation.embedding_cache import embed_cached
from chatbot.evaluation.splits import HELD_OUT, TUNING, in_split, split_of


def test_a_questions_split_is_fixed_by_its_id_alone() -> None:
    ids = [f"q{n}" for n in range(400)]
    splits = [split_of(query_id) for query_id in ids]
    assert splits == [split_of(query_id) for query_id in ids]  # the same every time
    assert 150 < splits.count(TUNING) < 250  # about half
    first_byte = hashlib.sha256(b"split:q0").digest()[0]
    assert split_of("q0") == (TUNING if first_byte < 128 else HELD_OUT)
    pairs = [(query_id, n) for n, query_id in enumerate(ids)]
    assert len(in_split(pairs, TUNING)) + len(in_split(pairs, HELD_OUT)) == len(ids)
    assert in_split(pairs, None) == list(range(400))


def sample(answerable: bool, best: float, relevant: float | None = None) -> refusal.Sample:
    return refusal.Sample("c", f"q{best}{answerable}", answerable, best, relevant)


def test_rates_count_answers_grounding_and_refusals_at_a_threshold() -> None:
    samples = [
        sample(True, 0.8, 0.8),
        sample(True, 0.5, None),  # answered, but no relevant passage among the top k
        sample(True, 0.2, 0.2),
        sample(False, 0.1),
        sample(False, 0.6),
    ]
    rates = refusal.rates(samples, 0.4)
    assert (rates.answered, rates.grounded, rates.refused) == (2 / 3, 1 / 3, 1 / 2)
    assert (rates.answerable, rates.unanswerable) == (3, 2)


def test_the_threshold_balances_answers_and_refusals() -> None:
    samples = [sample(True, 0.6), sample(True, 0.5), sample(False, 0.3), sample(False, 0.35)]
    # Anything in (0.35, 0.5] answers both and refuses both; ties go to the lowest.
    assert refusal.choose_threshold(samples) == 0.36


def test_samples_take_the_best_cosine_and_the_relevant_passages_within_the_top_k() -> None:
    matrix = np.eye(3, dtype=np.float32)  # passages along the axes
    queries = np.asarray([[1, 0.5, 0], [0, 0, 2]], dtype=np.float32)
    found = refusal.samples("c", matrix, ["a", "b"], queries, [[1], [0]], top_k=1)
    assert found[0].best_cosine == np.float32(1 / np.sqrt(1.25))
    assert found[0].relevant_cosine is None  # passage 1 is second: outside the top 1
    assert found[1].best_cosine == 1.0
    assert found[1].relevant_cosine is None
    (unanswerable,) = refusal.samples("c", matrix, ["u"], queries[:1], None, top_k=1)
    assert not unanswerable.answerable


class CountingModel:
    dimensions = 2
    model_id = "fake-2"

    def __init__(self) -> None:
        self.calls = 0

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += 1
        return [[float(len(text)), 1.0] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_vectors_are_read_back_from_the_cache_for_the_same_model_and_texts(
    tmp_path: Path,
) -> None:
    model = CountingModel()
    first = embed_cached(["a", "bb"], model, tmp_path)
    again = embed_cached(["a", "bb"], model, tmp_path)
    assert model.calls == 1
    assert again.tolist() == first.tolist() == [[1.0, 1.0], [2.0, 1.0]]
    embed_cached(["a", "bbb"], model, tmp_path)  # other texts: embedded afresh
    embed_cached(["a", "bb"], model, tmp_path, query=True)  # queries are kept apart
    embed_cached(["a", "bb"], model, None)  # no cache at all
    assert model.calls == 2 + 2 + 1
