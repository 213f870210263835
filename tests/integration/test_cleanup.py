"""Session cleanup against both table adapters (SQLite and moto's DynamoDB) on a fake clock."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from chatbot.adapters.aws.tables import DynamoDBTables, create_table
from chatbot.adapters.local.cleanup import local_cleanup
from chatbot.adapters.local.tables import SQLiteTables
from chatbot.analytics import AnalyticsRecorder
from chatbot.config import Settings
from chatbot.handlers.cleanup import handle_event
from chatbot.records import PARTITION_SHARDS, Session, analytics_shard_keys
from chatbot.runtime import runtime_from_settings
from chatbot.sessions import SessionManager, SessionPolicy
from chatbot.tables import ALL_TABLES, Tables
from tests.conftest import FakeClock
from tests.unit.conftest import RecordingSender, day_events, index_pages

RETENTION = timedelta(days=30)
_generation = itertools.count()


@dataclass
class World:
    tables: Tables
    clock: FakeClock
    sessions: SessionManager
    sender: RecordingSender

    def idle_sessions(self, count: int) -> list[Session]:
        """``count`` sessions with one connection each, then an hour without activity."""
        created = [self.sessions.create_session() for _ in range(count)]
        for number, session in enumerate(created):
            self.sessions.bind_connection(f"conn-{number}", session.sessionId, resumed=False)
        self.clock.advance(hours=1)
        return created

    def closed_events(self) -> list[dict[str, object]]:
        day = self.clock.moment.strftime("%Y-%m-%d")
        items = day_events(self.tables.analytics, day)
        return [item for item in items if item["eventType"] == "session_closed"]


@pytest.fixture(params=["sqlite", "dynamodb"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    clock = FakeClock()
    local: SQLiteTables | None = None
    if request.param == "sqlite":
        local = SQLiteTables(tmp_path / "tables.db", clock=clock)
        tables = local.tables()
    else:
        client = request.getfixturevalue("dynamodb_client")
        names = {spec.name: f"c{next(_generation)}-{spec.name}" for spec in ALL_TABLES}
        for spec in ALL_TABLES:
            create_table(client, spec, names[spec.name])
        tables = DynamoDBTables(client, names, clock=clock).tables()
    analytics = AnalyticsRecorder(tables.analytics, retention=timedelta(days=365), clock=clock)
    policy = SessionPolicy(
        timeout=timedelta(minutes=30), retention=RETENTION, rate_limit_per_minute=30
    )
    sessions = SessionManager(tables.sessions, tables.connections, analytics, policy, clock=clock)
    yield World(tables, clock, sessions, RecordingSender())
    if local is not None:
        local.close()


def test_cleanup_closes_idle_sessions_only_and_tolerates_gone_connections(world: World) -> None:
    idle = world.sessions.create_session()
    world.sessions.bind_connection("conn-idle", idle.sessionId, resumed=False)
    gone = world.sessions.create_session()
    world.sessions.bind_connection("conn-gone", gone.sessionId, resumed=False)
    world.sender.gone.add("conn-gone")
    already = world.sessions.create_session()
    assert world.sessions.close_session(already, "test")
    world.clock.advance(minutes=25)
    active = world.sessions.create_session()
    world.sessions.bind_connection("conn-active", active.sessionId, resumed=False)
    world.clock.advance(minutes=10)

    report = world.sessions.cleanup_inactive_sessions(world.sender)

    assert report.to_dict() == {
        "closed": 2,
        "skipped": 0,
        "connections_closed": 1,
        "connections_gone": 1,
        # One page of each shard of the index.
        "pages": PARTITION_SHARDS,
        "stopped_early": False,
    }
    now = int(world.clock.time())
    for session in (idle, gone):
        stored = world.sessions.get_session(session.sessionId)
        assert stored is not None and not stored.isActive and stored.closedReason == "idle"
        assert stored.activityStatus is None and stored.ttl == now + int(RETENTION.total_seconds())
    still = world.sessions.get_session(active.sessionId)
    assert still is not None and still.isActive
    earlier = world.sessions.get_session(already.sessionId)
    assert earlier is not None and earlier.closedReason == "test"
    assert world.sender.deleted == ["conn-idle"]
    assert world.sessions.connections_of(idle.sessionId) == []
    assert world.sessions.connections_of(gone.sessionId) == []
    assert world.sessions.connections_of(active.sessionId) == ["conn-active"]
    closed = [
        e
        for e in world.closed_events()
        if e["details"] == {"reason": "idle", "lastActivity": idle.lastActivity}
    ]
    assert {
        e["sessionId"] for e in world.closed_events() if e["sessionId"] != already.sessionId
    } == {idle.sessionId, gone.sessionId}
    assert len(closed) == 2


def test_cleanup_pages_through_the_index(world: World) -> None:
    created = world.idle_sessions(25)

    report = world.sessions.cleanup_inactive_sessions(world.sender, page_size=7)

    pages = index_pages(created, page_size=7)
    assert (report.closed, report.pages, report.connections_closed) == (25, pages, 25)
    assert all(
        not stored.isActive
        for stored in (world.sessions.get_session(s.sessionId) for s in created)
        if stored is not None
    )
    assert world.sessions.cleanup_inactive_sessions(world.sender).closed == 0


def test_a_run_cut_short_by_time_resumes_next_run_skipping_and_repeating_nothing(
    world: World,
) -> None:
    created = world.idle_sessions(25)
    reports = []
    for _ in range(3):
        # Each session closed costs a second of a ten-second budget.
        budget_end = len(world.sender.deleted) + 10
        reports.append(
            world.sessions.cleanup_inactive_sessions(
                world.sender,
                page_size=4,
                time_left=lambda end=budget_end: float(end - len(world.sender.deleted)),
            )
        )

    assert [(r.closed, r.stopped_early) for r in reports] == [(10, True), (10, True), (5, False)]
    assert sorted(world.sender.deleted) == sorted(f"conn-{n}" for n in range(25))
    events = world.closed_events()
    assert len(events) == 25
    assert {e["sessionId"] for e in events} == {s.sessionId for s in created}


def test_a_session_active_again_after_the_index_was_read_is_left_open(world: World) -> None:
    created = world.idle_sessions(2)
    returning: list[str] = []

    class TouchingSender(RecordingSender):
        def delete(self, connection_id: str) -> None:
            super().delete(connection_id)
            if not returning:
                # The other session's user comes back while cleanup closes this one.
                other = created[1] if connection_id == "conn-0" else created[0]
                world.sessions.update_activity(other.sessionId)
                returning.append(other.sessionId)

    report = world.sessions.cleanup_inactive_sessions(TouchingSender(), page_size=5)

    assert (report.closed, report.skipped) == (1, 1)
    stored = world.sessions.get_session(returning[0])
    assert stored is not None and stored.isActive
    assert len(world.sessions.connections_of(returning[0])) == 1


class FakeLambdaContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_handler_stops_before_the_lambda_timeout_and_reports_counts(world: World) -> None:
    world.idle_sessions(3)
    # Less than the safety margin left: nothing is started.
    short = handle_event(world.sessions, world.sender, FakeLambdaContext(5_000))  # type: ignore[arg-type]
    assert short == {
        "closed": 0,
        "skipped": 0,
        "connections_closed": 0,
        "connections_gone": 0,
        "pages": 0,
        "stopped_early": True,
    }
    full = handle_event(world.sessions, world.sender, FakeLambdaContext(300_000))  # type: ignore[arg-type]
    assert (full["closed"], full["connections_closed"], full["stopped_early"]) == (3, 3, False)


def test_the_local_gateway_cleanup_also_deletes_expired_rows_from_the_file(
    settings: Settings,
) -> None:
    runtime = runtime_from_settings(settings, FakeClock())
    expired = {
        "date": "2020-01-01",
        "eventId": "old",
        "eventType": "query",
        "sessionId": "s",
        **analytics_shard_keys("query", "s", "2020-01-01"),
    }
    runtime.tables.analytics.put({**expired, "timestamp": "2020-01-01T00:00:00Z", "ttl": 1})
    live = runtime.sessions.create_session()

    report = local_cleanup(runtime)(RecordingSender())

    assert report.closed == 0
    with sqlite3.connect(settings.sqlite_path) as raw:
        rows = raw.execute("SELECT pk, sk FROM t_analytics").fetchall()
        sessions = raw.execute("SELECT pk FROM t_sessions").fetchall()
    assert (expired["dateShard"], "old") not in rows and len(rows) == 1
    assert sessions == [(live.sessionId,)]
