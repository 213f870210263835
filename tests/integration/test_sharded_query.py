"""Reading a sharded key: every shard, merged into one partition's order, on both adapters,
in the caller's thread and in parallel; and the analytics twins reading alike."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from chatbot.adapters.aws.tables import DynamoDBTables, create_table
from chatbot.adapters.local.tables import SQLiteTables
from chatbot.analytics_report import DateRange, read_events
from chatbot.records import day_partitions
from chatbot.tables import ANALYTICS, SESSIONS, ShardedQuery, SortKeyCondition, Table
from tests.conftest import FakeClock
from tests.unit.test_analytics_report import seed_events

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_generation = itertools.count()
SHARDS = [f"active#{n}" for n in range(4)]


class Store(NamedTuple):
    sessions: Table
    analytics: Table


@pytest.fixture(params=["sqlite", "dynamodb"])
def tables(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    clock = FakeClock()
    if request.param == "sqlite":
        local = SQLiteTables(tmp_path / "tables.db", clock=clock)
        yield Store(local.table(SESSIONS), local.table(ANALYTICS))
        local.close()
        return
    client: DynamoDBClient = request.getfixturevalue("dynamodb_client")
    names = {spec.name: f"q{next(_generation)}-{spec.name}" for spec in (SESSIONS, ANALYTICS)}
    for spec in (SESSIONS, ANALYTICS):
        create_table(client, spec, names[spec.name])
    aws = DynamoDBTables(client, names, clock=clock)
    yield Store(aws.table(SESSIONS), aws.table(ANALYTICS))


def shard_index(n: int) -> int:
    """Session ``n``'s shard: 6, 6, 5 and 6 of the 23 sessions."""
    return (n * 5 // 3) % 4


@pytest.fixture
def sessions(tables: Store) -> Table:
    """23 active sessions over four shards, unevenly, with ties in ``lastActivity``."""
    for n in range(23):
        tables.sessions.put(
            {
                "sessionId": f"s{n:02d}",
                "activityStatus": SHARDS[shard_index(n)],
                "lastActivity": f"2026-12-02T10:{n // 3:02d}",
            }
        )
    tables.sessions.put({"sessionId": "closed", "lastActivity": "2026-12-02T09:00"})
    return tables.sessions


def merged(table: Table, **options: Any) -> list[str]:
    with ShardedQuery(table, SHARDS, index="byActivity", **options) as query:
        return [item["sessionId"] for item in query]


# Oldest first; ties by session id, as one partition of the index orders them.
OLDEST_FIRST = [f"s{n:02d}" for n in range(23)]


@pytest.mark.parametrize("readers", [1, 4], ids=["serial", "parallel"])
def test_the_shards_merge_into_the_order_of_one_partition(sessions: Table, readers: int) -> None:
    assert merged(sessions, page_size=2, readers=readers) == OLDEST_FIRST
    assert merged(sessions, page_size=3, readers=readers, ascending=False) == OLDEST_FIRST[::-1]


@pytest.mark.parametrize("readers", [1, 4], ids=["serial", "parallel"])
def test_a_sort_condition_holds_in_every_shard(sessions: Table, readers: int) -> None:
    before_ten_past = SortKeyCondition("<", "2026-12-02T10:04")

    assert merged(sessions, sort=before_ten_past, page_size=2, readers=readers) == OLDEST_FIRST[:12]


def test_every_shard_is_read_to_its_last_page(sessions: Table) -> None:
    per_shard = [sum(1 for n in range(23) if shard_index(n) == shard) for shard in range(4)]
    with ShardedQuery(sessions, SHARDS, index="byActivity", page_size=2, readers=4) as query:
        assert len(list(query)) == 23
        # Two items a page, one page even for an empty shard, and one more when the last is full.
        assert query.pages == sum(max(1, -(-count // 2)) for count in per_shard)


def test_a_read_stopped_early_is_closed_without_reading_on(sessions: Table) -> None:
    with ShardedQuery(sessions, SHARDS, index="byActivity", page_size=2, readers=4) as query:
        first = list(itertools.islice(query, 3))
        assert [item["sessionId"] for item in first] == OLDEST_FIRST[:3]
        assert query.pages < 8


def test_both_twins_and_any_parallelism_read_the_same_events(tables: Store, tmp_path: Path) -> None:
    seed_events(tables.analytics)
    reference = SQLiteTables(tmp_path / "reference.db", clock=FakeClock())
    copy = reference.table(ANALYTICS)
    for day in ("2026-11-22", "2026-11-24", "2026-11-25"):
        for shard in day_partitions(day):
            for item in tables.analytics.query(shard).items:
                copy.put(item)
    dates = DateRange(date(2026, 11, 21), date(2026, 11, 25))
    for filters in (
        {},
        {"newest_first": True},
        {"event_type": "query"},
        {"event_type": "feedback", "newest_first": True, "limit": 1},
        {"session_id": "s1", "limit": 4},
    ):
        expected = list(read_events(copy, dates, **filters))
        assert expected, filters
        for readers in (1, 16):
            got = list(read_events(tables.analytics, dates, readers=readers, **filters))
            assert got == expected, (filters, readers)
    assert all("dateShard" not in event and "typeShard" not in event for event in expected)
    reference.close()
