"""nDCG@k and recall@k on cases small enough to work out by hand."""

from __future__ import annotations

import math

import pytest

from chatbot.evaluation.metrics import mean, ndcg_at_k, recall_at_k


def test_the_only_relevant_passage_ranked_first_scores_one() -> None:
    assert ndcg_at_k(["a", "b", "c"], {"a": 1}, 10) == 1.0
    assert recall_at_k(["a", "b", "c"], {"a": 1}, 10) == 1.0


def test_the_only_relevant_passage_ranked_third_is_discounted_by_log2_of_four() -> None:
    # DCG = 1 / log2(3 + 1) = 0.5; IDCG = 1 / log2(2) = 1.
    assert ndcg_at_k(["x", "y", "a"], {"a": 1}, 10) == pytest.approx(0.5)


def test_graded_gains_are_linear_as_in_trec_eval() -> None:
    # DCG = 1/log2(2) + 2/log2(4) = 1 + 1 = 2; IDCG = 2/log2(2) + 1/log2(3) = 2 + 0.63093.
    ranking = ["low", "unjudged", "high"]
    relevance = {"high": 2, "low": 1}
    assert ndcg_at_k(ranking, relevance, 10) == pytest.approx(2 / (2 + 1 / math.log2(3)))


def test_passages_below_the_cutoff_count_for_nothing() -> None:
    assert ndcg_at_k(["x", "y", "a"], {"a": 1}, 2) == 0.0
    assert recall_at_k(["x", "y", "a"], {"a": 1}, 2) == 0.0


def test_the_ideal_ranking_is_cut_at_k_too() -> None:
    # Three relevant, two slots: the top two being relevant is the best possible.
    relevance = {"a": 1, "b": 1, "c": 1}
    assert ndcg_at_k(["a", "b", "c"], relevance, 2) == 1.0


def test_recall_counts_every_relevant_passage_even_beyond_k() -> None:
    relevance = {"a": 1, "b": 1, "c": 1}
    assert recall_at_k(["a", "b", "c"], relevance, 2) == pytest.approx(2 / 3)


def test_a_repeated_passage_counts_once_and_takes_one_slot() -> None:
    # Top 2 of ["a", "a", "b"] is ["a", "b"]: DCG = 1/log2(3), IDCG = 1.
    assert ndcg_at_k(["a", "a", "b"], {"b": 1}, 2) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["b", "b"], {"b": 1}, 10) == 1.0


def test_passages_judged_not_relevant_are_not_to_be_found() -> None:
    relevance = {"a": 1, "b": 0}
    assert recall_at_k(["a"], relevance, 10) == 1.0
    assert ndcg_at_k(["b", "a"], relevance, 10) == pytest.approx(1 / math.log2(3))


def test_a_query_with_nothing_relevant_scores_zero() -> None:
    assert ndcg_at_k(["a"], {}, 10) == 0.0
    assert recall_at_k(["a"], {"a": 0}, 10) == 0.0


def test_an_empty_ranking_scores_zero() -> None:
    assert ndcg_at_k([], {"a": 1}, 10) == 0.0
    assert recall_at_k([], {"a": 1}, 10) == 0.0


def test_a_cutoff_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ndcg_at_k(["a"], {"a": 1}, 0)


def test_the_mean_of_no_scores_is_zero() -> None:
    assert mean([]) == 0.0
    assert mean([0.5, 1.0]) == 0.75
