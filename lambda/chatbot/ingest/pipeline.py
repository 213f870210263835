"""The ingestion pipeline: files to chunks to vectors to the index, writing only what changed."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from chatbot.embeddings import Embeddings
from chatbot.ingest.chunking import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_OVERLAP,
    Chunk,
    check_sizes,
    chunk_document,
)
from chatbot.ingest.readers import FoundFile, UnreadableFileError, find_files, read_document

# Titan and the local model both take a few dozen texts a call well; more adds latency to
# the progress line without making the run faster.
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class EmbeddedChunk:
    chunk: Chunk
    vector: Sequence[float]


class DocumentStore(Protocol):
    """What the ingestion needs of an index: the SQLite one here, OpenSearch's later."""

    def hashes_for(self, source: str) -> dict[str, str | None]:
        """Chunk id -> ``Chunk.content_hash`` of every chunk of ``source``; None for a chunk
        with no vector of the store's model (it must be embedded again)."""
        ...

    def vectors_for(self, source: str, content_hashes: Collection[str]) -> dict[str, list[float]]:
        """Content hash -> stored vector, for chunks of ``source`` with those hashes: a
        paragraph that only moved (under the same heading) keeps its vector."""
        ...

    def upsert(self, chunks: Sequence[EmbeddedChunk]) -> None:
        """Insert or replace chunks by id, with their vectors."""
        ...

    def delete(self, chunk_ids: Collection[str]) -> int:
        """Remove chunks by id; return how many went."""
        ...

    def delete_source(self, source: str) -> int:
        """Remove every chunk of ``source``; return how many went."""
        ...

    def sources(self) -> list[str]:
        """Every source with chunks, sorted."""
        ...


@dataclass(frozen=True)
class SkippedFile:
    source: str
    reason: str


@dataclass
class IngestSummary:
    files: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    # Chunks written (new or changed), left as they were, and deleted as stale.
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    # Texts sent to the embedding model (fewer than added when a moved chunk kept its vector).
    embedded: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class IngestProgress:
    files_done: int
    files_total: int
    source: str
    chunks_embedded: int


class Ingestor:
    """Ingests files into a ``DocumentStore``; a re-run over unchanged files writes nothing.

    A chunk is identified by its source and position and compared by the hash of what is
    embedded (its heading path and its text, ``Chunk.content_hash``), so a renamed heading
    re-embeds the chunks under it. The same hash at the same id is left alone; a changed
    chunk is re-embedded (or, if the same embedded text sits elsewhere in the source
    already, its stored vector reused) and written; ids the source no longer has are deleted.
    """

    def __init__(
        self,
        store: DocumentStore,
        embeddings: Embeddings,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        overlap: int = DEFAULT_OVERLAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {batch_size}")
        check_sizes(chunk_size, overlap)
        self._store = store
        self._embeddings = embeddings
        self._batch_size = batch_size
        self._chunk_size = chunk_size
        self._overlap = overlap
        self._clock = clock
        # Chunks waiting for vectors, and chunks whose vectors are known, not yet written.
        self._to_embed: list[Chunk] = []
        self._ready: list[EmbeddedChunk] = []

    def ingest_paths(
        self,
        paths: Iterable[Path],
        progress: Callable[[IngestProgress], None] | None = None,
        *,
        cwd: Path | None = None,
    ) -> IngestSummary:
        """Ingest the files under ``paths``; a file named directly gets its source relative
        to ``cwd`` (default: the current directory), as ``find_files`` names it."""
        started = self._clock()
        summary = IngestSummary()
        # Nothing left over from a run that an embedding error ended.
        self._to_embed, self._ready = [], []
        files = _unique_sources(find_files(paths, cwd=cwd))
        for done, found in enumerate(files, start=1):
            try:
                document = read_document(found)
            except UnreadableFileError as error:
                summary.skipped.append(SkippedFile(found.source, str(error)))
            else:
                chunks = chunk_document(document, size=self._chunk_size, overlap=self._overlap)
                if not chunks:
                    summary.skipped.append(SkippedFile(found.source, "no text found"))
                else:
                    summary.files += 1
                # A file that lost all its text loses its old chunks too.
                self._plan(found.source, chunks, summary)
                self._flush(summary, final=False)
            if progress is not None:
                progress(IngestProgress(done, len(files), found.source, summary.embedded))
        self._flush(summary, final=True)
        summary.seconds = self._clock() - started
        return summary

    def delete_source(self, source: str) -> int:
        """Remove a document's chunks; return how many went (0: no such source)."""
        return self._store.delete_source(source)

    def _plan(self, source: str, chunks: list[Chunk], summary: IngestSummary) -> None:
        existing = self._store.hashes_for(source)
        wanted = {chunk.id for chunk in chunks}
        stale = [chunk_id for chunk_id in existing if chunk_id not in wanted]
        changed = [chunk for chunk in chunks if existing.get(chunk.id) != chunk.content_hash]
        summary.unchanged += len(chunks) - len(changed)
        summary.added += len(changed)
        reusable = (
            self._store.vectors_for(source, {chunk.content_hash for chunk in changed})
            if changed and existing
            else {}
        )
        for chunk in changed:
            vector = reusable.get(chunk.content_hash)
            if vector is None:
                self._to_embed.append(chunk)
            else:
                self._ready.append(EmbeddedChunk(chunk, vector))
        # Any vector to reuse has been read above, so the stale rows may go now.
        summary.removed += self._store.delete(stale)

    def _flush(self, summary: IngestSummary, *, final: bool) -> None:
        """Embed full batches (every remaining chunk if ``final``) and write what is ready."""
        while len(self._to_embed) >= self._batch_size or (final and self._to_embed):
            batch = self._to_embed[: self._batch_size]
            del self._to_embed[: self._batch_size]
            vectors = self._embeddings.embed_documents([chunk.embedding_text for chunk in batch])
            if len(vectors) != len(batch):
                raise ValueError(f"{len(vectors)} vectors came back for {len(batch)} texts")
            summary.embedded += len(batch)
            self._ready.extend(
                EmbeddedChunk(chunk, vector) for chunk, vector in zip(batch, vectors, strict=True)
            )
            self._write()
        if final or len(self._ready) >= self._batch_size:
            self._write()

    def _write(self) -> None:
        if self._ready:
            self._store.upsert(self._ready)
            self._ready = []


def _unique_sources(files: Iterable[FoundFile]) -> list[FoundFile]:
    """The files in order, each source once (a file named twice is ingested once)."""
    seen: set[str] = set()
    unique: list[FoundFile] = []
    for found in files:
        if found.source not in seen:
            seen.add(found.source)
            unique.append(found)
    return unique
