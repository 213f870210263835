"""DynamoDB throttling, on every operation of the tables port: the client made for the tables
(adaptive retry mode) retries it, so a burst loses nothing; a throttle that outlasts the
attempts reaches the client as a retryable error, with nothing half-stored.

moto serves DynamoDB; a ``before-send`` hook answers chosen requests with throttling, as the
service does, so botocore's own retry logic runs. Its backoff sleeps are recorded, not slept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from chatbot.adapters.aws.dynamodb_client import dynamodb_client
from chatbot.adapters.aws.tables import DynamoDBTables, create_table
from chatbot.config import Settings
from chatbot.runtime import build_chat_service, build_runtime
from chatbot.tables import ALL_TABLES, CONVERSATIONS, Table
from tests.conftest import FAKE_AWS_ENVIRONMENT, FakeClock
from tests.unit.conftest import RecordingInvoker, RecordingSender

ATTEMPTS = 3


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


class Throttle:
    """Answers the next ``times`` requests of ``operation`` (every one: -1) with throttling."""

    def __init__(self) -> None:
        self.operation = ""
        self.times = 0
        self.sent: list[str] = []

    def __call__(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        operation = str(request.headers.get("X-Amz-Target", b"")).split(".")[-1].rstrip("'")
        self.sent.append(operation)
        if operation != self.operation or self.times == 0:
            return None
        self.times -= 1
        # Every before-send handler runs (the first response wins): moto would still apply
        # the throttled write. Turned into a read-only call, moto's run changes nothing.
        request.headers["X-Amz-Target"] = "DynamoDB_20120810.DescribeLimits"
        request.body = b"{}"
        body = json.dumps(
            {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput was exceeded",
            }
        ).encode()
        return AWSResponse(request.url, 400, {"x-amzn-requestid": "throttled"}, _Raw(body))

    def count(self, operation: str) -> int:
        return self.sent.count(operation)


@pytest.fixture
def throttle() -> Throttle:
    return Throttle()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("botocore.endpoint.time.sleep", slept.append)
    # Nor does the adaptive mode's client-side rate limiter wait for its tokens.
    monkeypatch.setattr("botocore.retries.bucket.TokenBucket._sleep_amount", lambda self, amount: 0)
    return slept


@pytest.fixture
def client(throttle: Throttle, sleeps: list[float]) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        with mock_aws():
            client = dynamodb_client("us-east-1", max_attempts=ATTEMPTS)
            client.meta.events.register_first("before-send.dynamodb", throttle)
            for spec in ALL_TABLES:
                create_table(client, spec, f"t-{spec.name}")
            yield client


@pytest.fixture
def conversations(client: Any, clock: FakeClock) -> Table:
    names = {spec.name: f"t-{spec.name}" for spec in ALL_TABLES}
    return DynamoDBTables(client, names, clock=clock).table(CONVERSATIONS)


KEY = {"sessionId": "s1", "recordId": "m1#user"}
ITEM = {**KEY, "timestamp": "2026-11-24T12:00:00.000000Z", "content": "hello"}

OPERATIONS: dict[str, Callable[[Table], Any]] = {
    "GetItem": lambda table: table.get(KEY),
    "PutItem": lambda table: table.put({**ITEM, "content": "again"}),
    "UpdateItem": lambda table: table.update(KEY, set_values={"status": "answered"}),
    "DeleteItem": lambda table: table.delete(KEY),
    "Query": lambda table: table.query("s1", index="byTime"),
}


def test_the_tables_client_uses_the_adaptive_retry_mode(client: Any) -> None:
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.retries["total_max_attempts"] == ATTEMPTS


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_throttled_operation_is_retried_and_nothing_is_lost(
    conversations: Table, throttle: Throttle, sleeps: list[float], operation: str
) -> None:
    conversations.put(ITEM)
    throttle.sent.clear()
    throttle.operation, throttle.times = operation, ATTEMPTS - 1
    result = OPERATIONS[operation](conversations)

    assert throttle.count(operation) == ATTEMPTS
    assert len(sleeps) >= ATTEMPTS - 1  # backed off before each retry
    expected = {
        "GetItem": lambda: result == ITEM,
        "PutItem": lambda: conversations.get(KEY) == {**ITEM, "content": "again"},
        "UpdateItem": lambda: (conversations.get(KEY) or {}).get("status") == "answered",
        "DeleteItem": lambda: conversations.get(KEY) is None,
        "Query": lambda: result.items == [ITEM],
    }[operation]
    assert expected()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_throttle_that_outlasts_the_attempts_raises_and_changes_nothing(
    conversations: Table, throttle: Throttle, operation: str
) -> None:
    conversations.put(ITEM)
    throttle.sent.clear()
    throttle.operation, throttle.times = operation, -1
    with pytest.raises(Exception, match="ProvisionedThroughputExceeded"):
        OPERATIONS[operation](conversations)
    assert throttle.count(operation) == ATTEMPTS
    throttle.times = 0
    assert conversations.get(KEY) == ITEM


def test_a_message_sent_while_the_store_throttles_gets_a_retryable_error_and_no_ack(
    client: Any, throttle: Throttle, clock: FakeClock, settings: Settings
) -> None:
    names = {spec.name: f"t-{spec.name}" for spec in ALL_TABLES}
    tables = DynamoDBTables(client, names, clock=clock).tables()
    runtime = build_runtime(settings, tables, lambda: b"k" * 32, clock)
    sender, invoker = RecordingSender(), RecordingInvoker()
    service = build_chat_service(runtime, sender, invoker)
    session = service.connect("conn-1", {}).session_id
    assert session is not None

    throttle.operation, throttle.times = "PutItem", -1
    frame = {"action": "sendMessage", "messageId": "m1", "content": "hello"}
    service.handle_frame("conn-1", json.dumps(frame))
    [reply] = [json.loads(data) for _, data in sender.posted]
    assert (reply["type"], reply["code"], reply["retryable"]) == ("error", "INTERNAL_ERROR", True)
    assert invoker.requests == []

    throttle.times = 0
    service.handle_frame("conn-1", json.dumps(frame))  # the client's retry
    assert json.loads(sender.posted[-1][1])["type"] == "ack"
    assert runtime.conversations.get(session, "m1", "user") is not None
    assert len(invoker.requests) == 1


def test_settings_configure_the_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_MAX_ATTEMPTS", "7")
    assert Settings().dynamodb_max_attempts == 7
    assert boto3  # the SDK the adapter configures
