"""The runtime's document search in AWS with VECTOR_STORE=s3vectors: settings refused
without a bucket, and searches answered by the S3 Vectors index (over the fake)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import chatbot.adapters.aws.s3vectors as s3vectors_module
import chatbot.document_search as document_search_module
import chatbot.embeddings as embeddings_module
from chatbot.adapters.aws.s3vectors import S3VectorsDocumentStore
from chatbot.cli import main
from chatbot.config import Settings, load_settings
from chatbot.document_search import document_search
from tests.conftest import FakeClock
from tests.integration.s3vectors_fake import BUCKET, INDEX, FakeS3Vectors
from tests.integration.test_document_store_contract import CORPUS, Backend, BagOfWords, seed


def _aws_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "CHATBOT_ENV": "aws",
        "VECTOR_STORE": "s3vectors",
        "S3VECTORS_BUCKET": BUCKET,
        "S3VECTORS_INDEX": INDEX,
        "RAG_SEARCH_MODE": "vector",
        "RAG_MIN_SCORE": 0.1,
    }
    values.update(overrides)
    return Settings.model_validate(values)


def test_s3vectors_in_aws_without_a_bucket_is_refused() -> None:
    with pytest.raises(ValidationError, match="S3VECTORS_BUCKET"):
        Settings.model_validate({"CHATBOT_ENV": "aws", "VECTOR_STORE": "s3vectors"})


def test_s3vectors_without_a_bucket_is_accepted_locally() -> None:
    settings = Settings.model_validate({"VECTOR_STORE": "s3vectors"})
    assert settings.s3vectors_index == "documents"


def test_document_search_in_aws_reads_the_s3vectors_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = BagOfWords()
    fake = FakeS3Vectors(BagOfWords.dimensions)

    def store(m: BagOfWords, min_score: float | None = None) -> S3VectorsDocumentStore:
        return S3VectorsDocumentStore(
            fake.client, bucket=BUCKET, index=INDEX, embeddings=m, clock=FakeClock()
        )

    seed(Backend("s3vectors", store, store), model)
    regions: list[str | None] = []

    def client(region: str | None = None) -> object:
        regions.append(region)
        return fake.client

    monkeypatch.setattr(s3vectors_module, "s3vectors_client", client)
    monkeypatch.setattr(document_search_module, "embeddings_from_settings", lambda _s: model)

    search = document_search(_aws_settings(S3VECTORS_REGION="eu-west-1"), FakeClock())
    found = search.search("car repair", limit=3)

    assert found, "the seeded chunks are found through the runtime's search"
    assert {chunk.source for chunk in found} <= {f"{name}.md" for name in CORPUS}
    assert fake.calls[-1][0] == "QueryVectors"
    assert regions == ["eu-west-1"]


def _ingest_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeS3Vectors) -> None:
    monkeypatch.setenv("CHATBOT_ENV", "aws")
    monkeypatch.setenv("VECTOR_STORE", "s3vectors")
    monkeypatch.setenv("S3VECTORS_BUCKET", BUCKET)
    monkeypatch.setenv("S3VECTORS_INDEX", INDEX)
    monkeypatch.setenv("CHATBOT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(s3vectors_module, "s3vectors_client", lambda _region=None: fake.client)
    monkeypatch.setattr(embeddings_module, "embeddings_from_settings", lambda _s: BagOfWords())


def _docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "cars.md").write_text("# Cars\n\nA car repair takes a mechanic a day.\n")
    (root / "boats.md").write_text("# Boats\n\nA sailing boat needs wind.\n")
    return root


def test_cli_ingest_in_aws_writes_the_chunks_into_s3vectors_and_search_finds_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeS3Vectors(BagOfWords.dimensions)
    _ingest_env(monkeypatch, tmp_path, fake)
    load_settings.cache_clear()
    try:
        assert main(["ingest", str(_docs(tmp_path))]) == 0
    finally:
        load_settings.cache_clear()
    assert not (tmp_path / "state").exists()  # nothing local is opened
    assert len(fake.index.vectors) == 2  # one chunk a file, with its metadata
    assert [name for name, _ in fake.calls].count("PutVectors") >= 1

    monkeypatch.setattr(document_search_module, "embeddings_from_settings", lambda _s: BagOfWords())
    found = document_search(_aws_settings(), FakeClock()).search("car repair", limit=1)
    assert [chunk.source for chunk in found] == ["docs/cars.md"]
    assert "mechanic" in found[0].content


def test_cli_ingest_access_denied_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeS3Vectors(BagOfWords.dimensions)
    fake.fail_next("PutVectors", "AccessDeniedException", times=10)
    _ingest_env(monkeypatch, tmp_path, fake)
    load_settings.cache_clear()
    try:
        assert main(["ingest", str(_docs(tmp_path))]) == 1
    finally:
        load_settings.cache_clear()
    err = capsys.readouterr().err
    assert "chatbot ingest:" in err and "AccessDenied" in err
    assert "Traceback" not in err


def test_cli_ingest_without_the_bucket_setting_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBOT_ENV", "aws")
    monkeypatch.setenv("VECTOR_STORE", "s3vectors")
    monkeypatch.delenv("S3VECTORS_BUCKET", raising=False)
    load_settings.cache_clear()
    try:
        assert main(["ingest", "docs"]) == 2
    finally:
        load_settings.cache_clear()
    err = capsys.readouterr().err
    assert "S3VECTORS_BUCKET" in err and "VectorBucketName" in err
    assert "Traceback" not in err
