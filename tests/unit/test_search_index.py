"""The k-NN index definition, its idempotent creation, and the custom resource handler."""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy
from typing import Any

import pytest
from opensearchpy.exceptions import AuthorizationException, NotFoundError, RequestError

from chatbot.config import load_settings
from chatbot.handlers import search_index as handler_module
from chatbot.search_index import (
    TEXT_ANALYZER,
    IndexMappingConflictError,
    ensure_index,
    ensure_index_when_authorized,
    index_body,
    mapping_version,
)

FIELD_TYPES = {
    "embedding": "knn_vector",
    "content": "text",
    "title": "text",
    "source": "keyword",
    "document_id": "keyword",
    "chunk_id": "keyword",
    "position": "integer",
    "content_hash": "keyword",
    "embedding_model": "keyword",
    "ingested_at": "date",
}


class FakeIndices:
    """The ``indices`` API of a collection held in memory, recording every call."""

    def __init__(self) -> None:
        self.mappings: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.created_bodies: list[dict[str, Any]] = []
        self.put_bodies: list[dict[str, Any]] = []
        # Exceptions raised by the next calls, one per call, before the call takes effect.
        self.failures: list[Exception] = []
        # Simulates another writer creating the index just before our create.
        self.created_concurrently: dict[str, Any] | None = None

    def _fail_if_scripted(self) -> None:
        if self.failures:
            raise self.failures.pop(0)

    def get_mapping(self, *, index: str) -> Any:
        self.calls.append(("get_mapping", index))
        self._fail_if_scripted()
        if index not in self.mappings:
            raise NotFoundError(404, "index_not_found_exception", {})
        return {index: {"mappings": {"properties": deepcopy(self.mappings[index])}}}

    def create(self, *, index: str, body: Any) -> Any:
        self.calls.append(("create", index))
        self._fail_if_scripted()
        if self.created_concurrently is not None:
            self.mappings[index] = self.created_concurrently
            raise RequestError(400, "resource_already_exists_exception", {})
        self.created_bodies.append(body)
        self.mappings[index] = deepcopy(body["mappings"]["properties"])
        return {"acknowledged": True, "index": index}

    def put_mapping(self, *, index: str, body: Any) -> Any:
        self.calls.append(("put_mapping", index))
        self._fail_if_scripted()
        self.put_bodies.append(body)
        self.mappings[index].update(deepcopy(body["properties"]))
        return {"acknowledged": True}


class FakeClient:
    def __init__(self) -> None:
        self.indices = FakeIndices()


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


def properties(dimensions: int = 1024) -> dict[str, Any]:
    return deepcopy(index_body(dimensions)["mappings"]["properties"])


# --- the index definition ----------------------------------------------------------------


def test_index_turns_on_knn() -> None:
    assert index_body(1024)["settings"]["index"] == {"knn": True}


def test_text_fields_are_stemmed_like_the_embedded_index() -> None:
    body = index_body(1024)
    analyzer = body["settings"]["analysis"]["analyzer"][TEXT_ANALYZER]
    assert analyzer["filter"] == ["lowercase", "asciifolding", "porter_stem"]
    for field in ("content", "title"):
        assert body["mappings"]["properties"][field] == {"type": "text", "analyzer": TEXT_ANALYZER}
    assert body["mappings"]["properties"]["source"] == {"type": "keyword"}


def test_embedding_has_the_requested_dimension() -> None:
    assert index_body(256)["mappings"]["properties"]["embedding"]["dimension"] == 256


def test_embedding_uses_faiss_hnsw_with_inner_product() -> None:
    method = index_body(1024)["mappings"]["properties"]["embedding"]["method"]
    assert method == {
        "name": "hnsw",
        "engine": "faiss",
        "space_type": "innerproduct",
        "parameters": {"m": 16, "ef_construction": 512},
    }


def test_every_field_has_the_type_the_runtime_queries_by() -> None:
    mapped = index_body(1024)["mappings"]["properties"]
    assert {name: spec["type"] for name, spec in mapped.items()} == FIELD_TYPES


def test_dimensions_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        index_body(0)


def test_mapping_version_follows_the_definition() -> None:
    assert mapping_version(1024) == mapping_version(1024)
    assert mapping_version(1024) != mapping_version(512)


# --- ensure_index ------------------------------------------------------------------------


def test_absent_index_is_created_with_the_definition(client: FakeClient) -> None:
    assert ensure_index(client, "documents", 1024) is True
    assert client.indices.created_bodies == [index_body(1024)]


def test_present_compatible_index_is_left_alone(client: FakeClient) -> None:
    client.indices.mappings["documents"] = properties(1024)
    assert ensure_index(client, "documents", 1024) is False
    assert client.indices.calls == [("get_mapping", "documents")]


def test_second_run_after_creation_changes_nothing(client: FakeClient) -> None:
    ensure_index(client, "documents", 1024)
    assert ensure_index(client, "documents", 1024) is False
    assert [call for call, _ in client.indices.calls].count("create") == 1
    assert client.indices.put_bodies == []


def test_index_of_another_dimension_is_a_clear_error(client: FakeClient) -> None:
    client.indices.mappings["documents"] = properties(512)
    with pytest.raises(IndexMappingConflictError, match="dimension 512, expected 1024"):
        ensure_index(client, "documents", 1024)
    assert client.indices.calls == [("get_mapping", "documents")]


def test_vector_of_another_space_type_is_a_clear_error(client: FakeClient) -> None:
    existing = properties(1024)
    existing["embedding"]["method"]["space_type"] = "l2"
    client.indices.mappings["documents"] = existing
    with pytest.raises(IndexMappingConflictError, match="space_type is 'l2'"):
        ensure_index(client, "documents", 1024)


def test_field_of_another_type_is_a_clear_error(client: FakeClient) -> None:
    existing = properties(1024)
    existing["source"] = {"type": "text"}
    client.indices.mappings["documents"] = existing
    with pytest.raises(IndexMappingConflictError, match="source is 'text', expected 'keyword'"):
        ensure_index(client, "documents", 1024)


def test_fields_added_to_the_definition_are_added_to_the_index(client: FakeClient) -> None:
    existing = properties(1024)
    del existing["content_hash"], existing["ingested_at"]
    client.indices.mappings["documents"] = existing
    assert ensure_index(client, "documents", 1024) is False
    assert client.indices.put_bodies == [
        {"properties": {"content_hash": {"type": "keyword"}, "ingested_at": {"type": "date"}}}
    ]
    assert client.indices.mappings["documents"] == properties(1024)


def test_index_created_concurrently_counts_as_existing(client: FakeClient) -> None:
    client.indices.created_concurrently = properties(1024)
    assert ensure_index(client, "documents", 1024) is False


def test_other_create_failures_propagate(client: FakeClient) -> None:
    client.indices.failures = [NotFoundError(404, "x", {}), RequestError(400, "bad", {})]
    with pytest.raises(RequestError):
        ensure_index(client, "documents", 1024)


# --- waiting for the data access policy --------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def forbidden() -> AuthorizationException:
    return AuthorizationException(403, "Forbidden", {})


def test_forbidden_is_retried_until_the_policy_takes_effect(client: FakeClient) -> None:
    client.indices.failures = [forbidden(), forbidden(), forbidden()]
    time = FakeTime()
    retries: list[int] = []
    created = ensure_index_when_authorized(
        client,
        "documents",
        1024,
        timeout_seconds=300,
        on_retry=lambda attempt, _delay: retries.append(attempt),
        sleep=time.sleep,
        clock=time.clock,
    )
    assert created is True
    assert retries == [1, 2, 3]
    assert time.sleeps == [2.0, 4.0, 8.0]


def test_forbidden_past_the_timeout_is_raised(client: FakeClient) -> None:
    client.indices.failures = [forbidden() for _ in range(100)]
    time = FakeTime()
    with pytest.raises(AuthorizationException):
        ensure_index_when_authorized(
            client, "documents", 1024, timeout_seconds=60, sleep=time.sleep, clock=time.clock
        )
    assert time.now <= 60
    assert max(time.sleeps) <= 30


def test_conflicts_are_not_retried(client: FakeClient) -> None:
    client.indices.mappings["documents"] = properties(512)
    time = FakeTime()
    with pytest.raises(IndexMappingConflictError):
        ensure_index_when_authorized(
            client, "documents", 1024, timeout_seconds=300, sleep=time.sleep, clock=time.clock
        )
    assert time.sleeps == []


# --- the custom resource handler ---------------------------------------------------------


def event(request_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:framework",
        "ResponseURL": "https://example.invalid/response",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/chatbot/1",
        "RequestId": "request-1",
        "LogicalResourceId": "Index",
        "ResourceType": "Custom::OpenSearchIndex",
        # CloudFormation hands every property over as a string.
        "ResourceProperties": {"IndexName": "documents", "Dimensions": "1024"},
        **extra,
    }


def test_create_event_creates_the_index_named_by_its_properties(client: FakeClient) -> None:
    response = handler_module.handle_event(event("Create"), client, timeout_seconds=1)
    assert response["PhysicalResourceId"] == "documents"
    assert client.indices.created_bodies == [index_body(1024)]


def test_update_event_extends_the_existing_index(client: FakeClient) -> None:
    existing = properties(1024)
    del existing["title"]
    client.indices.mappings["documents"] = existing
    response = handler_module.handle_event(
        event("Update", PhysicalResourceId="documents"), client, timeout_seconds=1
    )
    assert response["PhysicalResourceId"] == "documents"
    assert client.indices.put_bodies == [{"properties": {"title": {"type": "text"}}}]


def test_delete_event_leaves_the_index(client: FakeClient) -> None:
    response = handler_module.handle_event(
        event("Delete", PhysicalResourceId="documents"), client, timeout_seconds=1
    )
    assert response == {"PhysicalResourceId": "documents"}
    assert client.indices.calls == []


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, fake_aws_credentials: None) -> Iterator[None]:
    monkeypatch.setenv("OPENSEARCH_ENDPOINT", "https://abc123.eu-west-1.aoss.amazonaws.com")
    monkeypatch.setenv("OPENSEARCH_REGION", "eu-west-1")
    load_settings.cache_clear()
    handler_module._collection_client.cache_clear()
    yield
    load_settings.cache_clear()
    handler_module._collection_client.cache_clear()


@pytest.mark.usefixtures("aws_environment")
def test_client_signs_for_serverless_over_tls_to_the_collection_endpoint() -> None:
    client: Any = handler_module._collection_client()
    transport = client.transport
    assert transport.hosts == [{"host": "abc123.eu-west-1.aoss.amazonaws.com", "port": 443}]
    assert transport.kwargs["use_ssl"] is True
    assert transport.kwargs["verify_certs"] is True
    signer = transport.kwargs["http_auth"].signer
    assert (signer.service, signer.region) == ("aoss", "eu-west-1")
