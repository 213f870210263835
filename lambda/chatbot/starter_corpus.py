"""The starter corpus: a first ``chatbot serve`` has documents to answer from.

On an empty document index the local gateway ingests this project's own ``README.md`` and
``docs/`` once, in a background thread, and reports how far it got at
``/starter-corpus.json``, which the page shows (``web/starter-corpus.js``).
``STARTER_CORPUS=false`` turns it off; ``STARTER_CORPUS_DIR`` names another folder that holds
a ``README.md`` and a ``docs/``.

Once means once. A marker in the state folder (``starter-corpus.json``) says the corpus was
offered, so a document the user later removes is not put back. A run that the server's stop
interrupted is marked as begun, and the next start finishes it (ingestion leaves what is
already stored unchanged alone). An index that holds documents and no marker holds the
user's own: it is left as it is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

from aws_lambda_powertools import Logger

import chatbot
from chatbot.clock import Clock
from chatbot.config import Settings
from chatbot.embeddings import Embeddings, embeddings_from_settings
from chatbot.ingest.pipeline import DEFAULT_BATCH_SIZE, IngestProgress
from chatbot.ingest.readers import READERS, find_files
from chatbot.records import iso

logger = Logger(service="chatbot", child=True)

MARKER_NAME: Final = "starter-corpus.json"
# How long ``stop`` waits for the file being embedded when the server stops mid-run.
STOP_WAIT_SECONDS: Final = 10.0

# off: the setting is false; unavailable: no README.md or docs/ to offer; skipped: the index
# holds the user's documents, or an earlier start offered the corpus already; ingesting:
# this start is adding it; ready: this start added it; failed: this start could not.
State = Literal["off", "unavailable", "skipped", "ingesting", "ready", "failed"]


@dataclass(frozen=True)
class StarterStatus:
    """What ``/starter-corpus.json`` says, in the names the page reads."""

    state: State
    files_done: int = 0
    files_total: int = 0
    chunks: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "filesDone": self.files_done,
            "filesTotal": self.files_total,
            "chunks": self.chunks,
        }


class _Stopped(Exception):
    """Raised from the progress callback to end a run the server's stop interrupted."""


def default_corpus_dir() -> Path:
    """The checkout this package runs from (``lambda/chatbot`` is two levels below it)."""
    return Path(chatbot.__file__).resolve().parents[2]


def corpus_files(root: Path) -> list[Path]:
    """``README.md`` and every file of ``docs/`` that ingestion can read, in a stable order
    (images and other unreadable files left out, so progress counts what is ingested)."""
    files = [root / "README.md"] if (root / "README.md").is_file() else []
    docs = root / "docs"
    if docs.is_dir():
        files += [
            found.path for found in find_files([docs]) if found.path.suffix.lower() in READERS
        ]
    return files


class StarterCorpus:
    """Decides at ``start`` whether to offer the corpus; ingests it on a thread of its own."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        embeddings: Callable[[], Embeddings] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._embeddings = embeddings or (lambda: embeddings_from_settings(settings))
        self._batch_size = batch_size
        self._root = (settings.starter_corpus_dir or default_corpus_dir()).resolve()
        self._marker = settings.state_dir / MARKER_NAME
        self._lock = threading.Lock()
        self._status = StarterStatus("off" if not settings.starter_corpus else "skipped")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> StarterStatus:
        with self._lock:
            return self._status

    def start(self) -> None:
        """Look at the marker and the index (quick), then ingest in the background if the
        corpus is to be offered. Never raises: the chatbot runs without its starter corpus."""
        if not self._settings.starter_corpus:
            return
        try:
            files = self._files_to_offer()
        except Exception as error:  # the page and the chat must not depend on this
            logger.warning("starter corpus not offered", extra={"error": type(error).__name__})
            self._set(StarterStatus("failed"))
            return
        if files is None:
            return
        self._set(StarterStatus("ingesting", files_total=len(files)))
        self._write_marker("begun", files=len(files), chunks=0)
        logger.info(
            "ingesting the starter corpus into an empty index (STARTER_CORPUS=false turns "
            "this off)",
            extra={"folder": str(self._root), "files": len(files)},
        )
        self._thread = threading.Thread(
            target=self._ingest, args=(files,), name="starter-corpus", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """End a run in progress after the file it is on; what was written stays."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(STOP_WAIT_SECONDS)

    def wait(self, timeout: float | None = None) -> StarterStatus:
        """The status once the background run (if any) has ended, or ``timeout`` passed."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status

    def _files_to_offer(self) -> list[Path] | None:
        from chatbot.adapters.local.documents import SQLiteDocumentIndex
        from chatbot.adapters.local.private_files import private_directory

        marker = self._read_marker()
        if marker == "done":
            return None
        files = corpus_files(self._root)
        if not files:
            self._set(StarterStatus("unavailable"))
            return None
        if marker != "begun":
            private_directory(self._settings.state_dir)
            index = SQLiteDocumentIndex(self._settings.documents_path)
            try:
                with index.connection.reading() as connection:
                    stored = connection.execute("SELECT 1 FROM document_chunks LIMIT 1").fetchone()
            finally:
                index.close()
            if stored is not None:
                return None
        return files

    def _ingest(self, files: list[Path]) -> None:
        from chatbot.adapters.local.document_store import SQLiteDocumentStore
        from chatbot.adapters.local.documents import SQLiteDocumentIndex
        from chatbot.ingest.pipeline import Ingestor

        started = self._clock.monotonic()
        index: SQLiteDocumentIndex | None = None
        try:
            embeddings = self._embeddings()
            index = SQLiteDocumentIndex(self._settings.documents_path)
            store = SQLiteDocumentStore(index, model_id=embeddings.model_id)
            summary = Ingestor(
                store, embeddings, batch_size=self._batch_size, clock=self._clock.monotonic
            ).ingest_paths(files, self._progress, cwd=self._root)
        except _Stopped:
            logger.info("starter corpus interrupted; the next start finishes it")
            return
        except Exception as error:  # reported on the page; the chat goes on without it
            logger.warning(
                "starter corpus could not be ingested", extra={"error": type(error).__name__}
            )
            self._set(replace(self.status, state="failed"))
            return
        finally:
            if index is not None:
                index.close()
        chunks = summary.added + summary.unchanged
        self._write_marker("done", files=summary.files, chunks=chunks)
        self._set(StarterStatus("ready", len(files), len(files), chunks))
        logger.info(
            "starter corpus ready",
            extra={
                "files": summary.files,
                "chunks": chunks,
                "seconds": round(self._clock.monotonic() - started, 1),
            },
        )

    def _progress(self, progress: IngestProgress) -> None:
        if self._stopping.is_set():
            raise _Stopped
        self._set(
            StarterStatus(
                "ingesting", progress.files_done, progress.files_total, progress.chunks_embedded
            )
        )

    def _set(self, status: StarterStatus) -> None:
        with self._lock:
            self._status = status

    def _read_marker(self) -> str | None:
        try:
            marker = json.loads(self._marker.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            # Unreadable: as if the corpus had been offered, rather than risk offering twice.
            return "done"
        state = marker.get("state") if isinstance(marker, dict) else None
        return state if state in ("begun", "done") else "done"

    def _write_marker(self, state: str, *, files: int, chunks: int) -> None:
        record = {"state": state, "at": iso(self._clock.now()), "files": files, "chunks": chunks}
        record["folder"] = str(self._root)
        self._marker.write_text(json.dumps(record) + "\n", encoding="utf-8")


def status_body(status: StarterStatus) -> bytes:
    """The JSON body of ``/starter-corpus.json``."""
    return json.dumps(status.as_json()).encode()
