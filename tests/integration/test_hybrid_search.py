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
from chatbot.rank_fusion import HYBRID_WEIGHTS, RRF_K
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


def test_hybrid_ranks_a_chunk_found_by_both_searches_above_ones_found_by_either(
    index: SQLiteDocumentIndex,
) -> None:
    found = index.search_hybrid("car repair", limit=3, weights=(1.0, 1.0))
    # Each of the others is first in one ranking only; "both" is second in both.
    assert ids(found) == ["both", "keyword-only", "vector-only"]
    assert found[0].score == pytest.approx(2 / (RRF_K + 2))
    assert found[1].score == found[2].score == pytest.approx(1 / (RRF_K + 1))


def test_hybrid_weights_let_the_vector_ranking_lead(index: SQLiteDocumentIndex) -> None:
    # "keyword-only" has no vector: only its keyword rank speaks for it. At equal weights it
    # ranks above chunks only the vector search found; weighted 1 : 0.1, below all of them.
    equal = ids(index.search_hybrid("car repair", limit=10, weights=(1.0, 1.0)))
    weighted = ids(index.search_hybrid("car repair", limit=10, weights=(1.0, 0.1)))
    assert equal[-1] != "keyword-only"
    assert weighted[-1] == "keyword-only"
    assert sorted(weighted) == sorted(equal)


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
    assert ids(found) == ["both", "vector-only"]
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
    assert ids(index.search("car repair", limit=10)) == ["both", "vector-only"]
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
