"""Reciprocal rank fusion, plain and weighted, and the hybrid search's score fusion."""

from __future__ import annotations

import math

import pytest

from chatbot.rank_fusion import RRF_K, fuse_chunks, fuse_hybrid, reciprocal_rank_fusion
from chatbot.records import DocumentChunk


def test_equal_weights_fuse_exactly_as_plain_rrf() -> None:
    rankings = [["a", "b", "c"], ["c", "d"]]
    assert reciprocal_rank_fusion(rankings, weights=[1.0, 1.0]) == reciprocal_rank_fusion(rankings)


def test_each_ranking_contributes_its_weight_over_k_plus_rank() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b"], ["b"]], weights=[1.0, 0.25]))
    assert math.isclose(fused["a"], 1 / (RRF_K + 1))
    assert math.isclose(fused["b"], 1 / (RRF_K + 2) + 0.25 / (RRF_K + 1))


def test_a_light_second_ranking_no_longer_lifts_its_top_above_the_first_rankings() -> None:
    vector = ["v1", "v2", "shared"]
    keyword = ["k1", "shared"]
    plain = [item for item, _ in reciprocal_rank_fusion([vector, keyword])]
    weighted = [item for item, _ in reciprocal_rank_fusion([vector, keyword], weights=[1, 0.2])]
    # Plain RRF ranks the keyword search's top hit level with the vector search's.
    assert plain.index("k1") < plain.index("v2")
    # Weighted 1 : 0.2 it falls below them; a chunk both found still rises to the top.
    assert weighted == ["shared", "v1", "v2", "k1"]


def test_a_ranking_of_weight_zero_adds_nothing_but_loses_no_item() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["c", "b"]], weights=[1.0, 0.0])
    assert [item for item, _ in fused] == ["a", "b", "c"]
    assert fused[-1][1] == 0.0


@pytest.mark.parametrize("weights", [[1.0], [1.0, -0.5], [1.0, math.nan], [1.0, math.inf]])
def test_weights_must_be_one_finite_non_negative_number_per_ranking(
    weights: list[float],
) -> None:
    with pytest.raises(ValueError, match="weight"):
        reciprocal_rank_fusion([["a"], ["b"]], weights=weights)


def test_fused_chunks_carry_the_weighted_score() -> None:
    def chunk(chunk_id: str) -> DocumentChunk:
        return DocumentChunk(id=chunk_id, content=chunk_id, source=f"{chunk_id}.md", score=0.9)

    found = fuse_chunks([[chunk("a")], [chunk("b")]], limit=2, weights=[0.5, 1.0])
    assert [(c.id, c.score) for c in found] == [("b", 1 / (RRF_K + 1)), ("a", 0.5 / (RRF_K + 1))]


# Score fusion (the hybrid search's)


def scored(chunk_id: str, score: float) -> DocumentChunk:
    return DocumentChunk(id=chunk_id, content=chunk_id, source=f"{chunk_id}.md", score=score)


def test_score_fusion_adds_each_rankings_min_max_scaled_scores() -> None:
    semantic = [scored("a", 0.9), scored("b", 0.5), scored("c", 0.1)]  # scaled 1, 0.5, 0
    keyword = [scored("c", 0.75), scored("d", 0.5)]  # BM25 3 and 1: scaled 1, 0

    fused = fuse_hybrid(semantic, keyword, limit=10, weights=(0.7, 0.3))

    assert [(c.id, round(c.score, 6)) for c in fused] == [
        ("a", 0.7),
        ("b", 0.35),
        ("c", 0.3),
        ("d", 0.0),
    ]


def test_score_fusion_weighs_how_far_ahead_a_result_is_not_only_its_rank() -> None:
    # The same ranks, but "b"'s cosine nearly ties "a"'s: with it, a keyword lead lifts "b".
    keyword = [scored("b", 0.75), scored("a", 0.5)]
    close = fuse_hybrid([scored("a", 0.81), scored("b", 0.8), scored("z", 0.1)], keyword, limit=2)
    far = fuse_hybrid([scored("a", 0.81), scored("b", 0.2), scored("z", 0.1)], keyword, limit=2)
    assert [c.id for c in close] == ["b", "a"]
    assert [c.id for c in far] == ["a", "b"]


def test_score_fusion_scales_a_lone_result_to_one_and_keeps_the_limit() -> None:
    fused = fuse_hybrid([scored("a", 0.4)], [], limit=1, weights=(0.7, 0.3))
    assert [(c.id, c.score) for c in fused] == [("a", 0.7)]
    assert fuse_hybrid([], [], limit=5) == []
    with pytest.raises(ValueError, match="weights"):
        fuse_hybrid([scored("a", 0.4)], [], limit=1, weights=(1.0, -1.0))
