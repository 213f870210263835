"""One ranking of document chunks from a vector and a keyword ranking: score or rank fusion.

The hybrid search of both backends fuses by scores (``fuse_hybrid``): each ranking's scores
are scaled to [0, 1] by min-max over the ranking's window (cosines as they are; keyword
scores back to BM25 first), and a chunk's fused score is ``w_v * vector + w_k * keyword``
(0 for a ranking that did not find it): a convex combination, which Bruch, Gai and Ingber
(ACM TOIS 2023, "An Analysis of Fusion Functions for Hybrid Retrieval") found better than
RRF once its weight is tuned, and which keeps how far ahead a result is, where RRF keeps
only its rank. The weights were chosen on the tuning split of both labelled sets
(``chatbot eval retrieval``, bench/results/retrieval-eval.md).

Reciprocal rank fusion (``reciprocal_rank_fusion``, ``fuse_chunks``) stays for comparison.

RRF (Cormack, Clarke and Büttcher, SIGIR 2009) scores an item ``sum(1 / (k + rank))`` over the
rankings it appears in (rank from 1). Weighted RRF multiplies each ranking's term by its
weight, ``sum(w / (k + rank))``: a weaker ranking can then add its votes without outranking a
stronger one's top results.

RRF needs no score calibration between the rankings, which is why it fits here: cosine
similarities and BM25 scores live on unrelated scales. The fused score is only an order, at
most ``sum(weights) / (k + 1)`` (2/61 ~ 0.033 for two rankings of weight 1 at k=60), not a
similarity, and must never be compared with a cosine threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from chatbot.records import DocumentChunk

# The constant of the paper, and what OpenSearch's and Elasticsearch's RRF use by default.
RRF_K: Final = 60
# How deep each ranking goes before fusion, on both backends: deep enough that a chunk ranked
# modestly by both searches can still win, shallow enough that fusing costs nothing.
FUSION_WINDOW: Final = 50
# The hybrid search's (vector, keyword) weights of its score fusion (``fuse_hybrid``), chosen
# on the tuning split of python_faq and gnu_manpages together and scored on the held-out
# split (bench/results/retrieval-eval.md, 2026-12-02): held-out nDCG@10 0.694 and 0.644
# against vector search's 0.657 and 0.624; the best RRF setting tuned alike did worse.
HYBRID_WEIGHTS: Final = (0.7, 0.3)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]],
    *,
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[str, float]]:
    """(id, fused score) best first. Ties go to the better best rank, then to the smaller id,
    so the order is deterministic. An id repeated within one ranking counts once (its first).

    ``weights`` (one per ranking, each at least 0; default all 1) scale each ranking's terms.
    A ranking of weight 0 adds nothing, but its items still appear (score 0, last) so that
    fusion never loses a result; callers that want them gone should not pass that ranking.
    """
    if k < 0:
        raise ValueError(f"k must not be negative, not {k}")
    factors = _check_weights(weights, len(rankings))
    scores: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for ranking, weight in zip(rankings, factors, strict=True):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, 1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], best_rank[pair[0]], pair[0]))


def fuse_chunks(
    rankings: Sequence[Sequence[DocumentChunk]],
    *,
    limit: int,
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[DocumentChunk]:
    """The chunks of all rankings, fused by (weighted) RRF, at most ``limit``, score = the
    fused score."""
    chunks: dict[str, DocumentChunk] = {}
    for ranking in rankings:
        for chunk in ranking:
            chunks.setdefault(chunk.id, chunk)
    fused = reciprocal_rank_fusion(
        [[c.id for c in ranking] for ranking in rankings], k=k, weights=weights
    )
    return [
        chunks[chunk_id].model_copy(update={"score": score}) for chunk_id, score in fused[:limit]
    ]


def fuse_hybrid(
    semantic: Sequence[DocumentChunk],
    keyword: Sequence[DocumentChunk],
    *,
    limit: int,
    weights: Sequence[float] = HYBRID_WEIGHTS,
) -> list[DocumentChunk]:
    """The chunks of both rankings by ``w_v * scaled cosine + w_k * scaled BM25``, best first,
    at most ``limit``; score = the fused score, in [0, w_v + w_k].

    ``semantic`` scores are cosines; ``keyword`` scores are ``r / (1 + r)`` of a BM25 ``r``
    (as both backends report them), mapped back to ``r`` before scaling. Each ranking is
    min-max scaled over its own chunks; one chunk alone (or all equal) scales to 1. Ties go to
    the better best rank, then to the smaller id, so the order is deterministic.
    """
    vector_weight, keyword_weight = _check_weights(weights, 2)
    chunks: dict[str, DocumentChunk] = {}
    scores: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    rankings = (
        (semantic, vector_weight, [chunk.score for chunk in semantic]),
        (keyword, keyword_weight, [_bm25_of(chunk.score) for chunk in keyword]),
    )
    for ranking, weight, raw in rankings:
        seen: set[str] = set()
        for rank, (chunk, scaled) in enumerate(zip(ranking, _min_max(raw), strict=True), 1):
            if chunk.id in seen:
                continue
            seen.add(chunk.id)
            chunks.setdefault(chunk.id, chunk)
            scores[chunk.id] = scores.get(chunk.id, 0.0) + weight * scaled
            best_rank[chunk.id] = min(best_rank.get(chunk.id, rank), rank)
    order = sorted(scores, key=lambda item: (-scores[item], best_rank[item], item))
    return [chunks[item].model_copy(update={"score": scores[item]}) for item in order[:limit]]


def _bm25_of(score: float) -> float:
    """The BM25 ``r`` of a keyword score ``r / (1 + r)`` (which is below 1)."""
    bounded = min(max(score, 0.0), 1.0 - 1e-12)
    return bounded / (1.0 - bounded)


def _min_max(values: Sequence[float]) -> list[float]:
    if not values:
        return []
    low, high = min(values), max(values)
    if high <= low:
        return [1.0] * len(values)
    return [(value - low) / (high - low) for value in values]


def _check_weights(weights: Sequence[float] | None, rankings: int) -> list[float]:
    if weights is None:
        return [1.0] * rankings
    if len(weights) != rankings:
        raise ValueError(f"{len(weights)} weights for {rankings} rankings")
    if any(not math.isfinite(weight) or weight < 0 for weight in weights):
        raise ValueError(f"weights must be finite and at least 0, not {list(weights)}")
    return [float(weight) for weight in weights]
