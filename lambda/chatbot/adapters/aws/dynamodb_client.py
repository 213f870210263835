"""The DynamoDB client every table adapter in AWS uses, with the SDK's adaptive retries.

DynamoDB answers a burst past a table's (or an account's) throughput with throttling
errors. The adaptive retry mode retries those, and transient 5xx and connection errors,
with exponential backoff and jitter, and slows this client's own request rate while the
service throttles it. A request still failing after ``max_attempts`` raises its
``ClientError``, which reaches the client as a retryable error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def dynamodb_config(max_attempts: int) -> Config:
    return Config(retries={"mode": "adaptive", "total_max_attempts": max_attempts})


def dynamodb_client(region: str, *, max_attempts: int) -> DynamoDBClient:
    return boto3.client("dynamodb", region_name=region, config=dynamodb_config(max_attempts))
