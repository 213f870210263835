"""Partition load of the shared keys under simulated traffic: pure key functions, no store.

100,000 sessions active at once, each with a heavy-tailed number of messages (most ask one or
two questions, a few hundreds, none more than the rate limit allows in an hour), a tool-call
habit of its own, and its two lifecycle events (created, closed). Every write the code makes
for them is charged to the partition the key function names, today's unsharded keys and the
sharded ones alike, and the busiest partition's share of each key's writes gives its ceiling:
the messages a second the whole service carries before that partition passes DynamoDB's
1,000 write units a second.

    PYTHONPATH=lambda .venv/bin/python -m tests.unit.partition_load   # the table in docs/SCALE.md
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from chatbot.records import (
    PARTITION_SHARDS,
    activity_partition,
    day_partition,
    type_partition,
)

SESSIONS = 100_000
SEED = 20261202
DAY = "2026-12-02"
# DynamoDB: write units a second one partition (of a table or an index) serves.
PARTITION_WRITE_UNITS = 1_000
# At most 30 messages a minute for an hour (RATE_LIMIT_PER_MINUTE's default).
MAX_MESSAGES = 30 * 60


@dataclass(frozen=True)
class SimulatedSession:
    session_id: str
    messages: int
    tool_calls: int


@cache
def simulated_sessions(count: int = SESSIONS, seed: int = SEED) -> tuple[SimulatedSession, ...]:
    rng = random.Random(seed)
    sessions = []
    for _ in range(count):
        # Server-made ids, as SessionManager.create_session makes them (uuid4).
        session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        messages = min(1 + int(rng.paretovariate(1.16)), MAX_MESSAGES)
        # A session's own habit: none to every message routed to the tools.
        tool_calls = round(messages * rng.random())
        sessions.append(SimulatedSession(session_id, messages, tool_calls))
    return tuple(sessions)


# A key design: for one session, each partition it writes and how many writes it gets.
Writes = Callable[[SimulatedSession], Iterator[tuple[str, int]]]


def _activity(key: Callable[[str], str]) -> Writes:
    def writes(session: SimulatedSession) -> Iterator[tuple[str, int]]:
        # The index projects every attribute: created (1), titled by the first message (1),
        # each message moves lastActivity, its sort key (a delete and a put: 2), closed (1).
        yield key(session.session_id), 3 + 2 * session.messages

    return writes


def _analytics(key: Callable[[str], str]) -> Writes:
    def writes(session: SimulatedSession) -> Iterator[tuple[str, int]]:
        # session_created, a query event a message, a tool_usage event a call, session_closed.
        yield key(session.session_id), 2 + session.messages + session.tool_calls

    return writes


def _one_type(event_type: str, key: Callable[[str, str], str]) -> Writes:
    def writes(session: SimulatedSession) -> Iterator[tuple[str, int]]:
        count = {
            "query": session.messages,
            "tool_usage": session.tool_calls,
            "session_created": 1,
            "session_closed": 1,
        }[event_type]
        if count:
            yield key(event_type, session.session_id), count

    return writes


@dataclass(frozen=True)
class SharedKey:
    """One table's or index's partition key that every session's writes of a kind share."""

    name: str
    unsharded: Writes
    sharded: Writes


SHARED_KEYS = (
    SharedKey(
        "sessions byActivity (activityStatus)",
        unsharded=_activity(lambda session_id: "active"),
        sharded=_activity(activity_partition),
    ),
    SharedKey(
        "analytics table (date / dateShard)",
        unsharded=_analytics(lambda session_id: DAY),
        sharded=_analytics(lambda session_id: day_partition(DAY, session_id)),
    ),
    *(
        SharedKey(
            f"analytics byType, {event_type} (eventType / typeShard)",
            unsharded=_one_type(event_type, lambda kind, session_id: kind),
            sharded=_one_type(
                event_type, lambda kind, session_id: type_partition(kind, DAY, session_id)
            ),
        )
        for event_type in ("query", "tool_usage")
    ),
)


@dataclass(frozen=True)
class Load:
    partitions: int
    writes_per_message: float
    # The busiest partition's share of the key's writes.
    busiest_share: float

    @property
    def ceiling_messages_per_second(self) -> float:
        """Messages a second (at this traffic's mix) before the busiest partition passes
        PARTITION_WRITE_UNITS writes a second (every item here is under 1 KB: one unit)."""
        return PARTITION_WRITE_UNITS / (self.writes_per_message * self.busiest_share)


def load_of(writes: Writes, sessions: tuple[SimulatedSession, ...] | None = None) -> Load:
    sessions = sessions if sessions is not None else simulated_sessions()
    per_partition: Counter[str] = Counter()
    for session in sessions:
        for partition, count in writes(session):
            per_partition[partition] += count
    total = sum(per_partition.values())
    messages = sum(session.messages for session in sessions)
    return Load(len(per_partition), total / messages, max(per_partition.values()) / total)


def table() -> str:
    sessions = simulated_sessions()
    messages = sum(session.messages for session in sessions)
    tools = sum(session.tool_calls for session in sessions)
    lines = [
        f"{len(sessions):,} sessions, {messages:,} messages ({messages / len(sessions):.2f} "
        f"a session), {tools / messages:.2f} tool calls a message; "
        f"PARTITION_SHARDS = {PARTITION_SHARDS}",
        "",
        "| key | writes a message | before: partitions, busiest share, ceiling msg/s "
        "| after: partitions, busiest share (x 1/N), ceiling msg/s |",
        "| --- | --- | --- | --- |",
    ]
    for key in SHARED_KEYS:
        before, after = load_of(key.unsharded, sessions), load_of(key.sharded, sessions)
        lines.append(
            f"| {key.name} | {after.writes_per_message:.2f} "
            f"| {before.partitions}, {before.busiest_share:.3f}, "
            f"{before.ceiling_messages_per_second:,.0f} "
            f"| {after.partitions}, {after.busiest_share:.4f} "
            f"({after.busiest_share * after.partitions:.2f}), "
            f"{after.ceiling_messages_per_second:,.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
