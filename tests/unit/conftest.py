"""Unit-test fixtures: the domain on an in-memory SQLite store and a clock the test moves."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from chatbot.adapters.local.tables import SQLiteTables
from chatbot.analytics import AnalyticsRecorder
from chatbot.analytics_report import DateRange, read_events
from chatbot.conversations import ConversationStore
from chatbot.ports import ConnectionGoneError, EngineRequest
from chatbot.records import Session, activity_partition, activity_partitions
from chatbot.sessions import SessionManager, SessionPolicy
from chatbot.tables import Table, Tables
from tests.conftest import FakeClock


class RecordingSender:
    """Keeps every frame posted; connections listed in ``gone`` behave as closed."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str]] = []
        self.deleted: list[str] = []
        self.gone: set[str] = set()

    def post(self, connection_id: str, data: str) -> None:
        if connection_id in self.gone:
            raise ConnectionGoneError(connection_id)
        self.posted.append((connection_id, data))

    def delete(self, connection_id: str) -> None:
        if connection_id in self.gone:
            raise ConnectionGoneError(connection_id)
        self.deleted.append(connection_id)


class RecordingInvoker:
    def __init__(self) -> None:
        self.requests: list[EngineRequest] = []

    def invoke(self, request: EngineRequest) -> None:
        self.requests.append(request)


@pytest.fixture
def tables(clock: FakeClock) -> Iterator[Tables]:
    store = SQLiteTables(":memory:", clock=clock)
    yield store.tables()
    store.close()


@pytest.fixture
def analytics(tables: Tables, clock: FakeClock) -> AnalyticsRecorder:
    return AnalyticsRecorder(tables.analytics, retention=timedelta(days=365), clock=clock)


@pytest.fixture
def policy() -> SessionPolicy:
    return SessionPolicy(
        timeout=timedelta(minutes=30), retention=timedelta(days=30), rate_limit_per_minute=5
    )


@pytest.fixture
def sessions(
    tables: Tables, analytics: AnalyticsRecorder, policy: SessionPolicy, clock: FakeClock
) -> SessionManager:
    return SessionManager(tables.sessions, tables.connections, analytics, policy, clock=clock)


@pytest.fixture
def conversations(tables: Tables, clock: FakeClock) -> ConversationStore:
    return ConversationStore(tables.conversations, retention=timedelta(days=30), clock=clock)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


def index_pages(sessions: Iterable[Session], *, page_size: int) -> int:
    """The ``byActivity`` pages a cleanup reads to reach ``sessions``: every shard at least
    once, and one more page for each further ``page_size`` sessions of a shard."""
    per_shard = Counter(activity_partition(session.sessionId) for session in sessions)
    return sum(max(1, math.ceil(per_shard[shard] / page_size)) for shard in activity_partitions())


def day_events(analytics: Table, day: str) -> list[dict[str, Any]]:
    """A day's analytics events (every shard), in time order, as analysts read them."""
    moment = date.fromisoformat(day)
    return list(read_events(analytics, DateRange(moment, moment)))


def events_of(tables: Tables, day: str, event_type: str) -> list[dict[str, object]]:
    return [item for item in day_events(tables.analytics, day) if item["eventType"] == event_type]
