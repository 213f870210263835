"""The ingestion pipeline on the SQLite store: only what changed is embedded, written, removed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from chatbot.adapters.local.document_store import SQLiteDocumentStore
from chatbot.adapters.local.documents import SQLiteDocumentIndex
from chatbot.ingest.pipeline import Ingestor, IngestProgress, SkippedFile
from tests.integration.ingest_harness import CountingEmbeddings

PARAGRAPHS = [
    "Pumps move water from the well to the tank. They run on mains power.",
    "Valves stop the flow when the tank is full. A float switch tells them when.",
    "Seals keep the water inside the pump. Replace them every two years.",
]


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SQLiteDocumentIndex]:
    opened = SQLiteDocumentIndex(tmp_path / "documents.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def embeddings() -> CountingEmbeddings:
    return CountingEmbeddings()


@pytest.fixture
def store(index: SQLiteDocumentIndex, embeddings: CountingEmbeddings) -> SQLiteDocumentStore:
    return SQLiteDocumentStore(index, model_id=embeddings.model_id)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    sections = [f"## Part {n}\n\n{text}\n" for n, text in enumerate(PARAGRAPHS)]
    (root / "pumps.md").write_text("# Pumps\n\n" + "\n".join(sections))
    (root / "valves.txt").write_text("Valves come in many kinds.\n\nGate valves are common.\n")
    return root


def ingestor(store: SQLiteDocumentStore, embeddings: CountingEmbeddings) -> Ingestor:
    # A small chunk size, so each part of pumps.md is a chunk of its own.
    return Ingestor(store, embeddings, batch_size=2, chunk_size=100, overlap=0)


def rows(index: SQLiteDocumentIndex) -> list[tuple[str, str, int, str, bytes | None, str]]:
    with index.connection.reading() as connection:
        return connection.execute(
            "SELECT id, source, position, content, embedding, title FROM document_chunks "
            "ORDER BY source, position"
        ).fetchall()


def test_first_ingest_embeds_every_chunk_in_batches_and_stores_its_vector(
    docs: Path,
    index: SQLiteDocumentIndex,
    store: SQLiteDocumentStore,
    embeddings: CountingEmbeddings,
) -> None:
    summary = ingestor(store, embeddings).ingest_paths([docs])
    stored = rows(index)
    assert (summary.files, summary.added, summary.unchanged, summary.removed) == (2, 4, 0, 0)
    assert summary.embedded == len(embeddings.texts) == len(stored) == 4
    assert embeddings.calls == 2  # 4 texts in batches of 2
    assert [(source, position) for _, source, position, *_ in stored] == [
        ("docs/pumps.md", 0),
        ("docs/pumps.md", 1),
        ("docs/pumps.md", 2),
        ("docs/valves.txt", 0),
    ]
    # Stored content is clean; the embedded text led with the heading path.
    assert stored[0][3] == PARAGRAPHS[0]
    assert embeddings.texts[0] == f"Pumps > Part 0\n\n{PARAGRAPHS[0]}"
    blob = stored[0][4]
    assert blob is not None
    vector = np.frombuffer(blob, dtype="<f4")
    assert np.allclose(vector, embeddings.embed_query(embeddings.texts[0]), atol=1e-6)
    assert stored[0][5] == "Pumps"


def test_reingesting_unchanged_files_embeds_and_writes_nothing(
    docs: Path,
    index: SQLiteDocumentIndex,
    store: SQLiteDocumentStore,
    embeddings: CountingEmbeddings,
) -> None:
    ingestor(store, embeddings).ingest_paths([docs])
    before = rows(index)
    with index.connection.reading() as connection:
        (writes,) = connection.execute("SELECT total_changes()").fetchone()
    embeddings.texts.clear()

    summary = ingestor(store, embeddings).ingest_paths([docs])

    assert (summary.added, summary.unchanged, summary.removed, summary.embedded) == (0, 4, 0, 0)
    assert embeddings.texts == []
    with index.connection.reading() as connection:
        assert connection.execute("SELECT total_changes()").fetchone() == (writes,)
    assert rows(index) == before


def test_editing_one_paragraph_re_embeds_only_its_chunk(
    docs: Path,
    index: SQLiteDocumentIndex,
    store: SQLiteDocumentStore,
    embeddings: CountingEmbeddings,
) -> None:
    ingestor(store, embeddings).ingest_paths([docs])
    before = {row[0]: row for row in rows(index)}
    embeddings.texts.clear()
    pumps = docs / "pumps.md"
    pumps.write_text(pumps.read_text().replace("every two years", "every year"))

    summary = ingestor(store, embeddings).ingest_paths([docs])

    assert (summary.added, summary.unchanged, summary.removed) == (1, 3, 0)
    assert embeddings.texts == ["Pumps > Part 2\n\n" + PARAGRAPHS[2].replace("two years", "year")]
    after = {row[0]: row for row in rows(index)}
    changed = [chunk_id for chunk_id in after if after[chunk_id] != before[chunk_id]]
    assert len(changed) == 1
    assert after[changed[0]][3].endswith("every year.")


def test_a_shorter_file_loses_its_stale_chunks(
    docs: Path,
    index: SQLiteDocumentIndex,
    store: SQLiteDocumentStore,
    embeddings: CountingEmbeddings,
) -> None:
    ingestor(store, embeddings).ingest_paths([docs])
    (docs / "pumps.md").write_text(f"# Pumps\n\n## Part 0\n\n{PARAGRAPHS[0]}\n")

    summary = ingestor(store, embeddings).ingest_paths([docs])

    assert (summary.added, summary.unchanged, summary.removed) == (0, 2, 2)
    assert [row[1:3] for row in rows(index)] == [("docs/pumps.md", 0), ("docs/valves.txt", 0)]


def test_a_chunk_that_only_moved_keeps_its_vector(
    docs: Path,
    index: SQLiteDocumentIndex,
    store: SQLiteDocumentStore,
    embeddings: CountingEmbeddings,
) -> None:
    ingestor(store, embeddings).ingest_paths([docs])
    embeddings.texts.clear()
    # Part 0 removed: parts 1 and 2 move up a position each, their text unchanged.
    sections = [f"## Part {n}\n\n{text}\n" for n, text in enumerate(PARAGRAPHS) if n > 0]
    (docs / "pumps.md").write_text("# Pumps\n\n" + "\n".join(sections))

    summary = ingestor(store, embeddings).ingest_paths([docs])

    assert (summary.added, summary.removed, summary.embedded) == (2, 1, 0)
    assert embeddings.texts == []
    pumps = [row for row in rows(index) if row[1] == "docs/pumps.md"]
    assert [row[3] for row in pumps] == PARAGRAPHS[1:]
    assert all(row[4] is not None for row in pumps)


def test_delete_source_removes_exactly_that_document(
    docs: Path,
    index: SQLiteDocumentIndex,
    store: SQLiteDocumentStore,
    embeddings: CountingEmbeddings,
) -> None:
    pipeline = ingestor(store, embeddings)
    pipeline.ingest_paths([docs])

    assert pipeline.delete_source("docs/pumps.md") == 3
    assert pipeline.delete_source("docs/pumps.md") == 0
    assert store.sources() == ["docs/valves.txt"]
    assert [row[1] for row in rows(index)] == ["docs/valves.txt"]


def test_unreadable_files_are_skipped_and_reported_and_the_rest_ingested(
    docs: Path, store: SQLiteDocumentStore, embeddings: CountingEmbeddings
) -> None:
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (docs / "empty.md").write_text("\n\n")
    seen: list[IngestProgress] = []

    summary = ingestor(store, embeddings).ingest_paths([docs], progress=seen.append)

    assert summary.files == 2
    assert summary.skipped == [
        SkippedFile("docs/broken.pdf", summary.skipped[0].reason),
        SkippedFile("docs/empty.md", "no text found"),
        SkippedFile("docs/photo.png", "unsupported file type '.png'"),
    ]
    assert "damaged PDF" in summary.skipped[0].reason
    assert store.sources() == ["docs/pumps.md", "docs/valves.txt"]
    assert [(p.files_done, p.files_total) for p in seen] == [(n, 5) for n in range(1, 6)]


def test_chunks_embedded_by_another_model_are_embedded_again(
    docs: Path, index: SQLiteDocumentIndex, embeddings: CountingEmbeddings
) -> None:
    ingestor(SQLiteDocumentStore(index, model_id="old-model"), embeddings).ingest_paths([docs])
    embeddings.texts.clear()

    store = SQLiteDocumentStore(index, model_id=embeddings.model_id)
    summary = ingestor(store, embeddings).ingest_paths([docs])

    assert (summary.added, summary.unchanged, summary.embedded) == (4, 0, 4)


def test_ingested_vectors_are_what_the_index_searches(
    docs: Path,
    tmp_path: Path,
    store: SQLiteDocumentStore,
    embeddings: CountingEmbeddings,
) -> None:
    ingestor(store, embeddings).ingest_paths([docs])
    searching = SQLiteDocumentIndex(tmp_path / "documents.sqlite3", embeddings)
    try:
        # The fake maps equal texts to equal vectors: the chunk's own text is its best match.
        [best] = searching.search_vector(f"Pumps > Part 1\n\n{PARAGRAPHS[1]}", limit=1)
    finally:
        searching.close()
    assert best.content == PARAGRAPHS[1]
    assert best.score == pytest.approx(1.0, abs=1e-5)


def test_renaming_a_heading_re_embeds_only_the_chunk_under_it(
    docs: Path,
    index: SQLiteDocumentIndex,
    store: SQLiteDocumentStore,
    embeddings: CountingEmbeddings,
) -> None:
    ingestor(store, embeddings).ingest_paths([docs])
    before = {row[0]: row for row in rows(index)}
    embeddings.texts.clear()
    pumps = docs / "pumps.md"
    pumps.write_text(pumps.read_text().replace("## Part 1", "## Float valves"))

    summary = ingestor(store, embeddings).ingest_paths([docs])

    assert (summary.added, summary.unchanged, summary.removed, summary.embedded) == (1, 3, 0, 1)
    assert embeddings.texts == [f"Pumps > Float valves\n\n{PARAGRAPHS[1]}"]
    after = {row[0]: row for row in rows(index)}
    changed = [chunk_id for chunk_id in after if after[chunk_id] != before[chunk_id]]
    assert len(changed) == 1
    # The stored text is the same; the vector is the one of the text with the new heading.
    _, source, position, content, blob, _ = after[changed[0]]
    assert (source, position, content) == ("docs/pumps.md", 1, PARAGRAPHS[1])
    assert blob is not None
    assert np.allclose(
        np.frombuffer(blob, dtype="<f4"), embeddings.embed_query(embeddings.texts[0]), atol=1e-6
    )

    # And a run after that one finds nothing left to embed.
    embeddings.texts.clear()
    again = ingestor(store, embeddings).ingest_paths([docs])
    assert (again.added, again.unchanged, again.embedded) == (0, 4, 0)
