"""The document store contract: what ingestion and search may rely on, whichever store holds
the chunks. Every test runs against the embedded SQLite index and against the S3 Vectors
adapter over its fake (a real boto3 client whose every request and response botocore checks
against the service model: tests/integration/s3vectors_fake.py)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

from chatbot.adapters.aws.s3vectors import S3VectorsDocumentStore
from chatbot.adapters.local.document_store import SQLiteDocumentStore
from chatbot.adapters.local.documents import SQLiteDocumentIndex
from chatbot.ingest.chunking import Chunk, chunk_id_of, document_id_of
from chatbot.ingest.pipeline import DocumentStore, EmbeddedChunk, Ingestor
from chatbot.rank_fusion import FUSION_WINDOW, HYBRID_WEIGHTS, fuse_hybrid
from chatbot.records import DocumentChunk
from tests.conftest import FakeClock
from tests.integration.s3vectors_fake import BUCKET, INDEX, FakeS3Vectors

# A stand-in for meaning: words the fake model treats as the same, which no keyword index does.
_SYNONYMS = {"automobile": "car", "vehicle": "car", "mended": "repair", "fix": "repair"}


class BagOfWords:
    """Each word (after synonyms) adds one to a dimension chosen by its hash; unit length.
    Counts the texts it embeds for documents."""

    dimensions = 64

    def __init__(self, model_id: str = "fake-bow-64") -> None:
        self.model_id = model_id
        self.texts: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for word in re.findall(r"\w+", text.casefold()):
            word = _SYNONYMS.get(word, word)
            slot = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big")
            vector[slot % self.dimensions] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]


class Searches(Protocol):
    def search(self, query: str, *, limit: int) -> list[DocumentChunk]: ...
    def search_vector(
        self, query: str, *, limit: int, min_score: float | None = None
    ) -> list[DocumentChunk]: ...
    def search_keyword(self, query: str, *, limit: int) -> list[DocumentChunk]: ...
    def search_hybrid(
        self, query: str, *, limit: int, min_score: float | None = None
    ) -> list[DocumentChunk]: ...


@dataclass
class Backend:
    """One store's data, and fresh adapter objects on it for a model (and threshold)."""

    name: str
    store_for: Callable[[BagOfWords], DocumentStore]
    search_for: Callable[[BagOfWords, float | None], Searches]
    closers: list[Callable[[], None]] = field(default_factory=list)


def _sqlite(tmp_path: Path) -> Backend:
    path = tmp_path / "chatbot.sqlite3"
    backend = Backend(
        "sqlite",
        lambda m: _sqlite_store(backend, path, m),
        lambda m, s: _sqlite_index(backend, path, m, s),
    )
    return backend


def _sqlite_index(
    backend: Backend, path: Path, model: BagOfWords, min_score: float | None
) -> SQLiteDocumentIndex:
    index = SQLiteDocumentIndex(path, model, min_score=min_score)
    backend.closers.append(index.close)
    return index


def _sqlite_store(backend: Backend, path: Path, model: BagOfWords) -> SQLiteDocumentStore:
    return SQLiteDocumentStore(_sqlite_index(backend, path, model, None), model_id=model.model_id)


def _s3vectors() -> Backend:
    fake = FakeS3Vectors(BagOfWords.dimensions)

    def adapter(model: BagOfWords, min_score: float | None = None) -> S3VectorsDocumentStore:
        return S3VectorsDocumentStore(
            fake.client,
            bucket=BUCKET,
            index=INDEX,
            embeddings=model,
            clock=FakeClock(),
            min_score=min_score,
        )

    return Backend("s3vectors", adapter, adapter)


@pytest.fixture(params=["sqlite", "s3vectors"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    chosen = _sqlite(tmp_path) if request.param == "sqlite" else _s3vectors()
    yield chosen
    for close in chosen.closers:
        close()


@pytest.fixture
def model() -> BagOfWords:
    return BagOfWords()


# --- ingestion ------------------------------------------------------------------------------

PARAGRAPHS = [
    "Pumps move water from the well to the tank. They run on mains power.",
    "Valves stop the flow when the tank is full. A float switch tells them when.",
    "Seals keep the water inside the pump. Replace them every two years.",
]


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    write_pumps(root, PARAGRAPHS)
    (root / "valves.txt").write_text("Valves come in many kinds.\n\nGate valves are common.\n")
    return root


def write_pumps(root: Path, paragraphs: list[str], parts: list[int] | None = None) -> None:
    numbers = parts if parts is not None else list(range(len(paragraphs)))
    sections = [f"## Part {n}\n\n{text}\n" for n, text in zip(numbers, paragraphs, strict=True)]
    (root / "pumps.md").write_text("# Pumps\n\n" + "\n".join(sections))


def ingest(backend: Backend, model: BagOfWords, docs: Path) -> Any:
    # A small chunk size, so each part of pumps.md is a chunk of its own.
    ingestor = Ingestor(backend.store_for(model), model, batch_size=2, chunk_size=100, overlap=0)
    return ingestor.ingest_paths([docs])


def counts(summary: Any) -> tuple[int, int, int, int]:
    return (summary.added, summary.unchanged, summary.removed, summary.embedded)


def test_first_ingest_stores_every_chunk_with_its_vector(
    backend: Backend, model: BagOfWords, docs: Path
) -> None:
    assert counts(ingest(backend, model, docs)) == (4, 0, 0, 4)
    store = backend.store_for(model)
    assert store.sources() == ["docs/pumps.md", "docs/valves.txt"]
    hashes = store.hashes_for("docs/pumps.md")
    assert sorted(hashes) == sorted(chunk_id_of("docs/pumps.md", n) for n in range(3))
    assert None not in hashes.values()
    text = f"Pumps > Part 0\n\n{PARAGRAPHS[0]}"
    digest = hashlib.sha256(text.encode()).hexdigest()
    (vector,) = store.vectors_for("docs/pumps.md", {digest}).values()
    assert vector == pytest.approx(model.embed_query(text), abs=1e-6)


def test_reingesting_unchanged_files_embeds_and_writes_nothing(
    backend: Backend, model: BagOfWords, docs: Path
) -> None:
    ingest(backend, model, docs)
    embedded = len(model.texts)
    assert counts(ingest(backend, model, docs)) == (0, 4, 0, 0)
    assert len(model.texts) == embedded


def test_editing_one_paragraph_re_embeds_only_its_chunk(
    backend: Backend, model: BagOfWords, docs: Path
) -> None:
    ingest(backend, model, docs)
    pumps = docs / "pumps.md"
    pumps.write_text(pumps.read_text().replace("every two years", "every year"))
    assert counts(ingest(backend, model, docs)) == (1, 3, 0, 1)
    assert model.texts[-1] == "Pumps > Part 2\n\n" + PARAGRAPHS[2].replace("two years", "year")


def test_a_shorter_file_loses_its_stale_chunks(
    backend: Backend, model: BagOfWords, docs: Path
) -> None:
    ingest(backend, model, docs)
    write_pumps(docs, PARAGRAPHS[:1])
    assert counts(ingest(backend, model, docs)) == (0, 2, 2, 0)
    assert list(backend.store_for(model).hashes_for("docs/pumps.md")) == [
        chunk_id_of("docs/pumps.md", 0)
    ]


def test_a_chunk_that_only_moved_keeps_its_vector(
    backend: Backend, model: BagOfWords, docs: Path
) -> None:
    ingest(backend, model, docs)
    # Part 1 goes, so part 2, heading and text, moves up to position 1 (same hash).
    write_pumps(docs, [PARAGRAPHS[0], PARAGRAPHS[2]], parts=[0, 2])
    assert counts(ingest(backend, model, docs)) == (1, 2, 1, 0)
    found = backend.search_for(model, None).search_keyword("seals replace", limit=5)
    assert [(chunk.id, chunk.content) for chunk in found] == [
        (chunk_id_of("docs/pumps.md", 1), PARAGRAPHS[2])
    ]


def test_delete_source_removes_exactly_that_document(
    backend: Backend, model: BagOfWords, docs: Path
) -> None:
    ingest(backend, model, docs)
    store = backend.store_for(model)
    assert store.delete_source("docs/pumps.md") == 3
    assert store.delete_source("docs/pumps.md") == 0
    assert store.sources() == ["docs/valves.txt"]
    assert store.hashes_for("docs/pumps.md") == {}
    assert backend.store_for(model).sources() == ["docs/valves.txt"]


def test_chunks_of_another_model_are_embedded_again(
    backend: Backend, model: BagOfWords, docs: Path
) -> None:
    ingest(backend, model, docs)
    other = BagOfWords("another-model")
    store = backend.store_for(other)
    assert set(store.hashes_for("docs/valves.txt").values()) == {None}
    assert store.vectors_for("docs/valves.txt", set(model.texts)) == {}
    assert counts(ingest(backend, other, docs)) == (4, 0, 0, 4)
    assert counts(ingest(backend, other, docs)) == (0, 4, 0, 0)


def test_empty_deletes_and_upserts_change_nothing(
    backend: Backend, model: BagOfWords, docs: Path
) -> None:
    ingest(backend, model, docs)
    store = backend.store_for(model)
    store.upsert([])
    assert store.delete([]) == 0
    assert store.vectors_for("docs/pumps.md", set()) == {}
    assert store.delete(["no-such-chunk"]) == 0
    assert store.sources() == ["docs/pumps.md", "docs/valves.txt"]


# --- search ---------------------------------------------------------------------------------

CORPUS = {
    "both": "car repair shop, open daily",
    "vector-only": "automobile mended",
    "keyword-only": "car repair: car repair car repair",
    "bakery": "fresh bread and pastries every morning",
    "garden": "watering plants in the summer heat",
}


def seed(backend: Backend, model: BagOfWords, corpus: dict[str, str] = CORPUS) -> None:
    chunks = [
        Chunk(
            id=name,
            document_id=document_id_of(f"{name}.md"),
            source=f"{name}.md",
            title="",
            position=0,
            heading_path=(),
            content=text,
        )
        for name, text in corpus.items()
    ]
    vectors = model.embed_documents([chunk.content for chunk in chunks])
    backend.store_for(model).upsert(
        [EmbeddedChunk(chunk, vector) for chunk, vector in zip(chunks, vectors, strict=True)]
    )


@pytest.fixture
def index(backend: Backend, model: BagOfWords) -> Searches:
    seed(backend, model)
    return backend.search_for(model, None)


def ids(chunks: list[DocumentChunk]) -> list[str]:
    return [chunk.id for chunk in chunks]


def test_vector_search_ranks_the_closest_chunk_first_scored_by_cosine(
    index: Searches, model: BagOfWords
) -> None:
    found = index.search_vector("car repair", limit=3)
    # Both mean just "car repair" to the fake model (one with no word in common with the
    # query): a tie at cosine 1, in an order neither store promises.
    assert set(ids(found)[:2]) == {"vector-only", "keyword-only"}
    assert ids(found)[2] == "both"
    query = model.embed_query("car repair")
    for chunk in found:
        expected = sum(
            q * c for q, c in zip(query, model.embed_query(CORPUS[chunk.id]), strict=True)
        )
        assert chunk.score == pytest.approx(expected, abs=1e-6)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)


def test_keyword_search_finds_exact_words_only_scored_in_zero_to_one(index: Searches) -> None:
    found = index.search_keyword("car repair", limit=10)
    assert ids(found) == ["keyword-only", "both"]
    assert all(0 < chunk.score < 1 for chunk in found)
    assert found[0].score > found[1].score


def test_a_query_without_words_finds_nothing_by_keyword(index: Searches) -> None:
    assert index.search_keyword("?! ...", limit=10) == []


def test_hybrid_is_the_score_fusion_of_both_rankings(index: Searches) -> None:
    semantic = index.search_vector("car repair", limit=FUSION_WINDOW)
    keyword = index.search_keyword("car repair", limit=FUSION_WINDOW)
    expected = fuse_hybrid(semantic, keyword, limit=3, weights=HYBRID_WEIGHTS)
    found = index.search_hybrid("car repair", limit=3)
    assert ids(found) == ids(expected)
    assert [c.score for c in found] == pytest.approx([c.score for c in expected])


def test_vector_min_score_drops_chunks_below_the_cosine(index: Searches) -> None:
    found = index.search_vector("car repair", limit=10, min_score=0.5)
    assert set(ids(found)) == {"vector-only", "keyword-only", "both"}
    assert all(chunk.score >= 0.5 for chunk in found)
    assert index.search_vector("quantum chromodynamics", limit=10, min_score=0.5) == []


def test_hybrid_min_score_applies_to_the_cosine_before_fusion(index: Searches) -> None:
    # An unrelated question finds nothing, although a keyword ("summer") matches a chunk.
    assert ids(index.search_keyword("weather forecast for summer", limit=10)) == ["garden"]
    assert index.search_hybrid("weather forecast for summer", limit=10, min_score=0.5) == []
    vouched = index.search_vector("car repair", limit=10, min_score=0.5)
    found = index.search_hybrid("car repair", limit=10, min_score=0.5)
    assert set(ids(found)) == set(ids(vouched))


def test_the_port_search_is_hybrid_with_the_configured_threshold(
    backend: Backend, model: BagOfWords
) -> None:
    seed(backend, model)
    search = backend.search_for(model, 0.5)
    expected = search.search_hybrid("car repair", limit=10, min_score=0.5)
    assert search.search("car repair", limit=10) == expected
    assert search.search("weather forecast for summer", limit=10) == []


def test_chunks_embedded_by_another_model_are_ignored_by_vector_search(
    backend: Backend, model: BagOfWords
) -> None:
    seed(backend, model)
    other = BagOfWords("another-model")
    seed(backend, other, {"twin": CORPUS["vector-only"]})
    search = backend.search_for(model, None)
    assert "twin" not in ids(search.search_vector("car repair", limit=10))
    # Keyword search still finds it, but no cosine of this model vouches for it.
    assert "twin" in ids(search.search_hybrid("automobile", limit=10))
    assert "twin" not in ids(search.search_hybrid("automobile", limit=10, min_score=0.1))


def test_every_search_returns_chunks_with_their_text_and_source(index: Searches) -> None:
    for found in (
        index.search_vector("car repair", limit=5),
        index.search_keyword("car repair", limit=5),
        index.search_hybrid("car repair", limit=5),
        index.search("car repair", limit=5),
    ):
        assert found
        for result in found:
            assert type(result) is DocumentChunk
            assert result.source == f"{result.id}.md"
            assert result.content == CORPUS[result.id]


def test_searches_honour_the_limit_and_refuse_one_below_one(index: Searches) -> None:
    for search in (index.search_vector, index.search_keyword, index.search_hybrid):
        assert len(search("car repair bread plants", limit=2)) == 2
        with pytest.raises(ValueError, match="limit"):
            search("car", limit=0)


def test_a_deleted_source_is_no_longer_found(
    backend: Backend, model: BagOfWords, index: Searches
) -> None:
    assert backend.store_for(model).delete_source("vector-only.md") == 1
    search = backend.search_for(model, None)
    assert "vector-only" not in ids(search.search_vector("car repair", limit=10))
    assert "vector-only" not in ids(search.search_hybrid("car repair", limit=10))
