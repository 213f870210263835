"""The shipped example vectors of the local model are that model's: each within float16's
rounding of what the installed model computes for the examples now."""

from __future__ import annotations

import pytest

from chatbot.adapters.local.embeddings import LocalEmbeddings
from chatbot.engine.route_vectors import VectorsKey, load_shipped
from chatbot.engine.semantic_router import EXAMPLE_BATCH, RouteExamples
from tests.integration.embedding_models import offline_local_model


@pytest.fixture(scope="module")
def embeddings() -> LocalEmbeddings:
    return offline_local_model(batch_size=EXAMPLE_BATCH)


def test_the_shipped_local_vectors_are_the_installed_model_s(embeddings: LocalEmbeddings) -> None:
    examples = RouteExamples.load()
    texts = [text for _, text in examples.pairs()]
    key = VectorsKey(embeddings.model_id, embeddings.dimensions, examples.fingerprint())
    shipped = load_shipped(key, len(texts))
    assert shipped is not None, "run scripts/route_vectors.py"
    computed = embeddings.embed_documents(texts)
    for text, stored, fresh in zip(texts, shipped, computed, strict=True):
        # float16 keeps about 3 significant digits; a changed model moves far more.
        assert max(abs(a - b) for a, b in zip(stored, fresh, strict=True)) < 2e-3, text
        assert sum(a * b for a, b in zip(stored, fresh, strict=True)) > 0.9999, text
