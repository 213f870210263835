"""Analytics events as stored: day and shard partition, time-ordered ids, TTL; a failed write is
no error."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from chatbot.analytics import AnalyticsRecorder
from chatbot.records import day_partition, type_partition
from chatbot.tables import Table, Tables
from tests.conftest import FakeClock


def test_events_are_stored_by_day_and_shard_in_time_order_with_their_retention(
    analytics: AnalyticsRecorder, tables: Tables, clock: FakeClock
) -> None:
    first = analytics.record("session_created", "s1", {})
    clock.advance(seconds=1)
    second = analytics.record("query", "s1", {"queryType": "rag", "costUsd": 0.002})

    assert first is not None and second is not None
    stored = tables.analytics.query(day_partition("2026-11-24", "s1")).items
    assert [item["eventType"] for item in stored] == ["session_created", "query"]
    assert stored[1]["details"] == {"queryType": "rag", "costUsd": 0.002}
    assert stored[1]["ttl"] == int(clock.time()) + int(timedelta(days=365).total_seconds())
    assert (stored[1]["date"], stored[1]["typeShard"]) == (
        "2026-11-24",
        type_partition("query", "2026-11-24", "s1"),
    )
    by_type = tables.analytics.query(
        type_partition("query", "2026-11-24", "s1"), index="byType"
    ).items
    assert [item["eventId"] for item in by_type] == [second.eventId]
    assert second.eventId.startswith("2026-11-24T12:00:01.000000Z#")


class FailingTable:
    def __init__(self, table: Table) -> None:
        self.spec = table.spec

    def put(self, item: Mapping[str, Any], **_: Any) -> None:
        raise ConnectionError("the table is unreachable")


def test_a_failed_write_is_logged_and_returns_none_instead_of_raising(
    tables: Tables, clock: FakeClock
) -> None:
    recorder = AnalyticsRecorder(
        FailingTable(tables.analytics),  # type: ignore[arg-type]
        retention=timedelta(days=1),
        clock=clock,
    )
    assert recorder.record("feedback", "s1", {"rating": "up"}) is None
