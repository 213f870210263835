"""Sessions: creation, activity, the rate limit and idle cleanup, on a clock the test moves."""

from __future__ import annotations

import pytest

from chatbot.errors import RateLimitedError, SessionNotFoundError
from chatbot.records import activity_partition
from chatbot.sessions import SessionManager
from chatbot.tables import Tables
from tests.conftest import FakeClock
from tests.unit.conftest import RecordingSender, events_of, index_pages


def test_a_created_session_is_active_stored_and_recorded(
    sessions: SessionManager, tables: Tables
) -> None:
    session = sessions.create_session(user_agent="pytest")
    stored = sessions.get_session(session.sessionId)
    assert (
        stored is not None
        and stored.isActive
        and stored.activityStatus == activity_partition(session.sessionId)
    )
    assert stored.userAgent == "pytest"
    [event] = events_of(tables, "2026-11-24", "session_created")
    assert event["sessionId"] == session.sessionId


def test_activity_moves_last_activity_and_the_ttl_forward(
    sessions: SessionManager, clock: FakeClock
) -> None:
    session = sessions.create_session()
    clock.advance(minutes=5)
    touched = sessions.update_activity(session.sessionId)
    assert touched.lastActivity > session.lastActivity
    assert touched.ttl is not None and session.ttl is not None and touched.ttl - session.ttl == 300


def test_activity_on_a_missing_session_is_session_not_found(
    sessions: SessionManager, tables: Tables
) -> None:
    with pytest.raises(SessionNotFoundError):
        sessions.update_activity("missing")
    assert tables.sessions.get({"sessionId": "missing"}) is None


def test_the_rate_limit_allows_its_count_a_minute_then_refuses(
    sessions: SessionManager, clock: FakeClock
) -> None:
    session = sessions.create_session()
    for _ in range(5):
        sessions.admit_message(session.sessionId)
    with pytest.raises(RateLimitedError):
        sessions.admit_message(session.sessionId)
    clock.advance(minutes=1)
    sessions.admit_message(session.sessionId)
    stored = sessions.get_session(session.sessionId)
    assert stored is not None and stored.rateCount == 1


def test_a_closed_session_is_not_rate_limited_but_not_found(sessions: SessionManager) -> None:
    session = sessions.create_session()
    assert sessions.close_session(session, "test")
    with pytest.raises(SessionNotFoundError):
        sessions.admit_message(session.sessionId)


def test_cleanup_closes_only_sessions_idle_past_the_timeout_and_drops_their_connections(
    sessions: SessionManager, clock: FakeClock, tables: Tables, sender: RecordingSender
) -> None:
    idle = sessions.create_session()
    sessions.bind_connection("conn-idle", idle.sessionId, resumed=False)
    sessions.bind_connection("conn-gone", idle.sessionId, resumed=True)
    sender.gone.add("conn-gone")
    clock.advance(minutes=20)
    busy = sessions.create_session()
    sessions.bind_connection("conn-busy", busy.sessionId, resumed=False)
    clock.advance(minutes=11)

    report = sessions.cleanup_inactive_sessions(sender, page_size=1)

    assert (report.closed, report.connections_closed, report.connections_gone) == (1, 1, 1)
    assert not report.stopped_early

    closed = sessions.get_session(idle.sessionId)
    assert closed is not None and not closed.isActive and closed.closedReason == "idle"
    assert closed.activityStatus is None
    still = sessions.get_session(busy.sessionId)
    assert still is not None and still.isActive
    assert sender.deleted == ["conn-idle"]
    assert tables.connections.get({"connectionId": "conn-idle"}) is None
    assert tables.connections.get({"connectionId": "conn-gone"}) is None
    assert tables.connections.get({"connectionId": "conn-busy"}) is not None
    [event] = events_of(tables, "2026-11-24", "session_closed")
    assert event["details"] == {"reason": "idle", "lastActivity": idle.lastActivity}
    assert sessions.cleanup_inactive_sessions(sender).closed == 0


def test_cleanup_does_not_close_a_session_that_became_active_after_it_was_read(
    sessions: SessionManager, clock: FakeClock
) -> None:
    session = sessions.create_session()
    clock.advance(minutes=31)
    sessions.update_activity(session.sessionId)
    assert not sessions.close_session(session, "idle")
    stored = sessions.get_session(session.sessionId)
    assert stored is not None and stored.isActive


def test_many_idle_sessions_are_closed_across_pages(
    sessions: SessionManager, clock: FakeClock, sender: RecordingSender
) -> None:
    created = [sessions.create_session() for _ in range(25)]
    clock.advance(hours=1)
    report = sessions.cleanup_inactive_sessions(sender, page_size=7)
    assert (report.closed, report.pages) == (25, index_pages(created, page_size=7))
    assert all(not s.isActive for s in (sessions.get_session(c.sessionId) for c in created) if s)
