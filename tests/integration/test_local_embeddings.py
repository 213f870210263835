"""Local all-MiniLM-L6-v2 embeddings: loaded offline from the installed package, unit vectors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from chatbot.adapters.local.embeddings import LocalEmbeddings
from tests.integration.embedding_models import offline_local_model

FOOD = "A man is eating food."
BREAD = "A man is eating a piece of bread."
BABY = "The girl is carrying a baby."


@pytest.fixture(scope="module")
def embeddings() -> LocalEmbeddings:
    return offline_local_model(batch_size=4)


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


def test_names_the_model_and_its_384_dimensions(embeddings: LocalEmbeddings) -> None:
    assert embeddings.model_id == "all-MiniLM-L6-v2"
    assert embeddings.dimensions == 384


def test_every_vector_has_384_dimensions_and_unit_length(embeddings: LocalEmbeddings) -> None:
    vectors = embeddings.embed_documents([FOOD, BREAD, BABY, "", "x " * 2000])
    assert [len(vector) for vector in vectors] == [384] * 5
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_the_same_text_gives_the_same_vector(embeddings: LocalEmbeddings) -> None:
    assert embeddings.embed_query(FOOD) == embeddings.embed_query(FOOD)


def test_a_vector_does_not_depend_on_its_batch(embeddings: LocalEmbeddings) -> None:
    # Batches of 4 pad texts to different lengths; the attention mask keeps padding out.
    texts = [FOOD, BREAD, BABY, "short", "a much longer sentence about something else entirely"]
    together = embeddings.embed_documents(texts)
    alone = [embeddings.embed_query(text) for text in texts]
    assert np.allclose(together, alone, atol=1e-5)


def test_paraphrases_are_close_and_unrelated_sentences_are_not(
    embeddings: LocalEmbeddings,
) -> None:
    food, bread, baby = embeddings.embed_documents([FOOD, BREAD, BABY])
    assert cosine(food, bread) > 0.6
    assert cosine(food, baby) < 0.3


def test_documents_come_back_in_order(embeddings: LocalEmbeddings) -> None:
    texts = [FOOD, BREAD, BABY]
    vectors = embeddings.embed_documents(texts)
    for text, vector in zip(texts, vectors, strict=True):
        assert cosine(vector, embeddings.embed_query(text)) > 0.9999


def test_an_empty_batch_gives_no_vectors(embeddings: LocalEmbeddings) -> None:
    assert embeddings.embed_documents([]) == []


def test_threads_may_share_one_instance(embeddings: LocalEmbeddings) -> None:
    expected = embeddings.embed_documents([FOOD, BREAD, BABY])
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(embeddings.embed_documents, [[FOOD, BREAD, BABY]] * 8))
    for vectors in results:
        assert np.allclose(vectors, expected, atol=1e-6)


def test_a_second_instance_reuses_the_loaded_model(embeddings: LocalEmbeddings) -> None:
    other = LocalEmbeddings(batch_size=1)
    assert np.allclose(other.embed_query(FOOD), embeddings.embed_query(FOOD), atol=1e-6)
    assert other._loaded_model() is embeddings._loaded_model()
