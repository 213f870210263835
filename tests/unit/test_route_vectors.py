"""The router's shipped example vectors: used when they match the model and the examples,
ignored (the examples embedded instead) when they do not, and kept current with the file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from chatbot.engine import semantic_router
from chatbot.engine.route_vectors import (
    SUFFIX,
    RouteVectorsError,
    VectorsKey,
    decode,
    encode,
    file_name,
    read_key,
    shipped_folder,
)
from chatbot.engine.semantic_router import QueryRouter, RouteExamples
from chatbot.records import QueryType

EXAMPLES = RouteExamples(
    {
        QueryType.RAG: ("policy", "policy handbook"),
        QueryType.GENERAL: ("hello",),
        QueryType.MCP_TOOL: ("record",),
    }
)
_AXES = {"policy": 0, "hello": 1, "record": 2}


class CountingEmbeddings:
    """Unit vectors along one axis per known word; counts every text embedded."""

    def __init__(self, model_id: str = "fake-model", dimensions: int = 4) -> None:
        self._model_id = model_id
        self._dimensions = dimensions
        self.documents: list[str] = []
        self.queries: list[str] = []

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def model_id(self) -> str:
        return self._model_id

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.documents += texts
        return [self.vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return self.vector(text)

    def vector(self, text: str) -> list[float]:
        vector = [0.0] * self._dimensions
        for word in text.lower().split():
            vector[_AXES.get(word, self._dimensions - 1)] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        return [x / norm for x in vector]


@pytest.fixture(autouse=True)
def empty_process_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test starts as a fresh process would: no example vectors in memory yet.
    monkeypatch.setattr(semantic_router, "_example_vectors", {})


def ship(
    folder: Path,
    embeddings: CountingEmbeddings,
    examples: RouteExamples = EXAMPLES,
    *,
    model_id: str | None = None,
    dimensions: int | None = None,
) -> Path:
    """Writes the vectors file a script run would, for the model (or the one named)."""
    key = VectorsKey(
        model_id or embeddings.model_id,
        dimensions or embeddings.dimensions,
        examples.fingerprint(),
    )
    width = key.dimensions
    vectors = [(embeddings.vector(text) + [0.0] * width)[:width] for _, text in examples.pairs()]
    path = folder / file_name(embeddings.model_id)
    path.write_bytes(encode(key, vectors))
    return path


async def test_with_shipped_vectors_the_router_embeds_no_example(tmp_path: Path) -> None:
    embeddings = CountingEmbeddings()
    ship(tmp_path, embeddings)
    router = QueryRouter(embeddings, EXAMPLES, vectors=tmp_path)
    decision = await router.route("policy")
    assert (decision.query_type, decision.method) == (QueryType.RAG, "semantic")
    assert embeddings.documents == []
    assert embeddings.queries == ["policy"]


async def test_shipped_vectors_route_as_the_embedded_ones_do(tmp_path: Path) -> None:
    # The same vectors under two names: one shipped, the other embedded at first use.
    shipped, embedded = CountingEmbeddings(), CountingEmbeddings("fake-unshipped")
    ship(tmp_path, shipped)
    from_file = QueryRouter(shipped, EXAMPLES, vectors=tmp_path)
    from_model = QueryRouter(embedded, EXAMPLES, vectors=tmp_path)
    for message in ("policy", "hello record", "policy handbook", "weather"):
        assert from_file.scores(message) == pytest.approx(from_model.scores(message), abs=1e-3)
    assert shipped.documents == []
    assert len(embedded.documents) == len(EXAMPLES.pairs())


@pytest.mark.parametrize(
    "mismatch",
    [{"model_id": "another-model"}, {"dimensions": 8}],
    ids=["model id", "dimensions"],
)
async def test_vectors_of_another_model_or_width_are_not_used(
    tmp_path: Path, mismatch: dict[str, str | int]
) -> None:
    embeddings = CountingEmbeddings()
    ship(tmp_path, embeddings, **mismatch)  # type: ignore[arg-type]
    await QueryRouter(embeddings, EXAMPLES, vectors=tmp_path).route("policy")
    assert embeddings.documents == [text for _, text in EXAMPLES.pairs()]


async def test_vectors_of_other_examples_are_not_used(tmp_path: Path) -> None:
    embeddings = CountingEmbeddings()
    older = RouteExamples({**EXAMPLES.by_route, QueryType.GENERAL: ("hello", "hi there")})
    ship(tmp_path, embeddings, older)
    await QueryRouter(embeddings, EXAMPLES, vectors=tmp_path).route("policy")
    assert len(embeddings.documents) == len(EXAMPLES.pairs())


async def test_an_unreadable_vectors_file_falls_back_to_embedding(tmp_path: Path) -> None:
    embeddings = CountingEmbeddings()
    path = ship(tmp_path, embeddings)
    path.write_bytes(path.read_bytes()[:-2])  # a truncated copy
    decision = await QueryRouter(embeddings, EXAMPLES, vectors=tmp_path).route("policy")
    assert decision.query_type is QueryType.RAG
    assert len(embeddings.documents) == len(EXAMPLES.pairs())


async def test_the_fallback_embeds_the_examples_once_per_process(tmp_path: Path) -> None:
    embeddings = CountingEmbeddings()
    await QueryRouter(embeddings, EXAMPLES, vectors=tmp_path).route("policy")
    await QueryRouter(embeddings, EXAMPLES, vectors=tmp_path).route("hello")
    assert len(embeddings.documents) == len(EXAMPLES.pairs())


def test_a_file_round_trips_to_unit_vectors_within_float16_precision() -> None:
    vectors = [[0.6, 0.8, 0.0], [1 / math.sqrt(3)] * 3]
    key = VectorsKey("m", 3, "abc")
    decoded = decode(encode(key, vectors), key, 2)
    assert decoded is not None
    for original, restored in zip(vectors, decoded, strict=True):
        assert restored == pytest.approx(original, abs=1e-3)
        assert math.sqrt(sum(x * x for x in restored)) == pytest.approx(1.0, abs=1e-9)


def test_a_tampered_payload_is_refused() -> None:
    key = VectorsKey("m", 2, "abc")
    data = bytearray(encode(key, [[1.0, 0.0]]))
    data[-1] ^= 0x01
    with pytest.raises(RouteVectorsError):
        decode(bytes(data), key, 1)


def test_every_shipped_file_matches_the_examples_file() -> None:
    examples = RouteExamples.load()
    files = [path for path in shipped_folder().iterdir() if path.name.endswith(SUFFIX)]
    assert files, "no shipped route vectors"
    for path in files:
        key, count = read_key(path.read_bytes())
        # When this fails: run scripts/route_vectors.py (with --titan and credentials for a
        # Titan file), or delete a file for a model no longer used.
        assert key.examples_sha256 == examples.fingerprint(), path.name
        assert count == len(examples.pairs()), path.name
        assert path.name == file_name(key.model_id)
        assert decode(path.read_bytes(), key, count) is not None


def test_the_local_model_vectors_are_shipped() -> None:
    # The local twin routes its first message without embedding any example.
    from chatbot.adapters.local.embeddings import DIMENSIONS, MODEL_ID

    path = shipped_folder() / file_name(MODEL_ID)
    key, _ = read_key(path.read_bytes())
    assert (key.model_id, key.dimensions) == (MODEL_ID, DIMENSIONS)


def test_warming_loads_the_model_but_embeds_no_shipped_example(tmp_path: Path) -> None:
    embeddings = CountingEmbeddings()
    ship(tmp_path, embeddings)
    QueryRouter(embeddings, EXAMPLES, vectors=tmp_path).warm()
    assert embeddings.documents == []
    # One embedding of a fixed text: what makes a local model load before the first question.
    assert len(embeddings.queries) == 1
