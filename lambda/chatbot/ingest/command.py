"""What ``chatbot ingest`` does for a person: the progress line, the summary, the deletes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from chatbot.ingest.pipeline import Ingestor, IngestProgress, IngestSummary
from chatbot.ingest.readers import file_source

# Runs shorter than this show no progress at all: a line that flashes and vanishes is noise.
PROGRESS_DELAY_SECONDS = 2.0
# Off a terminal (a log, CI) a line is written this often instead of being redrawn.
LOG_INTERVAL_SECONDS = 10.0


class ProgressLine:
    """Progress on stderr once a run has lasted ``PROGRESS_DELAY_SECONDS``: one line redrawn
    in place on a terminal; elsewhere a plain line every ``LOG_INTERVAL_SECONDS``."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._terminal = stream.isatty()
        self._last_logged: float | None = None
        self._width = 0

    def __call__(self, progress: IngestProgress) -> None:
        now = self._clock()
        if now - self._started < PROGRESS_DELAY_SECONDS:
            return
        percent = 100 * progress.files_done // max(progress.files_total, 1)
        text = (
            f"ingest: {progress.files_done}/{progress.files_total} files ({percent}%), "
            f"{progress.chunks_embedded} chunks embedded, {progress.source}"
        )
        if self._terminal:
            self._stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        elif self._last_logged is None or now - self._last_logged >= LOG_INTERVAL_SECONDS:
            self._stream.write(text + "\n")
            self._last_logged = now
        self._stream.flush()

    def close(self) -> None:
        """Clears the redrawn line, so the summary starts on a clean one."""
        if self._terminal and self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()


def format_summary(summary: IngestSummary) -> str:
    text = (
        f"Ingested {summary.files} file{'s' if summary.files != 1 else ''} "
        f"in {summary.seconds:.1f} s: {summary.added} chunks added, "
        f"{summary.unchanged} unchanged, {summary.removed} removed "
        f"({summary.embedded} embedded)"
    )
    if summary.skipped:
        text += f"; {len(summary.skipped)} skipped"
    return text + "."


def run_ingest(
    ingestor: Ingestor,
    paths: Sequence[Path],
    *,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Ingest ``paths``; the summary on stdout, skipped files and progress on stderr."""
    missing = [path for path in paths if not path.exists()]
    if missing:
        for path in missing:
            stderr.write(f"chatbot ingest: {path}: no such file or folder\n")
        return 2
    progress = ProgressLine(stderr)
    try:
        summary = ingestor.ingest_paths(paths, progress)
    finally:
        progress.close()
    for skipped in summary.skipped:
        stderr.write(f"chatbot ingest: skipped {skipped.source}: {skipped.reason}\n")
    stdout.write(format_summary(summary) + "\n")
    return 0


def run_delete(
    ingestor: Ingestor, sources: Sequence[str], *, stdout: TextIO, stderr: TextIO
) -> int:
    """Remove each source's chunks; 1 if any source had none (a mistyped name, most likely)."""
    status = 0
    here = Path.cwd().resolve()
    for source in sources:
        removed = ingestor.delete_source(source)
        named = file_source(Path(source), here)
        if not removed and named != source:
            # A file's path, as it was given to ingest: stored under the name ingest gave it.
            removed = ingestor.delete_source(named)
        if removed:
            stdout.write(f"Removed {source} ({removed} chunks).\n")
        else:
            stderr.write(f"chatbot ingest: no document with source {source!r}\n")
            status = 1
    return status
