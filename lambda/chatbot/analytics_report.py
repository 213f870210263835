"""Analytics for analysts: read events over a date range and aggregate them by day.

Reads every shard of each day's table partitions, or of the ``byType`` index's partitions
when one event type is asked for (chatbot.records), merged back into time order; never a
scan. Printing lives in ``chatbot.analytics_cli``, charts in ``chatbot.analytics_chart``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from chatbot.records import ANALYTICS_SHARD_ATTRIBUTES, day_partitions, type_partitions
from chatbot.tables import ShardedQuery, Table

Event = dict[str, Any]
PAGE_SIZE = 500


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, both ends included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the range ends ({self.last}) before it starts ({self.first})")

    @classmethod
    def last_days(cls, days: int, today: date) -> DateRange:
        if days < 1:
            raise ValueError("--days must be at least 1")
        return cls(today - timedelta(days=days - 1), today)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def read_events(
    table: Table,
    dates: DateRange,
    *,
    event_type: str | None = None,
    session_id: str | None = None,
    newest_first: bool = False,
    limit: int | None = None,
    readers: int = 1,
) -> Iterator[Event]:
    """The events of ``dates`` in time order (or newest first), filtered, at most ``limit``.

    ``readers``: how many of a day's shards are read at once (threads; for DynamoDB).
    """
    if limit is not None and limit < 1:
        return
    found = 0
    days = dates.days()
    for day in reversed(days) if newest_first else days:
        with _day_query(table, day, event_type, newest_first, readers) as events:
            for event in events:
                if session_id is not None and event.get("sessionId") != session_id:
                    continue
                yield _without_shard_keys(event)
                found += 1
                if limit is not None and found >= limit:
                    return


def _day_query(
    table: Table, day: date, event_type: str | None, newest_first: bool, readers: int
) -> ShardedQuery:
    """One day's events (of one type, through the ``byType`` index), every shard merged."""
    if event_type is None:
        partitions, index = day_partitions(day.isoformat()), None
    else:
        partitions, index = type_partitions(event_type, day.isoformat()), "byType"
    return ShardedQuery(
        table,
        partitions,
        index=index,
        ascending=not newest_first,
        page_size=PAGE_SIZE,
        readers=readers,
    )


def _without_shard_keys(event: Event) -> Event:
    return {key: value for key, value in event.items() if key not in ANALYTICS_SHARD_ATTRIBUTES}


# --- aggregation -----------------------------------------------------------------------


@dataclass
class ToolFigures:
    calls: int = 0
    failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class DaySummary:
    """One day's figures (or, for ``total``, the whole range's)."""

    day: str
    sessions_created: int = 0
    sessions_closed: int = 0
    # Distinct sessions with any event that day.
    active_sessions: int = 0
    messages: int = 0
    query_types: Counter[str] = field(default_factory=Counter)
    routed_by: Counter[str] = field(default_factory=Counter)
    # Documents answers by what they cite: "cited", "cited nothing", "cited a source not given".
    grounding: Counter[str] = field(default_factory=Counter)
    tools: dict[str, ToolFigures] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    # Handshakes refused before any session existed, by "<HTTP status> <reason>".
    refused_handshakes: Counter[str] = field(default_factory=Counter)
    feedback: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    _session_ids: set[str] = field(default_factory=set, repr=False)

    @property
    def tool_calls(self) -> int:
        return sum(tool.calls for tool in self.tools.values())

    @property
    def tool_failures(self) -> int:
        return sum(tool.failures for tool in self.tools.values())

    @property
    def latency_p50_ms(self) -> float | None:
        return percentile(self.latencies_ms, 50)

    @property
    def latency_p95_ms(self) -> float | None:
        return percentile(self.latencies_ms, 95)

    def add(self, event: Event) -> None:
        details = event.get("details") or {}
        session_id = event.get("sessionId")
        if details.get("stage") == "handshake":
            # Counted under a shard's name, not a session's: no session was made.
            self.refused_handshakes[f"{details.get('status')} {details.get('code')}"] += (
                event_count(event)
            )
            return
        if isinstance(session_id, str):
            self._session_ids.add(session_id)
            self.active_sessions = len(self._session_ids)
        match event.get("eventType"):
            case "session_created":
                self.sessions_created += 1
            case "session_closed":
                self.sessions_closed += 1
            case "query":
                self.messages += 1
                self.query_types[str(details.get("queryType", "unknown"))] += 1
                if "routedBy" in details:
                    self.routed_by[str(details["routedBy"])] += 1
                if details.get("citedCount") or details.get("ungrounded") is True:
                    self.grounding["cited" if details.get("citedCount") else "cited nothing"] += 1
                if details.get("unknownCitations"):
                    self.grounding["cited a source not given"] += 1
                latency = _number(details.get("latencyMs"))
                if latency is not None:
                    self.latencies_ms.append(latency)
                self.input_tokens += int(_number(details.get("inputTokens")) or 0)
                self.output_tokens += int(_number(details.get("outputTokens")) or 0)
                # Events written before costs were estimated carry none: they count as 0.
                self.cost_usd += _number(details.get("costUsd")) or 0.0
            case "tool_usage":
                tool = self.tools.setdefault(str(details.get("tool", "unknown")), ToolFigures())
                tool.calls += 1
                if details.get("success") is not True:
                    tool.failures += 1
                latency = _number(details.get("latencyMs"))
                if latency is not None:
                    tool.latencies_ms.append(latency)
            case "error":
                # Refused frames are one event per session, minute and code, with a count.
                self.errors[str(details.get("code", "unknown"))] += event_count(event)
            case "feedback":
                self.feedback[str(details.get("rating", "unknown"))] += 1


def summarize(events: Iterable[Event], dates: DateRange) -> tuple[list[DaySummary], DaySummary]:
    """Figures for every day of ``dates`` (days without events included) and for the range."""
    by_day = {day.isoformat(): DaySummary(day.isoformat()) for day in dates.days()}
    total = DaySummary(f"{dates.first.isoformat()}..{dates.last.isoformat()}")
    for event in events:
        day = by_day.get(str(event.get("date", "")))
        if day is None:
            continue
        day.add(event)
        total.add(event)
    return list(by_day.values()), total


def event_count(event: Event) -> int:
    """How many occurrences ``event`` stands for: its ``count`` (an aggregated event, such as
    a minute's refused frames), else 1."""
    count = _number(event.get("count"))
    return int(count) if count is not None and count >= 1 else 1


def shown_details(event: Event) -> dict[str, Any]:
    """The event's details as listed for a person, with its ``count`` if it is aggregated."""
    details = dict(event.get("details") or {})
    if "count" in event:
        details["count"] = event_count(event)
    return details


def percentile(values: list[float], rank: float) -> float | None:
    """Nearest-rank percentile (a value that occurred), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = max(1, math.ceil(rank / 100 * len(ordered)))
    return ordered[position - 1]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- flat rows, for export ---------------------------------------------------------------

# The detail fields analysts filter on most, as columns of their own; ``details`` keeps all.
DETAIL_COLUMNS = (
    "queryType",
    "routedBy",
    "model",
    "latencyMs",
    "inputTokens",
    "outputTokens",
    "costUsd",
    "tool",
    "success",
    "code",
    "rating",
    "reason",
)
# ``count``: how many occurrences an aggregated event stands for (empty: one).
EVENT_COLUMNS = ("date", "timestamp", "eventType", "sessionId", "eventId", "count")


def flat_row(event: Event) -> dict[str, Any]:
    details = event.get("details") or {}
    row: dict[str, Any] = {column: event.get(column) for column in EVENT_COLUMNS}
    row.update({column: details.get(column) for column in DETAIL_COLUMNS})
    row["details"] = details
    return row
