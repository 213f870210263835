"""The starter corpus: an empty index gets README.md and docs/ once, in the background."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from chatbot.adapters.local.document_store import SQLiteDocumentStore
from chatbot.adapters.local.documents import SQLiteDocumentIndex
from chatbot.config import Settings
from chatbot.embeddings import Embeddings, embeddings_from_settings
from chatbot.ingest.pipeline import Ingestor
from chatbot.starter_corpus import MARKER_NAME, StarterCorpus, corpus_files, default_corpus_dir
from tests.conftest import FakeClock

CORPUS = Path(__file__).resolve().parents[1] / "data" / "starter_corpus"
WAIT = 120.0


def starter_settings(tmp_path: Path, *, on: bool = True, folder: Path = CORPUS) -> Settings:
    return Settings(
        CHATBOT_STATE_DIR=tmp_path / "state", STARTER_CORPUS=on, STARTER_CORPUS_DIR=folder
    )


def stored_sources(settings: Settings) -> list[str]:
    index = SQLiteDocumentIndex(settings.documents_path)
    try:
        return SQLiteDocumentStore(index, model_id="any").sources()
    finally:
        index.close()


def marker(settings: Settings) -> dict[str, object]:
    return json.loads((settings.state_dir / MARKER_NAME).read_text())  # type: ignore[no-any-return]


class GatedEmbeddings:
    """The real model, whose first batch waits for the test: a run caught mid-way."""

    def __init__(self, real: Embeddings) -> None:
        self._real = real
        self.entered = threading.Event()
        self.release = threading.Event()

    @property
    def dimensions(self) -> int:
        return self._real.dimensions

    @property
    def model_id(self) -> str:
        return self._real.model_id

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.entered.set()
        assert self.release.wait(WAIT)
        return self._real.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._real.embed_query(text)


def test_the_corpus_is_the_readme_and_the_readable_files_of_docs() -> None:
    assert [path.relative_to(CORPUS).as_posix() for path in corpus_files(CORPUS)] == [
        "README.md",
        "docs/fog.md",
    ]
    # The default is the checkout the package runs from: this repository's own documents.
    own = [
        path.relative_to(default_corpus_dir()).as_posix()
        for path in corpus_files(default_corpus_dir())
    ]
    assert own[0] == "README.md" and "docs/retention.md" in own
    assert not any(name.endswith(".png") for name in own)


def test_an_empty_index_gets_the_corpus_in_the_background_and_never_again(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = starter_settings(tmp_path)
    starter = StarterCorpus(settings, clock)
    starter.start()
    # start() returns at once; the run goes on on its own thread.
    assert starter.status.state == "ingesting" and starter.status.files_total == 2
    status = starter.wait(WAIT)
    assert status.state == "ready"
    assert (status.files_done, status.files_total) == (2, 2) and status.chunks >= 2
    assert stored_sources(settings) == ["README.md", "docs/fog.md"]
    assert marker(settings)["state"] == "done"
    assert marker(settings)["at"] == "2026-11-24T12:00:00.000000Z"

    # The user removes a starter document: a later start does not put it back.
    index = SQLiteDocumentIndex(settings.documents_path)
    SQLiteDocumentStore(index, model_id="any").delete_source("docs/fog.md")
    index.close()
    again = StarterCorpus(settings, clock)
    again.start()
    assert again.wait(WAIT).state == "skipped"
    assert stored_sources(settings) == ["README.md"]


def test_an_index_holding_the_users_documents_is_left_alone(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = starter_settings(tmp_path)
    own = tmp_path / "mine"
    own.mkdir()
    (own / "notes.md").write_text("# Notes\n\nThe boiler is serviced every October.\n")
    embeddings = embeddings_from_settings(settings)
    settings.state_dir.mkdir(parents=True)
    index = SQLiteDocumentIndex(settings.documents_path)
    Ingestor(SQLiteDocumentStore(index, model_id=embeddings.model_id), embeddings).ingest_paths(
        [own]
    )
    index.close()
    starter = StarterCorpus(settings, clock)
    starter.start()
    assert starter.wait(WAIT).state == "skipped"
    assert stored_sources(settings) == ["mine/notes.md"]
    assert not (settings.state_dir / MARKER_NAME).exists()


def test_a_run_the_stop_interrupted_is_finished_by_the_next_start(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = starter_settings(tmp_path)
    gated = GatedEmbeddings(embeddings_from_settings(settings))
    # A batch a chunk: the first file's chunk is embedded (and held) before its progress.
    starter = StarterCorpus(settings, clock, embeddings=lambda: gated, batch_size=1)
    starter.start()
    assert gated.entered.wait(WAIT)
    timer = threading.Timer(0.2, gated.release.set)
    timer.start()
    starter.stop()  # the file being embedded is finished, then the run ends
    timer.join()
    assert marker(settings)["state"] == "begun"
    assert stored_sources(settings) == ["README.md"]

    # The index is not empty now, but the marker says the run was begun: it is finished.
    resumed = StarterCorpus(settings, clock)
    resumed.start()
    assert resumed.wait(WAIT).state == "ready"
    assert stored_sources(settings) == ["README.md", "docs/fog.md"]
    assert marker(settings)["state"] == "done"


def test_a_failed_run_is_reported_and_tried_again_at_the_next_start(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = starter_settings(tmp_path)

    def missing_model() -> Embeddings:
        raise OSError("the model files are missing")

    failed = StarterCorpus(settings, clock, embeddings=missing_model)
    failed.start()
    assert failed.wait(WAIT).state == "failed"
    assert stored_sources(settings) == []
    retried = StarterCorpus(settings, clock)
    retried.start()
    assert retried.wait(WAIT).state == "ready"


@pytest.mark.parametrize("case", ["off", "nothing to offer"])
def test_off_or_with_nothing_to_offer_nothing_is_written(
    tmp_path: Path, clock: FakeClock, case: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    settings = (
        starter_settings(tmp_path, on=False)
        if case == "off"
        else starter_settings(tmp_path, folder=empty)
    )
    starter = StarterCorpus(settings, clock)
    starter.start()
    assert starter.wait(WAIT).state == ("off" if case == "off" else "unavailable")
    assert not settings.documents_path.exists() or stored_sources(settings) == []
    assert not (settings.state_dir / MARKER_NAME).exists()


def test_the_pages_documents_example_finds_its_answer_in_the_projects_own_corpus(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The first example the page offers, asked of the default starter corpus (this
    repository's README and docs/), finds docs/retention.md above the RAG threshold."""
    from chatbot.document_search import document_search

    page = (default_corpus_dir() / "web" / "index.html").read_text()
    (example,) = re.findall(r'data-path="documents">([^<]+)</button>', page)
    settings = Settings(CHATBOT_STATE_DIR=tmp_path / "state", STARTER_CORPUS=True)
    starter = StarterCorpus(settings, clock)
    starter.start()
    assert starter.wait(WAIT).state == "ready"
    found = document_search(settings, clock).search(example, limit=settings.rag_top_k)
    assert found, f"{example!r} finds nothing above RAG_MIN_SCORE in the starter corpus"
    assert found[0].source == "docs/retention.md"
