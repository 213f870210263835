"""SQLite adapter of the document search port: keyword (FTS5), exact vector and hybrid search.

Scores, by kind of search (every result is a ``DocumentChunk``; only ``score`` differs):

keyword
    FTS5's ``bm25()`` is lower-is-better and negative for every match (FTS5 clamps each
    term's IDF above zero, so a match always scores above zero). With ``r = -bm25()``, a
    chunk's score is ``r / (1 + r)``: in (0, 1), higher is better, the same order as BM25, and
    independent of the other results (so a lone weak match does not look like a perfect one).
    Scores compare within one query only, as BM25 scores do.
vector
    the cosine similarity of the query's and the chunk's embeddings (a dot product, both
    being unit vectors), in [-1, 1], exact (every chunk is scored, no approximate index).
hybrid
    the fused score (``chatbot.rank_fusion.fuse_hybrid``): an order, not a similarity,
    never comparable to a cosine. The relevance threshold (``min_score``) therefore applies
    to the cosine, before fusion: with one, a chunk is a candidate only if its embedding's
    cosine reaches it, whichever ranking found it; a keyword match below it (or not yet
    embedded) is dropped, so "nothing relevant" stays possible on the RAG path even though
    some keyword almost always matches.

Vectors are float32 little-endian blobs beside the model that made them (``embedding_model``);
chunks embedded by another model are never compared with this model's query vectors.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from chatbot.adapters.local.private_files import private_database
from chatbot.adapters.local.sqlite_connection import SharedConnection
from chatbot.adapters.local.vector_matrix import VECTOR_DTYPE, VectorMatrix, encode_vector, top
from chatbot.embeddings import Embeddings
from chatbot.keyword_terms import query_terms
from chatbot.rank_fusion import FUSION_WINDOW, HYBRID_WEIGHTS, fuse_hybrid
from chatbot.records import DocumentChunk

# A title match counts twice a content match: a chunk of a document titled after the query
# is a strong candidate.
_TITLE_WEIGHT = 2.0
_CONTENT_WEIGHT = 1.0
# Porter stemming over unicode61 (``chatbot.keyword_terms``): a file made with another
# tokenizer has its keyword index rebuilt when opened (``_migrate_tokenizer``).
_TOKENIZER = "porter unicode61 remove_diacritics 2"
_FTS_TABLE = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS document_chunks_fts USING fts5 (
    title, content,
    content = 'document_chunks', content_rowid = 'rowid',
    tokenize = '{_TOKENIZER}'
);
"""

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
    embedding BLOB,
    -- The model that made it: vectors of different models are not comparable.
    embedding_model TEXT
);
CREATE INDEX IF NOT EXISTS document_chunks_by_source ON document_chunks (source);
CREATE INDEX IF NOT EXISTS document_chunks_by_document ON document_chunks (document_id, position);
-- The keyword index (_FTS_TABLE) is created before this script runs.
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
-- Counts every write to the chunks, whoever makes it (this object, the ingestion module on
-- the same connection, another process on the file): the vector matrix cached in memory is
-- stale exactly when this number has moved since it was loaded.
CREATE TABLE IF NOT EXISTS document_chunks_writes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    writes INTEGER NOT NULL
);
INSERT OR IGNORE INTO document_chunks_writes (id, writes) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS document_chunks_count_insert AFTER INSERT ON document_chunks BEGIN
    UPDATE document_chunks_writes SET writes = writes + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS document_chunks_count_update AFTER UPDATE ON document_chunks BEGIN
    UPDATE document_chunks_writes SET writes = writes + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS document_chunks_count_delete AFTER DELETE ON document_chunks BEGIN
    UPDATE document_chunks_writes SET writes = writes + 1 WHERE id = 1;
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
    embedding_model = CASE WHEN content_hash = excluded.content_hash THEN embedding_model END,
    content_hash = excluded.content_hash
WHERE document_chunks.document_id IS NOT excluded.document_id
    OR document_chunks.source IS NOT excluded.source
    OR document_chunks.title IS NOT excluded.title
    OR document_chunks.position IS NOT excluded.position
    OR document_chunks.content_hash IS NOT excluded.content_hash
"""

# Ranked inside FTS5 first, and only the winners joined to their rows: joining every match
# before sorting would read (and sort) the content of every matching chunk, which for a query
# with a common word is most of the table. A tie at the cut goes to the earlier-written chunk.
_SEARCH = f"""
SELECT c.rowid, c.id, c.content, c.source, ranked.rank
FROM (
    SELECT rowid, bm25(document_chunks_fts, {_TITLE_WEIGHT}, {_CONTENT_WEIGHT}) AS rank
    FROM document_chunks_fts
    WHERE document_chunks_fts MATCH ?
    ORDER BY rank, rowid
    LIMIT ?
) AS ranked JOIN document_chunks AS c ON c.rowid = ranked.rowid
ORDER BY ranked.rank, c.id
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
    # The digest the ingestion compares to decide what to embed again: of the text that was
    # embedded (``Chunk.content_hash``). Unset, that of ``content``.
    digest: str | None = None

    @property
    def content_hash(self) -> str:
        return self.digest or hashlib.sha256(self.content.encode()).hexdigest()


def match_expression(query: str) -> str | None:
    """An FTS5 expression matching chunks with any term of ``query``; None if it has none.

    Every term is a double-quoted string, so nothing in the user's text (quotes, brackets,
    AND/OR/NOT/NEAR, ``*``, ``^``, ``:``, column names) is read as FTS5 syntax. Stop words
    are left out (``chatbot.keyword_terms.query_terms``).
    """
    terms = ['"' + term.replace('"', '""') + '"' for term in query_terms(query)]
    return " OR ".join(terms) if terms else None


def score_of(bm25: float) -> float:
    """The (0, 1) relevance of an FTS5 ``bm25()`` value (see the module docstring)."""
    relevance = max(-bm25, 0.0)
    return relevance / (1.0 + relevance)


class SQLiteDocumentIndex:
    """Document chunks in a SQLite file (or ``":memory:"``), searched by keyword, vector or both.

    With ``embeddings``, ``search`` (the port) is hybrid and ``min_score`` is its relevance
    threshold on the cosine; without, it is keyword search, as before vectors existed. It may
    share the tables' file: its own tables' names do not collide with theirs.
    """

    def __init__(
        self,
        path: str | Path,
        embeddings: Embeddings | None = None,
        *,
        min_score: float | None = None,
    ) -> None:
        private_database(path)
        self._connection = SharedConnection(path)
        self._embeddings = embeddings
        self._min_score = min_score
        self._vectors: VectorMatrix | None = None
        self._migrate_tokenizer()
        with self._connection.reading() as connection:
            # executescript manages its own transaction, so it runs outside writing().
            connection.executescript(_FTS_TABLE + _SCHEMA)
        self._add_embedding_model_column()

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

    def store_embeddings(self, vectors: Mapping[str, Sequence[float]], *, model_id: str) -> int:
        """Set the embeddings of chunks by id, made by ``model_id``, all or none; return how
        many chunks were found. An upsert that changes a chunk's content clears its vector."""
        rows = [(encode_vector(vector), model_id, chunk_id) for chunk_id, vector in vectors.items()]
        with self._connection.writing() as connection:
            cursor = connection.executemany(
                "UPDATE document_chunks SET embedding = ?, embedding_model = ? WHERE id = ?", rows
            )
            return cursor.rowcount

    def search(self, query: str, *, limit: int) -> list[DocumentChunk]:
        """The port: hybrid with embeddings (thresholded by ``min_score``), else keyword."""
        if self._embeddings is None:
            return self.search_keyword(query, limit=limit)
        return self.search_hybrid(query, limit=limit, min_score=self._min_score)

    def search_keyword(self, query: str, *, limit: int) -> list[DocumentChunk]:
        """BM25 over title and content; score in (0, 1) (see the module docstring)."""
        _check_limit(limit)
        with self._connection.reading() as connection:
            return [chunk for _, chunk in _keyword_ranking(connection, query, limit)]

    def search_vector(
        self, query: str, *, limit: int, min_score: float | None = None
    ) -> list[DocumentChunk]:
        """Chunks by cosine similarity to the query, at least ``min_score`` if given."""
        _check_limit(limit)
        query_vector = self._query_vector(query)
        with self._connection.reading() as connection, _snapshot(connection):
            vectors = self._current_vectors(connection)
            cosines = vectors.cosines(query_vector)
            best = top(cosines, limit, min_score)
            return _chunks_at(connection, vectors.rowids[best], cosines[best])

    def search_hybrid(
        self,
        query: str,
        *,
        limit: int,
        min_score: float | None = None,
        weights: tuple[float, float] = HYBRID_WEIGHTS,
    ) -> list[DocumentChunk]:
        """Vector and keyword rankings fused by their scaled scores; score = the fused score.

        ``min_score`` is a cosine threshold applied before fusion to both rankings' chunks
        (see the module docstring); the fused scores themselves are not thresholded.
        ``weights`` are the (vector, keyword) rankings' weights (``chatbot.rank_fusion``).
        """
        _check_limit(limit)
        window = max(limit, FUSION_WINDOW)
        query_vector = self._query_vector(query)
        with self._connection.reading() as connection, _snapshot(connection):
            keyword = _keyword_ranking(connection, query, window)
            vectors = self._current_vectors(connection)
            cosines = vectors.cosines(query_vector)
            best = top(cosines, window, min_score)
            semantic = _chunks_at(connection, vectors.rowids[best], cosines[best])
        if min_score is not None:
            keyword_cosines = vectors.cosines_of(cosines, [rowid for rowid, _ in keyword])
            keyword = [
                pair
                for pair, cosine in zip(keyword, keyword_cosines, strict=True)
                if cosine >= min_score
            ]
        return fuse_hybrid(semantic, [chunk for _, chunk in keyword], limit=limit, weights=weights)

    def close(self) -> None:
        self._connection.close()

    def _migrate_tokenizer(self) -> None:
        """A keyword index made with another tokenizer is dropped and rebuilt from the
        chunks (FTS5 cannot change a tokenizer in place); the chunks and vectors stay."""
        with self._connection.reading() as connection:
            if not _has_old_tokenizer(connection):
                return
        with self._connection.writing() as connection:
            # Looked at again inside the write lock: another process may have rebuilt it.
            if not _has_old_tokenizer(connection):
                return
            connection.execute("DROP TABLE document_chunks_fts")
            connection.execute(_FTS_TABLE)
            connection.execute(
                "INSERT INTO document_chunks_fts (document_chunks_fts) VALUES ('rebuild')"
            )

    def _add_embedding_model_column(self) -> None:
        """Files made before vectors had a model lack the column: add it, once, safely."""
        with self._connection.reading() as connection:
            if _has_embedding_model(connection):
                return
        with self._connection.writing() as connection:
            # Looked at again inside the write lock: two processes opening an old file at
            # once must not both add it.
            if not _has_embedding_model(connection):
                connection.execute("ALTER TABLE document_chunks ADD COLUMN embedding_model TEXT")

    def _query_vector(self, query: str) -> npt.NDArray[np.float32]:
        if self._embeddings is None:
            raise ValueError("vector search needs an index built with embeddings")
        vector = np.asarray(self._embeddings.embed_query(query), dtype=np.float32)
        if vector.shape != (self._embeddings.dimensions,):
            raise ValueError(
                f"the query vector has shape {vector.shape}, "
                f"expected ({self._embeddings.dimensions},)"
            )
        return vector

    def _current_vectors(self, connection: sqlite3.Connection) -> VectorMatrix:
        """The cached matrix, reloaded first if any write happened since it was loaded.

        Called inside ``_snapshot``: the count, the rows and the chunks read after are of one
        moment, so a rowid cannot point at a chunk another process wrote in between.
        """
        assert self._embeddings is not None  # _query_vector has checked, and runs first
        (writes,) = connection.execute(
            "SELECT writes FROM document_chunks_writes WHERE id = 1"
        ).fetchone()
        cached = self._vectors
        if cached is not None and cached.writes == writes:
            return cached
        dimensions = self._embeddings.dimensions
        rows = connection.execute(
            "SELECT rowid, embedding FROM document_chunks "
            "WHERE embedding_model = ? AND length(embedding) = ? ORDER BY rowid",
            (self._embeddings.model_id, dimensions * VECTOR_DTYPE.itemsize),
        ).fetchall()
        self._vectors = VectorMatrix.from_rows(writes, rows, dimensions)
        return self._vectors

    @property
    def connection(self) -> SharedConnection:
        """The file's connection, for the ingestion's store (``document_store.py``): reads of
        hashes and vectors by source, and deletes by id, share its lock and transactions."""
        return self._connection


@contextmanager
def _snapshot(connection: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: every statement inside sees the file as of its first read."""
    connection.execute("BEGIN")
    try:
        yield
    finally:
        connection.execute("COMMIT")


def _keyword_ranking(
    connection: sqlite3.Connection, query: str, limit: int
) -> list[tuple[int, DocumentChunk]]:
    """(rowid, chunk) by BM25, best first."""
    expression = match_expression(query)
    if expression is None:
        return []
    rows = connection.execute(_SEARCH, (expression, limit)).fetchall()
    return [
        (rowid, DocumentChunk(id=chunk_id, content=content, source=source, score=score_of(rank)))
        for rowid, chunk_id, content, source, rank in rows
    ]


def _has_old_tokenizer(connection: sqlite3.Connection) -> bool:
    row = connection.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'document_chunks_fts'"
    ).fetchone()
    return row is not None and f"'{_TOKENIZER}'" not in row[0]


def _has_embedding_model(connection: sqlite3.Connection) -> bool:
    columns = {row[1] for row in connection.execute("PRAGMA table_info(document_chunks)")}
    return "embedding_model" in columns


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def _chunks_at(
    connection: sqlite3.Connection,
    rowids: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
) -> list[DocumentChunk]:
    """The chunks of ``rowids`` in that order, each with its score."""
    if len(rowids) == 0:
        return []
    rows = connection.execute(
        "SELECT rowid, id, content, source FROM document_chunks "
        "WHERE rowid IN (SELECT value FROM json_each(?))",
        (json.dumps(rowids.tolist()),),
    ).fetchall()
    by_rowid = {rowid: (chunk_id, content, source) for rowid, chunk_id, content, source in rows}
    chunks: list[DocumentChunk] = []
    for rowid, score in zip(rowids.tolist(), scores.tolist(), strict=True):
        found = by_rowid.get(rowid)
        # Within one snapshot every row of the matrix is there; a missing one is skipped
        # rather than failing the search, should a caller ever read outside a snapshot.
        if found is not None:
            chunk_id, content, source = found
            chunks.append(DocumentChunk(id=chunk_id, content=content, source=source, score=score))
    return chunks
