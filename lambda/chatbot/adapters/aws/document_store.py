"""The ingestion's store on the OpenSearch Serverless index: ``chatbot ingest`` in AWS.

Every operation goes through ``OpenSearchDocumentIndex``'s public methods, so it inherits
their behaviour: writes find documents by ``chunk_id`` or ``source`` and bulk-delete them by
id (a vector collection keeps no custom ``_id``), and a collection shows writes to search
about a second later. Ingestion asks about one source at a time and writes each chunk once,
so that delay only matters to two runs over the same files within a second of each other: the
second may write some chunks again (the index replaces them; nothing is duplicated for long).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from chatbot.adapters.aws.opensearch import OpenSearchDocumentIndex
from chatbot.ingest.pipeline import EmbeddedChunk


class OpenSearchDocumentStore:
    """``DocumentStore`` for ``OpenSearchDocumentIndex``. Vectors are those of ``model_id``
    (stored in each document's ``embedding_model``): a chunk embedded by another model, or
    written before that field existed, counts as not embedded."""

    def __init__(self, index: OpenSearchDocumentIndex, *, model_id: str) -> None:
        self._index = index
        self._model_id = model_id

    def hashes_for(self, source: str) -> dict[str, str | None]:
        return self._index.embedded_hashes_for(source, self._model_id)

    def vectors_for(self, source: str, content_hashes: Collection[str]) -> dict[str, list[float]]:
        if not content_hashes:
            return {}
        return self._index.vectors_for(source, content_hashes, self._model_id)

    def upsert(self, chunks: Sequence[EmbeddedChunk]) -> None:
        if not chunks:
            return
        self._index.upsert_chunks(
            [item.chunk for item in chunks],
            [item.vector for item in chunks],
            embedding_model=self._model_id,
        )

    def delete(self, chunk_ids: Collection[str]) -> int:
        """Remove chunks by id; the count is of documents (a chunk written twice within the
        collection's refresh interval may briefly have two)."""
        if not chunk_ids:
            return 0
        return self._index.delete_chunks(sorted(chunk_ids))

    def delete_source(self, source: str) -> int:
        return self._index.delete_source(source)

    def sources(self) -> list[str]:
        return self._index.sources()
