"""Analytics queries and daily figures, checked against events seeded on a moving clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chatbot.analytics import AnalyticsRecorder
from chatbot.analytics_report import (
    DateRange,
    flat_row,
    percentile,
    read_events,
    shown_details,
    summarize,
)
from chatbot.limits import LimitsPolicy, RequestLimits
from chatbot.tables import Table, Tables
from tests.conftest import FakeClock

RANGE = DateRange(date(2026, 11, 22), date(2026, 11, 24))


def seed_events(table: Table) -> None:
    """Three days: a busy one, an empty one and a quiet one (the figures the tests expect).

    Retention is long so that the stores' real clocks never expire these events.
    """
    clock = FakeClock()
    clock.moment = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    recorder = AnalyticsRecorder(table, retention=timedelta(days=36500), clock=clock)

    def at(minutes: float) -> None:
        clock.advance(minutes=minutes)

    recorder.record("session_created", "s1", {})
    for latency, tokens_in, cost in ((100, 10, 0.01), (300, 20, 0.02), (200, 30, None)):
        at(1)
        details = {
            "queryType": "rag",
            "latencyMs": latency,
            "inputTokens": tokens_in,
            "outputTokens": 5,
            "toolsUsed": [],
        }
        if cost is not None:
            # Events from before costs were estimated have no costUsd nor routedBy.
            details |= {"costUsd": cost, "routedBy": "semantic"}
        recorder.record("query", "s1", details)
    recorder.record(
        "tool_usage", "s1", {"tool": "search_documents", "success": True, "latencyMs": 50}
    )
    recorder.record(
        "tool_usage", "s1", {"tool": "create_record", "success": False, "latencyMs": 70}
    )
    recorder.record("error", "s1", {"code": "MODEL_UNAVAILABLE", "queryType": "general"})
    recorder.record("feedback", "s1", {"messageId": "m1", "rating": "up"})
    clock.moment = datetime(2026, 11, 24, 23, 59, 0, tzinfo=UTC)
    recorder.record("session_created", "s2", {})
    at(0.1)
    recorder.record(
        "query",
        "s2",
        {
            "queryType": "general",
            "latencyMs": 1000,
            "inputTokens": 7,
            "outputTokens": 3,
            "costUsd": 0.5,
            "routedBy": "model",
        },
    )
    at(0.1)
    recorder.record("session_closed", "s1", {"reason": "idle"})
    at(0.1)
    recorder.record("feedback", "s2", {"messageId": "m2", "rating": "down"})
    # Outside the range: must never be counted.
    clock.moment = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    recorder.record("query", "s3", {"queryType": "rag", "latencyMs": 5, "costUsd": 9.0})


@pytest.fixture
def seeded(tables: Tables) -> Table:
    seed_events(tables.analytics)
    return tables.analytics


def test_daily_figures_count_sessions_messages_tools_errors_and_feedback(seeded: Table) -> None:
    (busy, empty, quiet), total = summarize(read_events(seeded, RANGE), RANGE)

    assert [busy.day, empty.day, quiet.day] == ["2026-11-22", "2026-11-23", "2026-11-24"]
    assert (busy.sessions_created, busy.active_sessions, busy.messages) == (1, 1, 3)
    assert dict(busy.query_types) == {"rag": 3}
    assert (busy.tool_calls, busy.tool_failures) == (2, 1)
    assert dict(busy.errors) == {"MODEL_UNAVAILABLE": 1}
    assert dict(busy.feedback) == {"up": 1}
    assert (empty.messages, empty.active_sessions, empty.latency_p50_ms) == (0, 0, None)
    assert (quiet.sessions_created, quiet.sessions_closed, quiet.active_sessions) == (1, 1, 2)
    assert (total.messages, total.sessions_created, total.active_sessions) == (4, 2, 2)
    assert dict(total.routed_by) == {"semantic": 2, "model": 1}


def test_latency_percentiles_tokens_and_cost_with_missing_cost_as_zero(seeded: Table) -> None:
    (busy, _, quiet), total = summarize(read_events(seeded, RANGE), RANGE)

    assert (busy.latency_p50_ms, busy.latency_p95_ms) == (200, 300)
    assert (busy.input_tokens, busy.output_tokens) == (60, 15)
    assert busy.cost_usd == pytest.approx(0.03)
    assert quiet.cost_usd == pytest.approx(0.5)
    assert (total.latency_p50_ms, total.latency_p95_ms) == (200, 1000)
    assert total.cost_usd == pytest.approx(0.53)


def test_events_filter_by_type_through_the_index_and_by_session(seeded: Table) -> None:
    queries = list(read_events(seeded, RANGE, event_type="query"))
    assert [e["details"]["latencyMs"] for e in queries] == [100, 300, 200, 1000]
    s2 = list(read_events(seeded, RANGE, session_id="s2"))
    assert [e["eventType"] for e in s2] == ["session_created", "query", "feedback"]


def test_events_newest_first_stop_at_the_limit(seeded: Table) -> None:
    latest = list(read_events(seeded, RANGE, newest_first=True, limit=2))
    assert [e["eventType"] for e in latest] == ["feedback", "session_closed"]
    assert [e["sessionId"] for e in latest] == ["s2", "s1"]


def test_events_span_pages(seeded: Table, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chatbot.analytics_report.PAGE_SIZE", 2)
    assert len(list(read_events(seeded, RANGE))) == 12
    assert len(list(read_events(seeded, RANGE, event_type="query"))) == 4


def test_a_one_day_range_reads_only_that_day(seeded: Table) -> None:
    day = DateRange(date(2026, 11, 24), date(2026, 11, 24))
    assert {e["date"] for e in read_events(seeded, day)} == {"2026-11-24"}
    assert [e["sessionId"] for e in read_events(seeded, day, event_type="query")] == ["s2"]


def test_a_range_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        DateRange(date(2026, 11, 24), date(2026, 11, 23))


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile([7.0], 95)) == (
        50.0,
        95.0,
        7.0,
    )
    assert percentile([], 50) is None


def test_refused_frames_aggregated_per_minute_still_count_one_error_each(
    tables: Tables, clock: FakeClock
) -> None:
    """5,000 refused frames are a few rows with a ``count``, and still 5,000 errors."""
    clock.moment = datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC)
    limits = RequestLimits(
        tables.limits,
        tables.analytics,
        LimitsPolicy(),
        analytics_retention=timedelta(days=36500),
        clock=clock,
    )
    for _ in range(3_000):
        limits.count_refusal("INVALID_MESSAGE", "s1")
    clock.moment = datetime(2026, 11, 23, 10, 1, 30, tzinfo=UTC)
    for _ in range(2_000):
        limits.count_refusal("INVALID_MESSAGE", "s1")
    limits.count_refusal("RATE_LIMITED", "s2")
    # An error from before refusals were aggregated (or any other): no count, one error.
    recorder = AnalyticsRecorder(tables.analytics, retention=timedelta(days=36500), clock=clock)
    recorder.record("error", "s2", {"code": "MODEL_UNAVAILABLE"})

    stored = list(read_events(tables.analytics, RANGE, event_type="error"))
    assert [(e["details"]["code"], e.get("count")) for e in stored] == [
        ("INVALID_MESSAGE", 3_000),
        ("INVALID_MESSAGE", 2_000),
        ("RATE_LIMITED", 1),
        ("MODEL_UNAVAILABLE", None),
    ]
    (_, day, _), total = summarize(read_events(tables.analytics, RANGE), RANGE)
    expected = {"INVALID_MESSAGE": 5_000, "RATE_LIMITED": 1, "MODEL_UNAVAILABLE": 1}
    assert dict(day.errors) == dict(total.errors) == expected
    assert sum(total.errors.values()) == 5_002
    # Listed and exported with the count: in the details shown, and a column of its own.
    assert [shown_details(e).get("count") for e in stored] == [3_000, 2_000, 1, None]
    assert [flat_row(e)["count"] for e in stored] == [3_000, 2_000, 1, None]
