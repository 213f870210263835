"""The ingestion's store on the SQLite document index: chunk hashes and vectors by source."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

import numpy as np

from chatbot.adapters.local.documents import ChunkToIndex, SQLiteDocumentIndex
from chatbot.ingest.pipeline import EmbeddedChunk

# How the index stores vectors (documents.encode_vector): float32, little-endian.
_VECTOR_DTYPE = np.dtype("<f4")


class SQLiteDocumentStore:
    """``DocumentStore`` for ``SQLiteDocumentIndex``: writes through the index's own upsert and
    ``store_embeddings``; reads and deletes by id on its connection. Vectors are those of
    ``model_id``: a chunk embedded by another model counts as not embedded."""

    def __init__(self, index: SQLiteDocumentIndex, *, model_id: str) -> None:
        self._index = index
        self._model_id = model_id

    def hashes_for(self, source: str) -> dict[str, str | None]:
        with self._index.connection.reading() as connection:
            rows = connection.execute(
                "SELECT id, content_hash, embedding IS NOT NULL AND embedding_model IS ? "
                "FROM document_chunks WHERE source = ?",
                (self._model_id, source),
            ).fetchall()
        return {chunk_id: (digest if embedded else None) for chunk_id, digest, embedded in rows}

    def vectors_for(self, source: str, content_hashes: Collection[str]) -> dict[str, list[float]]:
        if not content_hashes:
            return {}
        with self._index.connection.reading() as connection:
            rows = connection.execute(
                "SELECT content_hash, embedding FROM document_chunks "
                "WHERE source = ? AND embedding_model IS ? AND embedding IS NOT NULL "
                "AND content_hash IN (SELECT value FROM json_each(?))",
                (source, self._model_id, json.dumps(sorted(content_hashes))),
            ).fetchall()
        return {
            digest: np.frombuffer(blob, dtype=_VECTOR_DTYPE).astype(float).tolist()
            for digest, blob in rows
        }

    def upsert(self, chunks: Sequence[EmbeddedChunk]) -> None:
        if not chunks:
            return
        self._index.add_chunks(
            ChunkToIndex(
                id=item.chunk.id,
                document_id=item.chunk.document_id,
                source=item.chunk.source,
                position=item.chunk.position,
                content=item.chunk.content,
                title=item.chunk.title,
                digest=item.chunk.content_hash,
            )
            for item in chunks
        )
        # A second transaction: a crash between the two leaves chunks without vectors, which
        # hashes_for reports as such, so the next run embeds them again.
        self._index.store_embeddings(
            {item.chunk.id: item.vector for item in chunks}, model_id=self._model_id
        )

    def delete(self, chunk_ids: Collection[str]) -> int:
        if not chunk_ids:
            return 0
        with self._index.connection.writing() as connection:
            return connection.execute(
                "DELETE FROM document_chunks WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted(chunk_ids)),),
            ).rowcount

    def delete_source(self, source: str) -> int:
        return self._index.delete_source(source)

    def sources(self) -> list[str]:
        with self._index.connection.reading() as connection:
            rows = connection.execute(
                "SELECT DISTINCT source FROM document_chunks ORDER BY source"
            ).fetchall()
        return [source for (source,) in rows]
