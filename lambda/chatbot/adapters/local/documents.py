"""SQLite adapter of the document search port: chunks in a table, BM25 keyword search by FTS5.

Score: FTS5's ``bm25()`` is lower-is-better and negative for every match (FTS5 clamps each
term's IDF above zero, so a match always scores above zero). With ``r = -bm25()``, a chunk's
score is ``r / (1 + r)``: in (0, 1), higher is better, the same order as BM25, and independent
of the other results (so a lone weak match does not look like a perfect one). Scores compare
within one query only, as BM25 scores do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chatbot.adapters.local.sqlite_connection import SharedConnection
from chatbot.records import DocumentChunk

# A title match counts twice a content match: a chunk of a document titled after the query
# is a strong candidate.
_TITLE_WEIGHT = 2.0
_CONTENT_WEIGHT = 1.0
# Terms beyond this many add little to ranking and only make the query slower.
_MAX_TERMS = 64
# Runs of letters and digits: what FTS5's unicode61 tokenizer keeps as token text.
_TERM = re.compile(r"[^\W_]+")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS document_chunks (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    position INTEGER NOT NULL,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    -- The embedding of content, for vector search beside keywords; NULL until one is made,
    -- and reset to NULL whenever the content changes.
    embedding BLOB
);
CREATE INDEX IF NOT EXISTS document_chunks_by_source ON document_chunks (source);
CREATE INDEX IF NOT EXISTS document_chunks_by_document ON document_chunks (document_id, position);
CREATE VIRTUAL TABLE IF NOT EXISTS document_chunks_fts USING fts5 (
    title, content,
    content = 'document_chunks', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
-- An external-content FTS table is kept in step with its table by these triggers.
CREATE TRIGGER IF NOT EXISTS document_chunks_fts_insert AFTER INSERT ON document_chunks BEGIN
    INSERT INTO document_chunks_fts (rowid, title, content)
    VALUES (new.rowid, new.title, new.content);
END;
CREATE TRIGGER IF NOT EXISTS document_chunks_fts_delete AFTER DELETE ON document_chunks BEGIN
    INSERT INTO document_chunks_fts (document_chunks_fts, rowid, title, content)
    VALUES ('delete', old.rowid, old.title, old.content);
END;
CREATE TRIGGER IF NOT EXISTS document_chunks_fts_update
AFTER UPDATE OF title, content ON document_chunks BEGIN
    INSERT INTO document_chunks_fts (document_chunks_fts, rowid, title, content)
    VALUES ('delete', old.rowid, old.title, old.content);
    INSERT INTO document_chunks_fts (rowid, title, content)
    VALUES (new.rowid, new.title, new.content);
END;
"""

_UPSERT = """
INSERT INTO document_chunks (id, document_id, source, title, position, content, content_hash)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    document_id = excluded.document_id,
    source = excluded.source,
    title = excluded.title,
    position = excluded.position,
    content = excluded.content,
    embedding = CASE WHEN content_hash = excluded.content_hash THEN embedding END,
    content_hash = excluded.content_hash
WHERE document_chunks.document_id IS NOT excluded.document_id
    OR document_chunks.source IS NOT excluded.source
    OR document_chunks.title IS NOT excluded.title
    OR document_chunks.position IS NOT excluded.position
    OR document_chunks.content_hash IS NOT excluded.content_hash
"""

_SEARCH = f"""
SELECT c.id, c.content, c.source,
       bm25(document_chunks_fts, {_TITLE_WEIGHT}, {_CONTENT_WEIGHT}) AS rank
FROM document_chunks_fts JOIN document_chunks AS c ON c.rowid = document_chunks_fts.rowid
WHERE document_chunks_fts MATCH ?
ORDER BY rank, c.id
LIMIT ?
"""  # noqa: S608  (only constant weights are spliced in; the query text is a parameter)


@dataclass(frozen=True)
class ChunkToIndex:
    """One chunk of an ingested document, as the ingestion hands it to the index."""

    id: str
    document_id: str
    source: str
    position: int
    content: str
    title: str = ""

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def match_expression(query: str) -> str | None:
    """An FTS5 expression matching chunks with any term of ``query``; None if it has none.

    Every term is a double-quoted string, so nothing in the user's text (quotes, brackets,
    AND/OR/NOT/NEAR, ``*``, ``^``, ``:``, column names) is read as FTS5 syntax.
    """
    terms: list[str] = []
    seen: set[str] = set()
    for term in _TERM.findall(query):
        folded = term.casefold()
        if folded not in seen:
            seen.add(folded)
            terms.append('"' + term.replace('"', '""') + '"')
        if len(terms) == _MAX_TERMS:
            break
    return " OR ".join(terms) if terms else None


def score_of(bm25: float) -> float:
    """The (0, 1) relevance of an FTS5 ``bm25()`` value (see the module docstring)."""
    relevance = max(-bm25, 0.0)
    return relevance / (1.0 + relevance)


class SQLiteDocumentIndex:
    """Document chunks in a SQLite file (or ``":memory:"``), searched with FTS5 and BM25.

    It may share the tables' file: its own tables' names do not collide with theirs.
    """

    def __init__(self, path: str | Path) -> None:
        self._connection = SharedConnection(path)
        with self._connection.reading() as connection:
            # executescript manages its own transaction, so it runs outside writing().
            connection.executescript(_SCHEMA)

    def add_chunks(self, chunks: Iterable[ChunkToIndex]) -> int:
        """Insert or replace chunks by id, all or none; return how many were given."""
        rows = [
            (c.id, c.document_id, c.source, c.title, c.position, c.content, c.content_hash)
            for c in chunks
        ]
        with self._connection.writing() as connection:
            connection.executemany(_UPSERT, rows)
        return len(rows)

    def delete_source(self, source: str) -> int:
        """Remove every chunk of ``source``; return how many went."""
        with self._connection.writing() as connection:
            return connection.execute(
                "DELETE FROM document_chunks WHERE source = ?", (source,)
            ).rowcount

    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        expression = match_expression(query)
        if expression is None:
            return []
        with self._connection.reading() as connection:
            rows = connection.execute(_SEARCH, (expression, limit)).fetchall()
        return [
            DocumentChunk(id=chunk_id, content=content, source=source, score=score_of(rank))
            for chunk_id, content, source, rank in rows
        ]

    def close(self) -> None:
        self._connection.close()
