"""``chatbot ingest`` for a person: the summary, skipped files, deletes and the progress line."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.adapters.local.document_store import SQLiteDocumentStore
from chatbot.adapters.local.documents import SQLiteDocumentIndex
from chatbot.ingest.command import ProgressLine, format_summary, run_delete, run_ingest
from chatbot.ingest.pipeline import Ingestor, IngestProgress, IngestSummary, SkippedFile
from tests.integration.ingest_harness import CountingEmbeddings


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ingestor(tmp_path: Path) -> Iterator[Ingestor]:
    index = SQLiteDocumentIndex(tmp_path / "documents.sqlite3")
    embeddings = CountingEmbeddings()
    yield Ingestor(SQLiteDocumentStore(index, model_id=embeddings.model_id), embeddings)
    index.close()


def test_the_summary_goes_to_stdout_and_skipped_files_to_stderr(
    tmp_path: Path, ingestor: Ingestor
) -> None:
    (tmp_path / "a.md").write_text("# A\n\nPumps move water.\n")
    (tmp_path / "b.bin").write_bytes(b"\x00\x01")
    stdout, stderr = io.StringIO(), io.StringIO()

    status = run_ingest(
        ingestor, [tmp_path / "a.md", tmp_path / "b.bin"], stdout=stdout, stderr=stderr
    )

    assert status == 0
    assert stdout.getvalue().startswith("Ingested 1 file in ")
    assert "1 chunks added, 0 unchanged, 0 removed (1 embedded); 1 skipped." in stdout.getvalue()
    # Named as its source would be: a file outside the current folder by its file name.
    assert stderr.getvalue() == "chatbot ingest: skipped b.bin: unsupported file type '.bin'\n"


def test_a_missing_path_stops_the_run_before_anything_is_read(
    tmp_path: Path, ingestor: Ingestor
) -> None:
    (tmp_path / "a.md").write_text("Text.\n")
    stdout, stderr = io.StringIO(), io.StringIO()

    status = run_ingest(
        ingestor, [tmp_path / "a.md", tmp_path / "nope"], stdout=stdout, stderr=stderr
    )

    assert status == 2
    assert stdout.getvalue() == ""
    assert "nope: no such file or folder" in stderr.getvalue()


def test_delete_reports_what_went_and_fails_on_an_unknown_source(
    tmp_path: Path, ingestor: Ingestor
) -> None:
    (tmp_path / "a.md").write_text("Text.\n")
    ingestor.ingest_paths([tmp_path / "a.md"])
    stdout, stderr = io.StringIO(), io.StringIO()
    # The path as given to ingest finds the document, stored under its file name.
    source = (tmp_path / "a.md").as_posix()

    status = run_delete(ingestor, [source, "other.md"], stdout=stdout, stderr=stderr)

    assert status == 1
    assert stdout.getvalue() == f"Removed {source} (1 chunks).\n"
    assert stderr.getvalue() == "chatbot ingest: no document with source 'other.md'\n"


def test_format_summary_names_every_count() -> None:
    summary = IngestSummary(
        files=3, skipped=[SkippedFile("x", "y")], added=5, unchanged=7, removed=2, embedded=4
    )
    summary.seconds = 1.25
    assert format_summary(summary) == (
        "Ingested 3 files in 1.2 s: 5 chunks added, 7 unchanged, 2 removed (4 embedded); 1 skipped."
    )


def test_progress_stays_quiet_on_short_runs_then_redraws_one_line_on_a_terminal() -> None:
    clock, stream = Clock(), Terminal()
    line = ProgressLine(stream, clock=clock)
    line(IngestProgress(1, 4, "docs/a.md", 3))
    assert stream.getvalue() == ""
    clock.now = 2.5
    line(IngestProgress(2, 4, "docs/b.md", 6))
    line(IngestProgress(3, 4, "docs/c.md", 9))
    line.close()
    written = stream.getvalue()
    assert "\n" not in written
    assert "\ringest: 2/4 files (50%), 6 chunks embedded, docs/b.md" in written
    assert "\ringest: 3/4 files (75%), 9 chunks embedded, docs/c.md" in written
    assert written.endswith("\r")


def test_progress_off_a_terminal_is_a_plain_line_every_ten_seconds() -> None:
    clock, stream = Clock(), io.StringIO()
    line = ProgressLine(stream, clock=clock)
    for step, now in enumerate([3.0, 4.0, 13.5], start=1):
        clock.now = now
        line(IngestProgress(step, 3, f"f{step}", step))
    line.close()
    assert stream.getvalue().splitlines() == [
        "ingest: 1/3 files (33%), 1 chunks embedded, f1",
        "ingest: 3/3 files (100%), 3 chunks embedded, f3",
    ]
