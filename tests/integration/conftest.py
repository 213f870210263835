"""Fixtures for tests that run against real backends: SQLite files and moto's DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from tests.conftest import FAKE_AWS_ENVIRONMENT

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


@pytest.fixture(scope="module")
def dynamodb_client() -> Iterator[DynamoDBClient]:
    """A client of moto's in-memory DynamoDB, shared by one module's tests.

    Module scope because a client costs far more than a test; each test should therefore
    create tables under names of its own.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        with mock_aws():
            yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture(scope="session")
def eval_vectors_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the retrieval tests keep corpus and question vectors: one session's folder, so
    each labelled set is embedded once however many tests score it (the user's own cache,
    ``chatbot eval retrieval``'s, is read only when it already holds the set)."""
    return tmp_path_factory.mktemp("eval-vectors")
