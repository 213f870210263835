"""Reciprocal rank fusion: one ranking of document chunks from a vector and a keyword ranking.

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
# The hybrid search's RRF weights of its (vector, keyword) rankings. Measured on python_faq
# (bench/results/retrieval-eval.md, 2026-11-24 19:38): equal weights 0.573 nDCG@10, 1 : 0.2
# 0.623 (vector alone 0.618); 0.1 to 0.3 all score 0.614 to 0.624, so 0.2 is no knife edge.
# Chosen on the same 203 queries it is measured on, and its lead over vector alone is within
# noise: the RAG default stays vector search, and hybrid, when chosen, fuses at 1 : 0.2.
HYBRID_WEIGHTS: Final = (1.0, 0.2)


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


def _check_weights(weights: Sequence[float] | None, rankings: int) -> list[float]:
    if weights is None:
        return [1.0] * rankings
    if len(weights) != rankings:
        raise ValueError(f"{len(weights)} weights for {rankings} rankings")
    if any(not math.isfinite(weight) or weight < 0 for weight in weights):
        raise ValueError(f"weights must be finite and at least 0, not {list(weights)}")
    return [float(weight) for weight in weights]
