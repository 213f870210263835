"""Ranking metrics as BEIR reports them (trec_eval's definitions): nDCG@k and recall@k."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def _first_k(ranking: Sequence[str], k: int) -> list[str]:
    """The top ``k`` ids, a repeated id counted once (where it first appears)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    seen: set[str] = set()
    top: list[str] = []
    for item in ranking:
        if item not in seen:
            seen.add(item)
            top.append(item)
            if len(top) == k:
                break
    return top


def ndcg_at_k(ranking: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain of the top ``k`` of ``ranking``.

    The gain of a passage is its graded relevance (unjudged: 0), discounted by
    ``log2(rank + 1)`` for ranks from 1, as trec_eval's ``ndcg_cut`` (which BEIR uses) does:
    linear gains, not ``2**rel - 1``. The ideal ranking orders every judged passage by
    relevance; a query with none relevant scores 0.
    """
    top = _first_k(ranking, k)
    dcg = sum(relevance.get(item, 0) / math.log2(rank + 2) for rank, item in enumerate(top))
    ideal = sorted((grade for grade in relevance.values() if grade > 0), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """The share of the relevant passages (relevance above 0) found in the top ``k``.

    As in BEIR, the denominator is every relevant passage, even when there are more than
    ``k`` (so 1.0 may be out of reach); a query with none relevant scores 0.
    """
    relevant = {item for item, grade in relevance.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_first_k(ranking, k))) / len(relevant)


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; 0 for no values (an empty run scores nothing)."""
    return math.fsum(values) / len(values) if values else 0.0
