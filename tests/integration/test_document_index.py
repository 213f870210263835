"""The SQLite FTS5 document index: upserts, deletes, BM25 ranking and safe query text."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatbot.adapters.local.documents import (
    ChunkToIndex,
    SQLiteDocumentIndex,
    match_expression,
    score_of,
)
from chatbot.adapters.local.tables import SQLiteTables
from chatbot.tables import RECORDS
from tests.conftest import FakeClock
from tests.integration.tool_harness import CHUNKS, seeded_index


@pytest.fixture
def index() -> Iterator[SQLiteDocumentIndex]:
    seeded = seeded_index()
    yield seeded
    seeded.close()


def chunk(chunk_id: str, content: str, source: str = "doc.md", title: str = "") -> ChunkToIndex:
    return ChunkToIndex(
        id=chunk_id, document_id=source, source=source, position=0, content=content, title=title
    )


def ids(index: SQLiteDocumentIndex, query: str, limit: int = 10) -> list[str]:
    return [found.id for found in index.search(query, limit=limit)]


def test_the_chunk_that_matches_best_ranks_first(index: SQLiteDocumentIndex) -> None:
    assert ids(index, "lost laptop")[0] == "security-1"
    assert ids(index, "express delivery")[0] == "shipping-0"
    assert ids(index, "refund policy")[0] == "refunds-0"


def test_results_carry_the_chunks_text_and_source(index: SQLiteDocumentIndex) -> None:
    (found,) = index.search("passwords", limit=5)
    assert found.id == "security-0"
    assert found.source == "handbook/security.md"
    assert found.content == CHUNKS[2].content


def test_scores_are_in_zero_to_one_and_fall_with_rank(index: SQLiteDocumentIndex) -> None:
    # "days" is in three of four chunks: FTS5 clamps such a term's IDF, yet it still scores.
    for query in ("days", "security days laptop", "the"):
        scores = [found.score for found in index.search(query, limit=10)]
        assert scores, query
        assert all(0 < score <= 1 for score in scores)
        assert scores == sorted(scores, reverse=True)


def test_the_score_formula_maps_bm25_onto_zero_to_one() -> None:
    assert score_of(-1.0) == 0.5
    assert score_of(-3.0) == 0.75
    assert score_of(-10.0) > score_of(-2.0) > score_of(-0.001) > 0


def test_search_honours_the_limit(index: SQLiteDocumentIndex) -> None:
    assert len(index.search("days security refund ship", limit=2)) == 2
    with pytest.raises(ValueError, match="limit"):
        index.search("days", limit=0)


def test_accents_and_case_do_not_matter() -> None:
    index = SQLiteDocumentIndex(":memory:")
    index.add_chunks([chunk("c1", "Le café est ouvert")])
    assert ids(index, "CAFE") == ["c1"]


def test_words_match_their_stems_and_question_words_do_not_count() -> None:
    index = SQLiteDocumentIndex(":memory:")
    index.add_chunks(
        [
            chunk("sorting", "Sorting lines: sort orders the lines it reads."),
            chunk("how", "How do I do it? How, how, how: what is it and why is it so."),
        ]
    )
    # "sorted" and "sorts" stem to "sort"; "how", "do", "i" and "the" are stop words.
    assert ids(index, "How do I get the lines sorted?") == ["sorting"]
    assert ids(index, "sorts") == ["sorting"]
    # A query of stop words alone still searches for them.
    assert ids(index, "how") == ["how"]


def test_a_file_made_with_the_old_tokenizer_is_reindexed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    index = SQLiteDocumentIndex(path)
    index.add_chunks([chunk("c1", "Sorting lines")])
    index.close()
    raw = sqlite3.connect(path)
    # The keyword index as files made before stemming have it.
    raw.executescript(
        "DROP TABLE document_chunks_fts;"
        "CREATE VIRTUAL TABLE document_chunks_fts USING fts5 (title, content,"
        " content = 'document_chunks', content_rowid = 'rowid',"
        " tokenize = 'unicode61 remove_diacritics 2');"
        "INSERT INTO document_chunks_fts (document_chunks_fts) VALUES ('rebuild');"
    )
    raw.close()

    reopened = SQLiteDocumentIndex(path)

    assert ids(reopened, "sorted") == ["c1"]  # found by its stem: the index was rebuilt
    reopened.add_chunks([chunk("c2", "Sorted output")])
    assert sorted(ids(reopened, "sort")) == ["c1", "c2"]  # and the triggers still feed it
    reopened.close()
    sql = (
        sqlite3.connect(path)
        .execute("SELECT sql FROM sqlite_master WHERE name = 'document_chunks_fts'")
        .fetchone()[0]
    )
    assert "porter" in sql


def test_adding_a_chunk_again_replaces_it(index: SQLiteDocumentIndex) -> None:
    index.add_chunks([chunk("refunds-0", "Refunds are no longer offered.", "policies/refunds.md")])

    # (not "refund": stemmed, it matches the new text's "Refunds")
    assert ids(index, "full 30") == []
    assert ids(index, "longer offered") == ["refunds-0"]
    assert len(ids(index, "refunds")) == 1


def test_an_embedding_survives_an_unchanged_upsert_but_not_a_changed_one(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    index = SQLiteDocumentIndex(path)
    index.add_chunks([chunk("c1", "alpha"), chunk("c2", "beta")])
    raw = sqlite3.connect(path)
    raw.execute("UPDATE document_chunks SET embedding = x'01020304'")
    raw.commit()

    index.add_chunks([chunk("c1", "alpha"), chunk("c2", "beta changed")])

    rows = dict(raw.execute("SELECT id, embedding FROM document_chunks").fetchall())
    assert rows == {"c1": b"\x01\x02\x03\x04", "c2": None}
    raw.close()


def test_delete_source_removes_only_that_sources_chunks(index: SQLiteDocumentIndex) -> None:
    assert index.delete_source("handbook/security.md") == 2

    assert ids(index, "security laptop passwords") == []
    assert ids(index, "refund") == ["refunds-0"]
    assert index.delete_source("handbook/security.md") == 0


def test_the_index_persists_in_a_file_it_may_share_with_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "chatbot.db"
    tables = SQLiteTables(path, clock=FakeClock())
    tables.table(RECORDS).put({"owner": "s1", "id": "r1"})
    first = SQLiteDocumentIndex(path)
    first.add_chunks(CHUNKS)
    first.close()

    reopened = SQLiteDocumentIndex(path)

    assert ids(reopened, "passwords") == ["security-0"]
    assert tables.table(RECORDS).get({"owner": "s1", "id": "r1"}) == {"owner": "s1", "id": "r1"}
    reopened.close()
    tables.close()


def test_every_term_is_quoted_so_no_query_text_is_fts_syntax() -> None:
    assert match_expression('NEAR(a "b") OR c* title:d') == (
        '"near" OR "b" OR "c" OR "title" OR "d"'  # "a" and "or" are stop words
    )
    assert match_expression("?! -- ()") is None


def test_a_query_without_words_finds_nothing(index: SQLiteDocumentIndex) -> None:
    assert index.search('"*()?', limit=5) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=st.text(max_size=200))
def test_any_query_text_searches_without_error(query: str) -> None:
    index = _SHARED_INDEX
    found = index.search(query, limit=5)
    assert len(found) <= 5
    assert all(0 < result.score <= 1 for result in found)


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(
        st.sampled_from(["AND", "OR", "NOT", "NEAR", "*", '"', "(", ")", ":", "^", "+", "-", "{"])
        | st.text(min_size=1, max_size=8),
        max_size=12,
    )
)
def test_fts_operators_in_any_arrangement_search_without_error(words: list[str]) -> None:
    _SHARED_INDEX.search(" ".join(words), limit=5)


# Built once: the hypothesis tests only read it, and a fixture would be rebuilt per example.
_SHARED_INDEX = seeded_index()
