"""The ingestion into OpenSearch: ``OpenSearchDocumentStore`` over a fake collection in memory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import chatbot.adapters.aws.opensearch as opensearch_module
import chatbot.embeddings as embeddings_module
from chatbot.adapters.aws.document_store import OpenSearchDocumentStore
from chatbot.adapters.aws.opensearch import OpenSearchDocumentIndex, sources_body, vectors_body
from chatbot.cli import main
from chatbot.config import load_settings
from chatbot.ingest.pipeline import DocumentStore, Ingestor
from chatbot.search_index import EMBEDDING_FIELD, index_body
from tests.conftest import FakeClock
from tests.integration.ingest_harness import CountingEmbeddings as FakeEmbeddings

INDEX = "documents"
MODEL = "amazon.titan-embed-text-v2:0:8"
MAPPING: dict[str, Any] = index_body(8)["mappings"]["properties"]
MOMENT = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PARAGRAPHS = [
    "Pumps move water from the well to the tank. They run on mains power.",
    "Valves stop the flow when the tank is full. A float switch tells them when.",
    "Seals keep the water inside the pump. Replace them every two years.",
]


class MemoryCollection:
    """A vector collection in memory: answers the adapter's term/terms/bool searches (sorted,
    with ``search_after``) and composite aggregations, applies bulk requests, records calls."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.searches: list[dict[str, Any]] = []
        self.bulks: list[list[dict[str, Any]]] = []
        self._next_id = 0

    def search(self, *, body: Any = None, index: Any = None) -> Any:
        assert index == INDEX
        self.searches.append(body)
        if "aggs" in body:
            return {"hits": {"hits": []}, "aggregations": {"sources": self._composite(body)}}
        query = body["query"]
        clauses = query["bool"]["filter"] if "bool" in query else [query]
        found = [
            (_id, document)
            for _id, document in self.documents.items()
            if all(_matches(clause, document) for clause in clauses)
        ]
        found.sort(key=lambda item: (item[1]["chunk_id"], item[1]["ingested_at"]))
        if "search_after" in body:
            after = tuple(body["search_after"])
            found = [i for i in found if (i[1]["chunk_id"], i[1]["ingested_at"]) > after]
        hits = [
            {
                "_id": _id,
                "_source": {key: document[key] for key in body["_source"] if key in document},
                "sort": [document["chunk_id"], document["ingested_at"]],
            }
            for _id, document in found[: body["size"]]
        ]
        return {"hits": {"hits": hits}}

    def msearch(self, *, body: Any, index: Any = None) -> Any:
        raise AssertionError("ingestion never searches by text")

    def bulk(self, *, body: Any, index: Any = None) -> Any:
        assert index == INDEX
        self.bulks.append(body)
        lines = iter(body)
        for action in lines:
            if "delete" in action:
                del self.documents[action["delete"]["_id"]]
            else:
                assert action == {"index": {}}  # no _id: the collection assigns it
                document = next(lines)
                assert set(document) == set(MAPPING)
                self._next_id += 1
                self.documents[f"doc-{self._next_id}"] = document
        return {"errors": False, "items": []}

    def writes(self) -> list[dict[str, Any]]:
        return [action for bulk in self.bulks for action in bulk]

    def _composite(self, body: dict[str, Any]) -> dict[str, Any]:
        composite = body["aggs"]["sources"]["composite"]
        ((name, spec),) = composite["sources"][0].items()
        keys = sorted({document[spec["terms"]["field"]] for document in self.documents.values()})
        if "after" in composite:
            keys = [key for key in keys if key > composite["after"][name]]
        page = keys[: composite["size"]]
        result: dict[str, Any] = {"buckets": [{"key": {name: key}} for key in page]}
        if page:
            result["after_key"] = {name: page[-1]}
        return result


def _matches(clause: dict[str, Any], document: dict[str, Any]) -> bool:
    ((kind, condition),) = clause.items()
    ((field, value),) = condition.items()
    assert MAPPING[field]["type"] == "keyword", field
    return document.get(field) in value if kind == "terms" else document.get(field) == value


@pytest.fixture
def collection() -> MemoryCollection:
    return MemoryCollection()


@pytest.fixture
def embeddings() -> FakeEmbeddings:
    return FakeEmbeddings(MODEL)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    write_pumps(root, PARAGRAPHS)
    (root / "valves.txt").write_text("Valves come in many kinds.\n\nGate valves are common.\n")
    return root


def write_pumps(root: Path, paragraphs: list[str], parts: list[int] | None = None) -> None:
    """pumps.md with these paragraphs under ``## Part N`` headings (N: ``parts``, or 0, 1, ...)."""
    numbers = parts if parts is not None else list(range(len(paragraphs)))
    sections = [f"## Part {n}\n\n{text}\n" for n, text in zip(numbers, paragraphs, strict=True)]
    (root / "pumps.md").write_text("# Pumps\n\n" + "\n".join(sections))


def store_of(collection: MemoryCollection, embeddings: FakeEmbeddings) -> OpenSearchDocumentStore:
    index = OpenSearchDocumentIndex(collection, INDEX, embeddings, clock=FakeClock(MOMENT))
    return OpenSearchDocumentStore(index, model_id=embeddings.model_id)


def ingestor(store: DocumentStore, embeddings: FakeEmbeddings) -> Ingestor:
    # A small chunk size, so each part of pumps.md is a chunk of its own.
    return Ingestor(store, embeddings, batch_size=2, chunk_size=100, overlap=0)


def stored(collection: MemoryCollection) -> list[tuple[str, int, str]]:
    return sorted(
        (d["source"], d["position"], d["embedding_model"]) for d in collection.documents.values()
    )


def test_first_ingest_bulk_indexes_every_chunk_with_its_vector_and_model(
    docs: Path, collection: MemoryCollection, embeddings: FakeEmbeddings
) -> None:
    summary = ingestor(store_of(collection, embeddings), embeddings).ingest_paths([docs])
    assert (summary.files, summary.added, summary.unchanged, summary.removed) == (2, 4, 0, 0)
    assert summary.embedded == len(embeddings.texts) == 4
    assert stored(collection) == [
        ("docs/pumps.md", 0, MODEL),
        ("docs/pumps.md", 1, MODEL),
        ("docs/pumps.md", 2, MODEL),
        ("docs/valves.txt", 0, MODEL),
    ]
    # Batches of two: two bulk requests of two index actions each, nothing to delete.
    assert [[next(iter(a)) for a in bulk[::2]] for bulk in collection.bulks] == [
        ["index", "index"],
        ["index", "index"],
    ]
    first = collection.bulks[0][1]
    assert first["content"] == PARAGRAPHS[0]
    assert first[EMBEDDING_FIELD] == embeddings.embed_query(f"Pumps > Part 0\n\n{PARAGRAPHS[0]}")
    assert first["ingested_at"] == "2026-11-24T12:00:00.000000Z"


def test_reingesting_unchanged_files_writes_nothing(
    docs: Path, collection: MemoryCollection, embeddings: FakeEmbeddings
) -> None:
    store = store_of(collection, embeddings)
    ingestor(store, embeddings).ingest_paths([docs])
    bulks, texts = len(collection.bulks), len(embeddings.texts)
    collection.searches.clear()

    summary = ingestor(store, embeddings).ingest_paths([docs])

    assert (summary.added, summary.unchanged, summary.removed, summary.embedded) == (0, 4, 0, 0)
    assert len(collection.bulks) == bulks
    assert len(embeddings.texts) == texts
    # One look-up per source, of hashes and models only (never the vectors).
    assert [body["query"] for body in collection.searches] == [
        {"terms": {"source": ["docs/pumps.md"]}},
        {"terms": {"source": ["docs/valves.txt"]}},
    ]
    assert all(EMBEDDING_FIELD not in body["_source"] for body in collection.searches)


def test_moved_paragraphs_keep_their_vectors_and_dropped_ones_are_deleted(
    docs: Path, collection: MemoryCollection, embeddings: FakeEmbeddings
) -> None:
    store = store_of(collection, embeddings)
    ingestor(store, embeddings).ingest_paths([docs])
    # Part 1 goes, so part 2, heading and text, moves up to position 1 (same hash).
    write_pumps(docs, [PARAGRAPHS[0], PARAGRAPHS[2]], parts=[0, 2])
    texts = len(embeddings.texts)

    summary = ingestor(store, embeddings).ingest_paths([docs])

    # Position 1 now holds what position 2 held: its stored vector is reused, not embedded.
    assert (summary.added, summary.unchanged, summary.removed, summary.embedded) == (1, 2, 1, 0)
    assert len(embeddings.texts) == texts
    pumps = sorted(
        (d["position"], d["content"])
        for d in collection.documents.values()
        if d["source"] == "docs/pumps.md"
    )
    assert pumps == [(0, PARAGRAPHS[0]), (1, PARAGRAPHS[2])]
    assert sum("delete" in action for action in collection.writes()) == 2  # replaced + dropped


def test_chunks_of_another_model_are_embedded_again_and_replaced(
    docs: Path, collection: MemoryCollection, embeddings: FakeEmbeddings
) -> None:
    ingestor(store_of(collection, embeddings), embeddings).ingest_paths([docs])
    wider = FakeEmbeddings("amazon.titan-embed-text-v2:0:1024")
    store = store_of(collection, wider)
    assert set(store.hashes_for("docs/valves.txt").values()) == {None}
    assert store.vectors_for("docs/valves.txt", {"any"}) == {}

    summary = ingestor(store, wider).ingest_paths([docs])

    assert (summary.added, summary.unchanged, summary.embedded) == (4, 0, 4)
    assert {model for *_, model in stored(collection)} == {wider.model_id}
    assert len(collection.documents) == 4  # the old documents were deleted, not kept beside


def test_documents_without_a_model_count_as_not_embedded(
    docs: Path, collection: MemoryCollection, embeddings: FakeEmbeddings
) -> None:
    ingestor(store_of(collection, embeddings), embeddings).ingest_paths([docs])
    for document in collection.documents.values():
        del document["embedding_model"]  # written before the field existed
    store = store_of(collection, embeddings)
    assert set(store.hashes_for("docs/pumps.md").values()) == {None}


def test_delete_source_and_sources(
    docs: Path,
    collection: MemoryCollection,
    embeddings: FakeEmbeddings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = store_of(collection, embeddings)
    ingestor(store, embeddings).ingest_paths([docs])
    (docs / "extra.txt").write_text("More text.\n")
    ingestor(store, embeddings).ingest_paths([docs])
    # Pages of two: the composite aggregation is followed with its after_key.
    monkeypatch.setattr(opensearch_module, "PAGE_SIZE", 2)
    collection.searches.clear()
    assert store.sources() == ["docs/extra.txt", "docs/pumps.md", "docs/valves.txt"]
    assert collection.searches == [
        sources_body(2, None),
        sources_body(2, {"source": "docs/pumps.md"}),
    ]

    assert store.delete_source("docs/pumps.md") == 3
    assert store.delete_source("docs/pumps.md") == 0
    assert store.sources() == ["docs/extra.txt", "docs/valves.txt"]
    assert store.hashes_for("docs/pumps.md") == {}
    assert all(d["source"] != "docs/pumps.md" for d in collection.documents.values())


def test_empty_deletes_and_upserts_send_nothing(collection: MemoryCollection) -> None:
    store = store_of(collection, FakeEmbeddings(MODEL))
    assert store.delete([]) == 0
    store.upsert([])
    assert store.vectors_for("a.md", set()) == {}
    assert collection.searches == []
    assert collection.bulks == []


def test_the_vectors_body_filters_on_keyword_fields() -> None:
    body = vectors_body("a.md", MODEL, ["h1"], size=10, after=["c1", "t"])
    clauses = body["query"]["bool"]["filter"]
    for clause in clauses:
        ((_, spec),) = clause.items()
        ((field, _),) = spec.items()
        assert MAPPING[field]["type"] == "keyword"
    assert body["search_after"] == ["c1", "t"]
    assert body["_source"] == ["content_hash", EMBEDDING_FIELD]


def test_cli_ingests_into_opensearch_in_aws(
    docs: Path,
    tmp_path: Path,
    collection: MemoryCollection,
    embeddings: FakeEmbeddings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("CHATBOT_ENV", "aws")
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", "https://abc.us-east-1.aoss.amazonaws.com")
    monkeypatch.setenv("OPENSEARCH_INDEX", INDEX)
    monkeypatch.setenv("CHATBOT_STATE_DIR", str(state))
    endpoints: list[tuple[str, str]] = []

    def client(endpoint: str, region: str) -> MemoryCollection:
        endpoints.append((endpoint, region))
        return collection

    monkeypatch.setattr(opensearch_module, "opensearch_client", client)
    monkeypatch.setattr(embeddings_module, "embeddings_from_settings", lambda _: embeddings)
    load_settings.cache_clear()
    try:
        assert main(["ingest", str(docs)]) == 0
    finally:
        load_settings.cache_clear()
    assert endpoints == [("https://abc.us-east-1.aoss.amazonaws.com", "us-east-1")]
    assert len(collection.documents) == len(embeddings.texts) > 0
    assert not state.exists()  # nothing local is opened
