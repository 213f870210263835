"""`chatbot analytics` against the deployed tables (CHATBOT_ENV=aws), on moto's DynamoDB."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chatbot.adapters.aws.tables import DynamoDBTables, create_table
from chatbot.analytics_cli import main
from chatbot.analytics_report import DateRange, read_events
from chatbot.config import Settings
from chatbot.tables import ANALYTICS, Table
from tests.conftest import FakeClock
from tests.unit.test_analytics_report import seed_events

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_generation = itertools.count()
RANGE = DateRange(date(2026, 11, 22), date(2026, 11, 24))


@pytest.fixture
def aws_settings(dynamodb_client: DynamoDBClient, tmp_path: Path) -> Settings:
    name = f"a{next(_generation)}-analytics"
    create_table(dynamodb_client, ANALYTICS, name)
    return Settings(
        CHATBOT_ENV="aws",
        CHATBOT_STATE_DIR=tmp_path / "unused",
        ANALYTICS_TABLE=name,
        AWS_REGION="us-east-1",
    )


@pytest.fixture
def table(dynamodb_client: DynamoDBClient, aws_settings: Settings) -> Table:
    analytics = DynamoDBTables(dynamodb_client, aws_settings.table_names, clock=FakeClock()).table(
        ANALYTICS
    )
    seed_events(analytics)
    return analytics


def test_queries_by_day_and_by_type_return_the_seeded_events(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chatbot.analytics_report.PAGE_SIZE", 3)
    assert len(list(read_events(table, RANGE))) == 12
    queries = list(read_events(table, RANGE, event_type="query"))
    assert [event["details"]["latencyMs"] for event in queries] == [100, 300, 200, 1000]
    newest = list(read_events(table, RANGE, event_type="query", newest_first=True, limit=1))
    assert newest[0]["sessionId"] == "s2"


def test_the_summary_reads_the_deployed_table_without_a_local_store(
    aws_settings: Settings, table: Table
) -> None:
    out = io.StringIO()
    status = main(
        ["summary", "--days", "3", "--format", "json"],
        settings=aws_settings,
        clock=FakeClock(datetime(2026, 11, 24, 12, 0, tzinfo=UTC)),
        stdout=out,
    )

    assert status == 0
    *_, total = json.loads(out.getvalue())
    assert (total["messages"], total["sessionsCreated"], total["costUsd"]) == (4, 2, 0.53)
    assert total["toolCalls"] == {"search_documents": 1, "create_record": 1}
    assert not aws_settings.state_dir.exists()
