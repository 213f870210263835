"""Vector, keyword and hybrid search over a real SQLite file, with a deterministic fake model."""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from chatbot.adapters.local.documents import ChunkToIndex, SQLiteDocumentIndex
from chatbot.rank_fusion import HYBRID_WEIGHTS
from chatbot.records import DocumentChunk

# A stand-in for meaning: words the fake model treats as the same, which FTS5 does not.
# (not an inflection such as "repaired": FTS5 stems those to "repair" too.)
_SYNONYMS = {"automobile": "car", "vehicle": "car", "mended": "repair", "fix": "repair"}


class HashedBagOfWords:
    """Each word (after synonyms) adds one to a dimension chosen by its hash; unit length."""

    def __init__(self, dimensions: int = 64, model_id: str = "fake-bow-64") -> None:
        self._dimensions = dimensions
        self._model_id = model_id

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        vector = [0.0] * self._dimensions
        for word in re.findall(r"\w+", text.casefold()):
            word = _SYNONYMS.get(word, word)
            slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
            vector[slot % self._dimensions] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]


MODEL = HashedBagOfWords()

CORPUS = {
    "both": "car repair shop, open daily",
    "vector-only": "automobile mended",
    "keyword-only": "car repair: car repair car repair",
    "bakery": "fresh bread and pastries every morning",
    "garden": "watering plants in the summer heat",
}


def chunk(chunk_id: str, content: str) -> ChunkToIndex:
    return ChunkToIndex(
        id=chunk_id, document_id=chunk_id, source=f"{chunk_id}.md", position=0, content=content
    )


def embed(index: SQLiteDocumentIndex, ids: Sequence[str], model: HashedBagOfWords = MODEL) -> None:
    vectors = model.embed_documents([CORPUS[i] for i in ids])
    index.store_embeddings(dict(zip(ids, vectors, strict=True)), model_id=model.model_id)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SQLiteDocumentIndex]:
    opened = SQLiteDocumentIndex(tmp_path / "chatbot.sqlite3", MODEL)
    opened.add_chunks(chunk(i, text) for i, text in CORPUS.items())
    # "keyword-only" is never embedded: only FTS5 can find it.
    embed(opened, [i for i in CORPUS if i != "keyword-only"])
    yield opened
    opened.close()


def ids(chunks: list[DocumentChunk]) -> list[str]:
    return [c.id for c in chunks]


def test_vector_search_ranks_the_semantically_closest_chunk_first(
    index: SQLiteDocumentIndex,
) -> None:
    found = index.search_vector("car repair", limit=3)
    # Same meaning for the fake model, no shared word with the query.
    assert ids(found)[0] == "vector-only"
    assert found[0].score == pytest.approx(1.0, abs=1e-6)
    assert ids(found)[1] == "both"


def test_vector_scores_are_the_cosine_of_query_and_chunk(index: SQLiteDocumentIndex) -> None:
    query = MODEL.embed_query("fresh bread every morning")
    expected = sum(q * c for q, c in zip(query, MODEL.embed_query(CORPUS["bakery"]), strict=True))
    (found,) = index.search_vector("fresh bread every morning", limit=1)
    assert found.id == "bakery"
    assert found.score == pytest.approx(expected, abs=1e-6)


def test_keyword_search_finds_exact_words_only(index: SQLiteDocumentIndex) -> None:
    found = index.search_keyword("car repair", limit=10)
    assert ids(found) == ["keyword-only", "both"]
    assert all(0 < c.score < 1 for c in found)


def _scaled(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    return [(v - low) / (high - low) if high > low else 1.0 for v in values]


def test_hybrid_scores_are_the_weighted_sum_of_each_rankings_scaled_scores(
    index: SQLiteDocumentIndex,
) -> None:
    vector = index.search_vector("car repair", limit=50)
    keyword = index.search_keyword("car repair", limit=50)
    expected: dict[str, float] = {}
    for chunks, weight, raw in (
        (vector, 0.6, [c.score for c in vector]),
        (keyword, 0.4, [c.score / (1 - c.score) for c in keyword]),  # back to BM25
    ):
        for found, scaled in zip(chunks, _scaled(raw), strict=True):
            expected[found.id] = expected.get(found.id, 0.0) + weight * scaled

    fused = index.search_hybrid("car repair", limit=10, weights=(0.6, 0.4))

    assert {c.id: c.score for c in fused} == pytest.approx(expected)
    assert [c.score for c in fused] == sorted(expected.values(), reverse=True)
    # "both" is found by both searches: its score is a share of each.
    both = next(c for c in fused if c.id == "both")
    assert both.score > 0 and "both" in ids(vector) and "both" in ids(keyword)


def test_hybrid_weights_let_either_ranking_lead(index: SQLiteDocumentIndex) -> None:
    # "keyword-only" has no vector: only its keyword score speaks for it; "vector-only" has
    # no keyword match. Whichever ranking weighs more puts its own first.
    by_vector = ids(index.search_hybrid("car repair", limit=10, weights=(1.0, 0.1)))
    by_keyword = ids(index.search_hybrid("car repair", limit=10, weights=(0.1, 1.0)))
    assert by_vector[0] == "vector-only"
    assert by_keyword[0] == "keyword-only"
    assert sorted(by_vector) == sorted(by_keyword)


def test_hybrid_search_fuses_with_the_default_weights(index: SQLiteDocumentIndex) -> None:
    assert index.search_hybrid("car repair", limit=10) == index.search_hybrid(
        "car repair", limit=10, weights=HYBRID_WEIGHTS
    )


def test_vector_min_score_drops_chunks_below_the_cosine(index: SQLiteDocumentIndex) -> None:
    found = index.search_vector("car repair", limit=10, min_score=0.5)
    assert ids(found) == ["vector-only", "both"]
    assert all(c.score >= 0.5 for c in found)
    assert index.search_vector("quantum chromodynamics", limit=10, min_score=0.5) == []


def test_hybrid_min_score_applies_to_the_cosine_before_fusion(
    index: SQLiteDocumentIndex,
) -> None:
    found = index.search_hybrid("car repair", limit=10, min_score=0.5)
    # "keyword-only" has no vector, so no cosine can vouch for it under a threshold.
    assert sorted(ids(found)) == ["both", "vector-only"]
    # An unrelated question finds nothing, although a keyword ("summer") matches a chunk.
    assert index.search_keyword("weather forecast for summer", limit=10) != []
    assert index.search_hybrid("weather forecast for summer", limit=10, min_score=0.5) == []


def test_chunks_embedded_by_another_model_are_ignored(index: SQLiteDocumentIndex) -> None:
    other = HashedBagOfWords(model_id="another-model")
    index.add_chunks([chunk("twin", CORPUS["vector-only"])])
    index.store_embeddings(
        {"twin": other.embed_query(CORPUS["vector-only"])}, model_id=other.model_id
    )
    assert "twin" not in ids(index.search_vector("car repair", limit=10))
    # Hybrid still finds it by keyword, but no cosine of this model vouches for it.
    assert "twin" in ids(index.search_hybrid("automobile", limit=10))
    assert "twin" not in ids(index.search_hybrid("automobile", limit=10, min_score=0.1))


def test_a_write_invalidates_the_cached_matrix(index: SQLiteDocumentIndex) -> None:
    assert "new" not in ids(index.search_vector("car repair", limit=10))
    index.add_chunks([chunk("new", "vehicle fix")])
    index.store_embeddings({"new": MODEL.embed_query("vehicle fix")}, model_id=MODEL.model_id)
    # Both mean "car repair" to the fake model: equal cosines rank in insertion order.
    assert ids(index.search_vector("car repair", limit=2)) == ["vector-only", "new"]
    index.delete_source("new.md")
    assert "new" not in ids(index.search_vector("car repair", limit=10))


def test_a_write_by_another_connection_invalidates_the_cached_matrix(
    index: SQLiteDocumentIndex, tmp_path: Path
) -> None:
    assert ids(index.search_vector("car repair", limit=1)) == ["vector-only"]
    # Another process (say, `chatbot ingest`) deleting a chunk behind this object's back.
    other = sqlite3.connect(tmp_path / "chatbot.sqlite3")
    with other:
        other.execute("DELETE FROM document_chunks WHERE id = 'vector-only'")
    other.close()
    assert ids(index.search_vector("car repair", limit=1)) == ["both"]


def test_changing_a_chunks_content_drops_its_stale_vector(index: SQLiteDocumentIndex) -> None:
    index.add_chunks([chunk("vector-only", "fresh bread")])
    assert "vector-only" not in ids(index.search_vector("car repair", limit=10))


def test_every_search_returns_document_chunks(index: SQLiteDocumentIndex) -> None:
    for found in (
        index.search_vector("car repair", limit=5),
        index.search_keyword("car repair", limit=5),
        index.search_hybrid("car repair", limit=5),
        index.search("car repair", limit=5),
    ):
        assert found
        for result in found:
            assert type(result) is DocumentChunk
            assert result.source == f"{result.id}.md"
            assert result.content == CORPUS[result.id]


def test_the_port_search_is_hybrid_with_the_configured_threshold(tmp_path: Path) -> None:
    index = SQLiteDocumentIndex(tmp_path / "t.sqlite3", MODEL, min_score=0.5)
    index.add_chunks(chunk(i, text) for i, text in CORPUS.items())
    embed(index, [i for i in CORPUS if i != "keyword-only"])
    assert sorted(ids(index.search("car repair", limit=10))) == ["both", "vector-only"]
    index.close()


def test_without_embeddings_search_is_keyword_only(tmp_path: Path) -> None:
    index = SQLiteDocumentIndex(tmp_path / "t.sqlite3")
    index.add_chunks(chunk(i, text) for i, text in CORPUS.items())
    assert ids(index.search("car repair", limit=10)) == ["keyword-only", "both"]
    with pytest.raises(ValueError, match="embeddings"):
        index.search_vector("car repair", limit=10)
    index.close()


def test_an_index_with_no_vectors_yet_answers_vector_search_with_nothing(
    tmp_path: Path,
) -> None:
    index = SQLiteDocumentIndex(tmp_path / "t.sqlite3", MODEL)
    index.add_chunks(chunk(i, text) for i, text in CORPUS.items())
    assert index.search_vector("car repair", limit=10) == []
    assert ids(index.search_hybrid("car repair", limit=10)) == ["keyword-only", "both"]
    index.close()


def test_a_file_from_before_embedding_models_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE document_chunks (id TEXT PRIMARY KEY, document_id TEXT NOT NULL, "
        "source TEXT NOT NULL, title TEXT NOT NULL DEFAULT '', position INTEGER NOT NULL, "
        "content TEXT NOT NULL, content_hash TEXT NOT NULL, embedding BLOB)"
    )
    old.commit()
    old.close()
    index = SQLiteDocumentIndex(path, MODEL)
    index.add_chunks([chunk("both", CORPUS["both"])])
    embed(index, ["both"])
    assert ids(index.search_vector("car repair", limit=1)) == ["both"]
    index.close()
    # Opening it again finds the column there and leaves it be.
    SQLiteDocumentIndex(path, MODEL).close()


def test_limits_below_one_are_refused(index: SQLiteDocumentIndex) -> None:
    for search in (index.search_vector, index.search_keyword, index.search_hybrid):
        with pytest.raises(ValueError, match="limit"):
            search("car", limit=0)
