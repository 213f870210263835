"""The DynamoDB actions the table adapter sends are the ones the roles are granted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chatbot.adapters.aws.tables import DynamoDBTables, create_table
from chatbot.tables import SESSIONS, Compare, ConditionFailedError
from tests.conftest import FAKE_AWS_ENVIRONMENT, FakeClock


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DynamoDBTables, FakeClock, list[str]]]:
    """The adapter on moto, and the name of every DynamoDB operation it sends."""
    for name, value in FAKE_AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, SESSIONS, "sessions")
        operations: list[str] = []

        def record(model: Any, **_: Any) -> None:
            operations.append(model.name)

        client.meta.events.register("before-call.dynamodb.*", record)
        clock = FakeClock()
        yield DynamoDBTables(client, {"sessions": "sessions"}, clock=clock), clock, operations


def test_an_update_over_an_expired_item_needs_no_delete_item(
    sent: tuple[DynamoDBTables, FakeClock, list[str]],
) -> None:
    # Roles that update sessions (websocket handler, cleanup) hold UpdateItem, not DeleteItem.
    tables, clock, operations = sent
    sessions = tables.table(SESSIONS)
    sessions.put({"sessionId": "s1", "status": "closed", "stale": "x", "ttl": clock.time() + 5})
    clock.advance(seconds=10)
    operations.clear()

    updated = sessions.update({"sessionId": "s1"}, set_values={"status": "active"})

    # The guarded update fails on the expired item; a second one replaces it.
    assert operations == ["UpdateItem", "UpdateItem"]
    assert updated == {"sessionId": "s1", "status": "active"}
    assert sessions.get({"sessionId": "s1"}) == {"sessionId": "s1", "status": "active"}


def test_a_condition_that_needs_a_live_item_fails_over_an_expired_one_without_writing(
    sent: tuple[DynamoDBTables, FakeClock, list[str]],
) -> None:
    tables, clock, operations = sent
    sessions = tables.table(SESSIONS)
    sessions.put({"sessionId": "s1", "status": "active", "ttl": clock.time() + 5})
    clock.advance(seconds=10)
    operations.clear()

    with pytest.raises(ConditionFailedError):
        sessions.update(
            {"sessionId": "s1"},
            set_values={"status": "closed"},
            condition=Compare("status", "=", "active"),
        )
    assert operations == ["UpdateItem"]
