"""Reciprocal rank fusion: one ranking of document chunks from a vector and a keyword ranking.

RRF (Cormack, Clarke and Büttcher, SIGIR 2009) scores an item ``sum(1 / (k + rank))`` over the
rankings it appears in (rank from 1). It needs no score calibration between the rankings, which
is why it fits here: cosine similarities and BM25 scores live on unrelated scales. The fused
score is only an order: at most ``rankings / (k + 1)`` (2/61 ~ 0.033 for two rankings at k=60),
not a similarity, and must never be compared with a cosine threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from chatbot.records import DocumentChunk

# The constant of the paper, and what OpenSearch's and Elasticsearch's RRF use by default.
RRF_K: Final = 60
# How deep each ranking goes before fusion, on both backends: deep enough that a chunk ranked
# modestly by both searches can still win, shallow enough that fusing costs nothing.
FUSION_WINDOW: Final = 50


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], *, k: int = RRF_K
) -> list[tuple[str, float]]:
    """(id, fused score) best first. Ties go to the better best rank, then to the smaller id,
    so the order is deterministic. An id repeated within one ranking counts once (its first)."""
    if k < 0:
        raise ValueError(f"k must not be negative, not {k}")
    scores: dict[str, float] = {}
    best_rank: dict[str, int] = {}
    for ranking in rankings:
        seen: set[str] = set()
        for rank, item in enumerate(ranking, 1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], best_rank[pair[0]], pair[0]))


def fuse_chunks(
    rankings: Sequence[Sequence[DocumentChunk]], *, limit: int, k: int = RRF_K
) -> list[DocumentChunk]:
    """The chunks of all rankings, fused by RRF, at most ``limit``, score = the fused score."""
    chunks: dict[str, DocumentChunk] = {}
    for ranking in rankings:
        for chunk in ranking:
            chunks.setdefault(chunk.id, chunk)
    fused = reciprocal_rank_fusion([[c.id for c in ranking] for ranking in rankings], k=k)
    return [
        chunks[chunk_id].model_copy(update={"score": score}) for chunk_id, score in fused[:limit]
    ]
