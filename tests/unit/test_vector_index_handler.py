"""The S3 Vectors index custom resource, against botocore's own model (Stubber)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chatbot.adapters.aws.s3vectors_index import create_index_request
from chatbot.handlers.vector_index import handle_event

PROPERTIES = {
    "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:x",
    "VectorBucketName": "chatbot-dev-bucket",
    "IndexName": "documents",
    "Dimensions": "1024",
    "DefinitionVersion": "abc",
    "Retain": "false",
}


INDEX_ARN = "arn:aws:s3vectors:us-east-1:123456789012:bucket/chatbot-dev-bucket/index/documents"


def _event(request_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResourceProperties": {**PROPERTIES, **extra.pop("properties", {})},
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/x/y",
        "RequestId": "r",
        "LogicalResourceId": "Index",
        "ResourceType": "Custom::S3VectorsIndex",
        **extra,
    }


@pytest.fixture
def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client(
        "s3vectors", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    return client, Stubber(client)


def test_create_makes_the_index_from_the_shared_definition_then_enhanced(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stub = stubbed
    stub.add_response(
        "create_index",
        {"indexArn": INDEX_ARN},
        create_index_request("chatbot-dev-bucket", "documents", 1024),
    )
    stub.add_response(
        "update_index_mode",
        {},
        {
            "vectorBucketName": "chatbot-dev-bucket",
            "indexName": "documents",
            "indexMode": "ENHANCED",
        },
    )
    with stub:
        result = handle_event(_event("Create"), client)
    stub.assert_no_pending_responses()
    assert result["PhysicalResourceId"] == "chatbot-dev-bucket/documents"


def test_delete_removes_the_index(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_response(
        "delete_index", {}, {"vectorBucketName": "chatbot-dev-bucket", "indexName": "documents"}
    )
    with stub:
        handle_event(_event("Delete", PhysicalResourceId="chatbot-dev-bucket/documents"), client)
    stub.assert_no_pending_responses()


def test_delete_of_an_index_already_gone_succeeds(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_client_error("delete_index", service_error_code="NotFoundException")
    with stub:
        result = handle_event(
            _event("Delete", PhysicalResourceId="chatbot-dev-bucket/documents"), client
        )
    assert result["PhysicalResourceId"] == "chatbot-dev-bucket/documents"


def test_delete_leaves_a_retained_index(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    with stub:
        handle_event(
            _event(
                "Delete",
                PhysicalResourceId="chatbot-dev-bucket/documents",
                properties={"Retain": "true"},
            ),
            client,
        )
    stub.assert_no_pending_responses()


def test_update_changing_only_retain_leaves_the_index(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    with stub:
        result = handle_event(
            _event(
                "Update",
                PhysicalResourceId="chatbot-dev-bucket/documents",
                OldResourceProperties={**PROPERTIES, "Retain": "true"},
            ),
            client,
        )
    assert result["PhysicalResourceId"] == "chatbot-dev-bucket/documents"


def test_update_to_a_new_name_creates_a_new_index(stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    stub.add_response(
        "create_index",
        {"indexArn": INDEX_ARN},
        create_index_request("chatbot-dev-bucket", "documents-v2", 1024),
    )
    stub.add_response(
        "update_index_mode",
        {},
        {
            "vectorBucketName": "chatbot-dev-bucket",
            "indexName": "documents-v2",
            "indexMode": "ENHANCED",
        },
    )
    with stub:
        result = handle_event(
            _event(
                "Update",
                PhysicalResourceId="chatbot-dev-bucket/documents",
                OldResourceProperties=PROPERTIES,
                properties={"IndexName": "documents-v2"},
            ),
            client,
        )
    # A new physical id: CloudFormation then deletes the old index.
    assert result["PhysicalResourceId"] == "chatbot-dev-bucket/documents-v2"


def test_update_of_the_definition_under_the_same_name_is_refused(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stub = stubbed
    with stub, pytest.raises(ValueError, match="new IndexName"):
        handle_event(
            _event(
                "Update",
                PhysicalResourceId="chatbot-dev-bucket/documents",
                OldResourceProperties=PROPERTIES,
                properties={"Dimensions": "512"},
            ),
            client,
        )
